"""Engines with bugs that only behaviour shows, and engines that offer little, for the probe and
battery tests. Each is `planted_engines.ClosureValue` (a correct closure-based engine) with one
thing changed. Not shipped.
"""

from __future__ import annotations

import ctypes
from typing import Any

from planted_engines import ClosureValue


class Unhashable(ClosureValue):
    """`__eq__` without `__hash__`: nodes are unhashable, so a set-based topological sort raises
    TypeError inside every backward(). Every op builds; nothing ever finishes."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClosureValue) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def backward(self) -> None:
        visited = set()
        visited.add(self)  # TypeError: unhashable type
        super().backward()


class Bare:
    """Has data, grad and backward(), and no op at all."""

    def __init__(self, data: float) -> None:
        self.data = data
        self.grad = 0.0

    def backward(self) -> None:
        self.grad = 1.0


class NoPowerOfValues(ClosureValue):
    """Correct, but `a ** b` refuses every Value exponent: a spelling it does not offer."""

    def __pow__(self, other: Any) -> Any:
        if isinstance(other, ClosureValue):
            raise ValueError("Only int/float exponents are supported")
        return super().__pow__(other)


class TanhRefusesNegatives(ClosureValue):
    """tanh raises for negative inputs: an error on some inputs only is a bug, not a missing op."""

    def tanh(self) -> Any:
        if self.data < 0:
            raise ValueError("tanh of a negative number")
        return super().tanh()


class SigmoidBackwardRaises(ClosureValue):
    """sigmoid builds fine, but its backward closure raises TypeError."""

    def sigmoid(self) -> Any:
        out = super().sigmoid()

        def _backward() -> None:
            raise TypeError("unsupported operand in sigmoid's backward")

        out._backward = _backward
        return out


class VisitedNeverReset(ClosureValue):
    """Nodes remember being visited by a backward() and are skipped by every later one: backward
    from a second root that shares nodes misses them (`y = x*x; z = y*x` gives 4, not 12)."""

    def backward(self) -> None:
        topo: list[Any] = []

        def build(v: Any) -> None:
            if not getattr(v, "_visited", False):
                v._visited = True
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)
        self.grad += 1.0
        for node in reversed(topo):
            node._backward()


class StepsInBackward(ClosureValue):
    """backward() also takes an SGD step on the leaves: their .data changes."""

    def backward(self) -> None:
        super().backward()
        stack, seen = [self], set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if not node._prev:
                node.data -= 0.01 * node.grad
            stack.extend(node._prev)


_KEPT: list[Any] = []


class KeepsEveryNode(ClosureValue):
    """Every value ever made is kept in a module-level list: memory grows without bound."""

    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        super().__init__(data, _children)
        _KEPT.append(self)


class ThirdCallWrong(ClosureValue):
    """The first two backward() calls are right; the third forgets to accumulate into leaves."""

    def backward(self) -> None:
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls == 3:
            leaves = _leaves(self)
            for leaf in leaves:
                leaf.grad = 0.0
        super().backward()


def _leaves(root: Any) -> list[Any]:
    found, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node._prev)
            if not node._prev:
                found.append(node)
    return found


class OnlyValuesRecursive:
    """Offers `a + b` and `a * b` of two Values only (no constants, no other op), and sorts
    recursively: every deep graph fails, though no chain of `y + 1.0` can be built."""

    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        if not isinstance(data, int | float):
            raise TypeError("data must be a number")
        self.data = float(data)
        self.grad = 0.0
        self._prev = _children
        self._op = ""

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, OnlyValuesRecursive):
            return NotImplemented
        out = type(self)(self.data + other.data, (self, other))
        out._op = "+"
        return out

    def __mul__(self, other: Any) -> Any:
        if not isinstance(other, OnlyValuesRecursive):
            return NotImplemented
        out = type(self)(self.data * other.data, (self, other))
        out._op = "*"
        return out

    def backward(self) -> None:
        topo: list[Any] = []
        visited: set[int] = set()

        def build(v: Any) -> None:
            if id(v) not in visited:
                visited.add(id(v))
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)
        for v in topo:
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        for v in reversed(topo):
            if v._op == "+":
                a, b = v._prev
                a.grad += v.grad
                b.grad += v.grad
            elif v._op == "*":
                a, b = v._prev
                a.grad += b.data * v.grad
                b.grad += a.data * v.grad


class EveryPath(OnlyValuesRecursive):
    """backward() pushes each gradient down every path from the output (no topological order,
    no visited set): right on every small graph, 2**n work on n stacked diamonds."""

    def backward(self) -> None:
        self._push(1.0)

    def _push(self, g: float) -> None:
        if not self._prev:
            self.grad += g
            return
        a, b = self._prev
        if self._op == "+":
            a._push(g)
            b._push(g)
        else:
            a._push(b.data * g)
            b._push(a.data * g)


class DamagesNone(ClosureValue):
    """Correct arithmetic, but freeing a leaf decrements None's reference count (a C extension's
    refcount slip, written with ctypes): after enough graphs the process dies on whatever graph
    comes next, a graph that passes alone."""

    def __del__(self) -> None:
        if not self._prev:
            ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))


class IntExponentsOnly(ClosureValue):
    """Correct, but `**` takes int exponents only, like a C engine whose pow takes a C int:
    `a ** 2` is offered, `a ** 2.5` is not."""

    def __pow__(self, other: Any) -> Any:
        if type(other) is not int:
            raise TypeError(f"exponent must be an int, not {type(other).__name__}")
        return super().__pow__(other)

    def __rpow__(self, other: Any) -> Any:
        raise TypeError("no k ** a")
