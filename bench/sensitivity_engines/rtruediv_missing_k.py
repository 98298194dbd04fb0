"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: d(k / a)/da = -1 / a**2.

`__rtruediv__` (a constant numerator, `2 / a`) has its own slope, written from memory as the
derivative of 1 / a: the factor k is lost. Right only for k = 1.
"""

from __future__ import annotations

from typing import Any

from _base import number
from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives"
MECHANISM = "derivative"
BUG = "d(k / a)/da = -1 / a**2 instead of -k / a**2"


class Value(LocalValue):
    def __rtruediv__(self, other: Any) -> Any:
        a = self.data
        return self._result(number(other) / a, (self,), (-1 / (a * a),))
