"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: power rule as k * out / a.

`d(a**k)/da` is computed from the result as `k * out.data / self.data` (saving a second power).
Equal to `k * a**(k-1)` except at a = 0, where it divides zero by zero: `x ** 2` at x = 0 raises
ZeroDivisionError in backward() instead of giving 0.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, fpow, number

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "d(a**k)/da = k * a**k / a: ZeroDivisionError at a = 0 (x ** 2 at x = 0)"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, MicroValue):
            return super().__pow__(other)
        k = number(other)
        out = type(self)(fpow(self.data, k), (self,), f"**{k}")

        def _backward() -> None:
            self.grad += k * out.data / self.data * out.grad

        out._backward = _backward
        return out
