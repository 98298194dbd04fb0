"""The engine of the notebook gradoracle grew from, bug included: a tutorial target for the oracle.

This is the `Value` class of ``seed/notebook.md`` (a first pass at Karpathy's micrograd lecture),
kept as it was written: closures stored in ``_backward``, children in a ``_prev`` set, ``+``, ``*``
and ``tanh``, a ``label`` for drawing. The notebook ran the backward pass by hand in a cell (a
recursive topological sort, then every node's ``_backward`` in reverse order); that cell is
``backward()`` below, so that the class has the micrograd shape the oracle drives. ``draw_dot`` is
left out: it needs graphviz and plays no part in the gradients.

The bug is the classic one. Each ``_backward`` *assigns* its contribution (``self.grad =
out.grad``) instead of adding it (``self.grad += out.grad``). That is right as long as every value
is used exactly once, as in the notebook's neuron, and wrong as soon as a value feeds two places::

    x = Value(3.0)
    y = x + x          # dy/dx = 2
    y.backward()
    x.grad             # 1.0: the second contribution overwrote the first

Try it from this directory::

    gradoracle check notebook_engine:Value --budget 10

It finds the overwrite on random graphs and shrinks it to a single op (``x0 + x0`` or ``x0 * x0``),
its semantics battery finds it again on reused nodes and on a second ``backward()``, and it lists
what the engine cannot spell (``a + 2``, ``a - b``, ``a / b``, ``a ** k``, ``exp``, ...) as skipped
rather than failing it. Do not fix the bug here: the tests and the README tutorial rely on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class Value:
    def __init__(
        self,
        data: float,
        _children: tuple[Value, ...] = (),
        _op: str = "",
        label: str = "",
        grad: float = 0.0,
    ) -> None:
        self.data = data
        self._prev = set(_children)  # the Values this one was computed from
        self._op = _op  # the operation that produced it ('' for a leaf)
        self._backward: Callable[[], None] = lambda: None
        self.label = label  # its name in the graph picture (usually the variable's name)
        self.grad = grad  # d(root)/d(this value), filled in by backward()

    def __repr__(self) -> str:
        return f"Value (data = {self.data})"

    # Operands must be Values: `a + 2` raises AttributeError (a float has no .data) and `2 + a`
    # TypeError (no __radd__). The oracle reports those spellings as skipped, not as wrong.

    def __add__(self, other: Value) -> Value:
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            # THE BUG: `=` instead of `+=`. For `x + x` self and other are the same object: it gets
            # out.grad once instead of twice. Any value with two consumers keeps only the
            # contribution of whichever consumer ran its _backward last.
            self.grad = out.grad
            other.grad = out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value) -> Value:
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            # Same bug: for `x * x` the result is x * out.grad, not 2 * x * out.grad.
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        x = self.data
        # The textbook formula, as in the notebook. math.exp(2 * x) overflows for x > ~354
        # (OverflowError where tanh is simply 1.0), and for tiny x the subtraction cancels
        # (tanh(1e-10) comes out with only ~7 correct digits): the battery reports both.
        output = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        out = Value(output, (self,), "tanh")

        def _backward() -> None:
            self.grad = (1 - (out.data**2)) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        """The notebook's backward cell: seed the root with 1, sort the graph topologically
        (recursively, children first), then run each node's _backward from the root down."""
        topo: list[Value] = []
        visited: set[Value] = set()

        def build_topo(v: Value) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


if __name__ == "__main__":
    # The notebook's neuron: o = tanh(x1*w1 + x2*w2 + b). No value is used twice, so its gradients
    # are right; then the same class on x * x, where they are not.
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    print(f"neuron: o = {o.data:.4f}, do/dx1 = {x1.grad:.4f}, do/dw1 = {w1.grad:.4f}")
    x = Value(3.0, label="x")
    y = x * x
    y.backward()
    print(f"x * x at 3: dy/dx = {x.grad} (should be 6.0)")
