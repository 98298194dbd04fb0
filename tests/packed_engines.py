"""Engines whose numbers come back in odd types, mixed within one batch: the tests of the results'
way back from a worker (tests/fuzz/test_batch_results.py) run them there. Not shipped."""

from __future__ import annotations

import math
from typing import Any

from planted_engines import ClosureValue


class Real(float):
    """A float subclass (numpy's float64 is one)."""


class NoFloat:
    """A number-like object whose __float__ raises."""

    def __float__(self) -> float:
        raise ValueError("no float for you")


class OddReads(ClosureValue):
    """Computes right, but after backward() reads its numbers back as an engine with odd types
    would, each chosen by the number itself (so a batch mixes them): a gradient of 0 is None
    (unset, PyTorch-style), a whole one an int, a negative one a float subclass, an infinite one
    an int too large for a float (OverflowError), one in [0.25, 0.5) an object whose __float__
    raises; the output's value is an int when whole. NaN and -0.0 come back as they are."""

    reading = False  # backward() has run: reads are the adapter's (building resets it)

    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        OddReads.reading = False
        super().__init__(data, _children)

    def backward(self) -> None:
        super().backward()
        OddReads.reading = True

    def __getattribute__(self, name: str) -> Any:
        got = super().__getattribute__(name)
        if not OddReads.reading or name not in ("data", "grad") or not isinstance(got, float):
            return got
        if name == "data":
            return int(got) if got.is_integer() and got != 0.0 else got
        if got == 0.0 and math.copysign(1.0, got) > 0:
            return None
        if math.isinf(got):
            return 10**400
        if got.is_integer():
            return int(got)
        if 0.25 <= got < 0.5:
            return NoFloat()
        return Real(got) if got < 0 else got
