"""Engine with vector-Jacobian-product closures and powers as exp(k * log|a|); correct.

Each result keeps its inputs and a `vjp` function mapping the output's gradient to one gradient
per input (JAX's style, pure functions instead of closures that mutate). Powers are computed as
`exp(k * log|a|)`, with the sign restored for a negative base and an odd integer exponent, and
base 0 handled apart (0 ** k is 0 for k > 0, 1 for k = 0, ZeroDivisionError for k < 0); a negative
base with a fractional exponent raises ValueError and exp's overflow OverflowError, as Python's
`**` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

EXPECT = "correct"
STYLE = "VJP functions, powers via exp/log"
MECHANISM = "pow via exp/log"
BUG = "(none) a ** k = exp(k * log|a|) with the sign and base 0 handled"

Vjp = Callable[[float], tuple[float, ...]]


def power(a: float, k: float) -> float:
    """a ** k through exp and log."""
    if a == 0:
        if k > 0:
            return 0.0
        if k == 0:
            return 1.0
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    if a < 0:
        if not k.is_integer():
            raise ValueError("negative base with a fractional exponent")
        magnitude = math.exp(k * math.log(-a))
        return -magnitude if k % 2 == 1 else magnitude
    return math.exp(k * math.log(a))


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    return float(x)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


class Value:
    # The power function is a class attribute so that a variant can swap it.
    power: Callable[[float, float], float] = staticmethod(power)

    def __init__(self, data: float, inputs: tuple[Value, ...] = (), vjp: Vjp | None = None):
        self.data = float(data)
        self.grad = 0.0
        self.inputs = inputs
        self.vjp = vjp

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    def _new(self, data: float, inputs: tuple[Value, ...], vjp: Vjp) -> Value:
        return type(self)(data, inputs, vjp)

    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return self._new(self.data + other.data, (self, other), lambda g: (g, g))
        return self._new(self.data + _num(other), (self,), lambda g: (g,))

    def __radd__(self, other: Any) -> Value:
        return self._new(_num(other) + self.data, (self,), lambda g: (g,))

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return self._new(self.data - other.data, (self, other), lambda g: (g, -g))
        return self._new(self.data - _num(other), (self,), lambda g: (g,))

    def __rsub__(self, other: Any) -> Value:
        return self._new(_num(other) - self.data, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            b = other.data
            return self._new(a * b, (self, other), lambda g: (g * b, g * a))
        k = _num(other)
        return self._new(a * k, (self,), lambda g: (g * k,))

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            b = other.data
            q = a / b
            return self._new(q, (self, other), lambda g: (g / b, -g * q / b))
        k = _num(other)
        return self._new(a / k, (self,), lambda g: (g / k,))

    def __rtruediv__(self, other: Any) -> Value:
        a = self.data
        q = _num(other) / a
        return self._new(q, (self,), lambda g: (-g * q / a,))

    def __neg__(self) -> Value:
        return self._new(-self.data, (self,), lambda g: (-g,))

    def _power_slope(self, a: float, k: float) -> float:
        if k == 0:
            return 0.0
        try:
            return k * self.power(a, k - 1)
        except ZeroDivisionError:  # a vertical slope: 0 ** 0.5
            return math.copysign(math.inf, k)
        except OverflowError:  # only the slope overflows
            return math.inf

    def __pow__(self, other: Any) -> Value:
        a = self.data
        if isinstance(other, Value):
            b = other.data
            p = self.power(a, b)
            da = self._power_slope(a, b)
            db = math.log(a) * p if a > 0 else 0.0
            return self._new(p, (self, other), lambda g: (g * da, g * db))
        k = _num(other)
        slope = self._power_slope(a, k)
        return self._new(self.power(a, k), (self,), lambda g: (g * slope,))

    def __rpow__(self, other: Any) -> Value:
        k = _num(other)
        p = self.power(k, self.data)
        slope = math.log(k) * p if k > 0 else 0.0
        return self._new(p, (self,), lambda g: (g * slope,))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._new(t, (self,), lambda g: (g * (1 - t * t),))

    def exp(self) -> Value:
        e = math.exp(self.data)
        return self._new(e, (self,), lambda g: (g * e,))

    def log(self) -> Value:
        a = self.data
        return self._new(math.log(a), (self,), lambda g: (g / a,))

    def relu(self) -> Value:
        positive = self.data > 0
        return self._new(
            self.data if positive else 0.0, (self,), lambda g: (g if positive else 0.0,)
        )

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return self._new(s, (self,), lambda g: (g * s * (1 - s),))

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
                stack.extend((x, False) for x in node.inputs)
        for node in order:
            if node.vjp is not None:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            if node.vjp is not None:
                for x, g in zip(node.inputs, node.vjp(node.grad)):
                    x.grad += g
