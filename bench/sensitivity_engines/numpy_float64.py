"""Engine whose data and gradients are `numpy.float64` scalars, driven by an op table; correct.

Each op is a row of `OPS`: a forward function and the partial derivatives, as functions of the
operands and the result, all on numpy float64 scalars (`np.tanh`, `np.exp`, `np.log`). A node
stores its op name and operands; `backward()` looks the partials up when it runs. NumPy returns
inf/nan with a warning where Python floats raise, so the domain is checked first: log(x <= 0)
ValueError, division by zero ZeroDivisionError, overflow of exp and ** OverflowError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

EXPECT = "correct"
STYLE = "numpy float64 scalars, op table"
MECHANISM = "numpy float64"
BUG = "(none) numpy float64 scalars with Python float error semantics"

F = np.float64
ZERO, ONE = F(0.0), F(1.0)


def _div(a: F, b: F) -> F:
    if b == 0:
        raise ZeroDivisionError("float division by zero")
    return F(a / b)


def _pow(a: F, k: F) -> F:
    if a < 0 and not float(k).is_integer():
        raise ValueError("negative base with a fractional exponent")
    if a == 0 and k < 0:
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    with np.errstate(over="ignore"):
        p = F(np.power(a, k))
    if np.isinf(p):
        raise OverflowError("(34, 'Numerical result out of range')")
    return p


def _pow_slope(a: F, k: F) -> F:
    if k == 0:
        return ZERO
    if a == 0 and k < 1:
        return F(np.copysign(np.inf, k))  # a vertical slope: 0 ** 0.5
    with np.errstate(over="ignore"):
        return F(k * np.power(a, k - 1))


def _exp(a: F) -> F:
    with np.errstate(over="ignore"):
        e = F(np.exp(a))
    if np.isinf(e):
        raise OverflowError("math range error")
    return e


def _log(a: F) -> F:
    if a <= 0:
        raise ValueError("math domain error")
    return F(np.log(a))


def _sigmoid(a: F) -> F:
    if a >= 0:
        return F(ONE / (ONE + np.exp(-a)))
    z = np.exp(a)
    return F(z / (ONE + z))


# name -> (forward(*operands), partials(result, *operands) -> one per operand)
Partials = Callable[..., tuple[F, ...]]
OPS: dict[str, tuple[Callable[..., F], Partials]] = {
    "add": (lambda a, b: F(a + b), lambda r, a, b: (ONE, ONE)),
    "sub": (lambda a, b: F(a - b), lambda r, a, b: (ONE, -ONE)),
    "mul": (lambda a, b: F(a * b), lambda r, a, b: (b, a)),
    "div": (_div, lambda r, a, b: (ONE / b, -r / b)),
    "pow": (
        _pow,
        lambda r, a, k: (_pow_slope(a, k), F(np.log(a) * r) if a > 0 else ZERO),
    ),
    "neg": (lambda a: -a, lambda r, a: (-ONE,)),
    "tanh": (lambda a: F(np.tanh(a)), lambda r, a: (ONE - r * r,)),
    "exp": (_exp, lambda r, a: (r,)),
    "log": (_log, lambda r, a: (ONE / a,)),
    "relu": (lambda a: a if a > 0 else ZERO, lambda r, a: (ONE if a > 0 else ZERO,)),
    "sigmoid": (_sigmoid, lambda r, a: (r * (ONE - r),)),
}


def _lift(x: Any) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float | np.floating):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    return Value(x)


class Value:
    def __init__(self, data: Any, op: str = "", operands: tuple[Value, ...] = ()) -> None:
        self.data = F(data)
        self.grad = ZERO
        self.op = op
        self.operands = operands

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    @staticmethod
    def apply(op: str, *operands: Any) -> Value:
        nodes = tuple(_lift(x) for x in operands)
        return Value(OPS[op][0](*(n.data for n in nodes)), op, nodes)

    def __add__(self, other: Any) -> Value:
        return Value.apply("add", self, other)

    def __radd__(self, other: Any) -> Value:
        return Value.apply("add", other, self)

    def __sub__(self, other: Any) -> Value:
        return Value.apply("sub", self, other)

    def __rsub__(self, other: Any) -> Value:
        return Value.apply("sub", other, self)

    def __mul__(self, other: Any) -> Value:
        return Value.apply("mul", self, other)

    def __rmul__(self, other: Any) -> Value:
        return Value.apply("mul", other, self)

    def __truediv__(self, other: Any) -> Value:
        return Value.apply("div", self, other)

    def __rtruediv__(self, other: Any) -> Value:
        return Value.apply("div", other, self)

    def __pow__(self, other: Any) -> Value:
        return Value.apply("pow", self, other)

    def __rpow__(self, other: Any) -> Value:
        return Value.apply("pow", other, self)

    def __neg__(self) -> Value:
        return Value.apply("neg", self)

    def tanh(self) -> Value:
        return Value.apply("tanh", self)

    def exp(self) -> Value:
        return Value.apply("exp", self)

    def log(self) -> Value:
        return Value.apply("log", self)

    def relu(self) -> Value:
        return Value.apply("relu", self)

    def sigmoid(self) -> Value:
        return Value.apply("sigmoid", self)

    def backward(self) -> None:
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((x, False) for x in node.operands)
        for node in order:
            if node.operands:
                node.grad = ZERO
        self.grad = F(self.grad + ONE)
        for node in reversed(order):
            if not node.operands:
                continue
            partials = OPS[node.op][1](node.data, *(x.data for x in node.operands))
            for x, d in zip(node.operands, partials):
                x.grad = F(x.grad + d * node.grad)
