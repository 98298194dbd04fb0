"""`gradoracle check` end to end: exit codes, JSON keys, counterexamples, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import gradoracle_json, run_usage

from gradoracle.cli.common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from gradoracle.cli.main import main

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# Long enough for the reference's first compilations plus a few thousand graphs on a loaded machine.
BUDGET = "6"
JSON_KEYS = {
    "graphs_checked",
    "not_comparable",
    "findings",
    "seconds",
    "cpu_seconds",
    "impl_seconds",
    "reference_seconds",
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_project_engine_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "engine:Value", "--budget", BUDGET)
    assert code == EXIT_CLEAN, report["findings"]
    assert set(report) >= JSON_KEYS
    assert report["findings"] == []
    assert isinstance(report["graphs_checked"], int) and report["graphs_checked"] >= 500
    assert report["ops_skipped"] == []
    # Every region of every op was drawn (the stream hits each in its first second).
    coverage = report["coverage"]
    assert isinstance(coverage, dict)
    assert all(n > 0 for regions in coverage.values() for n in regions.values()), coverage


def test_a_correct_closure_engine_passes(capsys: pytest.CaptureFixture[str]) -> None:
    # Different formulas (a / b as a * b**-1, tanh via math.tanh): still no false alarm.
    code, report = run_json(capsys, "planted_engines:ClosureValue", "--budget", BUDGET)
    assert code == EXIT_CLEAN, report["findings"]


def test_overwriting_products_are_found_and_shrunk_to_one_op(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, "planted_engines:OverwriteMul", "--budget", BUDGET)
    assert code == EXIT_FINDINGS
    findings = report["findings"]
    assert isinstance(findings, list) and findings
    smallest = findings[0]
    ops = [n for n in smallest["graph"]["nodes"] if "op" in n]
    assert len(ops) == 1, smallest["snippet"]
    assert smallest["category"] == "wrong gradient"
    # The counterexample is runnable and shows the wrong gradient.
    namespace: dict[str, object] = {}
    exec(smallest["snippet"], namespace)


def test_missing_ops_are_skipped_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "planted_engines:NoTanh", "--budget", "3")
    assert code == EXIT_CLEAN, report["findings"]
    assert report["ops_skipped"] == ["a.tanh()"]
    assert report["spellings_refused"] == {
        "a.tanh()": "AttributeError: property 'tanh' of 'NoTanh' object has no getter"
    }
    assert "tanh" not in report["ops_covered"]


def test_same_seed_same_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("planted_engines:TanhFromInput", "--budget", "8", "--graphs", "256", "--seed", "7")
    first = run_json(capsys, *args)[1]
    second = run_json(capsys, *args)[1]
    assert first["findings"][0]["graph"] == second["findings"][0]["graph"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "engine"], "expected MODULE:CLASS"),
        (["check", "no_such_module_xyz:Value"], "cannot import module 'no_such_module_xyz'"),
        (["check", "engine:Nope"], "has no attribute 'Nope'"),
        (["check", "engine:draw_dot"], "not a class"),
        (["check", "planted_engines:math"], "not a class"),
        (["check", "fractions:Fraction"], "no data attribute holding a number"),
        (["check", "builtins:dict"], "dict(1.5) failed"),
        (["check", "engine:Value", "--budget", "0"], "positive number of seconds"),
        (["check", "engine:Value", "--budget", "soon"], "not a number of seconds"),
        (["check", "engine:Value", "--seed", "-1"], "must be >= 0"),
        (["check", "engine:Value", "--colour"], "unrecognized arguments: --colour"),
        (["explode"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    proc = run_usage("gradoracle", *argv, cwd=TESTS)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_json_stays_alone_on_stdout_whatever_the_engine_prints() -> None:
    # The engine's module logs and prints to stdout when imported, in the parent process too.
    code, report = gradoracle_json(
        "check", "loud_engine:Value", "--budget", "4", "--json", cwd=TESTS
    )
    assert code == EXIT_CLEAN, report["findings"]
    assert report["graphs_checked"] > 0
