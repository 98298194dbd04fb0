"""A picture of a counterexample: the graph drawn with `engine.draw_dot`, wrong gradients in red.

The graph is rebuilt with the project engine (for the forward values and the correct interior
gradients); each input then shows the implementation's gradient, with the reference's beside it when
they disagree.
"""

from __future__ import annotations

from pathlib import Path

from engine import Value, draw_dot
from reference.compare import FAIL, Verdict
from reference.graph import Graph, build


def render_svg(graph: Graph, verdict: Verdict, path: Path) -> Path | None:
    """Write the SVG to `path` with the suffix .svg; None when graphviz's `dot` is missing."""
    import graphviz

    inputs, out = build(graph, Value)
    out.backward()
    wrong: set[int] = set()
    by_name = {q.name: q for q in verdict.quantities}
    for index, leaf in zip(graph.inputs, inputs, strict=True):
        name = f"x{index}"
        leaf.label = name
        q = by_name.get(name)
        if q is not None and q.status == FAIL:
            wrong.add(id(leaf))
            leaf.label = f"{name}: impl grad {q.impl!r}, expected {q.jax!r}"
    if isinstance(out, Value):
        out.label = "out"
    dot = draw_dot(out, highlight=frozenset(wrong))
    try:
        written = dot.render(outfile=path.with_suffix(".svg"), cleanup=True)
    except graphviz.ExecutableNotFound:
        return None
    return Path(written)
