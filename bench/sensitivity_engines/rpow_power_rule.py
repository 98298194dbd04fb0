"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: d(k**a)/da = a * k**(a-1).

`__rpow__` (a constant base, `2 ** a`) reuses the power rule, which is the derivative with respect
to the base, instead of `log(k) * k**a`.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, fpow, number

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "derivative"
BUG = "d(k ** a)/da = a * k**(a - 1) instead of log(k) * k**a"


class Value(MicroValue):
    def __rpow__(self, other: Any) -> Any:
        k = number(other)
        out = type(self)(fpow(k, self.data), (self,), "rpow")

        def _backward() -> None:
            self.grad += self.data * fpow(k, self.data - 1) * out.grad

        out._backward = _backward
        return out
