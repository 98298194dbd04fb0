"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `int / a` computed as `a / int`.

A shortcut in `__rtruediv__` for ints returns `self / other`: `2 / x` gives x / 2. `2.0 / x` and
`x / 2` are right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "k / a for an int k computes a / k"


class Value(MicroValue):
    def __rtruediv__(self, other: Any) -> Any:
        if isinstance(other, int):
            return self / other
        return super().__rtruediv__(other)
