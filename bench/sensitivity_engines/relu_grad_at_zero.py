"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: relu'(0) = 1.

The slope test is `x >= 0`: right everywhere except at the kink, where the convention (micrograd,
PyTorch, jax.nn.relu) is relu'(0) = 0. `check` reports it in the category "convention" (a failed
check unless `--accept relu-kink=1`).
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "sampler hole"
BUG = "relu's slope is 1 at x = 0 (x >= 0 instead of x > 0)"


class Value(MicroValue):
    def relu(self) -> Any:
        x = self.data
        return self._unary(x if x > 0 else 0.0, 1.0 if x >= 0 else 0.0, "ReLU")
