"""`--report DIR`: an HTML page with every finding (snippet, table, picture), and the JSON."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from gradoracle.fuzz.adapters import Adapter
from gradoracle.fuzz.check import CheckResult
from gradoracle.fuzz.findings import Finding
from gradoracle.fuzz.picture import render_svg
from gradoracle.fuzz.report import (
    count_note,
    finite_differences,
    interrupted_lines,
    missing_impl,
    result_json,
    snippet_of,
    spellings_used,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; font-family: monospace; text-align: right; }
td.fail { color: #b00; font-weight: bold; }
td.unjudged { color: #777; }
.picture svg { max-width: 100%; height: auto; }
"""


def _number(x: float | None, missing: str = "-") -> str:
    return missing if x is None else f"{x:.17g}"


def _table(finding: Finding) -> str:
    fd = finite_differences(finding.graph)
    rows = [
        "<tr><th>quantity</th><th>implementation</th><th>JAX</th><th>finite difference</th>"
        "<th>exact</th><th>verdict</th></tr>"
    ]
    missing = missing_impl(finding.verdict)
    for q in finding.verdict.quantities:
        cls = {"fail": ' class="fail"', "not comparable": ' class="unjudged"'}.get(q.status, "")
        impl = _number(q.impl, missing)
        cells = [q.name, impl, _number(q.jax), _number(fd.get(q.name)), _number(q.truth)]
        rows.append(
            "<tr>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + f"<td{cls}>{html.escape(q.status)}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _finding_html(n: int, finding: Finding, adapter: Adapter, directory: Path) -> str:
    snippet = snippet_of(finding, adapter)
    parts = [
        f"<h2 id='finding-{n}'>Finding {n}: {html.escape(finding.category)}</h2>",
        f"<p>{html.escape(finding.verdict.reason + count_note(finding))}</p>",
        f"<pre>{html.escape(snippet)}</pre>",
    ]
    if finding.verdict.quantities:
        parts.append(_table(finding))
    if not finding.snippet and finding.graph.n_ops <= 60:
        svg = render_svg(finding.graph, finding.verdict, directory / f"finding-{n}")
        if svg is not None:
            parts.append(f"<div class='picture'>{svg.read_text()}</div>")
    return "\n".join(parts)


def write_report(result: CheckResult, adapter: Adapter, directory: Path) -> Path:
    """Write DIR/report.html and DIR/report.json; return the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = result_json(result, adapter)
    (directory / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    s = result.stats
    summary = (
        f"<p>{s.graphs_checked} graphs checked (seed {result.seed}), {s.not_comparable} not "
        f"comparable, {len(result.findings)} findings. Ops covered: "
        f"{html.escape(', '.join(result.supported) or 'none')}; skipped: "
        f"{html.escape(', '.join(result.skipped) or 'none')}.</p>"
    )
    summary += "".join(
        f"<p><strong>{html.escape(line)}</strong></p>" for line in interrupted_lines(result)
    )
    used = spellings_used(adapter)
    if used is not None:  # the names the snippets below call, beside micrograd's
        shown = ", ".join(f"{key}: {name}" for key, name in used.items())
        summary += f"<p>Spellings used: <code>{html.escape(shown)}</code>.</p>"
    body = "\n".join(
        _finding_html(n, f, adapter, directory) for n, f in enumerate(result.findings, 1)
    )
    none = "<p>No findings.</p>" if result.interrupted is None else ""  # not a verdict: said above
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>gradoracle check {html.escape(result.impl)}</title><style>{STYLE}</style>"
        f"</head><body><h1>gradoracle check {html.escape(result.impl)}</h1>{summary}"
        f"{body or none}<p><a href='report.json'>report.json</a></p>"
        "</body></html>\n"
    )
    path = directory / "report.html"
    path.write_text(page)
    return path
