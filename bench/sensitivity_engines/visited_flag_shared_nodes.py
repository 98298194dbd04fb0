"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: "visited" flags never reset.

The sort marks nodes with a `_visited` attribute instead of a per-call set, and each root caches
its order. Nothing resets the flags, so a second root that shares nodes with an earlier one
skips them: `y = x * x; z = y * x; y.backward(); x.grad = 0; z.backward()` gives 4 at x = 2
instead of 12. Every graph backpropagated from one root is right, twice too.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "state"
BUG = "visited flags persist: backward from a second root sharing nodes skips them"


class Value(MicroValue):
    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        self._visited = False
        self._order: list[Any] | None = None

    def topological_order(self) -> list[Any]:
        if self._order is not None:
            return self._order
        topo: list[Any] = []
        stack: list[tuple[Any, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif not node._visited:
                node._visited = True
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self._order = topo
        return topo
