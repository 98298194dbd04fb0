"""What a failing property shows: the minimal graph as a runnable snippet, a per-leaf table, and an
SVG of the graph with the wrong gradients in red."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from gradoracle.fuzz.picture import render_svg
from gradoracle.fuzz.report import finite_differences, quantity_table
from gradoracle.reference.compare import Verdict
from gradoracle.reference.graph import Graph

PICTURES = Path(os.environ.get("GRADORACLE_PICTURES", tempfile.gettempdir())) / "gradoracle"


def explain(graph: Graph, verdict: Verdict, adapter: Any) -> str:
    snippet = graph.to_snippet(adapter.import_line, adapter.class_name)
    table = quantity_table(verdict.quantities, finite_differences(graph))
    where = picture(graph, verdict)
    return (
        f"{adapter.name}: {verdict.reason}\n\n{snippet}\n{table}\n\npicture: {where}\n"
        f"graph JSON: {graph.to_json()}"
    )


def picture(graph: Graph, verdict: Verdict) -> str:
    """Where the SVG went, or why there is none: a project that installed gradoracle[fuzz] alone
    has no graphviz package, and a machine may lack graphviz's `dot`."""
    try:
        PICTURES.mkdir(parents=True, exist_ok=True)
        path = render_svg(graph, verdict, PICTURES / f"finding-{abs(hash(graph.to_json())):x}")
    except ImportError:
        return "(the graphviz package is not installed: no picture; pip install 'gradoracle[viz]')"
    return str(path) if path else "(graphviz's dot is not installed: no picture)"
