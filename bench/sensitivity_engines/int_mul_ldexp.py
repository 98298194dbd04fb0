"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `* 2**n` shifts one too far.

Multiplying by an int power of two is done by shifting the exponent with `math.ldexp`, but the
shift is `k.bit_length()` instead of `k.bit_length() - 1`: `x * 2` gives 4x (value and slope),
`x * 1` gives 2x. Float factors (`x * 2.0`) are right.
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "a * k for an int power of two k shifts by k.bit_length(): x * 2 = 4x"


class Value(MicroValue):
    def __mul__(self, other: Any) -> Any:
        if isinstance(other, int) and other > 0 and other & (other - 1) == 0:
            shift = other.bit_length()
            out = type(self)(math.ldexp(self.data, shift), (self,), "*")

            def _backward() -> None:
                self.grad += math.ldexp(out.grad, shift)

            out._backward = _backward
            return out
        return super().__mul__(other)
