"""Which build of the engine the tests ran against: the pure-Python package (the default) or the
mypyc-compiled one (``GRADORACLE_MYPYC=1 pip install .``, or ``nox -s tests_compiled``, which sets
GRADORACLE_EXPECT_ENGINE=compiled so that its run cannot quietly test the interpreted source)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

import pytest

import engine.engine
import engine.nn
from engine import Value
from engine.nn import MLP, Module

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


def test_dropping_a_deep_graph_frees_it_without_touching_memory_it_does_not_own() -> None:
    # Freeing a chain frees each node from the one above it: deeper than 50, CPython's trashcan
    # defers the rest through the garbage collector's header. A class declared acyclic for mypyc
    # (no part in cyclic collection, twice as fast compiled) has no such header: it passed every
    # other test, and under -X dev died here freeing a chain of 60.
    program = (
        "from engine import Value\n"
        "x = Value(1.0)\n"
        "for _ in range(1000):\n"
        "    x = (x * 1.0001 + 1.0).relu()\n"
        "del x\n"
        "print('freed')\n"
    )
    package_home = str(Path(engine.engine.__file__ or "").resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=package_home,  # `-c` puts the working directory first on sys.path
        env={**os.environ, "PYTHONPATH": package_home},
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "freed\n"), result.stderr[-2000:]


def test_a_model_written_in_python_subclasses_module() -> None:
    # micrograd's users write `class Net(Module)`; compiled classes refuse interpreted subclasses
    # unless they allow them.
    class Net(Module):
        def __init__(self) -> None:
            self.body = MLP(2, [3, 1])

        def parameters(self) -> list[Value]:
            return self.body.parameters()

    net = Net()
    for p in net.parameters():
        p.grad = 1.0
    net.zero_grad()
    assert len(net.parameters()) == 13
    assert all(p.grad == 0.0 for p in net.parameters())
