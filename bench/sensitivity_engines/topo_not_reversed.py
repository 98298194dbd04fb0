"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: the order is not reversed.

`backward()` builds the topological order (children first) and then calls `_backward` in that
same order instead of `reversed(topo)`: each node pushes its gradient down before it has received
its own, so only the output's own operands get anything.
"""

from __future__ import annotations

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "order"
BUG = "backward() runs the closures children-first (forgot reversed(topo))"


class Value(MicroValue):
    def backward(self) -> None:
        topo = self.topological_order()
        for node in topo:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in topo:
            node._backward()
