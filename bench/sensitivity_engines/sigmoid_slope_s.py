"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: sigmoid' = s.

The sigmoid is computed stably, but its local derivative is written as `s` (the derivative of exp
pasted into the sigmoid) instead of `s * (1 - s)`.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, sigmoid

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "sigmoid's local derivative is s instead of s * (1 - s)"


class Value(MicroValue):
    def sigmoid(self) -> Any:
        s = sigmoid(self.data)
        return self._unary(s, s, "sigmoid")
