"""The shrinker keeps the type of every number: ints simplify to simpler ints, floats to simpler
floats, and an int becomes the equal float only where the failure does not need the int."""

from __future__ import annotations

from gradoracle.fuzz.shrink import SIMPLE_INTS, SIMPLEST_FIRST, candidates, shrink
from gradoracle.reference.graph import Graph, Node

x, k, op = Node.input, Node.const, Node.apply


def has_int_constant(graph: Graph) -> bool:
    return any(n.kind == "const" and type(n.value) is int for n in graph.nodes)


def test_an_int_the_failure_needs_stays_an_int_and_gets_simpler() -> None:
    graph = Graph((x(0.7), k(7), op("mul", 0, 1), x(1.3), op("add", 2, 3)))
    shrunk = shrink(graph, has_int_constant)
    assert shrunk == Graph((x(1.0), k(1), op("mul", 0, 1)))
    assert "v2 = x0 * 1\n" in shrunk.to_snippet()


def test_an_int_the_failure_does_not_need_becomes_a_float() -> None:
    graph = Graph((x(3), k(2), op("pow", 0, 1)))
    shrunk = shrink(graph, lambda g: any(n.op == "pow" for n in g.nodes))
    assert shrunk == Graph((x(1.0), k(1.0), op("pow", 0, 1)))
    assert [type(n.value) for n in shrunk.nodes[:2]] == [float, float]


def test_floats_are_never_made_ints() -> None:
    graph = Graph((x(2.0), k(3.0), op("pow", 0, 1)))
    for candidate in candidates(graph):
        assert not any(type(n.value) is int for n in candidate.nodes), candidate


def test_ints_are_simplified_to_ints_first() -> None:
    graph = Graph((x(0.5), k(7), op("add", 0, 1)))
    replaced = [c.nodes[1].value for c in candidates(graph) if len(c.nodes) == 3 and
                c.nodes[1] != graph.nodes[1] and c.nodes[0] == graph.nodes[0]]  # fmt: skip
    assert replaced[: len(SIMPLE_INTS)] == list(SIMPLE_INTS)
    assert all(type(v) is int for v in replaced[: len(SIMPLE_INTS)])
    assert tuple(int(v) for v in SIMPLEST_FIRST if v.is_integer()) == SIMPLE_INTS
    assert replaced[len(SIMPLE_INTS)] == 7.0 and type(replaced[len(SIMPLE_INTS)]) is float
