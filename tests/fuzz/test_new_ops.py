"""The ops beyond micrograd's (sin, cos, sqrt, abs) are checked end to end: a correct engine
passes, an engine with one wrong derivative of one of them is caught, as a wrong gradient."""

from __future__ import annotations

import json

import pytest

from gradoracle.cli.common import EXIT_CLEAN, EXIT_FINDINGS
from gradoracle.cli.main import main

BUDGET = "6"
NEW_OPS = ("sin", "cos", "sqrt", "abs")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("target", "op"),
    [
        ("planted_engines:SinSlopeNegated", "sin"),
        ("planted_engines:CosSlopeSin", "cos"),
        ("planted_engines:SqrtSlopeNotHalved", "sqrt"),
        ("planted_engines:AbsSlopeOne", "abs"),
    ],
)
def test_a_wrong_derivative_of_a_new_op_is_caught(
    capsys: pytest.CaptureFixture[str], target: str, op: str
) -> None:
    code, report = run_json(capsys, target, "--budget", BUDGET)
    assert code == EXIT_FINDINGS
    findings = report["findings"]
    assert isinstance(findings, list) and findings
    graphs = [f["graph"] for f in findings if f.get("graph")]  # (conventions have none)
    ops = {n["op"] for g in graphs for n in g["nodes"] if "op" in n}
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


def test_abs_at_its_kink_is_checked_as_a_convention(capsys: pytest.CaptureFixture[str]) -> None:
    # abs'(0) = 0.5 is no engine's convention: a bug at the kink.
    code, report = run_json(capsys, "planted_engines:AbsKinkHalf", "--budget", "3")
    assert code == EXIT_FINDINGS
    findings = report["findings"]
    assert isinstance(findings, list)
    assert [f["category"] for f in findings] == ["kink"], findings
    # abs'(0) = 1 is another engine's convention: reported apart, and accepted when named.
    code, report = run_json(capsys, "planted_engines:AbsKinkOne", "--budget", "3")
    assert code == EXIT_FINDINGS
    conventions = report["conventions"]
    assert isinstance(conventions, dict)
    assert conventions["abs-kink"]["verdict"] == "differs", conventions
    code, report = run_json(
        capsys, "planted_engines:AbsKinkOne", "--budget", "3", "--accept", "abs-kink=1"
    )
    assert code == EXIT_CLEAN, report["findings"]
