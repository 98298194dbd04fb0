"""The JAX reference: every op and form against hand values, reuse, batching, the JVP cross-check,
padding that changes nothing, NaN that never leaks from untaken branches, one compilation per shape.

Compiling costs ~1 s per (bucket, batch size) shape, so the hand cases run as one batch in a
module-scoped fixture and the other tests reuse the few shapes that batch and single calls compile.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradoracle.reference.graph import Graph, Node, node_values
from gradoracle.reference.jax_ref import JVP_RTOL, JaxReference, JaxResult, trace_count
from gradoracle.reference.libs import FLOAT, JAX
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import (
    GRAPHS_PER_ROW,
    NOP,
    ROW,
    Bucket,
    bucket_of,
    compile_graph,
    pack,
    place,
    tangent,
)

pytestmark = pytest.mark.jax

# Hand values below are computed with `math`; JAX's float64 kernels (XLA's own exp, log, tanh, pow)
# may differ by a few ulps, and a derivative formula one more rounding. 1e-13 is ~500 ulps: any
# wrong formula, sign or factor is off by far more.
RTOL = 1e-13
# Batched and one-at-a-time runs use the same kernels on different batch shapes; vectorized and
# scalar loops may round the last bit differently, nothing more.
BATCH_RTOL = 1e-14

LN2 = math.log(2.0)
T = math.tanh(0.5)
S = 1.0 / (1.0 + math.exp(-0.5))

# (op, form, a, b, value, d/da, d/db): None for a constant operand's derivative and unary b.
Case = tuple[str, str, float, "float | None", float, "float | None", "float | None"]
CASES: list[Case] = [
    ("add", "vv", 1.5, -0.25, 1.25, 1.0, 1.0),
    ("add", "vc", 1.5, 2.0, 3.5, 1.0, None),
    ("add", "cv", 2.0, 1.5, 3.5, None, 1.0),
    ("sub", "vv", 1.5, -0.25, 1.75, 1.0, -1.0),
    ("sub", "vc", 1.5, 2.0, -0.5, 1.0, None),
    ("sub", "cv", 2.0, 1.5, 0.5, None, -1.0),
    ("mul", "vv", 1.5, -0.25, -0.375, -0.25, 1.5),
    ("mul", "vc", 1.5, 2.0, 3.0, 2.0, None),
    ("mul", "cv", 2.0, 1.5, 3.0, None, 2.0),
    ("div", "vv", 1.5, -0.25, -6.0, -4.0, -24.0),
    ("div", "vc", 1.5, 2.0, 0.75, 0.5, None),
    ("div", "cv", 2.0, 1.5, 4.0 / 3.0, None, -8.0 / 9.0),
    ("neg", "v", 1.5, None, -1.5, -1.0, None),
    ("pow", "vc", 1.5, 2.0, 2.25, 3.0, None),
    ("pow", "vc", -2.0, 3.0, -8.0, 12.0, None),  # negative base, integer exponent
    ("pow", "vc", -2.0, -1.0, -0.5, -0.25, None),
    ("pow", "vc", 4.0, 0.5, 2.0, 0.25, None),
    ("pow", "vc", 0.0, 2.0, 0.0, 0.0, None),  # zero base: k * 0**(k-1) = 0 for k = 2
    ("pow", "vc", 0.0, 1.0, 0.0, 1.0, None),  # ... and 1 for k = 1
    ("pow", "cv", 2.0, 1.5, 2.0**1.5, None, LN2 * 2.0**1.5),
    ("pow", "vv", 1.5, 2.5, 1.5**2.5, 2.5 * 1.5**1.5, math.log(1.5) * 1.5**2.5),
    ("tanh", "v", 0.5, None, T, 1.0 - T * T, None),
    ("tanh", "v", 1000.0, None, 1.0, 0.0, None),
    ("tanh", "v", -1000.0, None, -1.0, 0.0, None),
    ("exp", "v", 0.5, None, math.exp(0.5), math.exp(0.5), None),
    ("exp", "v", -800.0, None, 0.0, 0.0, None),
    ("log", "v", 0.5, None, math.log(0.5), 2.0, None),
    ("log", "v", 1e-300, None, math.log(1e-300), 1e300, None),  # near 0: huge but finite
    ("relu", "v", 1.5, None, 1.5, 1.0, None),
    ("relu", "v", -1.5, None, 0.0, 0.0, None),
    ("relu", "v", 0.0, None, 0.0, 0.0, None),  # relu'(0) = 0; jnp.maximum(x, 0) would give 0.5
    ("sigmoid", "v", 0.5, None, S, S * (1.0 - S), None),
    ("sigmoid", "v", -1000.0, None, 0.0, 0.0, None),  # exp(1000) overflows inside: no NaN
    ("sigmoid", "v", 1000.0, None, 1.0, 0.0, None),
    ("sin", "v", 0.5, None, math.sin(0.5), math.cos(0.5), None),
    ("sin", "v", 1e22, None, math.sin(1e22), math.cos(1e22), None),  # exact range reduction
    ("cos", "v", 0.5, None, math.cos(0.5), -math.sin(0.5), None),
    ("cos", "v", math.pi / 2, None, math.cos(math.pi / 2), -1.0, None),
    ("sqrt", "v", 4.0, None, 2.0, 0.25, None),
    ("sqrt", "v", 1e-300, None, 1e-150, 5e149, None),
    ("abs", "v", -2.5, None, 2.5, -1.0, None),
    ("abs", "v", 1e-300, None, 1e-300, 1.0, None),
    ("abs", "v", 0.0, None, 0.0, 0.0, None),  # abs'(0) = 0 written out, as the FLOAT/MP libs
]


def case_graph(op: str, form: str, a: float, b: float | None) -> Graph:
    """Inputs for 'v' operands and const nodes for 'c' ones, then the op on them."""
    nodes = [
        Node.input(x) if kind == "v" else Node.const(x)
        for kind, x in zip(form, (a, b))
        if x is not None
    ]
    return Graph((*nodes, Node.apply(op, *range(len(nodes)))))


def close(actual: float, expected: float, rtol: float = RTOL) -> bool:
    return actual == expected or abs(actual - expected) <= rtol * abs(expected)


def random_graph(rng: random.Random, n_ops: int, n_inputs: int = 3) -> Graph:
    """A seeded random DAG that stays inside each op's domain (by rejection; tests only)."""
    values = [rng.uniform(-2.0, 2.0) for _ in range(n_inputs)]
    nodes = [Node.input(v) for v in values]
    variables = list(range(n_inputs))
    while len(variables) - n_inputs < n_ops:
        op = OPS[rng.choice(list(OPS))]
        form = rng.choice(op.forms)
        picks = [rng.choice(variables[-4:]) if kind == "v" else -1 for kind in form]
        operands: list[float | None] = [values[i] if i >= 0 else None for i in picks]
        for slot, kind in enumerate(form):
            if kind == "c":
                operands[slot] = op.draw(
                    form, rng, slot, operands[1 - slot] if op.arity == 2 else None
                )
        if None in operands or not op.float_ok(form, *operands):  # type: ignore[arg-type]
            continue
        out = op.forward(FLOAT, *operands)
        if abs(out) > 1e6:
            continue
        for slot, kind in enumerate(form):
            if kind == "c":
                nodes.append(Node.const(operands[slot]))  # type: ignore[arg-type]
                values.append(operands[slot])  # type: ignore[arg-type]
                picks[slot] = len(nodes) - 1
        nodes.append(Node.apply(op.name, *picks))
        values.append(out)
        variables.append(len(nodes) - 1)
    return Graph(tuple(nodes))


def path_scale(graph: Graph) -> float:
    """JaxResult.jvp_scale computed independently, in Python floats with the registry's partials:
    a forward sweep of |tangent| through |local partials|. At JAX's own node values: XLA's exp and
    sin are not Python's to the last bit, and sin(6283.8...) turns a 2e-15 relative difference in
    its operand into 1e-11 in its value (one of the random graphs below); the test is about the
    sweep, not about the forward pass's conditioning."""
    values = [float(v) for v in node_values(graph, JAX)]
    size = [0.0] * len(graph.nodes)
    for i, t in zip(graph.inputs, tangent(len(graph.inputs)).tolist()):
        size[i] = abs(t)
    for i, node in enumerate(graph.nodes):
        if node.op is not None:
            op, args = OPS[node.op], node.args
            b = values[args[1]] if op.arity == 2 else None
            partials = op.partials(FLOAT, graph.forms[i], values[args[0]], b, values[i])
            size[i] = sum(abs(p) * size[a] for p, a in zip(partials, args) if p is not None)
    return size[graph.output]


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


@pytest.fixture(scope="module")
def case_results(ref: JaxReference) -> list[JaxResult]:
    return ref.evaluate([case_graph(*case[:4]) for case in CASES])


@pytest.fixture(scope="module")
def random_graphs() -> list[Graph]:
    rng = random.Random(1234)
    return [random_graph(rng, rng.choice((1, 3, 7, 12, 25, 40))) for _ in range(60)]


def test_cases_cover_every_op_and_form() -> None:
    covered = {(op, form) for op, form, *_ in CASES}
    assert covered == {(op.name, form) for op in OPS.values() for form in op.forms}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_op_value_and_derivatives(case_results: list[JaxResult], index: int) -> None:
    op, form, _, _, value, da, db = CASES[index]
    result = case_results[index]
    expected_grads = [d for d in (da, db) if d is not None]
    assert close(result.value, value), (result.value, value)
    assert len(result.grads) == len(expected_grads) == form.count("v")
    for got, want in zip(result.grads, expected_grads):
        assert close(got, want), (op, form, result.grads, expected_grads)
    assert result.jvp_consistent


def test_reuse_of_one_node(ref: JaxReference) -> None:
    x = 1.7
    square = Graph((Node.input(x), Node.apply("mul", 0, 0)))  # x * x: both operands one node
    double = Graph((Node.input(x), Node.apply("add", 0, 0)))
    # Diamond: a = 2x feeds exp and tanh, which meet again: d/dx = 2 (exp(2x) + 1 - tanh(2x)^2).
    diamond = Graph(
        (
            Node.input(x),
            Node.const(2.0),
            Node.apply("mul", 1, 0),
            Node.apply("exp", 2),
            Node.apply("tanh", 2),
            Node.apply("add", 3, 4),
        )
    )
    # Two inputs, one used twice at different depths: x * y + x.
    shared = Graph(
        (Node.input(x), Node.input(-0.5), Node.apply("mul", 0, 1), Node.apply("add", 2, 0))
    )
    r_square, r_double, r_diamond, r_shared = ref.evaluate([square, double, diamond, shared])
    assert close(r_square.value, x * x)
    assert close(r_square.grads[0], 2 * x)
    assert close(r_double.value, 2 * x)
    assert r_double.grads == (2.0,)
    t = math.tanh(2 * x)
    assert close(r_diamond.value, math.exp(2 * x) + t)
    assert close(r_diamond.grads[0], 2 * (math.exp(2 * x) + 1 - t * t))
    assert close(r_shared.value, -0.5 * x + x)
    assert close(r_shared.grads[0], 0.5)
    assert close(r_shared.grads[1], x)


def test_output_may_be_an_input_or_an_inner_node(ref: JaxReference) -> None:
    leaf = Graph((Node.input(3.0), Node.input(4.0)), output=1)  # no op at all
    inner = Graph((Node.input(3.0), Node.apply("exp", 0), Node.apply("neg", 1)), output=1)
    r_leaf, r_inner = ref.evaluate([leaf, inner])
    assert (r_leaf.value, r_leaf.grads) == (4.0, (0.0, 1.0))
    assert close(r_inner.value, math.exp(3.0))
    assert close(r_inner.grads[0], math.exp(3.0))


def test_batch_equals_one_at_a_time(ref: JaxReference, random_graphs: list[Graph]) -> None:
    batch = ref.evaluate(random_graphs)  # several buckets, results back in the given order
    assert len({compile_graph(g).bucket for g in random_graphs}) >= 3
    for graph, together in zip(random_graphs[:12], batch):
        (alone,) = ref.evaluate([graph])
        assert close(alone.value, together.value, BATCH_RTOL)
        assert len(alone.grads) == len(together.grads) == len(graph.inputs)
        for a, b in zip(alone.grads, together.grads):
            assert close(a, b, BATCH_RTOL)


def test_chunks_larger_than_the_largest_batch(random_graphs: list[Graph]) -> None:
    graphs = [g for g in random_graphs if compile_graph(g).bucket == Bucket(16, 32)][:19]
    assert len(graphs) > 3
    chunked = JaxReference(batch_sizes=(1,)).evaluate(graphs)  # 19 chunks of one graph
    whole = JaxReference(batch_sizes=(64,)).evaluate(graphs)
    for a, b in zip(chunked, whole):
        assert close(a.value, b.value, BATCH_RTOL)
        assert all(close(x, y, BATCH_RTOL) for x, y in zip(a.grads, b.grads))


@pytest.mark.parametrize(
    ("n", "chunks"),
    [(1, [1]), (2, [64]), (64, [64]), (65, [64, 64]), (108, [64, 64]), (200, [256]),
     (256, [256]), (300, [256, 64]), (513, [256, 256, 1])],
)  # fmt: skip
def test_batches_are_padded_little(n: int, chunks: list[int]) -> None:
    """Padding rows cost as much as graphs: 108 graphs run as two batches of 64, not one of 256."""
    ref = JaxReference(batch_sizes=(1, 64, 256))
    assert ref._chunks(n, Bucket(16, 32)) == chunks
    big = ref._chunks(n, Bucket(1024, 2048))  # 16 graphs of 2,048 slots fill the batch buffer
    assert set(big) <= {1, 16} and sum(big) >= n and sum(big) - n < 16
    deep = ref._chunks(n, Bucket(256, 512))  # 64 fill the buffer; a few left run alone
    assert sum(deep) >= n and set(deep) <= {1, 64}
    assert deep.count(1) == (n % 64 if n % 64 <= 16 else 0)


def test_random_graphs_are_finite_and_jvp_consistent(
    ref: JaxReference, random_graphs: list[Graph]
) -> None:
    results = ref.evaluate(random_graphs)
    for graph, result in zip(random_graphs, results):
        assert math.isfinite(result.value), graph
        assert all(map(math.isfinite, result.grads)), graph
        assert result.jvp_consistent, (result, graph.to_json())
        t = tangent(len(result.grads))
        assert close(result.jvp_dot, float(np.dot(result.grads, t)), 1e-12)
        # The scale sweep agrees with a Python one, up to rounding of the partials' formulas (JAX's
        # and the registry's differ in the last bits, and where they underflow: hence 1e-20).
        assert abs(result.jvp_scale - path_scale(graph)) <= 1e-12 * result.jvp_scale + 1e-20
        assert result.jvp_scale >= abs(result.jvp) * (1 - 1e-12)


def eager_jax(graph: Graph) -> tuple[float, tuple[float, ...]]:
    """Value and gradient by plain jax.grad through the registry's JAX formulas, one op at a time:
    no tape, no padding, no hand-written reverse sweep (slow, fine for a few graphs)."""
    import jax
    import jax.numpy as jnp

    def f(xs: Any) -> Any:
        values: list[Any] = []
        inputs = iter(range(len(graph.inputs)))
        for node in graph.nodes:
            if node.kind == "input":
                values.append(xs[next(inputs)])
            elif node.kind == "const":
                values.append(jnp.float64(node.value))
            else:
                assert node.op is not None
                values.append(OPS[node.op].forward(JAX, *(values[a] for a in node.args)))
        return values[graph.output]

    value, grads = jax.value_and_grad(f)(jnp.asarray(graph.input_values, dtype=jnp.float64))
    return float(value), tuple(float(g) for g in grads)


def test_reverse_sweep_matches_plain_jax_grad(
    ref: JaxReference, random_graphs: list[Graph]
) -> None:
    graphs = random_graphs[:: len(random_graphs) // 5]
    for graph, result in zip(graphs, ref.evaluate(graphs)):
        value, grads = eager_jax(graph)
        assert close(result.value, value, BATCH_RTOL)
        for got, want in zip(result.grads, grads, strict=True):
            assert close(got, want, BATCH_RTOL), (result.grads, grads)


def test_deep_graph(ref: JaxReference) -> None:
    """3,000 ops (tanh(w * x) repeated): the sweeps cost O(1) per step, and the answer matches
    forward-mode dual numbers in Python floats."""
    w = 0.999
    nodes = [Node.input(0.5), Node.input(w)]
    x, dx, dw = 0.5, 1.0, 0.0  # value and derivatives wrt the two inputs
    for _ in range(1500):
        nodes += [Node.apply("mul", len(nodes) - 1 if len(nodes) > 2 else 0, 1)]
        x, dx, dw = x * w, dx * w, dw * w + x
        nodes += [Node.apply("tanh", len(nodes) - 1)]
        t = math.tanh(x)
        x, dx, dw = t, dx * (1 - t * t), dw * (1 - t * t)
    (result,) = ref.evaluate([Graph(tuple(nodes))])
    assert close(result.value, x, 1e-12)
    assert close(result.grads[0], dx, 1e-11)
    assert close(result.grads[1], dw, 1e-11)
    assert result.jvp_consistent


def test_kink_distance_and_magnitude_are_reported(ref: JaxReference) -> None:
    near = Graph((Node.input(-3e-7), Node.apply("relu", 0), Node.apply("mul", 1, 0)))
    none = Graph((Node.input(-40.0), Node.apply("tanh", 0)))
    a, b = ref.evaluate([near, none])
    assert a.kink_distance == 3e-7
    assert b.kink_distance == math.inf
    assert b.magnitude == 40.0


def test_jvp_check_flags_a_disagreement(
    ref: JaxReference, random_graphs: list[Graph], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cross-check is not vacuous: a forward-mode answer off by 1e-6 relative is flagged
    wherever that is well above rounding (JVP_RTOL times the cancellation-free scale)."""
    run = ref._run

    def perturbed(*arrays: object) -> tuple[object, ...]:
        value, grads, jvp, *rest = run(*arrays)
        return (value, grads, jvp * (1.0 + 1e-6), *rest)

    graphs = [g for g in random_graphs if g.n_ops >= 7]
    honest = ref.evaluate(graphs)
    monkeypatch.setattr(ref, "_run", perturbed)
    results = ref.evaluate(graphs)
    checked = [
        r
        for h, r in zip(honest, results)
        if h.jvp_consistent and 1e-6 * abs(h.jvp) > 10 * JVP_RTOL * h.jvp_scale
    ]
    assert len(checked) >= 10
    assert not any(r.jvp_consistent for r in checked)


def test_jvp_check_allows_cancellation(ref: JaxReference) -> None:
    """y / y has a zero gradient; forward mode may round it to ~1e-20, reverse mode to exactly 0:
    still consistent, measured against the cancellation-free scale."""
    graph = Graph(
        (
            Node.input(1.3),
            Node.apply("tanh", 0),
            Node.apply("exp", 1),
            Node.apply("log", 1),
            Node.apply("div", 2, 3),
            Node.apply("div", 4, 4),
        )
    )
    (result,) = ref.evaluate([graph])
    assert close(result.value, 1.0)
    assert abs(result.grads[0]) < 1e-15
    assert result.jvp_consistent
    assert result.jvp_scale > 1.0
    assert close(result.jvp_scale, path_scale(graph), 1e-12)


def test_non_finite_results_are_returned_not_raised(ref: JaxReference) -> None:
    outside = Graph(
        (Node.input(1.0), Node.const(2.0), Node.apply("sub", 0, 1), Node.apply("log", 2))
    )  # log(-1)
    overflow = Graph((Node.input(800.0), Node.apply("exp", 0)))
    r_outside, r_overflow = ref.evaluate([outside, overflow])
    assert math.isnan(r_outside.value)
    assert not r_outside.jvp_consistent
    assert r_overflow.value == math.inf
    assert not r_overflow.jvp_consistent


def test_nan_never_leaks_from_untaken_branches(ref: JaxReference) -> None:
    """exp(800) = inf feeds an add: every untaken op of that step sees inf too (mul: d/db = a =
    inf, times a zero cotangent = NaN) unless the interpreter hides the operands from them."""
    graph = Graph(
        (Node.input(800.0), Node.input(0.5), Node.apply("exp", 0), Node.apply("add", 2, 1))
    )
    graph_zero = Graph(
        (Node.input(0.0), Node.input(0.5), Node.apply("relu", 0), Node.apply("mul", 1, 2))
    )  # log(0), 1/0 in untaken branches
    batched = ref.evaluate([graph, graph_zero])  # vmapped: every op computed, then selected
    alone = [ref.evaluate([g])[0] for g in (graph, graph_zero)]  # lax.switch: only the op taken
    assert batched == alone
    r_inf, r_zero = batched
    assert r_inf.value == math.inf
    assert r_inf.grads[1] == 1.0
    assert r_zero.value == 0.0
    assert r_zero.grads == (0.0, 0.0)


def test_padding_is_inert(ref: JaxReference, random_graphs: list[Graph]) -> None:
    """A graph padded into a much larger bucket and batch gives exactly the same answer, and the
    padding rows and steps compute nothing but finite numbers."""
    graphs = random_graphs[:5]
    compiled = [compile_graph(g) for g in graphs]
    big = Bucket(64, 128)
    tape = pack(compiled, big, 8)
    assert (tape.codes[5:] == NOP).all()
    assert (tape.dest[5:] == big.scratch).all()
    assert (tape.codes[0, compiled[0].n_ops :] == NOP).all()
    value, swept, jvp, _, _, inside = (np.asarray(x) for x in ref.interpret(tape))
    grads = swept[:, 0]
    assert inside.all()  # padding rows and steps never leave a domain
    assert np.isfinite(value).all()
    assert np.isfinite(grads).all()
    assert np.isfinite(jvp).all()
    assert (value[:, 1:] == 1.0).all()  # unused output places read ONE
    for row, (graph, expected) in enumerate(zip(graphs, ref.evaluate(graphs))):
        assert value[row, 0] == expected.value
        assert tuple(grads[row, list(graph.inputs)]) == expected.grads
        # (ONE, which unused output places name, is seeded too: no real step reads it.)
        assert grads[row, len(graph.nodes) : big.one].tolist() == [0.0] * (
            big.one - len(graph.nodes)
        )


def test_graphs_sharing_a_row_give_what_they_give_alone(
    ref: JaxReference, random_graphs: list[Graph]
) -> None:
    """Several graphs to a row (tape.place) change no bit of any result: they share no slot. One
    graph per row (batch sizes of 1 run each graph alone, unvmapped: the other code path) agrees
    within rounding."""
    graphs = [g for g in random_graphs if compile_graph(g).bucket.steps <= ROW.steps]
    compiled = [compile_graph(g) for g in graphs]
    rows = place(compiled, ROW)
    assert max(rows) + 1 < len(graphs) / 2  # really shared
    shared = ref._run_arrays(pack(compiled, ROW, max(rows) + 1, rows))
    alone = ref._run_arrays(pack(compiled, ROW, len(graphs)))
    for a, b in zip(shared, alone, strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    for one, batched in zip(
        JaxReference(batch_sizes=(1,)).evaluate(graphs[:8]), ref.evaluate(graphs)
    ):
        assert close(one.value, batched.value, BATCH_RTOL)
        assert all(close(x, y, BATCH_RTOL) for x, y in zip(one.grads, batched.grads))
        assert one.kink_distance == batched.kink_distance
        assert one.in_domain == batched.in_domain


def test_rows_are_filled_and_never_overfilled(random_graphs: list[Graph]) -> None:
    compiled = [c for c in map(compile_graph, random_graphs * 4) if c.bucket.steps <= ROW.steps]
    rows = place(compiled, ROW)
    assert sorted(set(rows)) == list(range(max(rows) + 1))
    for row in set(rows):
        members = [c for c, r in zip(compiled, rows) if r == row]
        assert sum(c.n_ops for c in members) <= ROW.steps
        assert sum(c.n_nodes for c in members) <= ROW.slots - 2
        assert len(members) <= GRAPHS_PER_ROW
    assert sum(c.n_ops for c in compiled) > 0.9 * ROW.steps * (max(rows) + 1)
    half = next(c for c in compiled if 2 * c.n_ops > c.bucket.steps)  # two do not fit its bucket
    pack([half], half.bucket, 1, [0])
    with pytest.raises(ValueError, match="does not fit"):
        pack([half, half], half.bucket, 1, [0, 0])


def test_the_jnp_maximum_pitfall_is_real() -> None:
    """Why relu is not jnp.maximum(x, 0): its derivative at 0 is 0.5 (the relu case above: 0)."""
    import jax
    import jax.numpy as jnp

    JaxReference()  # x64 on
    assert jax.grad(lambda x: jnp.maximum(x, 0.0))(0.0) == 0.5
    assert jax.grad(lambda x: OPS["relu"].forward(JAX, x))(0.0) == 0.0


def test_no_recompilation_within_a_bucket(ref: JaxReference) -> None:
    rng = random.Random(7)
    first = [random_graph(rng, 20) for _ in range(5)]
    second = [random_graph(rng, 18, n_inputs=4) for _ in range(7)]  # same bucket and batch size
    assert {compile_graph(g).bucket for g in first + second} == {bucket_of(20, 32)}
    ref.evaluate(first)
    ref.evaluate(first[:3])  # (three small graphs share one row: the unbatched shape)
    traces = trace_count()  # (counted after both shapes, whatever ran before this test)
    ref.evaluate(second)
    ref.evaluate(first[:3][::-1])
    assert trace_count() == traces
    odd = JaxReference(batch_sizes=(3,))  # a batch size nothing else uses: a new shape
    odd.evaluate(first[:2])
    odd.evaluate(second[:3])
    assert trace_count() == traces + 1


def test_empty_input() -> None:
    assert JaxReference().evaluate([]) == []


def test_batch_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_sizes"):
        JaxReference(batch_sizes=(0, 8))


def test_buckets_are_powers_of_two() -> None:
    assert bucket_of(1, 2) == Bucket(16, 32)
    assert bucket_of(17, 30) == Bucket(32, 64)
    assert bucket_of(30, 46) == Bucket(32, 64)
    assert bucket_of(33, 40) == Bucket(64, 128)
    assert bucket_of(8, 80) == Bucket(16, 128)  # many leaves: slots grow on their own


def test_pack_rejects_a_graph_that_does_not_fit() -> None:
    graph = Graph((Node.input(1.0), *(Node.apply("neg", i) for i in range(9))))
    with pytest.raises(ValueError, match="does not fit"):
        pack([compile_graph(graph)], Bucket(8, 16), 1)


@pytest.mark.slow
def test_compilation_cache_persists_across_processes(tmp_path: Path) -> None:
    script = (
        "from gradoracle.reference.graph import Graph, Node\n"
        "from gradoracle.reference.jax_ref import JaxReference, use_compilation_cache\n"
        f"use_compilation_cache({str(tmp_path)!r})\n"
        "graph = Graph((Node.input(0.5), Node.apply('tanh', 0)))\n"
        "print(JaxReference().evaluate([graph])[0].value)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert all(close(float(r.stdout), math.tanh(0.5)) for r in runs)
    assert any(tmp_path.iterdir())  # the first run wrote the compiled interpreter


# Operands where domains end and floats overflow: the domain flag's test points. (Not subnormals:
# JAX on CPU flushes them to 0, so its flag says log(5e-324) is outside; compare() then asks
# Python's floats, see tests/reference/test_compare.py.)
EDGES = (0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 1.5, -1.5, 1e-300, -1e-300, 1e300, -1e300)


def test_the_domain_flag_is_the_registrys_domain(ref: JaxReference) -> None:
    """JaxResult.in_domain is Op.in_domain at the float64 node values: every op and form at
    operands where domains end, and a non-finite operand (1e300 * 1e300 overflows) is outside."""
    graphs, expected = [], []
    for op in OPS.values():
        for form in op.forms:
            for a in EDGES:
                for b in EDGES if op.arity == 2 else (None,):
                    leaves = [
                        Node("const" if f == "c" else "input", v) for f, v in zip(form, (a, b))
                    ]
                    graphs.append(Graph((*leaves, Node.apply(op.name, *range(len(form))))))
                    expected.append(op.in_domain(form, a, b))
    x, op_ = Node.input, Node.apply
    for name in ("tanh", "log", "relu", "neg"):
        graphs.append(Graph((x(1e300), op_("mul", 0, 0), op_(name, 1))))  # an inf operand
        expected.append(False)
    graphs.append(Graph((x(1e300), op_("mul", 0, 0))))  # only the output overflows: inside
    expected.append(True)
    got = [r.in_domain for r in ref.evaluate(graphs)]
    wrong = [g.to_json() for g, e, k in zip(graphs, expected, got, strict=True) if e != k]
    assert not wrong and sum(expected) > 1000 and len(expected) - sum(expected) > 300


@pytest.mark.parametrize("x", [7.0, 12.0, -15.0, 19.5, 30.0, 300.0])
def test_tanh_slope_keeps_its_precision_where_tanh_saturates(ref: JaxReference, x: float) -> None:
    """JAX's own rule, 1 - tanh(x)**2, loses digits as tanh nears 1 (2e-8 relative at 12) and is 0
    past 19; the reference's slope is sech(x)**2 to a few ulps, as mpmath says."""
    import mpmath

    (result,) = ref.evaluate([case_graph("tanh", "v", x, None)])
    with mpmath.workdps(40):
        exact = float(1 / mpmath.cosh(mpmath.mpf(x)) ** 2)
    assert exact > 0.0
    assert abs(result.grads[0] - exact) <= 4 * math.ulp(exact), (result.grads[0], exact)


def test_per_graph_reductions_take_a_stepless_graph_at_the_very_end() -> None:
    """A graph with no steps packed after a full last row begins where the flat array ends (it
    crashed `check` with IndexError from reduceat once); graphs with steps keep their runs."""
    from gradoracle.reference.tape_kernel import _runs

    per_row = np.array([[5.0, 3.0, 9.0, 1.0], [7.0, 2.0, 8.0, 6.0]])
    starts, sizes = np.array([0, 2, 2, 8]), np.array([2, 0, 6, 0])
    got = np.full(4, math.inf)
    _runs(got, per_row.reshape(-1), starts, sizes, False)
    assert got.tolist() == [3.0, math.inf, 1.0, math.inf]
