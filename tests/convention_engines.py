"""Engines that differ from the reference only by convention, or by a bug outside a domain.

`IeeeValue` keeps its data in numpy float64 (closures for the backward pass, as micrograd does):
outside a domain it gives IEEE 754's inf and nan where Python's floats raise, and its relu slope
is 1 at 0 (`>=`). Correct everywhere else. `ClampedLogValue` is the same engine with a "safe" log,
log(max(x, 1e-12)): a finite number outside the domain, which is a bug, not a convention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

F = np.float64


class IeeeValue:
    def __init__(self, data: Any, _children: tuple[IeeeValue, ...] = ()) -> None:
        self.data = F(data)
        self.grad = F(0.0)
        self._backward: Callable[[], None] = lambda: None
        self._prev = _children

    @staticmethod
    def _lift(other: Any) -> IeeeValue:
        return other if isinstance(other, IeeeValue) else IeeeValue(other)

    def _unary(self, value: Any, slope: Any) -> IeeeValue:
        out = type(self)(value, (self,))

        def backward() -> None:
            self.grad += slope * out.grad

        out._backward = backward
        return out

    def _binary(self, other: Any, value: Any, slopes: tuple[Any, Any]) -> IeeeValue:
        other = self._lift(other)
        out = type(self)(value, (self, other))

        def backward() -> None:
            self.grad += slopes[0] * out.grad
            other.grad += slopes[1] * out.grad

        out._backward = backward
        return out

    def __add__(self, other: Any) -> IeeeValue:
        o = self._lift(other)
        return self._binary(o, self.data + o.data, (F(1.0), F(1.0)))

    def __mul__(self, other: Any) -> IeeeValue:
        o = self._lift(other)
        return self._binary(o, self.data * o.data, (o.data, self.data))

    def __truediv__(self, other: Any) -> IeeeValue:
        o = self._lift(other)
        with np.errstate(all="ignore"):
            q = self.data / o.data
            return self._binary(o, q, (F(1.0) / o.data, -q / o.data))

    def __pow__(self, other: Any) -> IeeeValue:
        o = self._lift(other)
        with np.errstate(all="ignore"):
            p = np.power(self.data, o.data)
            da = o.data * np.power(self.data, o.data - 1.0)
            db = np.log(self.data) * p if self.data > 0 else F(0.0)
            return self._binary(o, p, (da, db))

    def __rpow__(self, other: Any) -> IeeeValue:
        return self._lift(other) ** self

    def __neg__(self) -> IeeeValue:
        return self * -1.0

    def __sub__(self, other: Any) -> IeeeValue:
        return self + (-self._lift(other))

    def __radd__(self, other: Any) -> IeeeValue:
        return self + other

    def __rmul__(self, other: Any) -> IeeeValue:
        return self * other

    def __rsub__(self, other: Any) -> IeeeValue:
        return self._lift(other) - self

    def __rtruediv__(self, other: Any) -> IeeeValue:
        return self._lift(other) / self

    def tanh(self) -> IeeeValue:
        t = np.tanh(self.data)
        return self._unary(t, F(1.0) - t * t)

    def exp(self) -> IeeeValue:
        with np.errstate(all="ignore"):
            e = np.exp(self.data)
        return self._unary(e, e)

    def log(self) -> IeeeValue:
        with np.errstate(all="ignore"):
            return self._unary(np.log(self.data), F(1.0) / self.data)

    def relu(self) -> IeeeValue:
        return self._unary(max(self.data, F(0.0)), F(1.0) if self.data >= 0 else F(0.0))

    def __abs__(self) -> IeeeValue:
        return self._unary(abs(self.data), F(1.0) if self.data >= 0 else F(-1.0))  # abs'(0) = 1

    def sqrt(self) -> IeeeValue:
        with np.errstate(all="ignore"):
            r = np.sqrt(self.data)
            return self._unary(r, F(0.5) / r)

    def sigmoid(self) -> IeeeValue:
        with np.errstate(all="ignore"):
            s = F(1.0) / (F(1.0) + np.exp(-self.data))
        return self._unary(s, s * (F(1.0) - s))

    def backward(self) -> None:
        order: list[IeeeValue] = []
        seen: set[int] = set()
        stack: list[tuple[IeeeValue, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        for node in order:  # interior gradients start afresh: backward() may be called again
            if node._prev:
                node.grad = F(0.0)
        self.grad = F(1.0)
        for node in reversed(order):
            node._backward()


class ClampedLogValue(IeeeValue):
    def log(self) -> IeeeValue:
        x = max(self.data, F(1e-12))
        return self._unary(np.log(x), F(1.0) / x)
