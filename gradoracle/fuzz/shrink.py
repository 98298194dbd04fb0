"""A reducer over the Graph IR: the smallest graph that still shows a finding.

Greedy passes, repeated until none makes progress: move the output to an earlier node, bypass an op
(its consumers use one of its operands instead), cut a subgraph (an op node becomes an input with
the same value), merge two inputs, and simplify constants and input values (toward 1, 2, 0.5, ...).
Numbers keep their type: an int is simplified to simpler ints, a float to simpler floats; last, an
int becomes the equal float if the graph still fails so (then the int did not matter, and what is
left as an int in a shrunk graph is an int the failure needs).
Every candidate is a valid Graph; `still_fails` decides whether it keeps the bug. Dead nodes are
pruned after each step, so the result never carries nodes the output does not depend on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

from gradoracle.reference.graph import Graph, GraphError, Node, node_values
from gradoracle.reference.libs import FLOAT

# The shrinker's ranking of numbers, simplest first (what a constant or an input is simplified
# toward). Not fuzz.strategies.SIMPLEST_FIRST: those are the inputs hypothesis draws and shrinks to.
SIMPLEST_FIRST = (1.0, 2.0, 0.5, -1.0, 3.0, -2.0, 0.25, 1.5)
SIMPLE_INTS = tuple(int(v) for v in SIMPLEST_FIRST if v.is_integer())  # ranked as their floats


def prune(nodes: list[Node], output: int) -> Graph:
    """The graph of `nodes` restricted to what `output` depends on, renumbered in order."""
    keep = [False] * len(nodes)
    keep[output] = True
    for i in range(output, -1, -1):
        if keep[i]:
            for a in nodes[i].args:
                keep[a] = True
    index: dict[int, int] = {}
    kept: list[Node] = []
    for i, node in enumerate(nodes):
        if keep[i]:
            index[i] = len(kept)
            kept.append(Node(node.kind, node.value, node.op, tuple(index[a] for a in node.args)))
    return Graph(tuple(kept), index[output])


def _substitute(graph: Graph, old: int, new: int) -> Graph:
    """Every use of node `old` becomes a use of node `new` (an earlier node)."""
    nodes = [
        Node(n.kind, n.value, n.op, tuple(new if a == old else a for a in n.args))
        for n in graph.nodes
    ]
    return prune(nodes, new if graph.output == old else graph.output)


def _replace(graph: Graph, index: int, node: Node) -> Graph:
    nodes = list(graph.nodes)
    nodes[index] = node
    return prune(nodes, graph.output)


def candidates(graph: Graph) -> Iterator[Graph]:
    """Smaller or simpler variants of `graph`, most aggressive first."""
    nodes = graph.nodes
    variables = [i for i, n in enumerate(nodes) if n.kind != "const"]
    for i in variables:  # an earlier output drops everything after it
        if i < graph.output:
            yield prune(list(nodes), i)
    for i, n in enumerate(nodes):  # bypass an op
        if n.kind == "op":
            for a in dict.fromkeys(n.args):
                if nodes[a].kind != "const":
                    yield _substitute(graph, i, a)
    try:
        values = node_values(graph, FLOAT)
    except (ValueError, ArithmeticError):
        values = []
    for i, n in enumerate(nodes):  # cut: an op node becomes an input holding its value
        if n.kind == "op" and values and math.isfinite(values[i]) and i != graph.output:
            yield _replace(graph, i, Node("input", float(values[i])))
    inputs = graph.inputs
    for k, i in enumerate(inputs):  # merge two inputs
        for j in inputs[:k]:
            yield _substitute(graph, i, j)
    for i, n in enumerate(nodes):  # simpler numbers, of the same type
        if n.kind != "op":
            assert n.value is not None
            if type(n.value) is int:
                for simple_int in SIMPLE_INTS:
                    if _rank(simple_int) < _rank(n.value):
                        yield _replace(graph, i, Node(n.kind, simple_int))
                continue
            for simple in SIMPLEST_FIRST[: _rank(n.value)]:
                yield _replace(graph, i, Node(n.kind, simple))
            rounded = float(round(n.value, 1))
            if rounded != n.value:
                yield _replace(graph, i, Node(n.kind, rounded))
    for i, n in enumerate(nodes):  # an int that the failure does not need becomes its float
        if type(n.value) is int:
            yield _replace(graph, i, Node(n.kind, float(n.value)))


def _rank(value: float) -> int:
    """How simple a number is: its place in SIMPLEST_FIRST (an int: its float's), after all of
    them if not there."""
    return SIMPLEST_FIRST.index(value) if value in SIMPLEST_FIRST else len(SIMPLEST_FIRST)


def _size(graph: Graph) -> tuple[int, int, int, int, int]:
    """What shrinking decreases, most important first: ops, nodes, numbers not simple, how far
    down SIMPLEST_FIRST the numbers are, and ints (an int is the equal float plus a type)."""
    values = [n.value for n in graph.nodes if n.value is not None]
    complex_values = sum(v not in SIMPLEST_FIRST for v in values)
    ints = sum(type(v) is int for v in values)
    return (graph.n_ops, len(graph.nodes), complex_values, sum(map(_rank, values)), ints)


def shrink(graph: Graph, still_fails: Callable[[Graph], bool], deadline: float = math.inf) -> Graph:
    """The smallest variant of `graph` found before `deadline` (a time.monotonic() value)."""
    best = graph
    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        for candidate in candidates(best):
            if time.monotonic() >= deadline:
                break
            if _size(candidate) >= _size(best):
                continue
            try:
                failing = still_fails(candidate)
            except GraphError:
                failing = False
            if failing:
                best = candidate
                progress = True
                break
    return best
