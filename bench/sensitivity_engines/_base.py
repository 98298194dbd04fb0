"""A correct micrograd-style engine that many catalogue entries subclass to plant one bug.

Style: Andrej Karpathy's micrograd, extended to every op of the registry. Each op builds its
result with a `_backward` closure that adds the local derivative times `out.grad` into the
operands; plain numbers are lifted into constant leaves (`Value(2.0)`), as micrograd does.
`backward()` sorts the graph iteratively (no recursion limit), recomputes interior gradients and
lets leaf gradients accumulate across calls. Domain errors follow Python floats.

Not an engine of the catalogue itself (its name starts with an underscore): the runner skips it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def fpow(base: float, exponent: float) -> float:
    """`base ** exponent` as Python floats compute it, but ValueError instead of a complex."""
    if base < 0 and not float(exponent).is_integer():
        raise ValueError(f"negative base {base!r} with non-integer exponent {exponent!r}")
    return float(base**exponent)


def power_rule(base: float, k: float) -> float:
    """d(base**k)/d(base) = k * base**(k - 1), infinite where the slope is vertical."""
    if k == 0:
        return 0.0
    try:
        return k * fpow(base, k - 1)
    except ZeroDivisionError:
        return math.copysign(math.inf, k)
    except OverflowError:
        odd = base < 0 and (k - 1) % 2 == 1
        return math.copysign(math.inf, -k if odd else k)


def exponent_rule(base: float, power: float) -> float:
    """d(base**x)/dx = log(base) * base**x (0 at base 0, where only x > 0 is defined)."""
    if base > 0:
        return math.log(base) * power
    return 0.0 if base == 0 else math.nan


def sigmoid(x: float) -> float:
    """The logistic function, exponentiating only non-positive numbers (no overflow)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def number(other: Any) -> float:
    """A plain-number operand as a float; anything else is a TypeError naming its type."""
    if isinstance(other, bool) or not isinstance(other, int | float):
        raise TypeError(f"unsupported operand type: {type(other).__name__!r}")
    return float(other)


def _noop() -> None:
    pass


class MicroValue:
    """Stores a scalar and its gradient; ops record closures that propagate the gradient."""

    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = _noop
        self._prev = _children
        self._op = _op

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _lift(self, other: Any) -> Any:
        return other if isinstance(other, MicroValue) else type(self)(number(other))

    # -- binary ops ------------------------------------------------------------------------------

    def __add__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> Any:
        other = self._lift(other)
        out = type(self)(self.data / other.data, (self, other), "/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad += -out.data / other.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Any) -> Any:
        if isinstance(other, MicroValue):
            out = type(self)(fpow(self.data, other.data), (self, other), "**")

            def _backward_vv() -> None:
                self.grad += power_rule(self.data, other.data) * out.grad
                other.grad += exponent_rule(self.data, out.data) * out.grad

            out._backward = _backward_vv
            return out
        k = number(other)
        out = type(self)(fpow(self.data, k), (self,), f"**{k}")

        def _backward() -> None:
            self.grad += power_rule(self.data, k) * out.grad

        out._backward = _backward
        return out

    def __rpow__(self, other: Any) -> Any:
        return self._lift(other) ** self

    def __neg__(self) -> Any:
        return self._unary(-self.data, -1.0, "neg")

    def __radd__(self, other: Any) -> Any:
        return self + other

    def __sub__(self, other: Any) -> Any:
        return self + (-self._lift(other))

    def __rsub__(self, other: Any) -> Any:
        return self._lift(other) + (-self)

    def __rmul__(self, other: Any) -> Any:
        return self * other

    def __rtruediv__(self, other: Any) -> Any:
        return self._lift(other) / self

    # -- functions -------------------------------------------------------------------------------

    def _unary(self, data: float, slope: float, op: str) -> Any:
        """A one-operand result whose local derivative is `slope`."""
        out = type(self)(data, (self,), op)

        def _backward() -> None:
            self.grad += slope * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Any:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t, "tanh")

    def exp(self) -> Any:
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self) -> Any:
        return self._unary(math.log(self.data), 1 / self.data, "log")

    def relu(self) -> Any:
        x = self.data
        return self._unary(x if x > 0 else 0.0, 1.0 if x > 0 else 0.0, "ReLU")

    def sigmoid(self) -> Any:
        s = sigmoid(self.data)
        return self._unary(s, s * (1 - s), "sigmoid")

    # -- reverse mode ----------------------------------------------------------------------------

    def topological_order(self) -> list[Any]:
        """Every node below self, children before parents, without recursion."""
        topo: list[Any] = []
        visited: set[int] = set()
        stack: list[tuple[Any, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        return topo

    def backward(self) -> None:
        topo = self.topological_order()
        for node in topo:  # interior grads are recomputed; leaf grads accumulate across calls
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            node._backward()
