"""`gradoracle check --junit-xml FILE`, run as CI runs it (a subprocess) and read back as CI reads
it: with junitparser, a JUnit parser of its own, and with xml.etree."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cli_runner import ROOT, gradoracle_json
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from gradoracle.fuzz.junit import Suite, junit_xml

TESTS = ROOT / "tests"
BUDGET = "10"  # the probe, the battery and random graphs, two checks at a time on a loaded machine


def _read(path: Path) -> tuple[JUnitXml, ET.Element]:
    return JUnitXml.fromfile(str(path)), ET.parse(path).getroot()


def _outcomes(suite: TestSuite) -> dict[str, list[Any]]:
    """Test cases by classname part ('probe', 'battery', 'random graphs'): (name, result)."""
    parts: dict[str, list[Any]] = {}
    for case in suite:
        part = case.classname.removeprefix(f"{suite.name}.")
        parts.setdefault(part, []).append((case.name, case.result[0] if case.result else None))
    return parts


def _consistent(suite_element: ET.Element) -> None:
    """A suite's counts are those of its test cases, as xml.etree reads them."""
    cases = suite_element.findall("testcase")
    assert int(suite_element.get("tests", "-1")) == len(cases)
    for tag, key in (("failure", "failures"), ("skipped", "skipped"), ("error", "errors")):
        assert int(suite_element.get(key, "-1")) == sum(c.find(tag) is not None for c in cases)


def _check(*argv: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    return gradoracle_json("check", *argv, "--json", cwd=cwd, timeout=300)


def test_a_clean_engine_passes_every_test_case(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    code, report = _check("engine:Value", "--budget", BUDGET, "--junit-xml", str(out), cwd=ROOT)
    assert code == 0 and not report["findings"]
    document, root = _read(out)
    assert (document.failures, document.errors) == (0, 0)
    [suite] = list(document)
    assert suite.name == "engine:Value"
    [element] = root.findall("testsuite")
    _consistent(element)
    parts = _outcomes(suite)
    # every spelling of the registry is offered by the project engine, and passed
    assert [name for name, _ in parts["probe"]] == report["spellings_offered"]
    assert all(result is None for _, result in parts["probe"])
    # random graphs were checked: each category passed, none skipped
    assert {name for name, _ in parts["random graphs"]} >= {"wrong gradient", "exception"}
    assert all(result is None for _, result in parts["random graphs"])
    # a battery case is skipped only when it did not run, and says why
    battery = dict(parts["battery"])
    for case, status in report["battery"].items():
        result = battery[case]
        assert (result is None) == (status == "ran"), (case, status)
        if result is not None:
            assert isinstance(result, Skipped) and result.message == status
    for name in report["conventions"]:
        assert battery[f"convention {name}"] is None
    assert document.skipped == sum(isinstance(r, Skipped) for r in battery.values())


def test_a_buggy_engine_fails_with_the_snippets(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    argv = ("planted_engines:OverwriteMul", "--budget", BUDGET, "--junit-xml", str(out))
    code, report = _check(*argv, cwd=TESTS)
    assert code == 1 and report["findings"]
    document, root = _read(out)
    [suite] = list(document)
    _consistent(root.find("testsuite"))  # type: ignore[arg-type]
    failures = {
        (case.classname.rpartition(".")[2], case.name): case.result[0]
        for case in suite
        if case.result and isinstance(case.result[0], Failure)
    }
    # a failing test case per finding category, and only those
    assert suite.failures == len(failures) == len({f["category"] for f in report["findings"]})
    assert {name for _, name in failures} == {f["category"] for f in report["findings"]}
    assert ("battery", "reuse") in failures  # x * x overwritten
    if report["graphs_checked"]:
        assert ("random graphs", "wrong gradient") in failures
    text = "\n".join(f.text for f in failures.values())
    for finding in report["findings"]:  # each finding's snippet, as printed, in a failure
        assert finding["snippet"].strip() in text, finding["category"]
    assert "x0 = OverwriteMul(" in failures[("battery", "reuse")].text
    assert failures[("battery", "reuse")].message.startswith("wrong x0")
    # ... and xml.etree reads the same failure text
    etree_text = "\n".join(f.text or "" for f in root.iter("failure"))
    assert etree_text.strip() == text.strip()


def test_each_convention_is_a_test_case_with_its_own_findings(tmp_path: Path) -> None:
    """numpy's IEEE answers where Python raises (conventions), relu'(0) = 1 accepted, and a
    clamped log (a bug outside the domain): each finding fails one test case, the convention's."""
    out = tmp_path / "junit.xml"
    # The battery (a third of the budget) needs time for every convention on a loaded machine;
    # the random graphs stop after one batch.
    argv = ("convention_engines:ClampedLogValue", "--budget", "30", "--graphs", "256")
    argv += ("--accept", "relu-kink=1")
    code, report = _check(*argv, "--junit-xml", str(out), cwd=TESTS)
    assert code == 1
    document, root = _read(out)
    [suite] = list(document)
    _consistent(root.find("testsuite"))  # type: ignore[arg-type]
    battery = dict(_outcomes(suite)["battery"])
    verdicts = {name: seen["verdict"] for name, seen in report["conventions"].items()}
    assert verdicts["relu-kink"] == "accepted" and battery["convention relu-kink"] is None
    assert verdicts["log-domain"] == "bug" and verdicts["division-by-zero"] == "differs"
    for name, verdict in verdicts.items():
        result = battery[f"convention {name}"]
        assert isinstance(result, Failure) == (verdict in ("bug", "differs")), name
    clamped = battery["convention log-domain"]
    domains = [f for f in report["findings"] if f["category"] == "domain"]
    [outside] = [f for f in domains if f["reason"].startswith("`x0.log()` at x0 = 0.0 returned")]
    assert outside["snippet"].strip() in clamped.text
    # log(5e-324) clamped: the battery's graph cases at the domain's edges fail on their own
    edges = [f for f in domains if f is not outside]
    assert edges and all(f["snippet"].strip() in battery["domain"].text for f in edges)
    assert outside["snippet"].strip() not in battery["domain"].text
    failures = [case.result[0].text for case in suite if case.result and case.is_failure]
    for finding in report["findings"]:  # each in exactly one failing test case
        assert sum(finding["snippet"].strip() in text for text in failures) == 1, finding


def test_several_targets_one_suite_each(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    targets = ["planted_engines:OverwriteMul", "planted_engines:NoTanh", "no_such_module:Value"]
    argv = (*targets, "--budget", BUDGET, "--jobs", "2", "--junit-xml", str(out))
    code, data = _check(*argv, cwd=TESTS)
    assert code == 1
    document, root = _read(out)
    suites = {suite.name: suite for suite in document}
    assert list(suites) == targets
    for element in root.findall("testsuite"):
        _consistent(element)
    assert document.tests == sum(s.tests for s in suites.values())
    assert document.failures == sum(s.failures for s in suites.values())
    reports = {row["target"]: row["report"] for row in data["targets"]}

    overwrite = _outcomes(suites[targets[0]])
    assert isinstance(dict(overwrite["battery"])["reuse"], Failure)
    failing = {f["category"] for f in reports[targets[0]]["findings"]}
    assert suites[targets[0]].failures == len(failing) >= 1

    no_tanh = _outcomes(suites[targets[1]])
    skipped = {name: r for name, r in no_tanh["probe"] if isinstance(r, Skipped)}
    assert list(skipped) == list(reports[targets[1]]["spellings_refused"]) == ["a.tanh()"]
    assert "tanh" in skipped["a.tanh()"].message
    assert suites[targets[1]].failures == 0

    [(name, result)] = _outcomes(suites[targets[2]])["check"]
    assert name == "check"
    assert isinstance(result, Error) and "import error" in result.message
    assert suites[targets[2]].errors == 1


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "no such folder" / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "gradoracle", "check", "engine:Value", "--budget", BUDGET,
         "--junit-xml", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "graphs checked:" in proc.stdout  # the results stand
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [
        f"gradoracle: error: cannot write the JUnit XML file {out}: FileNotFoundError: "
        f"[Errno 2] No such file or directory: '{out}'"
    ]
    assert not out.exists()


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\ud800", "\ufffe"])
def test_what_an_engine_raised_never_breaks_the_xml(bad: str) -> None:
    finding = {"category": "exception", "reason": f"ValueError: {bad}", "snippet": f"# {bad}\n"}
    report = {"graphs_checked": 1, "findings": [finding], "spellings_refused": {"a.exp()": bad}}
    document = junit_xml([Suite(f"engine{bad}:Value", report)])
    root = ET.fromstring(document)
    [failure] = root.iter("failure")
    assert failure.get("message", "").startswith("ValueError: ")
    assert bad not in (failure.text or "")
