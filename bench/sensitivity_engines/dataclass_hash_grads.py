"""Dataclass nodes with gradients in a side table keyed by node; planted bug: value-based hash.

Nodes are `@dataclass(unsafe_hash=True)` records (data, op, operands, slopes) so that they can be
dict keys, and gradients live in a `weakref.WeakKeyDictionary` keyed by node. The generated
`__eq__`/`__hash__` compare fields, so two different leaves holding the same number are the same
key and share one gradient: for `x0 = Value(1.0); x1 = Value(1.0)`, `x0 * x1` gives both grads 2.
(Hashing a node also recurses through its whole subgraph, so deep graphs are slow and raise
RecursionError.)
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

EXPECT = "bug"
STYLE = "dataclass nodes, grads in a weak dict keyed by node"
MECHANISM = "state"
BUG = "nodes hash and compare by value: equal-valued leaves share one gradient"

GRADS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


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


@dataclass(unsafe_hash=True)
class Value:
    data: float
    op: str = ""
    operands: tuple[Value, ...] = ()
    slopes: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self.data = float(self.data)

    @property
    def grad(self) -> float:
        return GRADS.get(self, 0.0)

    @grad.setter
    def grad(self, value: float) -> None:
        GRADS[self] = value

    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, "+", (self, other), (1.0, 1.0))
        return Value(self.data + _num(other), "+", (self,), (1.0,))

    def __radd__(self, other: Any) -> Value:
        return Value(_num(other) + self.data, "+", (self,), (1.0,))

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, "-", (self, other), (1.0, -1.0))
        return Value(self.data - _num(other), "-", (self,), (1.0,))

    def __rsub__(self, other: Any) -> Value:
        return Value(_num(other) - self.data, "-", (self,), (-1.0,))

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, "*", (self, other), (other.data, self.data))
        k = _num(other)
        return Value(self.data * k, "*", (self,), (k,))

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            q = self.data / other.data
            return Value(q, "/", (self, other), (1 / other.data, -q / other.data))
        k = _num(other)
        return Value(self.data / k, "/", (self,), (1 / k,))

    def __rtruediv__(self, other: Any) -> Value:
        q = _num(other) / self.data
        return Value(q, "/", (self,), (-q / self.data,))

    def __neg__(self) -> Value:
        return Value(-self.data, "neg", (self,), (-1.0,))

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            p = _pow(a, other.data)
            slopes = (_pow_slope(a, other.data), math.log(a) * p)
            return Value(p, "**", (self, other), slopes)
        k = _num(other)
        return Value(_pow(a, k), "**", (self,), (_pow_slope(a, k),))

    def __rpow__(self, other: Any) -> Value:
        k = _num(other)
        p = _pow(k, self.data)
        return Value(p, "**", (self,), (math.log(k) * p if k > 0 else 0.0,))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, "tanh", (self,), (1 - t * t,))

    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, "exp", (self,), (e,))

    def log(self) -> Value:
        return Value(math.log(self.data), "log", (self,), (1 / self.data,))

    def relu(self) -> Value:
        return Value(max(self.data, 0.0), "relu", (self,), (1.0 if self.data > 0 else 0.0,))

    def sigmoid(self) -> Value:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        return Value(s, "sigmoid", (self,), (s * (1 - s),))

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
                stack.extend((x, False) for x in node.operands)
        for node in order:
            if node.operands:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            g = node.grad
            for x, slope in zip(node.operands, node.slopes):
                x.grad += slope * g
