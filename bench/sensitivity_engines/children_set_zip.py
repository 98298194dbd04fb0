"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: operands kept in a set.

As in micrograd, the operands are stored as `set(children)`, but this engine zips them with the
tuple of local derivatives: for `a * b` the set's order (by hash, i.e. address) decides which
operand gets which slope, and for `x * x` the set has one element, so x gets only one of the two
contributions.
"""

from __future__ import annotations

from typing import Any

from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives, operands in a set"
MECHANISM = "derivative"
BUG = "operands stored as set(children) and zipped with the slopes: order and duplicates lost"


class Value(LocalValue):
    def _result(self, data: float, children: tuple[Any, ...], locals_: tuple[float, ...]) -> Any:
        out = type(self)(data)
        out._children = tuple(set(children))
        out._locals = locals_
        return out
