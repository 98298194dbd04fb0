"""`gradoracle check` on micrograd 0.1.0 from PyPI, the engine everyone starts from.

Its ops are right on shallow graphs, so random graphs find nothing; the semantics battery finds its
two known defects: the recursive topological sort dies at a chain of 1,000 nodes, and a second
`backward()` recomputes interior gradients on top of the first pass's (72 instead of 54 for
(x * x) * x at 3). What micrograd lacks (tanh, exp, log, sigmoid, k ** a, a ** b) is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_runner import gradoracle_json

pytest.importorskip("micrograd")

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 10.0
SPEC = "micrograd.engine:Value"
# Categories that random graphs and single-op probes produce: none may appear for micrograd.
ARITHMETIC = {"wrong gradient", "wrong value", "exception", "hang", "crash"}

pytestmark = pytest.mark.slow


def gradoracle_check(spec: str, budget: float, cwd: Path) -> tuple[int, dict[str, Any]]:
    """`gradoracle check SPEC --json` in a fresh process (the engine in its isolated worker)."""
    return gradoracle_json("check", spec, "--budget", str(budget), "--json", cwd=cwd)


def by_category(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        found.setdefault(f["category"], []).append(f)
    return found


def test_gradoracle_check_finds_exactly_the_known_defects() -> None:
    # One run for every assertion: a module-scoped fixture would run once per xdist worker.
    code, report = gradoracle_check(SPEC, BUDGET, ROOT)
    assert code == 1
    found = {category: [f["reason"] for f in fs] for category, fs in by_category(report).items()}
    # Interior gradients are never reset: a second backward(), or a backward() from another root
    # that shares nodes, adds to stale ones. Its topological sort recurses.
    assert set(found) == {"deep graph", "double backward", "two roots"}, (found, report["notes"])
    its_ops_pass_on_shallow_graphs(report)
    missing_ops_are_skipped(report)
    recursion_error_on_a_chain_of_1000(report)
    a_second_backward_does_not_double_the_gradients(report)


def its_ops_pass_on_shallow_graphs(report: dict[str, Any]) -> None:
    # Probing, reused nodes, domain edges, relu'(0) and thousands of random graphs: all right.
    assert not ARITHMETIC & set(by_category(report))
    assert not {"reuse", "domain", "kink"} & set(by_category(report))
    assert report["graphs_checked"] >= 100
    assert report["not_comparable"] < report["graphs_checked"] / 10


def missing_ops_are_skipped(report: dict[str, Any]) -> None:
    assert set(report["ops_skipped"]) == {
        "a.tanh()", "a.exp()", "a.log()", "a.sigmoid()", "2 ** a", "2.5 ** a", "a ** b",
    }  # fmt: skip
    assert report["ops_covered"] == {
        **{op: ["vv", "vc", "cv"] for op in ("add", "sub", "mul", "div")},
        "neg": ["v"],
        "pow": ["vc"],
        "relu": ["v"],
    }


def recursion_error_on_a_chain_of_1000(report: dict[str, Any]) -> None:
    (deep,) = by_category(report)["deep graph"]
    assert deep["reason"].startswith("a chain of 1000 `"), deep
    assert "fails: RecursionError" in deep["reason"], deep
    assert deep["error"].startswith("RecursionError")
    assert "range(1000)" in deep["snippet"]


def a_second_backward_does_not_double_the_gradients(report: dict[str, Any]) -> None:
    (twice,) = by_category(report)["double backward"]
    assert any(q["impl"] != q["jax"] for q in twice["quantities"]), twice
    assert "out.backward()\nout.backward()" in twice["snippet"]
    namespace: dict[str, Any] = {}
    exec(twice["snippet"], namespace)  # the snippet runs and shows it
    wrong = {q["name"].split()[0]: q for q in twice["quantities"] if q["status"] == "fail"}
    assert wrong
    for name, q in wrong.items():
        assert namespace[name].grad == q["impl"] != q["jax"]
