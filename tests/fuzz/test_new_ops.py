"""The ops beyond micrograd's (sin, cos, sqrt, abs) are checked end to end: a correct engine
passes, an engine with one wrong derivative of one of them is caught, as a wrong gradient."""

from __future__ import annotations

import json

import pytest

from gradoracle.fuzz.cli import EXIT_CLEAN, EXIT_FINDINGS, main

BUDGET = "6"
NEW_OPS = ("sin", "cos", "sqrt")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("target", "op"),
    [
        ("planted_engines:SinSlopeNegated", "sin"),
        ("planted_engines:CosSlopeSin", "cos"),
        ("planted_engines:SqrtSlopeNotHalved", "sqrt"),
    ],
)
def test_a_wrong_derivative_of_a_new_op_is_caught(
    capsys: pytest.CaptureFixture[str], target: str, op: str
) -> None:
    code, report = run_json(capsys, target, "--budget", BUDGET)
    assert code == EXIT_FINDINGS
    findings = report["findings"]
    assert isinstance(findings, list) and findings
    ops = {n["op"] for f in findings for n in f["graph"]["nodes"] if "op" in n}
    assert op in ops, [f["snippet"] for f in findings]
    assert any(f["category"] == "wrong gradient" for f in findings)


def test_the_closure_engine_with_the_new_ops_passes_and_covers_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, "planted_engines:ClosureValue", "--budget", BUDGET)
    assert code == EXIT_CLEAN, report["findings"]
    covered, coverage = report["ops_covered"], report["coverage"]
    assert isinstance(covered, dict) and isinstance(coverage, dict)
    for op in NEW_OPS:
        assert covered.get(op) == ["v"], covered
        assert coverage[op] and all(n > 0 for n in coverage[op].values()), coverage[op]
