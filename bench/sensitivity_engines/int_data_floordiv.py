"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: int / int floors.

"Exact when it can be", the engine keeps int data as int (`Value(7).data` is 7) and divides two
ints with `//`: `Value(7) / 2` is 3 (and `Value(7) / Value(2)`, `7 / Value(2)` too). Any float
operand gives true division.
"""

from __future__ import annotations

from typing import Any

from _base import number
from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives, int data kept"
MECHANISM = "int handling"
BUG = "with int data and an int divisor / is floor division: Value(7) / 2 = 3"


def _divide(a: float, b: float) -> float:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return a / b


class Value(LocalValue):
    def __init__(self, data: float) -> None:
        super().__init__(data)
        if isinstance(data, int) and not isinstance(data, bool):
            self.data = data

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, LocalValue):
            b = other.data
            q = _divide(self.data, b)
            return self._result(q, (self, other), (1 / b, -q / b))
        k = other if isinstance(other, int) else number(other)
        return self._result(_divide(self.data, k), (self,), (1 / k,))

    def __rtruediv__(self, other: Any) -> Any:
        k = other if isinstance(other, int) else number(other)
        q = _divide(k, self.data)
        return self._result(q, (self,), (-q / self.data,))
