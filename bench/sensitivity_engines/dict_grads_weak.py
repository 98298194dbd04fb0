"""Engine keeping gradients in a table (a weak dict keyed by node), not on the nodes; correct.

Nodes hold only data, operands and local derivatives; `.grad` is a property reading and writing
the module's `GRADS` table, a `weakref.WeakKeyDictionary` keyed by node identity, so a node that
is freed takes its entry with it (no stale gradients, no leak). `backward()` propagates in Kahn's
order from the output, counting each node's consumers first.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

EXPECT = "correct"
STYLE = "grads in a weak-keyed table, Kahn order"
MECHANISM = "dict grads"
BUG = "(none) gradients kept in a WeakKeyDictionary keyed by node identity"


class GradTable:
    """Gradients by node, held weakly."""

    def __init__(self) -> None:
        self._grads: weakref.WeakKeyDictionary[Value, float] = weakref.WeakKeyDictionary()

    def get(self, node: Value) -> float:
        return self._grads.get(node, 0.0)

    def set(self, node: Value, grad: float) -> None:
        self._grads[node] = grad

    def add(self, node: Value, grad: float) -> None:
        self._grads[node] = self._grads.get(node, 0.0) + grad


GRADS = GradTable()


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
    def __init__(self, data: float, edges: tuple[tuple[Value, float], ...] = ()) -> None:
        self.data = float(data)
        self.edges = edges  # (operand, local derivative)

    @property
    def grad(self) -> float:
        return GRADS.get(self)

    @grad.setter
    def grad(self, value: float) -> None:
        GRADS.set(self, value)

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
            d_exponent = math.log(a) * p if a > 0 else 0.0
            return Value(p, ((self, _pow_slope(a, other.data)), (other, d_exponent)))
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
        if x >= 0:
            s = 1 / (1 + math.exp(-x))
        else:
            z = math.exp(x)
            s = z / (1 + z)
        return Value(s, ((self, s * (1 - s)),))

    def backward(self) -> None:
        consumers: dict[Value, int] = {self: 0}  # edges into each node from below the output
        stack = [self]
        while stack:
            node = stack.pop()
            for x, _ in node.edges:
                if x in consumers:
                    consumers[x] += 1
                else:
                    consumers[x] = 1
                    stack.append(x)
        upstream: dict[Value, float] = {}
        ready = [self]
        upstream[self] = 1.0
        while ready:
            node = ready.pop()
            g = upstream.pop(node, 0.0)
            if not node.edges:
                GRADS.add(node, g)  # leaves accumulate across calls
                continue
            GRADS.set(node, g)  # interior gradients are recomputed
            for x, slope in node.edges:
                upstream[x] = upstream.get(x, 0.0) + slope * g
                consumers[x] -= 1
                if consumers[x] == 0:
                    ready.append(x)
