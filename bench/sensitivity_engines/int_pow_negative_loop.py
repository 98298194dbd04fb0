"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: int powers by a loop.

`a ** k` for an int k multiplies `k` times in a `for _ in range(k)` loop (value and slope): right
for k >= 0, but for a negative k the loop is empty, so `x ** -1` is 1.0 with slope -1.
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "int handling"
BUG = "a ** k for a negative int k is 1.0 (an empty multiplication loop): x ** -1 = 1"


def int_pow(x: float, k: int) -> float:
    result = 1.0
    for _ in range(k):
        result *= x
    return result


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            k = other
            out = type(self)(int_pow(self.data, k), (self,), f"**{k}")

            def _backward() -> None:
                self.grad += k * int_pow(self.data, k - 1) * out.grad

            out._backward = _backward
            return out
        return super().__pow__(other)
