"""What a many-target check reports (gradoracle.cli.many runs the children): one row per target
with its one-line verdict, the summary table, the JSON, and DIR/index.html linking each target's
own report.

The verdict is the product: a target is `clean` only when its child printed a report with no
finding and exited 0. Anything else a child does (exit 2, no JSON, a signal, no answer in time,
exit 1 without a finding) is a row saying what happened, and the command exits 1.
"""

from __future__ import annotations

import html
import json
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradoracle.fuzz.discover import Target

# A row's status: checked (clean or with findings), or why it could not be checked.
CHECKED = "checked"
NOTHING = "nothing checkable"  # the class offers none of the ops (the child exits 2)
IMPORT_ERROR = "import error"  # the child could not load the class (exit 2, one line)
HUNG = "hung"  # no report within the allowance: killed
CRASHED = "crashed"  # no report (a traceback, a signal), or not run at all
ERROR = "error"  # a report without findings, and exit 1: e.g. its report could not be written
INTERRUPTED = "interrupted"  # SIGINT or SIGTERM stopped the command: what the child found so far
CONVENTION = "convention"  # a finding category kept apart from bugs


@dataclass(frozen=True)
class ChildRun:
    """How a child `gradoracle check ... --json` went."""

    code: int | None  # its exit status (negative: killed by that signal); None: killed as hung
    report: dict[str, Any] | None  # the one JSON object it printed, if any
    error: str  # one line: its last `gradoracle: error:` line, else its last line on stderr
    seconds: float
    allowance: float


@dataclass(frozen=True)
class Row:
    target: Target
    status: str
    error: str | None  # one line, when not checked
    report: dict[str, Any] | None  # the child's own JSON
    page: Path | None  # the child's report.html, when it wrote one

    @property
    def findings(self) -> list[dict[str, Any]]:
        findings = (self.report or {}).get("findings")
        return findings if isinstance(findings, list) else []

    @property
    def bugs(self) -> dict[str, int]:
        """Findings per category, conventions left out, in the report's order."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            kind = str(finding.get("category", "?"))
            if kind != CONVENTION:
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    @property
    def conventions(self) -> int:
        return sum(f.get("category") == CONVENTION for f in self.findings)

    @property
    def clean(self) -> bool:
        return self.status == CHECKED and not self.findings

    @property
    def verdict(self) -> str:
        bugs, conventions = sum(self.bugs.values()), self.conventions
        parts = [_plural(bugs, "bug")] if bugs else []
        parts += [_plural(conventions, "convention")] if conventions else []
        by_count = sorted(self.bugs.items(), key=lambda kn: -kn[1])  # stable: report order
        found = ", ".join(parts) + (
            f" ({', '.join(f'{k} {n}' for k, n in by_count)})" if bugs else ""
        )
        if self.status == CHECKED:
            return found or "clean"
        if self.status == INTERRUPTED:  # never "clean": what it found before it was stopped
            return f"{INTERRUPTED} ({self.error}): {found or 'no finding yet'}"
        if self.status == NOTHING:
            return NOTHING
        return f"{self.status}: {self.error}" if self.error else self.status


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _judge(run: ChildRun, stopped: bool) -> tuple[str, str | None]:
    """The status of a child's run, and its one-line error. `stopped`: the command was
    interrupted, and passed the signal on to the child."""
    report = run.report
    if (
        report is not None
        and report.get("interrupted")
        and isinstance(report.get("findings"), list)
    ):
        return INTERRUPTED, str(report["interrupted"])
    if stopped and (run.code is None or run.code < 0):  # killed: it did not report in time
        return INTERRUPTED, "killed before it reported"
    if run.code is None:
        return HUNG, f"no report after {run.allowance:g} s"
    if report is not None and isinstance(report.get("findings"), list):
        if run.code == 2:
            return NOTHING, run.error or None
        if run.code == 0 or (run.code == 1 and report["findings"]):
            return CHECKED, None
        if run.code == 1:
            return ERROR, run.error or "exit 1 without a finding"
        return CRASHED, f"{_exit(run.code)} after its report"
    if run.code == 2:
        return IMPORT_ERROR, run.error or "exit 2"
    return CRASHED, _exit(run.code) + (f": {run.error}" if run.error else ", no report")


def row_of(
    target: Target, run: ChildRun | None, report_dir: Path | None = None, stopped: bool = False
) -> Row:
    """`stopped`: SIGINT or SIGTERM interrupted the command (cli.many)."""
    if target.problem:  # found but not runnable: "cannot parse: SyntaxError: ..."
        status, _, why = target.problem.partition(": ")
        return Row(target, status, why, None, None)
    if run is None:  # the command was interrupted before this child ran
        return Row(target, INTERRUPTED if stopped else CRASHED, "not run", None, None)
    status, error = _judge(run, stopped)
    page = report_dir / "report.html" if report_dir is not None else None
    if page is not None and not page.is_file():
        page = None
    return Row(target, status, error, run.report if status != HUNG else None, page)


def report_dirs(targets: Sequence[Target], reports: Path | None) -> dict[Target, Path]:
    """DIR/<safe name> for each runnable target: `alice/engine.py:Value` writes into
    DIR/alice-engine.py-Value (made unique with -2, -3, ...)."""
    if reports is None:
        return {}
    dirs: dict[Target, Path] = {}
    used: set[str] = {"report.json", "index.html"}
    for target in targets:
        if target.problem:
            continue
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", target.name).strip("-.") or "target"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        dirs[target] = reports / name
    return dirs


def _cells(row: Row) -> list[str]:
    report = row.report
    if report is None:
        return [row.target.name, "-", "-", "-", "-", row.verdict]
    ops = f"{len(report.get('ops_covered') or {})}/{len(report.get('ops_skipped') or [])}"
    graphs = str(report.get("graphs_checked", "-"))
    bugs, conventions = str(sum(row.bugs.values())), str(row.conventions)
    return [row.target.name, ops, graphs, bugs, conventions, row.verdict]


HEADERS = ["target", "ops", "graphs", "bugs", "conventions", "verdict"]
NUMERIC = {1, 2, 3, 4}  # right-aligned columns


def table(rows: Sequence[Row]) -> str:
    """The summary table: one line per target, columns aligned."""
    cells = [_cells(row) for row in rows]
    widths = [max(len(c[k]) for c in [HEADERS, *cells]) for k in range(len(HEADERS))]

    def line(values: Sequence[str]) -> str:
        cells = enumerate(zip(values, widths))
        padded = [v.rjust(w) if k in NUMERIC else v.ljust(w) for k, (v, w) in cells]
        return "  ".join(padded).rstrip()

    rule = ["-" * w for w in widths[:-1]] + ["-" * len(HEADERS[-1])]  # verdicts may be long
    return "\n".join([line(HEADERS), line(rule), *map(line, cells)])


def summary(rows: Sequence[Row]) -> dict[str, int]:
    return {
        "targets": len(rows),
        "clean": sum(row.clean for row in rows),
        "with_findings": sum(row.status == CHECKED and bool(row.findings) for row in rows),
        "not_checked": sum(row.status != CHECKED for row in rows),
        "bugs": sum(sum(row.bugs.values()) for row in rows),
        "conventions": sum(row.conventions for row in rows),
    }


def footer(rows: Sequence[Row], reports: Path | None) -> str:
    """Below the table: the counts, and where each target's findings can be read in full."""
    s = summary(rows)
    interrupted = sum(row.status == INTERRUPTED for row in rows)
    lines = [
        "",
        f"{s['targets']} targets: {s['clean']} clean, {s['with_findings']} with findings, "
        f"{s['not_checked']} not checked"
        + (f", {interrupted} of them interrupted" if interrupted else "")
        + " (ops: ops covered/spellings skipped).",
    ]
    pages = [row for row in rows if row.page is not None]
    if reports is not None and pages:
        lines.append(f"each target's findings in full: {reports / 'index.html'}")
        width = max(len(row.target.name) for row in pages)
        lines += [f"  {row.target.name.ljust(width)}  {row.page}" for row in pages]
    elif reports is None:
        lines.append(
            "each target's findings in full: --report DIR writes a page per target (snippets, "
            "tables, pictures)"
        )
    return "\n".join(lines)


def many_json(rows: Sequence[Row], seconds: float) -> dict[str, Any]:
    """The --json object (and DIR/report.json)."""
    return {
        "targets": [
            {
                "target": row.target.name,
                "folder": str(row.target.folder),
                "status": row.status,
                "error": row.error,
                "verdict": row.verdict,
                "report": row.report,
            }
            for row in rows
        ],
        "summary": summary(rows),
        "seconds": seconds,
    }


_INDEX_STYLE = """
td.name, td.verdict, th { text-align: left; }
td.clean { color: #070; }
td.fail { color: #b00; }
td.unjudged { color: #a60; }
"""


def _index_row(row: Row, directory: Path) -> str:
    name = html.escape(row.target.name)
    if row.page is not None:
        link = html.escape(row.page.relative_to(directory).as_posix(), quote=True)
        name = f"<a href='{link}'>{name}</a>"
    cls = "clean" if row.clean else "fail" if row.status == CHECKED else "unjudged"
    cells = _cells(row)[1:-1]
    return (
        f"<tr><td class='name'>{name}</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        + f"<td class='verdict {cls}'>{html.escape(row.verdict)}</td></tr>"
    )


def write_index(rows: Sequence[Row], data: dict[str, Any], directory: Path) -> Path:
    """DIR/report.json (the --json object) and DIR/index.html (the table, each target linked to
    its own report); the index's path."""
    from gradoracle.fuzz.html_report import STYLE

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    s = data["summary"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "\n".join(_index_row(row, directory) for row in rows)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>gradoracle check: {len(rows)} targets</title>"
        f"<style>{STYLE}{_INDEX_STYLE}</style></head><body>"
        f"<h1>gradoracle check: {len(rows)} targets</h1>"
        f"<p>{s['clean']} clean, {s['with_findings']} with findings, {s['not_checked']} not "
        f"checked; {data['seconds']:.0f} s. Ops: ops covered/spellings skipped. Each checked "
        "target links to its own report: every finding as code, a table and a picture.</p>"
        f"<table id='targets'><tr>{head}</tr>\n{body}</table>"
        "<p><a href='report.json'>report.json</a></p></body></html>\n"
    )
    path = directory / "index.html"
    path.write_text(page)
    return path
