"""Engines spelled differently from micrograd, for tests/fuzz/test_spelling.py. Not shipped.

`Num` is written in another style than ours: a node keeps its parents and local derivatives in a
dict, and `backwards()` pushes gradients through a dict keyed by node, never through closures.
Its names are all someone else's: `.value`, `.gradient`, `backwards()`, `Tanh()`,
`exponential()`, `ln()`, `reLU()`, `sigmod()`, `sine()`, `cosine()`,
`square_root()`. It is correct; the others
each change one thing.
"""

from __future__ import annotations

import math
from typing import Any

from planted_engines import ClosureValue


def _local(*pairs: tuple[Any, float]) -> dict[Any, float]:
    """{parent: d out / d parent} over the parents that are nodes; a parent used twice (`x * x`)
    gets the sum of its derivatives."""
    local: dict[Any, float] = {}
    for parent, slope in pairs:
        if isinstance(parent, Num):
            local[parent] = local.get(parent, 0.0) + slope
    return local


def _value(x: Any) -> float:
    return x.value if isinstance(x, Num) else float(x)


class Num:
    def __init__(self, value: float, local: dict[Any, float] | None = None) -> None:
        self.value = float(value)
        self.gradient = 0.0
        self.local = local or {}

    def __repr__(self) -> str:
        return f"Num({self.value!r})"

    # ---- operators --------------------------------------------------------------------------

    def _new(self, value: float, *pairs: tuple[Any, float]) -> Num:
        return type(self)(value, _local(*pairs))  # a subclass's nodes are all of that subclass

    def __add__(self, other: Any) -> Num:
        return self._new(self.value + _value(other), (self, 1.0), (other, 1.0))

    def __radd__(self, other: Any) -> Num:
        return self + other

    def __sub__(self, other: Any) -> Num:
        return self._new(self.value - _value(other), (self, 1.0), (other, -1.0))

    def __rsub__(self, other: Any) -> Num:
        return self._new(_value(other) - self.value, (self, -1.0))

    def __mul__(self, other: Any) -> Num:
        b = _value(other)
        return self._new(self.value * b, (self, b), (other, self.value))

    def __rmul__(self, other: Any) -> Num:
        return self * other

    def __truediv__(self, other: Any) -> Num:
        b = _value(other)
        out = self.value / b
        return self._new(out, (self, 1.0 / b), (other, -out / b))

    def __rtruediv__(self, other: Any) -> Num:
        out = _value(other) / self.value
        return self._new(out, (self, -out / self.value))

    def __abs__(self) -> Num:  # (an operator: the same name in every engine)
        x = self.value
        return self._new(abs(x), (self, 1.0 if x > 0 else -1.0 if x < 0 else 0.0))

    def __neg__(self) -> Num:
        return self._new(-self.value, (self, -1.0))

    def __pow__(self, other: Any) -> Num:
        return self._power(self, other)

    def __rpow__(self, other: Any) -> Num:
        return self._power(other, self)

    def _power(self, base: Any, exponent: Any) -> Num:
        a, k = _value(base), _value(exponent)
        if a < 0 and not k.is_integer():
            raise ValueError("pow: negative base with a fractional exponent")
        out = a**k
        d_base = k * a ** (k - 1) if k != 0 else 0.0
        d_exponent = math.log(a) * out if a > 0 else 0.0
        return self._new(out, (base, d_base), (exponent, d_exponent))

    # ---- methods, under their names here ----------------------------------------------------

    def Tanh(self) -> Num:  # (the engine's own name)
        t = math.tanh(self.value)
        return self._new(t, (self, 1.0 - t * t))

    def exponential(self) -> Num:
        e = math.exp(self.value)
        return self._new(e, (self, e))

    def ln(self) -> Num:
        return self._new(math.log(self.value), (self, 1.0 / self.value))

    def reLU(self) -> Num:
        return self._new(max(self.value, 0.0), (self, 1.0 if self.value > 0 else 0.0))

    def sigmod(self) -> Num:
        x = self.value
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return self._new(s, (self, s * (1.0 - s)))

    def sine(self) -> Num:
        return self._new(math.sin(self.value), (self, math.cos(self.value)))

    def cosine(self) -> Num:
        return self._new(math.cos(self.value), (self, -math.sin(self.value)))

    def square_root(self) -> Num:
        r = math.sqrt(self.value)
        return self._new(r, (self, 0.5 / r))

    # ---- the backward pass ------------------------------------------------------------------

    def order(self) -> list[Num]:
        """Every node reachable from this one, each after all its consumers (iterative)."""
        seen: set[int] = set()
        post: list[Num] = []
        stack: list[tuple[Num, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                post.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((parent, False) for parent in node.local)
        return post[::-1]

    def backwards(self) -> None:
        """This call's gradients go through a fresh dict; each node's `gradient` adds them up
        across calls (a second call doubles the leaves' gradients, as in micrograd)."""
        grads: dict[Num, float] = {self: 1.0}
        for node in self.order():
            g = grads.get(node, 0.0)
            node.gradient += g
            for parent, slope in node.local.items():
                self.push(grads, parent, g * slope)

    @staticmethod
    def push(grads: dict[Num, float], parent: Num, contribution: float) -> None:
        grads[parent] = grads.get(parent, 0.0) + contribution


class OverwriteNum(Num):
    """The seed notebook's bug in this style: a contribution overwrites what a node's other
    consumers gave it instead of adding to it."""

    @staticmethod
    def push(grads: dict[Num, float], parent: Num, contribution: float) -> None:
        grads[parent] = contribution


class Ambiguous(Num):
    """`backprop()` as well as `backwards()`, both working: which one to call is the user's
    to say (--spelling backward=...)."""

    def backprop(self) -> None:
        self.backwards()


class GradMethod(Num):
    """`.grad` is a method (returns a copy); the number lives in `.gradient`."""

    def grad(self) -> float:
        return self.gradient


class TwoBackwards(ClosureValue):
    """micrograd's names, and `backprop()` as well as `backward()`, both working: micrograd's
    name wins."""

    def backprop(self) -> None:
        self.backward()


class DeadBackward(Num):
    """A `backward()` that does nothing beside the `backwards()` that works: the working one is
    used (micrograd's name is preferred only when it works)."""

    def backward(self) -> None:
        pass


class StaleData(Num):
    """`.val` holds the value a node was made with at first, `.value` what it is after the op:
    for a leaf both read 1.5; only `.value` is right on an op's output."""

    def __init__(self, value: float, local: dict[Any, float] | None = None) -> None:
        super().__init__(value, local)
        self.val = 1.5


class TwoTanhs(Num):
    """`Tanh()` computes exp; `TANH()` computes tanh: the one whose value is right is used."""

    def Tanh(self) -> Num:
        return self.exponential()

    def TANH(self) -> Num:
        return super().Tanh()


class WrongTanh(Num):
    """The only tanh there is computes exp: it is still the engine's tanh, and the oracle, not
    the detection, says it is wrong."""

    def Tanh(self) -> Num:
        return self.exponential()


class Nameless:
    """A number with no backward pass under any known name."""

    def __init__(self, value: float) -> None:
        self.value = float(value)
        self.gradient = 0.0

    def run_back(self) -> None:
        self.gradient = 1.0


class OverwriteBackprop(OverwriteNum):
    """The overwriting twin with its backward pass named `backprop()` (delgrada's name): a name
    that does not start with `backward`, so a snippet edit that looks for `.backward` misses it."""

    backwards = None  # type: ignore[assignment]  # not a method here: backprop() is the one

    def backprop(self) -> None:
        OverwriteNum.backwards(self)
