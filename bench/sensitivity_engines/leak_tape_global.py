"""Wengert-list engine on a global tape; planted bug: the tape is never cleared.

A node is only a value and an index into the module-level `TAPE`, where each op records its
result, operands and local derivatives. `backward()` finds the entries below the output and
replays them in reverse tape order (creation order is a topological order). The math is right, but
the tape keeps every node of every graph ever built alive: memory grows without bound.
"""

from __future__ import annotations

import math
from typing import Any

EXPECT = "bug"
STYLE = "global Wengert tape"
MECHANISM = "state"
BUG = "every op is appended to a module-level tape that is never cleared (memory leak)"

TAPE: list[tuple[Any, tuple[Any, ...], tuple[float, ...]]] = []  # (result, operands, slopes)


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


def _record(data: float, operands: tuple[Any, ...], slopes: tuple[float, ...]) -> Value:
    out = Value(data)
    out.index = len(TAPE)
    TAPE.append((out, operands, slopes))
    return out


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


class Value:
    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.index = -1  # a leaf; results get their tape position

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return _record(self.data + other.data, (self, other), (1.0, 1.0))
        return _record(self.data + _num(other), (self,), (1.0,))

    def __radd__(self, other: Any) -> Value:
        return _record(_num(other) + self.data, (self,), (1.0,))

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return _record(self.data - other.data, (self, other), (1.0, -1.0))
        return _record(self.data - _num(other), (self,), (1.0,))

    def __rsub__(self, other: Any) -> Value:
        return _record(_num(other) - self.data, (self,), (-1.0,))

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return _record(self.data * other.data, (self, other), (other.data, self.data))
        k = _num(other)
        return _record(self.data * k, (self,), (k,))

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            q = self.data / other.data
            return _record(q, (self, other), (1 / other.data, -q / other.data))
        k = _num(other)
        return _record(self.data / k, (self,), (1 / k,))

    def __rtruediv__(self, other: Any) -> Value:
        q = _num(other) / self.data
        return _record(q, (self,), (-q / self.data,))

    def __neg__(self) -> Value:
        return _record(-self.data, (self,), (-1.0,))

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            p = _pow(a, other.data)
            return _record(p, (self, other), (_pow_slope(a, other.data), math.log(a) * p))
        k = _num(other)
        return _record(_pow(a, k), (self,), (_pow_slope(a, k),))

    def __rpow__(self, other: Any) -> Value:
        k = _num(other)
        p = _pow(k, self.data)
        return _record(p, (self,), (math.log(k) * p if k > 0 else 0.0,))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return _record(t, (self,), (1 - t * t,))

    def exp(self) -> Value:
        e = math.exp(self.data)
        return _record(e, (self,), (e,))

    def log(self) -> Value:
        return _record(math.log(self.data), (self,), (1 / self.data,))

    def relu(self) -> Value:
        return _record(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,))

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return _record(s, (self,), (s * (1 - s),))

    def backward(self) -> None:
        if self.index < 0:  # the output is a leaf
            self.grad += 1.0
            return
        entries = {self.index}  # tape positions below the output
        stack = [self.index]
        while stack:
            for operand in TAPE[stack.pop()][1]:
                if operand.index >= 0 and operand.index not in entries:
                    entries.add(operand.index)
                    stack.append(operand.index)
        order = sorted(entries, reverse=True)
        for i in order:
            TAPE[i][0].grad = 0.0
        self.grad = 1.0
        for i in order:
            out, operands, slopes = TAPE[i]
            for operand, slope in zip(operands, slopes):
                operand.grad += slope * out.grad
