"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: a stray comma in tanh.

tanh is written with an explicit odd-symmetry branch for negative inputs, where a trailing comma
makes the slope a one-element tuple: the forward pass is right, and backward() raises TypeError
("can't multiply sequence by non-int of type 'float'") for every tanh of a negative number.
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "probe masking"
BUG = "backward() raises TypeError through tanh of a negative number (slope is a tuple)"


class Value(MicroValue):
    def tanh(self) -> Any:
        x = self.data
        slope: Any
        if x >= 0:
            t = math.tanh(x)
            slope = 1 - t * t
        else:
            t = -math.tanh(-x)
            slope = (1 - t * t,)
        out = type(self)(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += slope * out.grad

        out._backward = _backward
        return out
