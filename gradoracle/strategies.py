"""Hypothesis strategies for random expression graphs, for other projects' test suites.

    from hypothesis import given
    from gradoracle.strategies import graphs

    @given(graphs(ops=["add", "mul", "tanh"], max_ops=10))
    def test_my_engine(graph):
        ...   # graph.nodes, graph.inputs, graph.input_values, graph.to_snippet()

A drawn `Graph` (gradoracle.reference.graph) is a DAG: leaves (inputs and constants) and ops
naming earlier nodes, one output; nodes are reused, often as both operands of one op, which is
what catches an engine that overwrites gradients instead of accumulating them. Every operand lies
inside its op's domain and away from kinks, so every draw is a fair test. `Graph.to_snippet()`
writes it as micrograd code; `gradoracle.reference.graph.build(graph, Value)` builds it with any
micrograd-shaped class.

- `graphs(ops=None, *, max_ops=20, max_inputs=4, ...)`: random DAGs over the op registry.
- `input_values(*, wide=False, min_value=None, max_value=None)`: leaf values, shrinking to 0.5.
- `ops_subset(ops=None, min_size=1)`: subsets of op names, to compose with `graphs`:
  `ops_subset().flatmap(lambda ops: graphs(ops=ops))`.
- `target_graph(graph, grads=None)`: inside a `@given` test, steer hypothesis toward deeper
  graphs, more shared nodes and larger gradients.
- `OP_NAMES`: the registry's op names, in order (`add`, `sub`, `mul`, ...).

Importing this module imports hypothesis and the sampler (numba), not JAX.
"""

from __future__ import annotations

from gradoracle.fuzz.strategies import graphs, input_values, ops_subset, target_graph
from gradoracle.reference.graph import Graph
from gradoracle.reference.ops import OPS

OP_NAMES: tuple[str, ...] = tuple(OPS)

__all__ = ["OP_NAMES", "Graph", "graphs", "input_values", "ops_subset", "target_graph"]
