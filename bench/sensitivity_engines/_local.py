"""A correct engine that stores local derivatives instead of closures; some entries subclass it.

Style: every result records its operands (`_children`) and, computed during the forward pass, the
derivative of the result with respect to each (`_locals`). Plain numbers are folded into the local
derivative and never become nodes. `backward()` walks a post-order from an explicit stack and
pushes `local * grad` down every edge; leaf gradients accumulate across calls, interior ones are
recomputed.

Not an engine of the catalogue itself (its name starts with an underscore): the runner skips it.
"""

from __future__ import annotations

import math
from typing import Any

from _base import exponent_rule, fpow, number, power_rule, sigmoid


class LocalValue:
    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._children: tuple[Any, ...] = ()
        self._locals: tuple[float, ...] = ()

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _result(self, data: float, children: tuple[Any, ...], locals_: tuple[float, ...]) -> Any:
        out = type(self)(data)
        out._children = children
        out._locals = locals_
        return out

    # -- binary ops: Value op Value, Value op number, number op Value -----------------------------

    def __add__(self, other: Any) -> Any:
        if isinstance(other, LocalValue):
            return self._result(self.data + other.data, (self, other), (1.0, 1.0))
        return self._result(self.data + number(other), (self,), (1.0,))

    def __radd__(self, other: Any) -> Any:
        return self._result(number(other) + self.data, (self,), (1.0,))

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, LocalValue):
            return self._result(self.data - other.data, (self, other), (1.0, -1.0))
        return self._result(self.data - number(other), (self,), (1.0,))

    def __rsub__(self, other: Any) -> Any:
        return self._result(number(other) - self.data, (self,), (-1.0,))

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, LocalValue):
            return self._result(self.data * other.data, (self, other), (other.data, self.data))
        k = number(other)
        return self._result(self.data * k, (self,), (k,))

    def __rmul__(self, other: Any) -> Any:
        k = number(other)
        return self._result(k * self.data, (self,), (k,))

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, LocalValue):
            out = self.data / other.data
            return self._result(out, (self, other), (1 / other.data, -out / other.data))
        k = number(other)
        return self._result(self.data / k, (self,), (1 / k,))

    def __rtruediv__(self, other: Any) -> Any:
        out = number(other) / self.data
        return self._result(out, (self,), (-out / self.data,))

    def __neg__(self) -> Any:
        return self._result(-self.data, (self,), (-1.0,))

    def __pow__(self, other: Any) -> Any:
        x = self.data
        if isinstance(other, LocalValue):
            out = fpow(x, other.data)
            slopes = (power_rule(x, other.data), exponent_rule(x, out))
            return self._result(out, (self, other), slopes)
        k = number(other)
        return self._result(fpow(x, k), (self,), (power_rule(x, k),))

    def __rpow__(self, other: Any) -> Any:
        k = number(other)
        out = fpow(k, self.data)
        return self._result(out, (self,), (exponent_rule(k, out),))

    # -- functions -------------------------------------------------------------------------------

    def tanh(self) -> Any:
        t = math.tanh(self.data)
        return self._result(t, (self,), (1 - t * t,))

    def exp(self) -> Any:
        e = math.exp(self.data)
        return self._result(e, (self,), (e,))

    def log(self) -> Any:
        return self._result(math.log(self.data), (self,), (1 / self.data,))

    def relu(self) -> Any:
        x = self.data
        return self._result(max(x, 0.0), (self,), (1.0 if x > 0 else 0.0,))

    def sigmoid(self) -> Any:
        s = sigmoid(self.data)
        return self._result(s, (self,), (s * (1 - s),))

    # -- reverse mode ----------------------------------------------------------------------------

    def post_order(self) -> list[Any]:
        """Children before parents, from an explicit stack."""
        order: list[Any] = []
        seen: set[int] = set()
        stack: list[tuple[Any, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((c, False) for c in node._children)
        return order

    def backward(self) -> None:
        order = self.post_order()
        for node in order:
            if node._children:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            for child, local in zip(node._children, node._locals):
                child.grad += local * node.grad
