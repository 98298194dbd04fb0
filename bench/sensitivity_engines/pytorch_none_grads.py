"""PyTorch-style engine (Function classes, `grad_fn`, `None` grads); correct.

Each op is a `Function` subclass with a `forward` and a `backward(ctx, grad_out)` that returns
one gradient per input, like `torch.autograd.Function`. A Value's `.grad` starts as `None`, as in
PyTorch, and stays `None` for a leaf the output does not depend on; a leaf that is reached gets a
number (0.0 included). Leaf gradients accumulate across backward() calls, interior ones are not
kept (PyTorch's non-leaf tensors), and plain numbers are constants, not nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

EXPECT = "correct"
STYLE = "PyTorch-style Function classes, None grads"
MECHANISM = "None grads"
BUG = "(none) grads stay None for inputs the output does not use, as in PyTorch"


def _float(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    return float(x)


def _pow(base: float, k: float) -> float:
    if base < 0 and not k.is_integer():
        raise ValueError("pow: negative base with a non-integer exponent")
    return float(base**k)


def _pow_slope(base: float, k: float) -> float:
    if k == 0:
        return 0.0
    try:
        return k * _pow(base, k - 1)
    except ZeroDivisionError:  # a vertical slope: 0 ** 0.5
        return math.copysign(math.inf, k)
    except OverflowError:  # only the slope overflows: (1e-200) ** -1
        return math.inf


class Ctx:
    """What a forward pass saves for its backward pass."""

    def __init__(self) -> None:
        self.saved: tuple[float, ...] = ()

    def save(self, *values: float) -> None:
        self.saved = values


class Function:
    """`apply(*inputs)`: inputs are Values or numbers; numbers get no gradient. Subclasses define
    `forward(ctx, *args) -> float` and `backward(ctx, grad) -> one gradient (or None) per input`
    as static methods."""

    forward: Callable[..., float]
    backward: Callable[[Ctx, float], tuple[float | None, ...]]

    @classmethod
    def apply(cls, *inputs: Any) -> Value:
        args = [x.data if isinstance(x, Value) else _float(x) for x in inputs]
        ctx = Ctx()
        value_cls = next(type(x) for x in inputs if isinstance(x, Value))  # subclasses too
        out = value_cls(cls.forward(ctx, *args))
        out.grad_fn = Node(cls, ctx, inputs)
        return out


class Node:
    def __init__(self, fn: type[Function], ctx: Ctx, inputs: tuple[Any, ...]) -> None:
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs


class Add(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float, b: float) -> float:
        return a + b

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float, b: float) -> float:
        return a - b

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float, b: float) -> float:
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        a, b = ctx.saved
        return grad * b, grad * a


class Div(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float, b: float) -> float:
        q = a / b
        ctx.save(q, b)
        return q

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        q, b = ctx.saved
        return grad / b, -grad * q / b


class Neg(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        return -a

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        return (-grad,)


class Pow(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float, k: float) -> float:
        p = _pow(a, k)
        ctx.save(a, k, p)
        return p

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        a, k, p = ctx.saved
        d_exponent = math.log(a) * p if a > 0 else 0.0
        return grad * _pow_slope(a, k), grad * d_exponent


class Tanh(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        t = math.tanh(a)
        ctx.save(t)
        return t

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (t,) = ctx.saved
        return (grad * (1 - t * t),)


class Exp(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        e = math.exp(a)
        ctx.save(e)
        return e

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (e,) = ctx.saved
        return (grad * e,)


class Log(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        ctx.save(a)
        return math.log(a)

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (a,) = ctx.saved
        return (grad / a,)


class Relu(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        ctx.save(a)
        return a if a > 0 else 0.0

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (a,) = ctx.saved
        return (grad if a > 0 else 0.0,)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Ctx, a: float) -> float:
        if a >= 0:
            s = 1 / (1 + math.exp(-a))
        else:
            z = math.exp(a)
            s = z / (1 + z)
        ctx.save(s)
        return s

    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (s,) = ctx.saved
        return (grad * s * (1 - s),)


class Value:
    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad: float | None = None
        self.grad_fn: Node | None = None

    def __repr__(self) -> str:
        return f"Value({self.data}, grad={self.grad})"

    def __add__(self, other: Any) -> Value:
        return Add.apply(self, other)

    def __radd__(self, other: Any) -> Value:
        return Add.apply(other, self)

    def __sub__(self, other: Any) -> Value:
        return Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Value:
        return Sub.apply(other, self)

    def __mul__(self, other: Any) -> Value:
        return Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Value:
        return Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Value:
        return Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Value:
        return Div.apply(other, self)

    def __pow__(self, other: Any) -> Value:
        return Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Value:
        return Pow.apply(other, self)

    def __neg__(self) -> Value:
        return Neg.apply(self)

    def tanh(self) -> Value:
        return Tanh.apply(self)

    def exp(self) -> Value:
        return Exp.apply(self)

    def log(self) -> Value:
        return Log.apply(self)

    def relu(self) -> Value:
        return Relu.apply(self)

    def sigmoid(self) -> Value:
        return Sigmoid.apply(self)

    def backward(self) -> None:
        # Order the graph (outputs before inputs) without recursion.
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                if node.grad_fn is not None:
                    stack.extend((x, False) for x in node.grad_fn.inputs if isinstance(x, Value))
        order.reverse()
        pending: dict[int, float] = {id(self): 1.0}
        for node in order:
            grad = pending.pop(id(node), None)
            if node.grad_fn is None:  # a leaf: accumulate, as PyTorch's AccumulateGrad does
                if grad is not None:
                    node.grad = grad if node.grad is None else node.grad + grad
                continue
            if grad is None:
                continue
            fn = node.grad_fn
            for x, g in zip(fn.inputs, fn.fn.backward(fn.ctx, grad)):
                if isinstance(x, Value) and g is not None:
                    pending[id(x)] = pending[id(x)] + g if id(x) in pending else g
