"""The sampler compiles each graph's tape on the way (`Graph.trusted(..., compiled=...)`): what it
writes down must be exactly what `compile_graph`'s own pass over the nodes gives, and the inputs it
hands over what the property computes; a graph rebuilt by validation carries no cache."""

from __future__ import annotations

import pytest

from fuzz.sampler import SamplerConfig, sample_graphs
from reference.graph import COMPILED, Graph
from reference.tape import compile_graph, compile_nodes

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
    for graph in sample_graphs(17, 1500, CONFIGS[name]):
        assert COMPILED in vars(graph)
        assert compile_graph(graph) == compile_nodes(graph), graph.to_json()
        assert graph.inputs == tuple(i for i, n in enumerate(graph.nodes) if n.kind == "input")
        rebuilt = Graph(graph.nodes, graph.output)
        assert COMPILED not in vars(rebuilt) and rebuilt == graph
        assert compile_graph(rebuilt) == compile_graph(graph)


def test_the_cache_is_no_field() -> None:
    (graph,) = sample_graphs(3, 1)
    rebuilt = Graph(graph.nodes, graph.output)
    assert repr(rebuilt) == repr(graph) and hash(rebuilt) == hash(graph)
    assert Graph.from_json(graph.to_json()) == graph
