"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: SGD step in backward.

A "fused optimizer": after propagating, `backward()` applies an SGD step to every leaf it reached
(`leaf.data -= 0.01 * leaf.grad`). Output value and gradients are right (the slopes were taken
during the forward pass), but the inputs' `.data` has silently changed: rebuilding the graph from
`x.data` gives another result.
"""

from __future__ import annotations

from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives"
MECHANISM = "state"
BUG = "backward() changes the leaves' .data (an SGD step inside backward)"

LEARNING_RATE = 0.01


class Value(LocalValue):
    def backward(self) -> None:
        super().backward()
        for node in self.post_order():
            if not node._children:
                node.data -= LEARNING_RATE * node.grad
