"""A standalone micrograd copy (closures, recursive sort); planted bug: recursion depth.

Karpathy's micrograd with every op of the registry, the second-backward fix (interior gradients
reset) and stable tanh/sigmoid: the only bug left is micrograd's recursive `build_topo`, which
raises RecursionError for a chain of ~1,000 nodes under the default recursion limit.
"""

from __future__ import annotations

import math
from typing import Any

EXPECT = "bug"
STYLE = "micrograd copy, recursive topo"
MECHANISM = "spelling"
BUG = "recursive build_topo: RecursionError on a chain of ~1,000 nodes"


class Value:
    """stores a single scalar value and its gradient"""

    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        # internal variables used for autograd graph construction
        self._backward: Any = lambda: None
        self._prev = set(_children)
        self._op = _op  # the op that produced this node, for graphviz / debugging / etc

    def __add__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return (self.log() * other).exp()  # a > 0 only, as for a**b
        assert isinstance(other, int | float), "only supporting int/float powers for now"
        if self.data < 0 and not float(other).is_integer():
            raise ValueError("negative base with a fractional exponent")
        out = Value(self.data**other, (self,), f"**{other}")

        def _backward() -> None:
            if other != 0:
                self.grad += (other * self.data ** (other - 1)) * out.grad

        out._backward = _backward
        return out

    def __rpow__(self, other: Any) -> Value:
        if other <= 0:
            raise ValueError("the base of k ** a must be positive")
        return (self * math.log(other)).exp()

    def relu(self) -> Value:
        out = Value(0 if self.data < 0 else self.data, (self,), "ReLU")

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += s * (1 - s) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        # topological order all of the children in the graph
        topo: list[Value] = []
        visited: set[Value] = set()

        def build_topo(v: Value) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        for v in topo:  # fresh interior gradients on every call; leaves accumulate
            if v._prev:
                v.grad = 0.0
        # go one variable at a time and apply the chain rule to get its gradient
        self.grad += 1
        for v in reversed(topo):
            v._backward()

    def __neg__(self) -> Value:  # -self
        return self * -1

    def __radd__(self, other: Any) -> Value:  # other + self
        return self + other

    def __sub__(self, other: Any) -> Value:  # self - other
        return self + (-other)

    def __rsub__(self, other: Any) -> Value:  # other - self
        return other + (-self)

    def __rmul__(self, other: Any) -> Value:  # other * self
        return self * other

    def __truediv__(self, other: Any) -> Value:  # self / other
        if not isinstance(other, Value) and other == 0:
            raise ZeroDivisionError("division by zero")
        return self * other**-1

    def __rtruediv__(self, other: Any) -> Value:  # other / self
        return other * self**-1

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"
