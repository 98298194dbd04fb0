"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: tanh' = 1 - t.

The local derivative of tanh is written `1 - t` instead of `1 - t**2`: right at t = 0 and
t = 1 only.
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "tanh's local derivative is 1 - t instead of 1 - t**2"


class Value(MicroValue):
    def tanh(self) -> Any:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t, "tanh")
