"""PyTorch-style engine (subclass of `pytorch_none_grads`); planted bug: relu leaves `None` grads.

relu's `backward` returns `None` ("no gradient flows") instead of 0.0 where x <= 0, and `None`
contributions are skipped. A leaf that reaches the output only through such a relu keeps
`.grad = None`, although the output depends on it (PyTorch gives 0.0): code that reads the
gradient (`x.data -= lr * x.grad`) raises TypeError.
"""

from __future__ import annotations

import pytorch_none_grads as torchlike
from pytorch_none_grads import Ctx

EXPECT = "bug"
STYLE = "PyTorch-style Function classes, None grads"
MECHANISM = "probe masking"
BUG = "relu(x) for x <= 0 leaves x.grad = None instead of 0.0"


class Relu(torchlike.Relu):
    @staticmethod
    def backward(ctx: Ctx, grad: float) -> tuple[float | None, ...]:
        (a,) = ctx.saved
        return (grad if a > 0 else None,)


class Value(torchlike.Value):
    def relu(self) -> torchlike.Value:
        return Relu.apply(self)
