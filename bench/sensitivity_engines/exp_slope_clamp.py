"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: exp's slope clamped at 14.

The forward pass is `math.exp(x)`; the backward pass recomputes the slope as
`math.exp(min(x, 14))`, a guard copied from a float32 engine. Wrong for every x > 14.
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "d exp(x)/dx = exp(min(x, 14)): wrong above 14"


class Value(MicroValue):
    def exp(self) -> Any:
        x = self.data
        out = type(self)(math.exp(x), (self,), "exp")

        def _backward() -> None:
            self.grad += math.exp(min(x, 14.0)) * out.grad

        out._backward = _backward
        return out
