"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: d(a/b)/db has the wrong sign.

Division has its own closure; the denominator's contribution is written `a / b**2 * out.grad`
(the minus sign of the quotient rule lost).
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "d(a / b)/db = a / b**2 (sign lost), also in k / a"


class Value(MicroValue):
    def __truediv__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data / other.data, (self, other), "/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad += self.data / other.data**2 * out.grad

        out._backward = _backward
        return out
