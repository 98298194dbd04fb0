"""Engine that replays a per-call tape in creation order; correct.

Every node gets a serial number when it is created (`itertools.count`), so creation order is a
topological order. `backward()` gathers the nodes below the output, sorts them by serial number,
newest first, and replays that tape: each node adds `slope * grad` into its operands. Nothing is
kept between calls but the gradients (leaves accumulate, interior gradients are recomputed).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

EXPECT = "correct"
STYLE = "creation-order tape (serial numbers)"
MECHANISM = "tape"
BUG = "(none) backward replays nodes by creation serial number"

_serial = itertools.count()


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


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


class Value:
    def __init__(
        self, data: float, operands: tuple[Value, ...] = (), slopes: tuple[float, ...] = ()
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.operands = operands
        self.slopes = slopes
        self.serial = next(_serial)

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0))
        return Value(self.data + _num(other), (self,), (1.0,))

    def __radd__(self, other: Any) -> Value:
        return Value(_num(other) + self.data, (self,), (1.0,))

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), (1.0, -1.0))
        return Value(self.data - _num(other), (self,), (1.0,))

    def __rsub__(self, other: Any) -> Value:
        return Value(_num(other) - self.data, (self,), (-1.0,))

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        k = _num(other)
        return Value(self.data * k, (self,), (k,))

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            q = self.data / other.data
            return Value(q, (self, other), (1 / other.data, -q / other.data))
        k = _num(other)
        return Value(self.data / k, (self,), (1 / k,))

    def __rtruediv__(self, other: Any) -> Value:
        q = _num(other) / self.data
        return Value(q, (self,), (-q / self.data,))

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,))

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            p = _pow(a, other.data)
            d_exponent = math.log(a) * p if a > 0 else 0.0
            return Value(p, (self, other), (_pow_slope(a, other.data), d_exponent))
        k = _num(other)
        return Value(_pow(a, k), (self,), (_pow_slope(a, k),))

    def __rpow__(self, other: Any) -> Value:
        k = _num(other)
        p = _pow(k, self.data)
        return Value(p, (self,), (math.log(k) * p if k > 0 else 0.0,))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,))

    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def log(self) -> Value:
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def relu(self) -> Value:
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,))

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return Value(s, (self,), (s * (1 - s),))

    def backward(self) -> None:
        below = {id(self): self}
        stack = [self]
        while stack:
            for x in stack.pop().operands:
                if id(x) not in below:
                    below[id(x)] = x
                    stack.append(x)
        tape = sorted(below.values(), key=lambda node: node.serial, reverse=True)
        for node in tape:
            if node.operands:
                node.grad = 0.0
        self.grad += 1.0
        for node in tape:
            for x, slope in zip(node.operands, node.slopes):
                x.grad += slope * node.grad
