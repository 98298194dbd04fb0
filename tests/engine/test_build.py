"""Which build of the engine the tests ran against: the pure-Python package (the default) or the
mypyc-compiled one (``GRADORACLE_MYPYC=1 pip install .``, or ``nox -s tests_compiled``, which sets
GRADORACLE_EXPECT_ENGINE=compiled so that its run cannot quietly test the interpreted source)."""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

import pytest

import engine.engine
import engine.nn
from engine import Value

BUILDS = ("pure", "compiled")
EXPECTED = os.environ.get("GRADORACLE_EXPECT_ENGINE", "pure")


def build_of(module: ModuleType) -> str:
    path = module.__file__ or ""
    return "compiled" if any(path.endswith(suffix) for suffix in EXTENSION_SUFFIXES) else "pure"


@pytest.mark.parametrize("module", [engine.engine, engine.nn], ids=["engine.engine", "engine.nn"])
def test_the_expected_build_of_the_engine_is_imported(module: ModuleType) -> None:
    assert EXPECTED in BUILDS, f"GRADORACLE_EXPECT_ENGINE={EXPECTED!r}: expected one of {BUILDS}"
    assert build_of(module) == EXPECTED, f"{module.__name__} came from {module.__file__}"


def test_counts_left_by_an_interrupted_backward_are_not_read() -> None:
    # backward() keeps each node's count of consumers on the node; a call interrupted between
    # its two passes (KeyboardInterrupt) leaves such counts behind. The next call must not
    # read them as its own: 5 = d(x*x + x)/dx at 2, whatever the nodes held before.
    x = Value(2.0)
    square = x * x
    y = square + x
    left_behind = object()
    for node in (x, square, y):
        node._pass = left_behind
        node._pending = 7
    y.backward()
    assert x.grad == 5.0
