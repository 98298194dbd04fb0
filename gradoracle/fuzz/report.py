"""What the user reads: the console summary, each finding as a snippet and a table, and JSON."""

from __future__ import annotations

import math
from typing import Any

from gradoracle.fuzz.adapters import Adapter, ValueClassAdapter
from gradoracle.fuzz.check import CheckResult
from gradoracle.fuzz.findings import CONVENTION, Finding
from gradoracle.fuzz.snippets import graph_snippet, located
from gradoracle.reference.compare import Quantity, Verdict
from gradoracle.reference.finite_diff import finite_diff
from gradoracle.reference.graph import Graph


def _num(x: float | None, missing: str = "-") -> str:
    return missing if x is None else f"{x:.17g}"


def finite_differences(graph: Graph) -> dict[str, float]:
    """A central difference for every input's gradient and the float value, for the table."""
    try:
        fd = finite_diff(graph)
    except (ValueError, ArithmeticError):
        return {}
    names = [f"x{i}" for i in graph.inputs]
    out = {name: est.grad for name, est in zip(names, fd.estimates, strict=True) if est.usable}
    out["value"] = fd.value
    return out


def quantity_table(
    quantities: tuple[Quantity, ...], fd: dict[str, float], missing: str = "-"
) -> str:
    """A per-leaf markdown table: implementation, JAX, finite difference, exact (when
    adjudicated), and each quantity's verdict (pass, fail, not comparable). An implementation
    number that is missing shows as `missing`: '-' where it raised, 'None' where it gave None."""
    rows = [
        "| quantity | implementation | JAX | finite difference | exact | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for q in quantities:
        rows.append(
            f"| {q.name} | {_num(q.impl, missing)} | {_num(q.jax)} | {_num(fd.get(q.name))} | "
            f"{_num(q.truth)} | {q.status} |"
        )
    return "\n".join(rows)


def count_note(finding: Finding) -> str:
    """' (3 cases)' for a convention's cases, ' (N sampled graphs failed ...)' for random graphs."""
    if finding.count <= 1:
        return ""
    if finding.category in (CONVENTION, "domain"):
        return f" ({finding.count} cases)"
    return f" ({finding.count} sampled graphs failed in this category)"


def finding_text(n: int, finding: Finding, adapter: Adapter) -> str:
    verdict = finding.verdict
    head = f"Finding {n}: {finding.category}: {verdict.reason}{count_note(finding)}"
    lines = [head, "", _indent(snippet_of(finding, adapter)), ""]
    if verdict.quantities:
        lines += [
            _indent(
                quantity_table(
                    verdict.quantities, finite_differences(finding.graph), missing_impl(verdict)
                )
            ),
            "",
        ]
    return "\n".join(lines)


def missing_impl(verdict: Verdict) -> str:
    """How a quantity the implementation gave no number for shows: '-' where it raised, 'None'
    where it returned None (a PyTorch-style unset gradient)."""
    return "-" if verdict.error else "None"


def snippet_of(finding: Finding, adapter: Adapter) -> str:
    """The finding's code as printed, in the console, the JSON and the HTML report alike."""
    snippet = finding.snippet or graph_snippet(finding.graph, adapter, finding.verdict.quantities)
    return located(snippet, adapter.snippet_run_in)


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def _by_category(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.category] = counts.get(f.category, 0) + 1
    return f" ({', '.join(f'{k}: {v}' for k, v in counts.items())})" if counts else ""


def _conventions_line(conventions: dict[str, Any]) -> str:
    """'relu-kink as expected, log-domain differs (ieee), ...' from Stats.conventions."""
    if not conventions:
        return "none checked"
    parts = []
    for name, seen in conventions.items():
        accepted = f" ({', '.join(seen['accepted'])})" if seen["accepted"] else ""
        parts.append(f"{name} {seen['verdict']}{accepted}")
    return ", ".join(parts)


def _refusals(result: CheckResult, adapter: Adapter) -> str:
    """'a ** 2.5 (ValueError: ...), ...': each refused spelling with what it raised, errors that
    repeat said once; method ops under the engine's names."""
    if not result.refused:
        return "none"
    by_error: dict[str, list[str]] = {}
    for spelling, error in result.refused.items():
        by_error.setdefault(error, []).append(spelling.text(adapter.spellings.methods))
    return "; ".join(f"{', '.join(names)} ({error})" for error, names in by_error.items())


def summary_text(result: CheckResult, adapter: Adapter) -> str:
    s = result.stats
    share = s.not_comparable / s.graphs_checked if s.graphs_checked else 0.0
    lines = [
        f"gradoracle check {result.impl} (seed {result.seed}, budget {result.budget:g} s)",
        *interrupted_lines(result),
        f"ops covered: {', '.join(result.supported) or 'none'}",
        *_spelled(adapter),
        f"spellings not offered (refused on every probe input): {_refusals(result, adapter)}",
        f"graphs checked: {s.graphs_checked}, not comparable: {s.not_comparable} ({share:.2%}), "
        f"bugs: {len(result.bugs)}{_by_category(result.bugs)}, "
        f"conventions differing: {len(result.conventions)}",
        f"conventions: {_conventions_line(s.conventions)}",
        f"time: {result.seconds:.1f} s wall, {result.cpu_seconds:.1f} s cpu; implementation "
        f"{s.impl_seconds:.2f} s, references {s.reference_seconds:.2f} s, sampling "
        f"{s.sample_seconds:.2f} s, comparing {s.compare_seconds:.2f} s, battery "
        f"{s.battery_seconds:.2f} s, shrinking {s.shrink_seconds:.2f} s",
    ]
    if s.not_comparable_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s.not_comparable_reasons.items()))
        lines.append(f"not comparable because: {reasons}")
    if s.replayed:
        lines.append(f"replayed {s.replayed} earlier findings: {s.replayed_failing} still fail")
    lines += [f"note: {note}" for note in s.notes]
    text = "\n".join(lines) + "\n"
    for n, finding in enumerate(result.findings, 1):
        text += "\n" + finding_text(n, finding, adapter)
    return text


def interrupted_lines(result: CheckResult) -> list[str]:
    """The summary's line on an interrupted run, if it was: no verdict of clean can come of it."""
    if result.interrupted is None:
        return []
    return [
        f"interrupted by {result.interrupted} after {result.seconds:.1f} s: the findings so far, "
        "shrunk briefly; not a verdict (no finding here does not mean clean)"
    ]


def spellings_used(adapter: Adapter) -> dict[str, str] | None:
    """The names a Value class was driven with (fuzz.spellings), every role and method op; None
    for an adapter, which drives its engine its own way."""
    return adapter.spellings.as_dict() if isinstance(adapter, ValueClassAdapter) else None


def _spelled(adapter: Adapter) -> list[str]:
    """The summary's line on names that differ from micrograd's, if any."""
    differ = adapter.spellings.differences() if isinstance(adapter, ValueClassAdapter) else []
    return [f"spellings: {', '.join(differ)}"] if differ else []


def _json_number(x: float | None) -> float | str | None:
    """JSON has no inf or nan: spell them as strings."""
    if x is None or math.isfinite(x):
        return x
    return repr(x)


def finding_json(finding: Finding, adapter: Adapter) -> dict[str, Any]:
    import json

    return {
        "category": finding.category,
        "reason": finding.verdict.reason,
        "error": finding.verdict.error or None,
        "count": finding.count,
        "graph": None if finding.snippet else json.loads(finding.graph.to_json()),
        "snippet": snippet_of(finding, adapter),
        "quantities": [
            {
                "name": q.name,
                "impl": _json_number(q.impl),
                "jax": _json_number(q.jax),
                "exact": _json_number(q.truth),
                "status": q.status,
            }
            for q in finding.verdict.quantities
        ],
    }


def result_json(result: CheckResult, adapter: Adapter) -> dict[str, Any]:
    s = result.stats
    return {
        "impl": result.impl,
        "interrupted": result.interrupted,
        "seed": result.seed,
        "budget": result.budget,
        "graphs_checked": s.graphs_checked,
        "not_comparable": s.not_comparable,
        "not_comparable_reasons": s.not_comparable_reasons,
        "notes": s.notes,
        "replayed": s.replayed,
        "replayed_failing": s.replayed_failing,
        "findings": [finding_json(f, adapter) for f in result.findings],
        "bugs": len(result.bugs),
        "conventions": s.conventions,
        "ops_covered": {name: list(forms) for name, forms in result.supported.items()},
        "ops_skipped": result.skipped,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "impl_seconds": s.impl_seconds,
        "reference_seconds": s.reference_seconds,
        "sample_seconds": s.sample_seconds,
        "compare_seconds": s.compare_seconds,
        "shrink_seconds": s.shrink_seconds,
        "battery_seconds": s.battery_seconds,
        "first_finding_seconds": s.first_finding_seconds,
        "spellings_offered": [str(s) for s in result.offered],
        "cpu_split": s.cpu_split,  # the parts of cpu_seconds (fuzz.cpu_split)
        "spellings_refused": {str(k): v for k, v in result.refused.items()},
        "battery": result.battery,
        "spellings_used": spellings_used(adapter),
        "coverage": result.coverage,
    }
