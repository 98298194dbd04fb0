"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: backward() zeroes the leaves.

`backward()` resets every gradient in the graph, leaves included, before propagating ("so you
never forget zero_grad"). One call is right; a second call does not accumulate into the leaves
(PyTorch and micrograd add), so gradient accumulation over several outputs silently breaks.
"""

from __future__ import annotations

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "state"
BUG = "backward() zeroes leaf gradients too: two calls give the grads of one"


class Value(MicroValue):
    def backward(self) -> None:
        topo = self.topological_order()
        for node in topo:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
