"""A scalar reverse-mode autograd engine.

Each operation computes its result and, right beside it, the local derivative of the result with
respect to each operand. A node stores at most two operands (``_a``, ``_b``) and their local
derivatives (``_da``, ``_db``) in slots: no closures, no reference cycles, no per-node dict. Plain
numbers used as operands are folded into the local derivative instead of becoming graph nodes.

``backward()`` seeds the output with 1 and propagates in a topological order computed without
recursion, so graphs of millions of nodes work under the default recursion limit. Leaf gradients
accumulate across calls; the gradients of interior nodes are recomputed on every call.

This module is also the source of the optional compiled engine (mypyc, ``GRADORACLE_MYPYC=1 pip
install .``): its annotations, ``Final`` and ``@final`` are what mypyc compiles to C fields and
direct calls, so they stay exact; the two builds must behave the same (tests/engine runs on both).
"""

from __future__ import annotations

import math
from typing import Final, final

Number = int | float


def _operand(value: object, op: str) -> float:
    """Return a plain-number operand as a float, or raise TypeError naming its type."""
    # A float is by far the most common operand: one type test, and no (int | float) union object
    # built per call, which isinstance(value, int | float) does, interpreted and compiled alike.
    if type(value) is float:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    raise TypeError(f"unsupported operand type for {op}: {type(value).__name__!r}")


def _float_pow(base: float, exponent: float, op: str) -> float:
    """``base ** exponent`` with Python float semantics, but never a complex result."""
    if base < 0.0 and not exponent.is_integer():
        raise ValueError(f"{op}: negative base {base!r} with non-integer exponent {exponent!r}")
    try:
        power: float = base**exponent  # a float: the complex case was refused above
    except ZeroDivisionError:
        raise ZeroDivisionError(f"{op}: 0.0 raised to the negative power {exponent!r}") from None
    except OverflowError:
        raise OverflowError(f"{op}: {base!r} ** {exponent!r} overflows") from None
    return power


def _power_rule(base: float, exponent: float) -> float:
    """d(base**k)/d(base) = k * base**(k-1); infinite where the slope is vertical (0 ** 0.5) or
    where only the slope overflows ((1e-200) ** -1 is 1e200, its slope -1e400)."""
    if exponent == 0.0:
        return 0.0
    try:
        return exponent * _float_pow(base, exponent - 1.0, "**")
    except ZeroDivisionError:
        return math.copysign(math.inf, exponent)
    except OverflowError:
        odd = base < 0.0 and (exponent - 1.0) % 2.0 == 1.0
        return math.copysign(math.inf, -exponent if odd else exponent)


def _exponent_rule(base: float, power: float) -> float:
    """d(base**x)/dx = log(base) * base**x, defined for base > 0 (and 0 at base 0)."""
    if base > 0.0:
        return power * math.log(base)
    if base == 0.0:
        return 0.0
    return math.nan


@final
class Value:
    """A scalar in an expression graph, with the gradient of the graph's output wrt it."""

    __slots__ = ("data", "grad", "label", "_op", "_a", "_da", "_b", "_db", "_pass", "_pending")

    data: float
    grad: float
    label: str
    _op: str
    _a: Value | None
    _da: float
    _b: Value | None
    _db: float
    _pass: object  # the backward() call that last counted this node's consumers
    _pending: int  # ... and how many of them have not yet pushed their gradient into it

    # Operands and data are annotated `object`: anything reaches the type checks in the code,
    # which raise the same TypeError in the interpreted and in the mypyc-compiled build (mypyc
    # would otherwise test the annotation first, with its own message, or let a binary operator
    # return NotImplemented, after which `[2.0] * x` complains about the list, not the operand).

    def __init__(self, data: object, label: str = "") -> None:
        if type(data) is not float:
            if not isinstance(data, (int, float)):
                raise TypeError(f"Value() needs an int or float, not {type(data).__name__!r}")
            data = float(data)
        self.data = data
        self.grad = 0.0
        self.label = label
        self._op = ""
        self._a = None
        self._da = 0.0
        self._b = None
        self._db = 0.0
        self._pass = None
        self._pending = 0

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # -- binary operators: result, then local derivatives ------------------------------------------

    def __add__(self, other: object) -> Value:
        if isinstance(other, Value):
            return _node(self.data + other.data, "+", self, 1.0, other, 1.0)
        return _node(self.data + _operand(other, "+"), "+", self, 1.0)

    def __radd__(self, other: object) -> Value:
        return _node(_operand(other, "+") + self.data, "+", self, 1.0)

    def __sub__(self, other: object) -> Value:
        if isinstance(other, Value):
            return _node(self.data - other.data, "-", self, 1.0, other, -1.0)
        return _node(self.data - _operand(other, "-"), "-", self, 1.0)

    def __rsub__(self, other: object) -> Value:
        return _node(_operand(other, "-") - self.data, "-", self, -1.0)

    def __mul__(self, other: object) -> Value:
        if isinstance(other, Value):
            return _node(self.data * other.data, "*", self, other.data, other, self.data)
        k = _operand(other, "*")
        return _node(self.data * k, "*", self, k)

    def __rmul__(self, other: object) -> Value:
        k = _operand(other, "*")
        return _node(k * self.data, "*", self, k)

    def __truediv__(self, other: object) -> Value:
        if isinstance(other, Value):
            d = other.data
            out = _divide(self.data, d)
            return _node(out, "/", self, 1.0 / d, other, -out / d)
        k = _operand(other, "/")
        return _node(_divide(self.data, k), "/", self, 1.0 / k)

    def __rtruediv__(self, other: object) -> Value:
        d = self.data
        out = _divide(_operand(other, "/"), d)
        return _node(out, "/", self, -out / d)

    def __neg__(self) -> Value:
        return _node(-self.data, "neg", self, -1.0)

    def __abs__(self) -> Value:
        x = self.data
        # abs'(0) = 0, as in PyTorch (sign(0) = 0): the kink's convention in the op registry.
        return _node(abs(x), "abs", self, 1.0 if x > 0.0 else -1.0 if x < 0.0 else 0.0)

    def __pow__(self, other: object) -> Value:
        x = self.data
        if isinstance(other, Value):
            out = _float_pow(x, other.data, "**")
            return _node(out, "**", self, _power_rule(x, other.data), other, _exponent_rule(x, out))
        k = _operand(other, "**")
        return _node(_float_pow(x, k, "**"), f"**{other!r}", self, _power_rule(x, k))

    def __rpow__(self, other: object) -> Value:
        k = _operand(other, "**")
        out = _float_pow(k, self.data, "**")
        return _node(out, f"{other!r}**", self, _exponent_rule(k, out))

    # -- functions
    # ----------------------------------------------------------------------------------

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return _node(t, "tanh", self, 1.0 - t * t)

    def exp(self) -> Value:
        try:
            e = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp: exp({self.data!r}) overflows") from None
        return _node(e, "exp", self, e)

    def log(self) -> Value:
        x = self.data
        if x <= 0.0:
            raise ValueError(f"log: argument {x!r} is not positive")
        return _node(math.log(x), "log", self, 1.0 / x)

    def relu(self) -> Value:
        # relu'(0) = 0, as in micrograd, PyTorch and jax.nn.relu.
        if self.data > 0.0:
            return _node(self.data, "ReLU", self, 1.0)
        return _node(0.0, "ReLU", self, 0.0)

    def sigmoid(self) -> Value:
        x = self.data
        # Only ever exponentiate a non-positive number: no overflow for any finite x.
        if x >= 0.0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            z = math.exp(x)
            s = z / (1.0 + z)
        return _node(s, "sigmoid", self, s * (1.0 - s))

    def sin(self) -> Value:
        x = self.data
        return _node(math.sin(x), "sin", self, math.cos(x))

    def cos(self) -> Value:
        x = self.data
        return _node(math.cos(x), "cos", self, -math.sin(x))

    def sqrt(self) -> Value:
        x = self.data
        if x < 0.0:
            raise ValueError(f"sqrt: argument {x!r} is negative")
        r = math.sqrt(x)
        # At 0 the slope is vertical: inf, as for x ** 0.5 (and PyTorch), rather than raising in
        # backward for a forward that succeeded.
        return _node(r, "sqrt", self, 0.5 / r if r else math.inf)

    # -- reverse mode
    # -------------------------------------------------------------------------------

    def backward(self) -> None:
        """Add d(self)/d(leaf) to every leaf's grad; recompute every interior node's grad."""
        # Pass 1: count, for every node below self, how many edges reach it; zero interior grads.
        # The count lives on the node (a slot, no dict and no hashing); `this_pass`, a new object
        # each call, marks the nodes counted by this call, so a count left behind by an earlier
        # call that was interrupted (KeyboardInterrupt) is never read as this one's.
        this_pass = object()
        self._pass = this_pass
        self._pending = 0
        stack = [self]
        while stack:
            node = stack.pop()
            a = node._a
            if a is None:
                continue
            node.grad = 0.0
            if a._pass is this_pass:
                a._pending += 1
            else:
                a._pass = this_pass
                a._pending = 1
                stack.append(a)
            b = node._b
            if b is not None:
                if b._pass is this_pass:
                    b._pending += 1
                else:
                    b._pass = this_pass
                    b._pending = 1
                    stack.append(b)
        # Pass 2: a node's grad is complete once every consumer has pushed into it (Kahn's order).
        self.grad += 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            a = node._a
            if a is None:
                continue
            g = node.grad
            a.grad += node._da * g
            a._pending -= 1
            if not a._pending:
                ready.append(a)
            b = node._b
            if b is not None:
                b.grad += node._db * g
                b._pending -= 1
                if not b._pending:
                    ready.append(b)


def _divide(numerator: float, denominator: float) -> float:
    try:
        return numerator / denominator
    except ZeroDivisionError:
        raise ZeroDivisionError(f"/: division of {numerator!r} by zero") from None


def _object_new_makes_values() -> bool:
    """Whether ``object.__new__(Value)`` works: it does for the interpreted class, and saves a
    second Python frame per node (~270 ns a node instead of ~400 through ``__init__``); mypyc
    refuses it for its native classes, whose constructor is a C call anyway."""
    try:
        object.__new__(Value)
    except TypeError:
        return False
    return True


_BYPASS_INIT: Final = _object_new_makes_values()
_new: Final = object.__new__


def _node(
    data: float, op: str, a: Value, da: float, b: Value | None = None, db: float = 0.0
) -> Value:
    """Make the result of an op; skips __init__'s type check where it can (data is a float)."""
    out: Value = _new(Value) if _BYPASS_INIT else Value(data)
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._op = op
    out._a = a
    out._da = da
    out._b = b
    out._db = db
    out._pass = None
    out._pending = 0
    return out
