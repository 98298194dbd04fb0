"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: a ** k uses |a|.

"To never return a complex number" the power is `math.pow(abs(a), k)`, slope
`k * math.pow(abs(a), k - 1)`. Right for a >= 0; for a negative base and an odd integer exponent
both the value and the slope have the wrong sign ((-2) ** 3 gives 8).
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue, number

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "a ** k computed as |a| ** k: (-2) ** 3 = 8, wrong sign for odd k"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, MicroValue):
            return super().__pow__(other)
        k = number(other)
        out = type(self)(math.pow(abs(self.data), k), (self,), f"**{k}")

        def _backward() -> None:
            self.grad += k * math.pow(abs(self.data), k - 1) * out.grad

        out._backward = _backward
        return out
