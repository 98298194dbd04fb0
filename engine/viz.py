"""Draw an expression graph with graphviz, as the notebook the project grew from does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.engine import Value

if TYPE_CHECKING:
    import graphviz


def trace(root: Value) -> tuple[list[Value], list[tuple[Value, Value]]]:
    """Every node below ``root`` and every (operand, result) edge, found without recursion."""
    nodes: list[Value] = []
    edges: list[tuple[Value, Value]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        for child in (node._a, node._b):
            if child is not None:
                edges.append((child, node))
                stack.append(child)
    return nodes, edges


def _record_text(text: str) -> str:
    """Escape what structures a DOT record label (fields, ports, quotes), so text shows verbatim."""
    for ch in '\\|{}<>"':
        text = text.replace(ch, "\\" + ch)
    return text


def draw_dot(
    root: Value, rankdir: str = "LR", highlight: frozenset[int] = frozenset()
) -> graphviz.Digraph:
    """A graphviz Digraph of the graph below ``root``: a record per value, a small node per op.

    ``highlight`` holds ``id()``s of values to draw in red (e.g. those with a wrong gradient).
    """
    import graphviz  # only here: ``import engine`` needs no third-party package

    dot = graphviz.Digraph(format="svg", graph_attr={"rankdir": rankdir})
    nodes, edges = trace(root)
    for n in nodes:
        uid = str(id(n))
        style = {"color": "red", "fontcolor": "red"} if id(n) in highlight else {}
        label = f"{{ {_record_text(n.label)} | data {n.data:.4f} | grad {n.grad:.4f} }}"
        dot.node(name=uid, label=label, shape="record", **style)
        if n._op:
            dot.node(name=uid + n._op, label=n._op)
            dot.edge(uid + n._op, uid)
    for child, parent in edges:
        dot.edge(str(id(child)), str(id(parent)) + parent._op)
    return dot
