"""Closure micrograd (subclass of `_base.MicroValue`); correct, but `a ** b` is not supported.

Like micrograd, powers take a number exponent only: `a ** b` with a Value exponent raises
`ValueError("Only int/float exponents are supported")` for every input. That is a missing
spelling, not a wrong answer: `a ** k` and `k ** a` (its own closure) are supported and right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, exponent_rule, fpow, number

EXPECT = "correct"
STYLE = "closure micrograd"
MECHANISM = "unsupported spelling"
BUG = "(none) a ** b raises ValueError for every input: an unsupported spelling"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, MicroValue):
            raise ValueError("Only int/float exponents are supported")
        return super().__pow__(other)

    def __rpow__(self, other: Any) -> Any:
        k = number(other)
        out = type(self)(fpow(k, self.data), (self,), f"{k}**")

        def _backward() -> None:
            self.grad += exponent_rule(k, out.data) * out.grad

        out._backward = _backward
        return out
