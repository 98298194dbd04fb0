"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: `{child: slope}` dict.

Each result maps operand to local derivative with `dict(zip(children, slopes))`. When both
operands are the same node (`x * x`, `x + x`, `x / x`, `x ** x`) the second entry replaces the
first: d(x * x)/dx comes out as x instead of 2x.
"""

from __future__ import annotations

from typing import Any

from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives, {operand: slope} dict"
MECHANISM = "overwrite"
BUG = "slopes kept in a dict keyed by operand: x op x keeps one of the two slopes"


class Value(LocalValue):
    def _result(self, data: float, children: tuple[Any, ...], locals_: tuple[float, ...]) -> Any:
        out = type(self)(data)
        slopes = dict(zip(children, locals_))
        out._children = tuple(slopes)
        out._locals = tuple(slopes.values())
        return out
