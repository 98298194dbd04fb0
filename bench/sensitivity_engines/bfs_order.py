"""Local-derivative engine with a breadth-first backward pass; planted bug: BFS is not topological.

Each result stores `(operand, slope)` pairs. `backward()` walks the graph breadth-first from the
output with a deque, pushing a node's gradient to its operands as soon as it is dequeued. That is
right for trees and many diamonds, but a node reached by a short path and a long one
(`a * a.tanh()`) is dequeued before the long path has delivered its contribution, which is then
never passed further down.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

EXPECT = "bug"
STYLE = "local derivatives, breadth-first backward"
MECHANISM = "order"
BUG = "backward() propagates in BFS order from the output: wrong when paths differ in length"


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    return float(x)


def _pow(a: float, k: float) -> float:
    if a < 0 and not k.is_integer():
        raise ValueError("negative base with a fractional exponent")
    return float(a**k)


def _pow_slope(a: float, k: float) -> float:
    if k == 0:
        return 0.0
    try:
        return k * _pow(a, k - 1)
    except ZeroDivisionError:
        return math.copysign(math.inf, k)
    except OverflowError:
        return math.inf


class Value:
    def __init__(self, data: float, parents: tuple[tuple[Value, float], ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, ((self, 1.0), (other, 1.0)))
        return Value(self.data + _num(other), ((self, 1.0),))

    def __radd__(self, other: Any) -> Value:
        return Value(_num(other) + self.data, ((self, 1.0),))

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, ((self, 1.0), (other, -1.0)))
        return Value(self.data - _num(other), ((self, 1.0),))

    def __rsub__(self, other: Any) -> Value:
        return Value(_num(other) - self.data, ((self, -1.0),))

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, ((self, other.data), (other, self.data)))
        k = _num(other)
        return Value(self.data * k, ((self, k),))

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            q = self.data / other.data
            return Value(q, ((self, 1 / other.data), (other, -q / other.data)))
        k = _num(other)
        return Value(self.data / k, ((self, 1 / k),))

    def __rtruediv__(self, other: Any) -> Value:
        q = _num(other) / self.data
        return Value(q, ((self, -q / self.data),))

    def __neg__(self) -> Value:
        return Value(-self.data, ((self, -1.0),))

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            p = _pow(a, other.data)
            return Value(p, ((self, _pow_slope(a, other.data)), (other, math.log(a) * p)))
        k = _num(other)
        return Value(_pow(a, k), ((self, _pow_slope(a, k)),))

    def __rpow__(self, other: Any) -> Value:
        k = _num(other)
        p = _pow(k, self.data)
        return Value(p, ((self, math.log(k) * p if k > 0 else 0.0),))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, ((self, 1 - t * t),))

    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, ((self, e),))

    def log(self) -> Value:
        return Value(math.log(self.data), ((self, 1 / self.data),))

    def relu(self) -> Value:
        return Value(max(self.data, 0.0), ((self, 1.0 if self.data > 0 else 0.0),))

    def sigmoid(self) -> Value:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        return Value(s, ((self, s * (1 - s)),))

    def backward(self) -> None:
        reached = {id(self): self}
        queue = deque([self])
        while queue:  # every node below the output, to reset interior gradients
            node = queue.popleft()
            for parent, _ in node.parents:
                if id(parent) not in reached:
                    reached[id(parent)] = parent
                    queue.append(parent)
        for node in reached.values():
            if node.parents:
                node.grad = 0.0
        self.grad += 1.0
        queued = {id(self)}
        queue = deque([self])
        while queue:
            node = queue.popleft()
            for parent, slope in node.parents:
                parent.grad += slope * node.grad
                if id(parent) not in queued:
                    queued.add(id(parent))
                    queue.append(parent)
