"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: the sort stops at depth 64.

The iterative sort carries each node's depth and does not descend below 64 ("a guard against
cycles"). Nodes deeper than that never run their `_backward`: in a chain of 1,000 additions the
input's gradient stays 0. Every graph up to 64 levels deep is right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "the topological sort ignores nodes more than 64 levels below the output"

MAX_DEPTH = 64


class Value(MicroValue):
    def topological_order(self) -> list[Any]:
        topo: list[Any] = []
        visited: set[int] = set()
        stack: list[tuple[Any, int, bool]] = [(self, 0, False)]
        while stack:
            node, depth, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif id(node) not in visited and depth <= MAX_DEPTH:
                visited.add(id(node))
                stack.append((node, depth, True))
                stack.extend((child, depth + 1, False) for child in node._prev)
        return topo
