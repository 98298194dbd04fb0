"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: tanh = (e**2x - 1)/(e**2x + 1).

The notebook's formula: `math.exp(2 * x)` overflows for x > ~355 (tanh(1000) raises
OverflowError) and loses all precision near 0 (tanh(1e-10) is off by ~1e-7 relative).
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "tanh via (exp(2x) - 1) / (exp(2x) + 1): OverflowError above ~355, imprecise near 0"


class Value(MicroValue):
    def tanh(self) -> Any:
        e = math.exp(2 * self.data)
        t = (e - 1) / (e + 1)
        return self._unary(t, 1 - t * t, "tanh")
