"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `+ int` returns self.

A fast path meant for `sum(values)` (which starts from the int 0) returns `self` for any int
operand: `Value(1.5) + 2` is 1.5, and so is `2 + Value(1.5)`. Floats go the normal way, so
`Value(1.5) + 2.0` is right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "a + k and k + a ignore an int k (a fast path for sum()'s start value 0)"


class Value(MicroValue):
    def __add__(self, other: Any) -> Any:
        if isinstance(other, int):
            return self
        return super().__add__(other)
