"""Conventions are not bugs: relu'(0) and what ops do outside their domain are judged by explicit
cases from the op registry, reported in their own category, and accepted by name."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runner import ROOT, gradoracle_json, run_usage

from gradoracle.fuzz.adapters import BUILD, READ, ImplResult, Outcome, UsageError, load_adapter
from gradoracle.fuzz.conventions import (
    CONVENTIONS,
    NONE_ACCEPTED,
    outside_label,
    parse_accept,
    run_conventions,
)
from gradoracle.fuzz.findings import CONVENTION
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.probe import run_probe
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parents[1]
EVERY_ALTERNATIVE = ["relu-kink=1", "abs-kink=1"] + [
    f"{name}=ieee"
    for name in ("log-domain", "division-by-zero", "pow-domain", "overflow", "sqrt-domain")
]
NUMPY = {"log": np.log, "exp": np.exp, "div": np.divide, "pow": np.power, "sqrt": np.sqrt}


def test_the_registry_names_each_convention_once() -> None:
    assert set(CONVENTIONS) == {
        "relu-kink",
        "log-domain",
        "division-by-zero",
        "pow-domain",
        "overflow",
        "sqrt-domain",
        "abs-kink",
    }
    assert CONVENTIONS["relu-kink"].expected == "0"
    assert CONVENTIONS["relu-kink"].alternatives == ("1", "0.5")


@pytest.mark.parametrize(
    ("op", "point"),
    [(op.name, point) for op in OPS.values() for point in op.outside],
    ids=lambda x: getattr(x, "name", None) or repr(getattr(x, "operands", x)),
)
def test_each_point_is_outside_and_its_ieee_value_is_numpys(op: str, point: Any) -> None:
    """Python's floats raise there (the reference's convention) and numpy gives `ieee`."""
    operands = [float(x) for x in point.operands]
    with pytest.raises((ValueError, ArithmeticError)):
        OPS[op].forward(FLOAT, *operands)
    with np.errstate(all="ignore"):
        ieee = NUMPY[op](*(np.float64(x) for x in operands))
    assert (math.isnan(ieee) and math.isnan(point.ieee)) or ieee == point.ieee


def test_accept_takes_names_and_alternatives_from_the_registry() -> None:
    accepted = parse_accept(["relu-kink=1", "log-domain=ieee,log-domain=nan"])
    assert accepted.of("relu-kink") == {"1"}
    assert accepted.of("log-domain") == {"ieee", "nan"}
    assert accepted.of("overflow") == frozenset()
    scoped = ["relu-kink=1@*/alice/*", "log-domain=nan@engine:Value"]
    assert parse_accept(scoped, ("engine:Value", "students/alice/engine.py:Value")).chosen == {
        "relu-kink": {"1"},
        "log-domain": {"nan"},
    }
    assert parse_accept(scoped, ("engine:Value", "students/bob/engine.py:Value")).chosen == {
        "log-domain": {"nan"}
    }
    with pytest.raises(UsageError, match="is not one of"):  # wrong for any target
        parse_accept(["relu-kink=2@nobody"], ("engine:Value",))
    with pytest.raises(UsageError, match="NAME one of relu-kink, "):
        parse_accept(["relu=1"])
    with pytest.raises(UsageError, match=r"'2' is not one of 1, 0\.5"):
        parse_accept(["relu-kink=2"])
    with pytest.raises(UsageError, match="NAME=ALTERNATIVE"):
        parse_accept(["log-domain"])


def _result(kind: str, value: float = 0.0, phase: str = "", error: str = "") -> ImplResult:
    outcome = Outcome(value, (0.0,)) if kind == "ok" else None
    return ImplResult(kind, outcome, error, 0.0, phase)


def test_what_an_engine_did_outside_a_domain() -> None:
    assert outside_label(_result("exception", phase=BUILD, error="ValueError: math")) == "raise"
    assert outside_label(_result("ok", math.nan)) == "nan"
    assert outside_label(_result("ok", -math.inf)) == "-inf"
    assert outside_label(_result("ok", -27.6)) == "finite"
    complex_data = "TypeError: float() argument must be a string or a real number, not 'complex'"
    assert outside_label(_result("exception", phase=READ, error=complex_data)) == "complex"
    assert outside_label(_result("hang", error="hang: no answer")) is None


def conventions_of(spec: str, jax_reference: Any, accept: list[str] | None = None) -> Any:
    with IsolatedImpl(spec, timeout=3.0) as runner:
        oracle = Oracle(load_adapter(spec), jax_reference, runner)
        offered = run_probe(oracle).offered
        accepted = parse_accept(accept) if accept else NONE_ACCEPTED
        return run_conventions(oracle, offered, accepted, time.monotonic() + 60)


def test_the_project_engine_follows_every_convention(jax_reference: Any) -> None:
    findings, observed = conventions_of("engine:Value", jax_reference)
    assert findings == [], [f.verdict.reason for f in findings]
    assert set(observed) == set(CONVENTIONS)
    assert {seen.verdict() for seen in observed.values()} == {"as expected"}


def test_an_ieee_engine_differs_by_convention_only(jax_reference: Any) -> None:
    findings, observed = conventions_of("convention_engines:IeeeValue", jax_reference)
    assert {f.category for f in findings} == {CONVENTION}
    assert len(findings) == len(CONVENTIONS)  # one finding per convention, not per case
    reasons = {f.verdict.reason.partition(":")[0]: f.verdict.reason for f in findings}
    assert "--accept relu-kink=1" in reasons["relu-kink"]
    assert "--accept log-domain=ieee" in reasons["log-domain"]
    assert observed["log-domain"].behaviour == {"`x0.log()` at x0 = 0.0": "-inf",
                                                "`x0.log()` at x0 = -1.0": "nan"}  # fmt: skip


def test_accepted_conventions_are_no_findings(jax_reference: Any) -> None:
    engine = "convention_engines:IeeeValue"
    findings, observed = conventions_of(engine, jax_reference, EVERY_ALTERNATIVE)
    assert findings == [], [f.verdict.reason for f in findings]
    assert {seen.verdict() for seen in observed.values()} == {"accepted"}


def test_a_finite_number_outside_the_domain_is_a_bug(jax_reference: Any) -> None:
    engine = "convention_engines:ClampedLogValue"
    findings, _ = conventions_of(engine, jax_reference, EVERY_ALTERNATIVE)
    (finding,) = findings  # one finding for both points
    assert finding.category == "domain"
    assert finding.count == 2
    assert finding.verdict.reason.startswith("`x0.log()` at x0 = 0.0 returned -27.6")


@pytest.mark.slow
def test_check_reports_conventions_apart_and_accepts_them() -> None:
    engine = "convention_engines:IeeeValue"
    code, report = gradoracle_json("check", engine, "--budget", "3", "--json", cwd=TESTS)
    assert code == 1
    assert report["bugs"] == 0
    conventions = [f for f in report["findings"] if f["category"] == CONVENTION]
    assert len(conventions) == len(report["findings"]) == len(CONVENTIONS)
    assert {c["verdict"] for c in report["conventions"].values()} == {"differs"}
    for finding in conventions:  # each snippet, run as printed, shows the other convention
        out = subprocess.run(
            [sys.executable, "-c", finding["snippet"]],
            cwd=TESTS, capture_output=True, text=True, timeout=60,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        shown = out.stdout.split("expected")[0]
        assert any(word in shown for word in ("nan", "inf", "1.0")), out.stdout
    accept = [arg for item in EVERY_ALTERNATIVE for arg in ("--accept", item)]
    code, report = gradoracle_json("check", engine, "--budget", "3", "--json", *accept, cwd=TESTS)
    assert code == 0, report["findings"]
    assert {c["verdict"] for c in report["conventions"].values()} == {"accepted"}


@pytest.mark.parametrize(
    ("accept", "message"),
    [
        ("relu=1", "--accept takes NAME=ALTERNATIVE with NAME one of relu-kink"),
        ("relu-kink=2", "--accept relu-kink: '2' is not one of 1, 0.5"),
    ],
)
def test_a_bad_accept_is_a_usage_error(accept: str, message: str) -> None:
    proc = run_usage("gradoracle", "check", "engine:Value", "--accept", accept, cwd=TESTS)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gradoracle: error: {message}" or (
        proc.stderr.count("\n") == 1 and message in proc.stderr
    ), proc.stderr
