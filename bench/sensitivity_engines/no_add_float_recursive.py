"""A minimal micrograd copy (closures, recursive sort, Value operands only); planted bug: depth.

Only `Value + Value` and `Value * Value` exist (plus tanh, exp, log, relu and sigmoid): a plain
number operand fails an assert. The sort is micrograd's recursive `build_topo`, so backward()
raises RecursionError on a chain of ~1,000 nodes, e.g. `y = y + x` repeated, or a deep network.
"""

from __future__ import annotations

import math
from typing import Any

EXPECT = "bug"
STYLE = "minimal micrograd, recursive topo"
MECHANISM = "spelling"
BUG = "recursive build_topo: RecursionError at ~1,000 nodes (no Value + float to build a chain)"


class Value:
    def __init__(self, data: float, _children: tuple[Value, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._backward: Any = lambda: None
        self._prev = _children

    def __add__(self, other: Value) -> Value:
        assert isinstance(other, Value), "only Value + Value"
        out = Value(self.data + other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value) -> Value:
        assert isinstance(other, Value), "only Value * Value"
        out = Value(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def _unary(self, data: float, slope: float) -> Value:
        out = Value(data, (self,))

        def _backward() -> None:
            self.grad += slope * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t)

    def exp(self) -> Value:
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1 / self.data)

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), float(self.data > 0))

    def sigmoid(self) -> Value:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        return self._unary(s, s * (1 - s))

    def backward(self) -> None:
        topo: list[Value] = []
        visited: set[int] = set()

        def build_topo(v: Value) -> None:
            if id(v) not in visited:
                visited.add(id(v))
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        for v in topo:
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        for v in reversed(topo):
            v._backward()
