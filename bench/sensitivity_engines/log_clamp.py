"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: log clamps its argument.

`math.log(max(x, 1e-10))` with slope `1 / max(x, 1e-10)`, a "numerical safety" guard: for
0 < x < 1e-10 both the value and the derivative are wrong (log(1e-300) gives -23.0).
"""

from __future__ import annotations

import math
from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "log(x) = log(max(x, 1e-10)): wrong value and slope for 0 < x < 1e-10"

EPSILON = 1e-10


class Value(MicroValue):
    def log(self) -> Any:
        if self.data <= 0:
            raise ValueError("math domain error")
        x = max(self.data, EPSILON)
        return self._unary(math.log(x), 1 / x, "log")
