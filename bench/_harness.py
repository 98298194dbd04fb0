"""What the benchmarks share: loading an engine by name, running workers, medians, tables.

Every measurement runs in a fresh worker process (the benchmark script itself, re-run with
``--worker``): micrograd's closures make cyclic garbage that slows down whatever shares its
process, and a fresh process gives each engine the same empty heap.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A checkout runs without installing: the repository (engine) and examples/ (two_moons) come first.
for _path in (ROOT / "examples", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

ENGINES = ("micrograd", "engine")
LABELS = {"micrograd": "micrograd 0.1.0", "engine": "engine"}


def load_engine(name: str) -> tuple[Any, Any]:
    """Return ``(Value, MLP)`` of the named engine: the only line that differs between engines."""
    if name == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP
    elif name == "engine":
        from engine import Value
        from engine.nn import MLP
    else:
        raise ValueError(f"unknown engine {name!r}; expected one of {ENGINES}")
    return Value, MLP


def emit(result: dict[str, Any]) -> None:
    """A worker's answer: one JSON line, the last line of its stdout."""
    print(json.dumps(result), flush=True)


def run_worker(script: str, *args: str) -> dict[str, Any]:
    """Run ``script --worker args`` in a fresh interpreter and return the JSON it emitted."""
    command = [sys.executable, script, "--worker", *args]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker {' '.join(command[1:])} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table; columns after the first are right-aligned (they hold numbers)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]
    return "\n".join([line(headers), "| " + " | ".join(rule) + " |", *(line(r) for r in rows)])


def machine() -> str:
    """One line saying where the figures were measured."""
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}"
    )
