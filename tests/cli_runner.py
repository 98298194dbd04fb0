"""Running the `gradoracle` command in a fresh process, as a user would, for the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_usage(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGV` with a bare environment, for checking usage errors."""
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def gradoracle_json(*argv: str, cwd: Path, timeout: float = 180) -> tuple[int, dict[str, Any]]:
    """`python -P -m gradoracle ARGV` (--json among ARGV) in `cwd`: the exit code and the report.

    `-P` keeps the current directory off sys.path, as for the installed `gradoracle` script: the CLI
    itself must put it there to find the user's module.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "gradoracle", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def run_snippet(source: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A counterexample snippet run exactly as printed, in a fresh interpreter in `cwd`, the
    directory `check` ran in (`-c` puts it on sys.path), with nothing of the oracle around."""
    return subprocess.run(
        [sys.executable, "-c", source],
        cwd=cwd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
