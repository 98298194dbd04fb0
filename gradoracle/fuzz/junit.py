"""`gradoracle check --junit-xml FILE`: the check's JSON report as JUnit XML, so that CI systems
show findings as failed tests.

One <testsuite> per target, made from the report `--json` prints (one target) or each child
printed (several: gradoracle.cli.many), with three kinds of test case:

- `probe`: one per op spelling probed; passed where the class offers it, skipped (with what it
  raised) where it does not;
- `battery`: one per battery case (fuzz.battery.CASES) and per convention; skipped when it did not
  run, and why;
- `random graphs`: one per finding category of the random graphs (and the probe's own graphs).

A test case fails with every finding of its category: the reason, the snippet that shows it, and
the table. A target that could not be checked is a suite with one test case in error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradoracle.fuzz.battery import RAN
from gradoracle.fuzz.conventions import CONVENTIONS
from gradoracle.fuzz.findings import CONVENTION, DAMAGED

PROBE, BATTERY, RANDOM = "probe", "battery", "random graphs"
# The categories random graphs fail in (fuzz.findings.category), and the worker damaged by them.
RANDOM_CATEGORIES = ("wrong value", "wrong gradient", "exception", "hang", "crash", DAMAGED)
PASSED_CONVENTIONS = ("as expected", "accepted")
# Characters XML 1.0 cannot hold at all, even escaped: an engine's error message may have them.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


@dataclass(frozen=True)
class Suite:
    """One target: its name, its JSON report (None when it printed none), and the one-line
    reason it was not checked, if it was not."""

    name: str
    report: dict[str, Any] | None
    error: str | None = None


@dataclass
class _Case:
    classname: str
    name: str
    findings: list[dict[str, Any]]
    skipped: str | None = None
    output: str = ""


def _quantity_table(quantities: list[dict[str, Any]]) -> str:
    rows = ["| quantity | implementation | JAX | exact | verdict |", "|---|---|---|---|---|"]
    for q in quantities:
        cells = [q.get(key) for key in ("name", "impl", "jax", "exact", "status")]
        rows.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(rows)


def finding_text(finding: dict[str, Any]) -> str:
    """A finding as the console shows it: category and reason, the snippet, the table."""
    count, category = finding.get("count", 1), finding.get("category")
    times = ""
    if isinstance(count, int) and count > 1:  # worded as the console's count_note words it
        cases = category in (CONVENTION, "domain")
        times = (
            f" ({count} cases)" if cases else f" ({count} sampled graphs failed in this category)"
        )
    parts = [f"{category}: {finding.get('reason')}{times}", finding["snippet"]]
    if finding.get("quantities"):
        parts.append(_quantity_table(finding["quantities"]))
    return "\n\n".join(part.rstrip("\n") for part in parts) + "\n"


def _convention_cases(report: dict[str, Any], findings: list[dict[str, Any]]) -> list[_Case]:
    """One case per convention: failing with its own finding where the engine chose otherwise,
    and with the kink or domain findings of the points it observed."""
    observed: dict[str, Any] = report.get("conventions") or {}
    notes = report.get("notes") or []
    cases = []
    for name in CONVENTIONS:
        seen = observed.get(name)
        if seen is None:
            timed_out = f"convention {name}: not run (time)" in notes
            why = "time" if timed_out else "cannot be built from the spellings offered"
            cases.append(_Case(BATTERY, f"convention {name}", [], skipped=f"not run: {why}"))
            continue
        points = tuple(seen.get("observed") or {})
        mine = [
            f
            for f in findings
            if (f["category"] == CONVENTION and f["reason"].startswith(f"{name}:"))
            or (f["category"] in ("kink", "domain") and points and f["reason"].startswith(points))
        ]
        for f in mine:
            findings.remove(f)
        shown = ", ".join(
            f"{point}: {what}" for point, what in (seen.get("observed") or {}).items()
        )
        output = f"expected {seen.get('expected')}; observed {shown}; {seen.get('verdict')}\n"
        if not mine and seen.get("verdict") not in PASSED_CONVENTIONS:
            mine = [{"category": CONVENTION, "reason": output.strip(), "snippet": ""}]
        cases.append(_Case(BATTERY, f"convention {name}", mine, output=output))
    return cases


def _cases(report: dict[str, Any]) -> list[_Case]:
    findings = list(report.get("findings") or [])
    cases = [_Case(PROBE, spelling, []) for spelling in report.get("spellings_offered") or []]
    for spelling, error in (report.get("spellings_refused") or {}).items():
        cases.append(_Case(PROBE, spelling, [], skipped=f"not offered: {error}"))
    cases += _convention_cases(report, findings)
    battery: dict[str, str] = report.get("battery") or {}
    for case, status in battery.items():
        mine = [f for f in findings if f["category"] == case]
        cases.append(_Case(BATTERY, case, mine, skipped=None if status == RAN or mine else status))
    findings = [f for f in findings if f["category"] not in battery]
    categories = list(RANDOM_CATEGORIES)
    categories += [c for c in dict.fromkeys(f["category"] for f in findings) if c not in categories]
    for category in categories:
        mine = [f for f in findings if f["category"] == category]
        nothing = not report.get("graphs_checked") and not mine
        cases.append(
            _Case(RANDOM, category, mine, "no random graph was checked" if nothing else None)
        )
    return cases


def _testcase(parent: ET.Element, suite: str, case: _Case) -> str:
    """Add the <testcase>; return its outcome: passed, failure, skipped."""
    element = ET.SubElement(
        parent, "testcase", classname=f"{suite}.{case.classname}", name=case.name
    )
    element.set("time", "0")
    outcome = "passed"
    if case.findings:
        first = (str(case.findings[0].get("reason") or case.name).splitlines() or [""])[0]
        more = f" (and {len(case.findings) - 1} more)" if len(case.findings) > 1 else ""
        failure = ET.SubElement(element, "failure", message=first + more, type=case.name)
        failure.text = "\n".join(finding_text(f) for f in case.findings)
        outcome = "failure"
    elif case.skipped is not None:
        ET.SubElement(element, "skipped", message=case.skipped)
        outcome = "skipped"
    if case.output:
        ET.SubElement(element, "system-out").text = case.output
    return outcome


def suite_element(suite: Suite) -> ET.Element:
    element = ET.Element("testsuite", name=suite.name)
    outcomes = [_testcase(element, suite.name, c) for c in _cases(suite.report or {})]
    errors = 0
    if suite.error is not None:
        case = ET.SubElement(element, "testcase", classname=f"{suite.name}.check", name="check")
        case.set("time", "0")
        ET.SubElement(case, "error", message=suite.error, type="not checked").text = suite.error
        errors = 1
    element.set("tests", str(len(outcomes) + errors))
    element.set("failures", str(outcomes.count("failure")))
    element.set("errors", str(errors))
    element.set("skipped", str(outcomes.count("skipped")))
    seconds = (suite.report or {}).get("seconds")
    element.set("time", f"{seconds:.3f}" if isinstance(seconds, int | float) else "0")
    return element


def junit_xml(suites: Sequence[Suite]) -> bytes:
    """The <testsuites> document, totals on the root."""
    root = ET.Element("testsuites", name="gradoracle check")
    children = [suite_element(s) for s in suites]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(child.get(key, "0")) for child in children)))
    root.set("time", f"{sum(float(child.get('time', '0')) for child in children):.3f}")
    root.extend(children)
    for element in root.iter():
        element.text = _xml_text(element.text) if element.text else element.text
        for key, value in element.attrib.items():
            element.set(key, _xml_text(value))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(path: Path, suites: Sequence[Suite]) -> None:
    """Write the document to `path` (its folder must exist); OSError when it cannot."""
    path.write_bytes(junit_xml(suites))


def junit_error(path: Path, e: Exception) -> str:
    """One line: why the JUnit XML file could not be written."""
    lines = str(e).strip().splitlines() or [""]
    return f"cannot write the JUnit XML file {path}: {type(e).__name__}: {lines[0]}".rstrip(": ")
