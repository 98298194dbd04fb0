"""A fast subset of the planted-bug catalogue (bench/sensitivity_engines), run as `nox -s bench`
runs all of it: every bug engine here must be caught and every correct one left clean. One
engine per mechanism of the issue that made the catalogue, and the correct engines once blamed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBSET = (
    # probe masking, ints, sampler holes, spelling dependence, unread state, a damaged worker
    "eq_without_hash",
    "tanh_negative_tuple",
    "int_add_fast_path",
    "int_mul_ldexp",
    "pow_rule_divides_by_base",
    "no_add_float_recursive",
    "no_mul_double_backward",
    "visited_flag_shared_nodes",
    "third_backward_stale",
    "leak_module_list",
    "overwrite_mul",
    # correct engines that must stay clean
    "exact_fractions",
    "pow_vv_valueerror",
    "pytorch_none_grads",
    "builtins_module",
)

pytestmark = pytest.mark.slow


def test_the_catalogue_subset_is_caught_without_false_alarms(tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    proc = subprocess.run(
        [sys.executable, "bench/sensitivity.py", "--only", ",".join(SUBSET), "--seeds", "0",
         "--budget", "8", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    runs = json.loads(out.read_text())["runs"]
    wrong = [
        (r["engine"], r["verdict"], r["categories"])
        for r in runs
        if r["verdict"] not in ("caught", "clean")
    ]
    assert not wrong, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
