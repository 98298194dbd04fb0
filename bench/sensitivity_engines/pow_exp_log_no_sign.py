"""VJP engine (subclass of `pow_via_exp_log`); planted bug: powers as exp(k * log a), unguarded.

The power is `math.exp(k * math.log(a))` with no case for a <= 0: `(-2) ** 2` and `0 ** 2` raise
ValueError (math domain error) in the forward pass, though both are defined (4 and 0), and so does
the slope of `x ** 1` at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pow_via_exp_log

EXPECT = "bug"
STYLE = "VJP functions, powers via exp/log"
MECHANISM = "derivative"
BUG = "a ** k = exp(k * log(a)) for every a: ValueError for a <= 0 ((-2) ** 2, 0 ** 2)"


def naive_power(a: float, k: float) -> float:
    return math.exp(k * math.log(a))


class Value(pow_via_exp_log.Value):
    power: Callable[[float, float], float] = staticmethod(naive_power)
