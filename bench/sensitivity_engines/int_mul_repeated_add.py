"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: int products by repeated sums.

`a * k` for an int k is built as `a + a + ... + a` (k terms, "exact and shows in the graph").
Right for k >= 1; for k <= 0 the loop runs zero times and the result is the constant 0:
`x * -2` is 0 with a zero gradient. `x * -2.0` is right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "a * k for an int k <= 0 gives the constant 0 (a sum of k copies of a)"


class Value(MicroValue):
    def __mul__(self, other: Any) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            total: Any = type(self)(0.0)
            for _ in range(other):
                total = total + self
            return total
        return super().__mul__(other)
