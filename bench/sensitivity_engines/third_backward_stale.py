"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: the third backward() is wrong.

A root that is backpropagated a second time is assumed to sit in a loop, so its topological order
is cached from then on. The cached path forgets to reset the interior gradients: calls one and
two are right, the third adds new contributions on top of stale interior ones.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "state"
BUG = "from the third backward() on, a cached order skips resetting interior grads"

WARMUP = 2


class Value(MicroValue):
    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        self._calls = 0
        self._topo: list[Any] | None = None

    def backward(self) -> None:
        self._calls += 1
        if self._topo is not None:
            topo = self._topo
        else:
            topo = self.topological_order()
            for node in topo:
                if node._prev:
                    node.grad = 0.0
            if self._calls >= WARMUP:
                self._topo = topo
        if self._prev:
            self.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            node._backward()
