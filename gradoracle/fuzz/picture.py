"""A picture of a counterexample: the graph drawn with graphviz, wrong gradients in red.

Drawn from the graph itself, not through any engine: a record per node (its value and its
gradient, in float64 from the op registry), a small node per op. Each input also shows the
implementation's gradient beside the expected one when they disagree. The oracle never imports the
project engine (a user's folder may well hold an `engine.py` of its own).
"""

from __future__ import annotations

from pathlib import Path

from gradoracle.reference.compare import FAIL, Verdict
from gradoracle.reference.float_sweep import float_adjoints
from gradoracle.reference.graph import Graph


def _record_text(text: str) -> str:
    """Escape what structures a DOT record label (fields, ports, quotes), so text shows verbatim."""
    for ch in '\\|{}<>"':
        text = text.replace(ch, "\\" + ch)
    return text


def _float_sweep(graph: Graph) -> tuple[list[float | None], list[float | None]]:
    """Values and gradients of every node, None where float64 evaluation raises (a domain edge)."""
    try:
        values, adjoints = float_adjoints(graph)
    except (ValueError, ArithmeticError):
        return [None] * len(graph.nodes), [None] * len(graph.nodes)
    return list(values), list(adjoints)


def _shown(x: float | None) -> str:
    return "?" if x is None else f"{x:.6g}"


def render_svg(graph: Graph, verdict: Verdict, path: Path) -> Path | None:
    """Write the SVG to `path` with the suffix .svg; None when graphviz's `dot` is missing."""
    import graphviz

    values, grads = _float_sweep(graph)
    by_name = {q.name: q for q in verdict.quantities}
    dot = graphviz.Digraph(format="svg", graph_attr={"rankdir": "LR"})
    input_names = {index: f"x{index}" for index in graph.inputs}
    for i, node in enumerate(graph.nodes):
        style: dict[str, str] = {}
        if node.kind == "op":
            name = "out" if i == graph.output % len(graph.nodes) else f"n{i}"
        elif node.kind == "input":
            name = input_names[i]
        else:
            name = repr(node.value)
        grad = f"grad {_shown(grads[i])}"
        q = by_name.get(name)
        if node.kind == "input" and q is not None and q.status == FAIL:
            style = {"color": "red", "fontcolor": "red"}
            grad = f"impl grad {q.impl!r} | expected {q.jax!r}"
        label = f"{{ {_record_text(name)} | data {_shown(values[i])} | {_record_text(grad)} }}"
        dot.node(f"v{i}", label=label, shape="record", **style)
        if node.op is not None:
            dot.node(f"op{i}", label=node.op)
            dot.edge(f"op{i}", f"v{i}")
            for arg in node.args:
                dot.edge(f"v{arg}", f"op{i}")
    try:
        written = dot.render(outfile=path.with_suffix(".svg"), cleanup=True)
    except graphviz.ExecutableNotFound:
        return None
    return Path(written)
