"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: sigmoid = 1 / (1 + exp(-x)).

The textbook formula: `math.exp(-x)` overflows for x < ~-709.78, so sigmoid(-1000) raises
OverflowError where the answer is 0.0 (and its derivative 0.0).
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "sigmoid via 1 / (1 + exp(-x)): OverflowError below ~-709.78"


class Value(MicroValue):
    def sigmoid(self) -> Any:
        s = 1 / (1 + math.exp(-self.data))
        return self._unary(s, s * (1 - s), "sigmoid")
