"""Engine with gradients in a module-level dict keyed by `id(node)`; planted bug: stale entries.

`.grad` is a property over `GRADS[id(self)]`. Entries are never removed when a node is freed, and
CPython reuses the address (hence the id) of a freed object for the next one: a fresh leaf can
start with the gradient of a dead node, and its `.grad` after backward() is that stale number
plus the right one. It also leaks one entry per address ever used.
"""

from __future__ import annotations

import math
from typing import Any

EXPECT = "bug"
STYLE = "module-level grad dict keyed by id"
MECHANISM = "state"
BUG = "grads in a global dict keyed by id(node), never cleaned: new nodes inherit stale grads"

GRADS: dict[int, float] = {}


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
    def __init__(self, data: float, inputs: tuple[tuple[Value, float], ...] = ()) -> None:
        self.data = float(data)
        self.inputs = inputs  # (operand, local derivative)

    @property
    def grad(self) -> float:
        return GRADS.get(id(self), 0.0)

    @grad.setter
    def grad(self, value: float) -> None:
        GRADS[id(self)] = value

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
                stack.extend((x, False) for x, _ in node.inputs)
        for node in order:
            if node.inputs:
                GRADS[id(node)] = 0.0
        GRADS[id(self)] = GRADS.get(id(self), 0.0) + 1.0
        for node in reversed(order):
            g = GRADS[id(node)]
            for x, slope in node.inputs:
                GRADS[id(x)] = GRADS.get(id(x), 0.0) + slope * g
