"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `a ** b` ignores b's gradient.

micrograd's `__pow__` takes numbers only; this copy was extended to Value exponents by reading
their data like a number: the result depends on b, but only the base receives a gradient. `k ** a`
lifts k to a Value and goes through the same code, so a gets no gradient there either.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, fpow, number, power_rule

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "the exponent of a ** b (and of k ** a) gets no gradient: d/db = 0, not log(a) * a**b"


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        exponent = other.data if isinstance(other, MicroValue) else number(other)
        children = (self, other) if isinstance(other, MicroValue) else (self,)
        out = type(self)(fpow(self.data, exponent), children, "**")

        def _backward() -> None:
            self.grad += power_rule(self.data, exponent) * out.grad

        out._backward = _backward
        return out
