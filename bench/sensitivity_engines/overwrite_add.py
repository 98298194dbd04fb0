"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `+` assigns its gradients.

The seed notebook's classic: `_backward` of an addition writes `self.grad = out.grad` instead of
adding, so a node used twice (`x + x`, or `y = x + 1` used by two consumers) keeps one
contribution.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "overwrite"
BUG = "add's _backward assigns (=) instead of accumulating (+=): d(x + x)/dx = 1"


class Value(MicroValue):
    def __add__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad = out.grad
            other.grad = out.grad

        out._backward = _backward
        return out
