"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: interior grads never reset.

micrograd 0.1.0's `backward()` (with an iterative sort): it sets the output's grad to 1 but does
not reset interior gradients, so a second call adds new contributions on top of stale interior
ones: (x * x) * x at 3 gives 72 after two calls instead of 54.
"""

from __future__ import annotations

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "state"
BUG = "interior grads are not reset between backward() calls (micrograd 0.1.0)"


class Value(MicroValue):
    def backward(self) -> None:
        topo = self.topological_order()
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
