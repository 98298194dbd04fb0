"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: unary slopes kept in float32.

To save memory the one-operand ops keep their local derivative in an `array('f')` (float32):
each tanh/exp/log/sigmoid slope is rounded to 24 bits (relative error up to 6e-8), far below
gradcheck's tolerance, and exp(x) for x > ~88.7 does not fit (OverflowError).
"""

from __future__ import annotations

from array import array
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "precision"
BUG = "local derivatives of unary ops stored as float32 (array('f')): ~1e-8 relative error"


class Value(MicroValue):
    def _unary(self, data: float, slope: float, op: str) -> Any:
        out = type(self)(data, (self,), op)
        stored = array("f", [slope])

        def _backward() -> None:
            self.grad += stored[0] * out.grad

        out._backward = _backward
        return out
