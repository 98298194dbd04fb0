"""`gradoracle check` on the engine of the notebook the project grew from
(examples/notebook_engine.py).

One run, as a user would type it from examples/: `gradoracle check notebook_engine:Value`, the
module found through the current directory, the engine in its isolated worker. The overwrite
(`self.grad = out.grad`) must be found and shrunk to one op, the spellings the engine lacks listed
as skipped, and the run must end on time.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_runner import gradoracle_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BUDGET = 8.0
# The run ends within its budget plus a small margin (process start and JAX import come before the
# budget starts); generous, for a loaded 2-core machine.
MARGIN = 3.0
ENGINE_BUGS = {"wrong gradient", "reuse", "double backward"}

pytestmark = pytest.mark.slow


def gradoracle_check(spec: str, budget: float, cwd: Path) -> tuple[int, dict[str, Any]]:
    """`gradoracle check SPEC --json` in a fresh process started in `cwd`.

    `python -P` leaves the current directory off sys.path, as the installed `gradoracle` script
    does: the CLI itself must put it there to find the user's module.
    """
    return gradoracle_json("check", spec, "--budget", str(budget), "--json", cwd=cwd)


def ops_in(finding: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in finding["graph"]["nodes"] if "op" in n]


def test_the_example_is_the_notebook_engine_with_its_bug() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        Value = importlib.import_module("notebook_engine").Value
    finally:
        sys.path.remove(str(EXAMPLES))
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 3.0  # the overwrite: 6.0 is right
    a, b = Value(2.0), Value(-3.0)
    (a * b).tanh().backward()  # no reuse: right
    assert a.grad == pytest.approx(-3.0 * (1 - math.tanh(-6.0) ** 2), rel=1e-9)


def test_gradoracle_check_finds_the_overwrite() -> None:
    # One run for every assertion: a module-scoped fixture would run once per xdist worker.
    code, report = gradoracle_check("notebook_engine:Value", BUDGET, EXAMPLES)
    assert code == 1, report["findings"]
    assert report["findings"]
    the_overwrite_is_shrunk_to_one_op(report)
    the_battery_finds_the_overwrite_too(report)
    the_notebook_tanh_formula_is_reported(report)
    missing_spellings_are_skipped_not_failed(report)
    # The run ends within its budget plus a small margin.
    assert report["seconds"] <= BUDGET + MARGIN
    assert report["graphs_checked"] > 0


def the_overwrite_is_shrunk_to_one_op(report: dict[str, Any]) -> None:
    findings = report["findings"]
    assert len(ops_in(findings[0])) == 1, findings[0]["snippet"]  # the smallest finding
    smallest = next(f for f in findings if f["category"] == "wrong gradient")
    (op,) = ops_in(smallest)
    # x0 + x0 or x0 * x0: one node as both operands, half its gradient lost.
    assert op["op"] in ("add", "mul") and op["args"][0] == op["args"][1], smallest["snippet"]
    (grad,) = [q for q in smallest["quantities"] if q["name"] != "value"]
    assert grad["impl"] == pytest.approx(grad["jax"] / 2)
    namespace: dict[str, object] = {}
    sys.path.insert(0, str(EXAMPLES))
    try:
        exec(smallest["snippet"], namespace)  # the counterexample runs as printed
    finally:
        sys.path.remove(str(EXAMPLES))


def the_battery_finds_the_overwrite_too(report: dict[str, Any]) -> None:
    findings = report["findings"]
    categories = {f["category"] for f in findings}
    assert categories >= ENGINE_BUGS, categories
    reuse = [f for f in findings if f["category"] == "reuse"]
    assert any(len(ops_in(f)) == 1 for f in reuse), [f["snippet"] for f in reuse]
    (twice,) = [f for f in findings if f["category"] == "double backward"]
    # A second backward() overwrites again instead of adding: not twice the first call's gradient.
    assert any(q["impl"] != q["jax"] for q in twice["quantities"]), twice


def the_notebook_tanh_formula_is_reported(report: dict[str, Any]) -> None:
    # (exp(2x) - 1) / (exp(2x) + 1) overflows at tanh(1000) where the answer is 1.0.
    # (One finding per distinct exception: the battery's tanh(1000) or a sampled tanh of a large
    # operand, whichever is smaller.)
    overflows = [f for f in report["findings"] if (f["error"] or "").startswith("OverflowError")]
    assert overflows and all(".tanh()" in f["snippet"] for f in overflows), overflows


def missing_spellings_are_skipped_not_failed(report: dict[str, Any]) -> None:
    assert report["ops_covered"] == {"add": ["vv"], "mul": ["vv"], "tanh": ["v"]}
    assert set(report["ops_skipped"]) == {
        *(f"a {s} {k}" for s in "+-*/" for k in ("2", "2.5")),
        *(f"{k} {s} a" for s in "+-*/" for k in ("2", "2.5")),
        "a - b", "a / b", "-a", "a ** 2", "a ** 2.5", "2 ** a", "2.5 ** a", "a ** b",
        "a.exp()", "a.log()", "a.relu()", "a.sigmoid()",
        "a.sin()", "a.cos()", "a.sqrt()", "abs(a)",
    }  # fmt: skip
    # Nothing was held against a spelling the engine lacks.
    for finding in report["findings"]:
        assert "AttributeError" not in (finding["error"] or ""), finding["snippet"]
        assert "TypeError" not in (finding["error"] or ""), finding["snippet"]
