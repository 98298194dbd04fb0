"""A local-derivative engine without `*`; planted bug: a second backward() is wrong.

Written for a course exercise before multiplication: `+ - / ** neg` (Values and numbers on either
side) and tanh, exp, log, relu, sigmoid. Each result stores `(child, local derivative)` pairs.
`backward()` sets the output's gradient to 1 but never resets interior gradients, so calling it
twice adds fresh contributions to stale ones: `(x + x) + x` gives x.grad = 8 after two calls
instead of 6.
"""

from __future__ import annotations

import math
from typing import Any

EXPECT = "bug"
STYLE = "local derivatives, (child, slope) pairs, no __mul__"
MECHANISM = "spelling"
BUG = "interior grads are not reset between backward() calls; the engine has no *"


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    return float(x)


def _pow(base: float, k: float) -> float:
    if base < 0 and not k.is_integer():
        raise ValueError("negative base with a fractional exponent")
    return float(base**k)


class Value:
    def __init__(self, data: float, edges: tuple[tuple[Value, float], ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.edges = edges  # (operand, d(self)/d(operand))

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

    def __neg__(self) -> Value:
        return Value(-self.data, ((self, -1.0),))

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            q = self.data / other.data
            return Value(q, ((self, 1 / other.data), (other, -q / other.data)))
        k = _num(other)
        return Value(self.data / k, ((self, 1 / k),))

    def __rtruediv__(self, other: Any) -> Value:
        q = _num(other) / self.data
        return Value(q, ((self, -q / self.data),))

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            p = _pow(a, other.data)
            return Value(
                p, ((self, other.data * _pow(a, other.data - 1)), (other, math.log(a) * p))
            )
        k = _num(other)
        slope = 0.0 if k == 0 else k * _pow(a, k - 1)
        return Value(_pow(a, k), ((self, slope),))

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
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child, _ in node.edges)
        self.grad = 1.0
        for node in reversed(order):
            for child, slope in node.edges:
                child.grad += slope * node.grad
