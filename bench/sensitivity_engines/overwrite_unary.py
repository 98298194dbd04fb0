"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: one-operand ops assign.

Negation, tanh, exp, log, relu and sigmoid share a helper whose `_backward` writes
`self.grad = slope * out.grad`. Binary ops accumulate, so `x * x` is right; but a value that feeds
a unary op and something else (`x.tanh() + x`) loses the other path whenever the unary op's
closure runs last.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "overwrite"
BUG = "the unary ops' _backward assigns (=): d(exp(x) + x)/dx = exp(x)"


class Value(MicroValue):
    def _unary(self, data: float, slope: float, op: str) -> Any:
        out = type(self)(data, (self,), op)

        def _backward() -> None:
            self.grad = slope * out.grad

        out._backward = _backward
        return out
