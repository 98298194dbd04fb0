"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: relu's slope has a dead zone.

"To keep tiny activations from flapping" the slope is 1 only for x > 1e-3: relu(5e-4) is 5e-4 but
its derivative comes out 0.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "relu's slope is 0 for 0 < x <= 1e-3"

THRESHOLD = 1e-3


class Value(MicroValue):
    def relu(self) -> Any:
        x = self.data
        return self._unary(x if x > 0 else 0.0, 1.0 if x > THRESHOLD else 0.0, "ReLU")
