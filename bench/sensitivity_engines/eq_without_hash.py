"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `__eq__` without `__hash__`.

Values compare by data (`Value(2) == Value(2)`, handy in tests), and defining `__eq__` makes
Python set `__hash__ = None`. The sort keeps visited nodes in a `set`, as micrograd does, so every
`backward()` raises `TypeError: unhashable type: 'Value'`. The forward pass works.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "probe masking"
BUG = "__eq__ without __hash__: every backward() raises TypeError (unhashable type)"


class Value(MicroValue):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, MicroValue) and self.data == other.data

    def topological_order(self) -> list[Any]:
        topo: list[Any] = []
        visited: set[Any] = set()
        stack: list[tuple[Any, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        return topo
