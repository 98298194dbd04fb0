"""The sampler writes each graph down as its tape only (`Graph.compiled_later`: made from the
batch's arrays when first asked for): what it writes must be exactly what `compile_graph`'s own
pass over the nodes gives, the nodes and forms derived from it what validation gives, and the
inputs what the property computes; a graph rebuilt by validation carries no cache."""

from __future__ import annotations

import copy
import pickle

import pytest

from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.reference.graph import COMPILED, Graph
from gradoracle.reference.tape import CompiledGraph, compile_graph, compile_nodes

CONFIGS = {
    "default": SamplerConfig(),
    "big": SamplerConfig(min_ops=40, max_ops=90, max_inputs=8),
    "one input": SamplerConfig(min_inputs=1, max_inputs=1),
    "constants": SamplerConfig(const=0.9, same_operand=0.5),
    "unary": SamplerConfig(ops=("tanh", "exp", "log", "relu", "neg", "sigmoid", "add")),
    "no fold": SamplerConfig(ops=("tanh", "exp", "pow", "relu"), forms={"pow": ("cv",)}),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sampled_tapes_equal_compiled_ones(name: str) -> None:
    graphs = sample_graphs(17, 1500, CONFIGS[name])
    assert not any({"nodes", COMPILED} & set(vars(graph)) for graph in graphs)
    for graph in graphs:
        assert "nodes" not in vars(graph)
        compiled = compile_graph(graph)
        assert COMPILED in vars(graph) and "nodes" not in vars(graph)
        assert compiled == compile_nodes(graph), graph.to_json()
        assert type(compile_graph(graph)) is CompiledGraph  # (a plain tuple compares equal too)
        assert graph.output == compile_nodes(graph).output
        assert graph.inputs == tuple(i for i, n in enumerate(graph.nodes) if n.kind == "input")
        rebuilt = Graph(graph.nodes, graph.output)
        assert COMPILED not in vars(rebuilt) and rebuilt == graph
        assert rebuilt.forms == graph.forms
        assert compile_graph(rebuilt) == compile_graph(graph)


def test_the_cache_is_no_field() -> None:
    (graph,) = sample_graphs(3, 1)
    rebuilt = Graph(graph.nodes, graph.output)
    assert repr(rebuilt) == repr(graph) and hash(rebuilt) == hash(graph)
    assert Graph.from_json(graph.to_json()) == graph


def test_nodes_are_derived_once_and_the_graph_behaves_like_any_other() -> None:
    (graph,) = sample_graphs(8, 1, SamplerConfig(min_ops=10))
    assert not {"nodes", "forms"} & set(vars(graph))
    nodes = graph.nodes
    assert graph.nodes is nodes and "forms" in vars(graph)  # made once, both together
    for other in (pickle.loads(pickle.dumps(graph)), copy.deepcopy(graph), copy.copy(graph)):
        assert other == graph and other.forms == graph.forms
    (fresh,) = sample_graphs(8, 1, SamplerConfig(min_ops=10))
    assert pickle.loads(pickle.dumps(fresh)) == graph  # pickled before its nodes were derived
    assert hash(fresh) == hash(graph) and fresh == Graph(graph.nodes)


def test_a_missing_attribute_is_still_an_attribute_error() -> None:
    (graph,) = sample_graphs(8, 1)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        graph.nope  # noqa: B018
    assert not hasattr(Graph(graph.nodes), "nope")
