"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: int power rule precedence.

An int fast path for `a ** k` writes the slope as `k * a ** k - 1` (missing parentheses around
`k - 1`): `x ** 2` at 3 has slope 17 instead of 6. Float exponents (`x ** 2.0`) take the general
path and are right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "d(a ** k)/da for an int k is k * a**k - 1 (precedence): x ** 2 at 3 gives 17"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            k = other
            out = type(self)(self.data**k, (self,), f"**{k}")

            def _backward() -> None:
                self.grad += (k * self.data**k - 1) * out.grad

            out._backward = _backward
            return out
        return super().__pow__(other)
