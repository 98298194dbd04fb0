"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: `k - a` has slope +1.

`__rsub__` gets its own closure (instead of `other + (-self)`) and propagates `+out.grad`: the
value of `2 - a` is right, its derivative has the wrong sign. `a - b` and `a - k` are right.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, number

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "d(k - a)/da = +1 instead of -1"


class Value(MicroValue):
    def __rsub__(self, other: Any) -> Any:
        out = type(self)(number(other) - self.data, (self,), "-")

        def _backward() -> None:
            self.grad += out.grad

        out._backward = _backward
        return out
