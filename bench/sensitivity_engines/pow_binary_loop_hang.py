"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: integer powers by squaring hang.

Integral exponents (`x ** 2`, `x ** 3.0`) go through exponentiation by squaring with `n //= 2`.
For a negative exponent `n // 2` stays at -1 forever: `x ** -1` never returns (and neither does
the slope of `x ** 0`, which needs `x ** -1`).
"""

from __future__ import annotations

from typing import Any

from _base import MicroValue, fpow, number

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "hang"
BUG = "integral powers by squaring loop forever for negative exponents (x ** -1 hangs)"


def int_pow(x: float, n: float) -> float:
    result = 1.0
    while n != 0:
        if n % 2:
            result *= x
        x *= x
        n //= 2
    return result


def pow_any(x: float, k: float) -> float:
    return int_pow(x, k) if k.is_integer() else fpow(x, k)


class Value(MicroValue):
    def __pow__(self, other: Any) -> Any:
        if isinstance(other, MicroValue):
            return super().__pow__(other)
        k = number(other)
        out = type(self)(pow_any(self.data, k), (self,), f"**{k}")

        def _backward() -> None:
            self.grad += k * pow_any(self.data, k - 1) * out.grad

        out._backward = _backward
        return out
