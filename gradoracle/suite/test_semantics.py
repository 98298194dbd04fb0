"""Backward-pass semantics every engine must keep, on random graphs and on explicit cases."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradoracle
from gradoracle.fuzz.strategies import graphs
from gradoracle.reference.compare import EPS
from gradoracle.reference.graph import Graph, Node, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS
from gradoracle.suite.profiles import suite_settings

# Ulps of the gradient scale two identical backward passes may drift apart by when summed.
ROUNDING_ULPS = 4.0


@pytest.fixture(scope="module")
def ops(supported: dict[str, tuple[str, ...]]) -> list[str]:
    return [name for name, op in OPS.items() if supported.get(name) == op.forms]


def path_scales(graph: Graph) -> list[float]:
    """Per input, the sum over all paths to the output of |product of local partials| (float):
    what the rounding of a gradient's summed contributions is relative to. (The comparator's
    error_scales adds how far partials move under operand errors, which overflows for huge and
    subnormal operands; a second backward pass repeats the same partials exactly.)"""
    values = node_values(graph, FLOAT)
    sens = [0.0] * len(values)
    sens[graph.output] = 1.0
    for i in range(len(values) - 1, -1, -1):
        n = graph.nodes[i]
        if n.op is None or sens[i] == 0.0:
            continue
        partials = OPS[n.op].partials(FLOAT, graph.forms[i], *(values[a] for a in n.args))
        for a, p in zip(n.args, partials, strict=True):
            if p is not None:
                sens[a] += abs(p) * sens[i]
    return [sens[i] for i in graph.inputs]


@suite_settings()
@given(data=st.data())
def test_two_backward_calls_give_twice_the_leaf_gradients(
    adapter: Any, ops: list[str], data: st.DataObject
) -> None:
    graph = data.draw(graphs(ops=ops, max_ops=10), label="graph")
    inputs, out = adapter.build(graph)
    adapter.backward(out)
    once = [adapter.grad(x) for x in inputs]
    adapter.backward(out)
    twice = [adapter.grad(x) for x in inputs]
    # The second pass adds the same contributions again, but (s + c1) + c2 need not round to 2 * s:
    # allow a few ulps of the sum of |contributions|. A gradient whose double is not finite
    # (exp(709.5): 1.4e308 twice overflows; log's slope at the smallest subnormals) gives it.
    for g1, g2, scale in zip(once, twice, path_scales(graph), strict=True):
        expected = 2 * g1
        if math.isfinite(expected):
            ok = abs(g2 - expected) <= ROUNDING_ULPS * EPS * scale
        else:
            ok = g2 == expected or (math.isnan(g2) and math.isnan(expected))
        assert ok, graph.to_snippet(adapter.import_line)


@suite_settings()
@given(data=st.data())
def test_resetting_grads_then_backward_again_gives_the_same_gradients(
    adapter: Any, ops: list[str], data: st.DataObject
) -> None:
    graph = data.draw(graphs(ops=ops, max_ops=10), label="graph")
    inputs, out = adapter.build(graph)
    adapter.backward(out)
    first = [adapter.grad(x) for x in inputs]
    for x in inputs:
        adapter.zero_grad(x)  # what Module.zero_grad does to every parameter
    adapter.backward(out)
    again = [adapter.grad(x) for x in inputs]
    assert list(map(repr, again)) == list(map(repr, first)), graph.to_snippet(adapter.import_line)


@suite_settings()
@given(data=st.data())
def test_backward_does_not_change_the_inputs(
    adapter: Any, ops: list[str], data: st.DataObject
) -> None:
    graph = data.draw(graphs(ops=ops, max_ops=10), label="graph")
    inputs, out = adapter.build(graph)
    value = adapter.data(out)
    adapter.backward(out)
    assert [adapter.data(x) for x in inputs] == list(graph.input_values)
    assert adapter.data(out) == value


def is_project_engine(adapter: Any) -> bool:
    """Whether the class is gradoracle's own engine (the `engine` package shipped beside it), not
    another project's module that happens to be called engine.py."""
    cls = getattr(adapter, "cls", None)
    try:
        where = Path(inspect.getfile(cls)).resolve().parent  # type: ignore[arg-type]
    except TypeError:  # an adapter, or a compiled class
        return False
    return where == Path(gradoracle.__file__).resolve().parents[1] / "engine"


def one_op(name: str, *values: float, form: str | None = None) -> Graph:
    form = form or "v" * len(values)
    nodes = [Node.const(v) if f == "c" else Node.input(v) for f, v in zip(form, values)]
    return Graph((*nodes, Node.apply(name, *range(len(values)))))


@pytest.mark.parametrize("x", [0.0, -0.0])
def test_relu_slope_at_its_kink_is_zero(adapter: Any, supported: dict[str, Any], x: float) -> None:
    if "relu" not in supported:
        pytest.skip("the implementation has no relu")
    outcome = adapter.run(one_op("relu", x))
    assert outcome.value == 0.0
    assert outcome.grads == (0.0,), "relu'(0) must be 0 (micrograd, PyTorch, jax.nn.relu)"


@pytest.mark.parametrize(
    ("name", "values", "error"),
    [
        ("log", (0.0,), ValueError),
        ("log", (-1.0,), ValueError),
        ("div", (1.0, 0.0), ZeroDivisionError),
        ("exp", (1000.0,), OverflowError),
    ],
)
def test_domain_errors_follow_python_floats(
    adapter: Any, supported: dict[str, Any], name: str, values: tuple[float, ...], error: type
) -> None:
    if name not in supported:
        pytest.skip(f"the implementation has no {name}")
    if not is_project_engine(adapter):
        pytest.skip("other engines may signal domain errors differently (nan, inf)")
    with pytest.raises(error, match=name if name != "div" else "/"):
        adapter.run(one_op(name, *values))


@pytest.mark.parametrize(
    ("name", "x"), [("tanh", 1000.0), ("tanh", -1000.0), ("sigmoid", 1000.0), ("sigmoid", -1000.0)]
)
def test_saturating_ops_are_stable_for_large_inputs(
    adapter: Any, supported: dict[str, Any], name: str, x: float
) -> None:
    if name not in supported:
        pytest.skip(f"the implementation has no {name}")
    outcome = adapter.run(one_op(name, x))
    expected = {"tanh": math.copysign(1.0, x), "sigmoid": 1.0 if x > 0 else 0.0}[name]
    assert outcome.value == expected
    assert outcome.grads == (0.0,)


@pytest.mark.parametrize("depth", [10**5])
def test_deep_chains_backward_without_recursion(adapter: Any, depth: int) -> None:
    nodes = [Node.input(0.5), Node.const(1.0)]
    for i in range(depth):
        nodes.append(Node.apply("add", len(nodes) - 1 if i else 0, 1))
    outcome = adapter.run(Graph(tuple(nodes)))
    assert outcome.value == 0.5 + depth
    assert outcome.grads == (1.0,)


def test_wide_fan_out_accumulates_every_use(adapter: Any) -> None:
    width = 10**5
    nodes = [Node.input(0.5), Node.apply("mul", 0, 0)]
    for _ in range(width - 1):
        nodes.append(Node.apply("add", len(nodes) - 1, 0))
    outcome = adapter.run(Graph(tuple(nodes)))
    assert outcome.grads == (pytest.approx(2 * 0.5 + (width - 1), rel=1e-12),)
