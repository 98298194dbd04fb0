"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: every Value kept forever.

Each Value registers itself in a module-level list (meant for drawing "all nodes" and debugging).
The math is right, but nothing is ever freed: memory grows with every graph built, so a training
loop runs out of memory.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "state"
BUG = "every Value is appended to a module-level list and never freed (memory leak)"

ALL_NODES: list[Any] = []


class Value(MicroValue):
    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        ALL_NODES.append(self)
