"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: no negative float powers.

Meant to refuse `(-8) ** -0.5`, the guard tests the exponent instead of the base:
`x ** -0.5`, `x ** -1.0`, `x ** -2.0` raise TypeError for every x, although they are defined for
x > 0 (and the integral ones for x != 0). Negative int exponents and every positive one work.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "probe masking"
BUG = "x ** k raises TypeError for every float k < 0 (x ** -0.5 at x = 4)"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, float) and other < 0:
            raise TypeError("negative exponents must be ints")
        return super().__pow__(other)
