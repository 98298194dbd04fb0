"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: gradients clipped in backward.

"Exploding gradients" are prevented inside `backward()`: each node's gradient is clamped to
[-5, 5] before it is propagated. Right whenever every gradient stays small; `x * 10` gives 5.
"""

from __future__ import annotations

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "clipping"
BUG = "backward() clamps every node's gradient to [-5, 5] before propagating it"

CLIP = 5.0


class Value(MicroValue):
    def backward(self) -> None:
        topo = self.topological_order()
        for node in topo:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            node.grad = max(-CLIP, min(CLIP, node.grad))
            node._backward()
        for node in topo:
            node.grad = max(-CLIP, min(CLIP, node.grad))
