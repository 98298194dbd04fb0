"""Closure engine computing with exact `fractions.Fraction`s inside; correct.

`Value(x)` stores `Fraction(x)` (every float is a fraction): `+ - * /` and integer powers are
exact, and so are the gradients they contribute; tanh, exp, log, sigmoid, relu and non-integer
powers go through float64 (Python's `math`) and are converted back. `.data` and `.grad` are
Fractions (`float()` them to print). Domain errors follow Python floats: log(x <= 0) ValueError,
division by zero ZeroDivisionError, exp overflow OverflowError, a negative base with a fractional
exponent ValueError.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from fractions import Fraction
from typing import Any

EXPECT = "correct"
STYLE = "closures, exact Fractions inside"
MECHANISM = "exact arithmetic"
BUG = "(none) + - * / and integer powers are exact rationals"


_FLOAT_MAX = Fraction(sys.float_info.max)


def _exact(x: Any) -> Fraction:
    if type(x) is Fraction:
        return x
    if isinstance(x, bool) or not isinstance(x, int | float | Fraction):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{x!r} is not a finite number")
    return Fraction(x)


def _power(a: Fraction, k: Fraction) -> Fraction:
    """a ** k: exact for an integer k, through float64 otherwise."""
    if k.denominator == 1:
        if a == 0 and k < 0:
            raise ZeroDivisionError("0.0 cannot be raised to a negative power")
        p = a ** int(k)
        if abs(p) > _FLOAT_MAX:  # as float ** does: an exact result must still fit a float
            raise OverflowError("Numerical result out of range")
        return p
    if a < 0:
        raise ValueError("negative base with a fractional exponent")
    return Fraction(float(a) ** float(k))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


def _nothing() -> None:
    pass


class Value:
    def __init__(self, data: Any, _children: tuple[Value, ...] = ()) -> None:
        self.data = _exact(data)
        self.grad: Fraction = Fraction(0)
        self._children = _children
        self._backward: Callable[[], None] = _nothing

    def __repr__(self) -> str:
        return f"Value({float(self.data)}, grad={float(self.grad)})"

    def __float__(self) -> float:
        return float(self.data)

    @staticmethod
    def _of(x: Any) -> Value:
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other: Any) -> Value:
        other = Value._of(other)
        out = Value(self.data + other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = Value._of(other)
        out = Value(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> Value:
        other = Value._of(other)
        if other.data == 0:
            raise ZeroDivisionError("division by zero")
        out = Value(self.data / other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad -= out.data / other.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Any) -> Value:
        other = Value._of(other)
        a, k = self.data, other.data
        out = Value(_power(a, k), (self, other))

        def _backward() -> None:
            if k != 0:
                self.grad += k * _power(a, k - 1) * out.grad
            if a > 0:  # (log of the exact value: float(a) may underflow to 0.0)
                log_a = math.log(a.numerator) - math.log(a.denominator)
                other.grad += Fraction(log_a) * out.data * out.grad

        out._backward = _backward
        return out

    def __radd__(self, other: Any) -> Value:
        return self + other

    def __sub__(self, other: Any) -> Value:
        return self + (-Value._of(other))

    def __rsub__(self, other: Any) -> Value:
        return Value._of(other) + (-self)

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __rtruediv__(self, other: Any) -> Value:
        return Value._of(other) / self

    def __rpow__(self, other: Any) -> Value:
        return Value._of(other) ** self

    def __neg__(self) -> Value:
        return self * -1

    def _unary(self, value: float, slope: float) -> Value:
        out = Value(value, (self,))
        exact_slope = Fraction(slope)

        def _backward() -> None:
            self.grad += exact_slope * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(float(self.data))
        return self._unary(t, 1 - t * t)

    def exp(self) -> Value:
        e = math.exp(float(self.data))
        return self._unary(e, e)

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError("math domain error")
        x = float(self.data)
        return self._unary(math.log(x), 1 / x)

    def relu(self) -> Value:
        positive = self.data > 0
        out = Value(self.data if positive else 0, (self,))

        def _backward() -> None:
            if positive:
                self.grad += out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        s = _sigmoid(float(self.data))
        return self._unary(s, s * (1 - s))

    def backward(self) -> None:
        topo: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._children)
        for node in topo:
            if node._children:
                node.grad = Fraction(0)
        self.grad += 1
        for node in reversed(topo):
            node._backward()
