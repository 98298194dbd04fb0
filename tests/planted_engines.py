"""Small micrograd-style engines for testing the oracle, some with planted bugs. Not shipped.

`ClosureValue` is a correct closure-based engine in micrograd's style (with every registry op and an
iterative topological sort); the subclasses each plant one classic bug.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any


class ClosureValue:
    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _children
        self._backward: Callable[[], None] = lambda: None

    def _wrap(self, other: Any) -> Any:
        return other if isinstance(other, ClosureValue) else type(self)(other)

    def __add__(self, other: Any) -> Any:
        other = self._wrap(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Any:
        other = self._wrap(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Any) -> Any:
        other = self._wrap(other)
        if self.data < 0 and not other.data.is_integer():
            raise ValueError("pow: negative base with fractional exponent")
        out = type(self)(self.data**other.data, (self, other))

        def _backward() -> None:
            if other.data != 0:
                self.grad += other.data * self.data ** (other.data - 1) * out.grad
            if self.data > 0:
                other.grad += math.log(self.data) * out.data * out.grad

        out._backward = _backward
        return out

    def __rpow__(self, other: Any) -> Any:
        return self._wrap(other) ** self

    def _unary(self, value: float, slope: float) -> Any:
        out = type(self)(value, (self,))

        def _backward() -> None:
            self.grad += slope * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Any:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t)

    def exp(self) -> Any:
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self) -> Any:
        return self._unary(math.log(self.data), 1 / self.data)

    def relu(self) -> Any:
        return self._unary(max(self.data, 0.0), 1.0 if self.data > 0 else 0.0)

    def sigmoid(self) -> Any:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        return self._unary(s, s * (1 - s))

    def sin(self) -> Any:
        return self._unary(math.sin(self.data), math.cos(self.data))

    def cos(self) -> Any:
        return self._unary(math.cos(self.data), -math.sin(self.data))

    def sqrt(self) -> Any:
        if self.data < 0:
            raise ValueError("sqrt: negative argument")
        r = math.sqrt(self.data)
        return self._unary(r, 0.5 / r if r else math.inf)

    def __abs__(self) -> Any:
        x = self.data
        return self._unary(abs(x), 1.0 if x > 0 else -1.0 if x < 0 else 0.0)

    def backward(self) -> None:
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
        for node in topo:  # interior grads are recomputed; leaf grads accumulate across calls
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            node._backward()

    def __neg__(self) -> Any:
        return self * -1.0  # (floats inside: the int-bug subclasses plant bugs for ints given)

    def __radd__(self, other: Any) -> Any:
        return self + other

    def __sub__(self, other: Any) -> Any:
        return self + (-self._wrap(other))

    def __rsub__(self, other: Any) -> Any:
        return self._wrap(other) + (-self)

    def __rmul__(self, other: Any) -> Any:
        return self * other

    def __truediv__(self, other: Any) -> Any:
        # Not micrograd's a * b**-1: at |b| ~ 1e293, b**-2 overflows and the gradient is NaN.
        other = self._wrap(other)
        out = type(self)(self.data / other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad -= (out.data / other.data) * out.grad

        out._backward = _backward
        return out

    def __rtruediv__(self, other: Any) -> Any:
        return self._wrap(other) / self


class OverwriteMul(ClosureValue):
    """Products overwrite gradients instead of accumulating (the seed notebook's bug)."""

    def __mul__(self, other: Any) -> Any:
        other = self._wrap(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad

        out._backward = _backward
        return out


class TanhFromInput(ClosureValue):
    """tanh's slope computed from the input instead of the output: 1 - x**2."""

    def tanh(self) -> Any:
        return self._unary(math.tanh(self.data), 1 - self.data**2)


class NoTanh(ClosureValue):
    """An engine without tanh: the oracle must skip it, not report it."""

    tanh = property()  # type: ignore[assignment]  # attribute access raises AttributeError


class IntAddIgnored(ClosureValue):
    """Adding a plain int gives the Value back unchanged (a published C extension: Value(1.5) + 2
    == 1.5): floats and Values are added, ints are not."""

    def __add__(self, other: Any) -> Any:
        if isinstance(other, int):
            return self
        return super().__add__(other)

    def __radd__(self, other: Any) -> Any:
        return self + other


class IntMulBits(ClosureValue):
    """Multiplying by a plain int reads the int's bits as a double (a published C extension:
    Value(1.5) * 2 == 1.5 * 1e-323)."""

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            other = struct.unpack("<d", struct.pack("<q", other))[0]
        return super().__mul__(other)

    def __rmul__(self, other: Any) -> Any:
        return self * other


class UnsignedIntLeaves(ClosureValue):
    """A Value built from a negative int wraps it as an unsigned 64-bit number (Value(-2) is
    18446744073709551614.0), as a C extension parsing ints with an unsigned format would."""

    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        if isinstance(data, int) and not isinstance(data, bool):
            data = data % 2**64
        super().__init__(data, _children)

    def _wrap(self, other: Any) -> Any:  # plain-number operands are right: only leaves wrap
        return other if isinstance(other, ClosureValue) else type(self)(float(other))


class ReluSlopeAboveMargin(ClosureValue):
    """relu's slope is 1 only above 1e-9: right everywhere a fixed kink margin of 1e-9 looked."""

    def relu(self) -> Any:
        return self._unary(max(self.data, 0.0), 1.0 if self.data > 1e-9 else 0.0)


class PowRuleOverBase(ClosureValue):
    """d(a**k)/da computed as k * out / a, with IEEE division as numpy or C would do it: NaN at a
    base of 0 (0 / 0), where the slope of a ** 2 is 0."""

    def __pow__(self, other: Any) -> Any:
        other = self._wrap(other)
        if self.data < 0 and not other.data.is_integer():
            raise ValueError("pow: negative base with fractional exponent")
        out = type(self)(self.data**other.data, (self, other))

        def _backward() -> None:
            a, k = self.data, other.data
            slope = k * out.data / a if a else math.nan if k * out.data == 0 else math.inf
            self.grad += slope * out.grad
            if a > 0:
                other.grad += math.log(a) * out.data * out.grad

        out._backward = _backward
        return out


class LogClamped(ClosureValue):
    """log clamps its argument at 1e-10 (to "avoid" log(0)): wrong below it."""

    def log(self) -> Any:
        x = max(self.data, 1e-10)
        return self._unary(math.log(x), 1 / x)


class FloorsInts(ClosureValue):
    """Keeps int data as int ("exact when it can be") and divides two ints with `//`: right on
    every float, wrong on `Value(7) / 2`, which only ints as people write them reach."""

    def __init__(self, data: Any, _children: tuple[Any, ...] = ()) -> None:
        super().__init__(data, _children)
        if type(data) is int:
            self.data = data

    def __truediv__(self, other: Any) -> Any:
        other = self._wrap(other)
        if type(self.data) is int and type(other.data) is int:
            out = type(self)(self.data // other.data, (self, other))

            def _backward() -> None:
                self.grad += out.grad / other.data
                other.grad -= out.grad * self.data / other.data**2

            out._backward = _backward
            return out
        return super().__truediv__(other)


class SinSlopeNegated(ClosureValue):
    """sin's slope with the sign of cos's: -cos(x)."""

    def sin(self) -> Any:
        return self._unary(math.sin(self.data), -math.cos(self.data))


class CosSlopeSin(ClosureValue):
    """cos's slope without its minus sign: sin(x)."""

    def cos(self) -> Any:
        return self._unary(math.cos(self.data), math.sin(self.data))


class SqrtSlopeNotHalved(ClosureValue):
    """sqrt's slope without the 1/2: 1/sqrt(x)."""

    def sqrt(self) -> Any:
        r = math.sqrt(self.data)
        return self._unary(r, 1.0 / r)


class AbsSlopeOne(ClosureValue):
    """abs's slope 1 everywhere: wrong for every negative operand."""

    def __abs__(self) -> Any:
        return self._unary(abs(self.data), 1.0)


class AbsKinkHalf(ClosureValue):
    """abs'(0) = 0.5: no engine's convention (0, 1 or -1), a bug at the kink."""

    def __abs__(self) -> Any:
        x = self.data
        return self._unary(abs(x), 1.0 if x > 0 else -1.0 if x < 0 else 0.5)


class AbsKinkOne(ClosureValue):
    """abs'(0) = 1 (`x if x >= 0 else -x`): a convention, not a bug."""

    def __abs__(self) -> Any:
        x = self.data
        return self._unary(abs(x), 1.0 if x >= 0 else -1.0)
