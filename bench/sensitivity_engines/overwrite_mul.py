"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `*` assigns its gradients.

Only the product's `_backward` writes `self.grad = other.data * out.grad`; every other op
accumulates. `x * x` gives x instead of 2x, and a product used by two consumers loses one path.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "overwrite"
BUG = "mul's _backward assigns (=) instead of accumulating (+=): d(x * x)/dx = x"


class Value(MicroValue):
    def __mul__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad

        out._backward = _backward
        return out
