"""The battery's chains made from their flat lists (fuzz.battery_graphs.chain_lists) are the chains
it made node by node before: the same nodes, forms, leaf types and compiled lists, and the engine
gives the same answers on them."""

from __future__ import annotations

import pytest

from gradoracle.fuzz import battery_worker
from gradoracle.fuzz.adapters import load_adapter
from gradoracle.fuzz.battery import DIAMOND_LEVELS, FAN_OUT, _chain_compiled
from gradoracle.fuzz.battery_graphs import (
    START,
    chain,
    chain_lists,
    chain_to_run,
    chainable,
    fan_out,
    stacked_diamonds,
)
from gradoracle.fuzz.probe import INT, Spelling, all_spellings
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import compile_nodes

SPELLINGS = [s for s in all_spellings() if chainable(s, all_spellings())]
DEPTHS = (0, 1, 2, 7)


def _step_by_nodes(
    spelling: Spelling, y: int, x: int | None, nodes: list[Node], forms: list[str]
) -> int:
    """The battery's chain step as it was written node by node (the reference for this file)."""
    one: float = 1 if spelling.const == INT else 1.0
    name, form = spelling.op, spelling.form
    op = Node.trusted
    if form == "v":
        nodes.append(op("op", None, name, (y,)))
        forms.append("v")
        partner = OPS[name].chain_partner
        if partner:
            nodes.append(op("op", None, partner, (len(nodes) - 1,)))
            forms.append("v")
        return len(nodes) - 1
    if form == "vv":
        assert x is not None
        nodes.append(op("op", None, name, (y, x)))
        forms.append(form)
        return len(nodes) - 1
    nodes.append(op("const", one))
    forms.append("")
    k = len(nodes) - 1
    nodes.append(op("op", None, name, (y, k) if form == "vc" else (k, y)))
    forms.append(form)
    return len(nodes) - 1


def chain_by_nodes(spelling: Spelling, depth: int) -> Graph:
    nodes = [Node.trusted("input", START)]
    forms = [""]
    x = None
    if spelling.form == "vv":
        nodes.append(Node.trusted("input", 1.0))
        forms.append("")
        x = 1
    y = 0
    for _ in range(depth):
        y = _step_by_nodes(spelling, y, x, nodes, forms)
    return Graph.trusted(tuple(nodes), y, tuple(forms))


def typed(graph: Graph) -> list[tuple[object, ...]]:
    """The nodes with their values' types: 1 == 1.0, but an int constant is another spelling."""
    return [(n.kind, type(n.value), n.value, n.op, n.args) for n in graph.nodes]


def test_the_spellings_cover_every_form_and_an_int_constant() -> None:
    assert {s.form for s in SPELLINGS} == {"v", "vv", "vc", "cv"}
    assert any(s.const == INT for s in SPELLINGS)
    assert any(OPS[s.op].chain_partner for s in SPELLINGS if s.form == "v")


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
def test_chains_from_their_lists_are_the_chains_made_node_by_node(spelling: Spelling) -> None:
    for depth in DEPTHS:
        old = chain_by_nodes(spelling, depth)
        expected = compile_nodes(old)
        for graph in (chain(spelling, depth), chain_to_run(spelling, depth)):
            assert graph == old
            assert typed(graph) == typed(old)
            assert graph.forms == old.forms and graph.inputs == old.inputs
            assert graph.output == old.output
        lists = chain_lists(spelling, depth)
        assert tuple(lists) == tuple(expected)[:6]
        assert [type(v) for v in lists.leaf_values] == [type(v) for v in expected.leaf_values]
        assert chain_to_run(spelling, depth).flat() == tuple(expected)[:6]
        assert _chain_compiled(spelling, depth).compiled() == expected


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
def test_the_engine_answers_the_same_on_a_chain_built_from_its_lists(spelling: Spelling) -> None:
    """Built from the lists (build_from_steps, as random graphs are) or from the nodes (build):
    the same objects, the same value and gradients, bit for bit."""
    adapter = load_adapter("engine:Value")
    for depth in (1, 2, 50):
        by_lists = battery_worker.run_graph(adapter, chain_to_run(spelling, depth))
        by_nodes = battery_worker.run_graph(adapter, chain_by_nodes(spelling, depth))
        # (repr: -0.0 and nan told apart, as == would not)
        assert repr([by_lists[0], *by_lists[1]]) == repr([by_nodes[0], *by_nodes[1]])


@pytest.mark.parametrize("name", ["add", "mul", "sub", "div", "pow"])
def test_fan_out_and_diamonds_built_unchecked_are_the_validated_graphs(name: str) -> None:
    """Made with Node.trusted and Graph.trusted, they equal what validating their nodes gives:
    the same nodes (and value types), output and forms."""
    made = [fan_out(name, width) for width in (1, 2, 3, 5, 8, 9, FAN_OUT)]
    made += [stacked_diamonds(name, levels) for levels in (0, 1, 2, DIAMOND_LEVELS)]
    for graph in made:
        checked = Graph(graph.nodes, graph.output)
        assert graph == checked
        assert typed(graph) == typed(checked)
        assert graph.forms == checked.forms and graph.output == checked.output
