"""The interpreter that evaluates each op only on its own lanes (reference.interpreter) gives, bit
for bit, what the interpreter before it gave: that one computed every op of the registry at every
step of every row and selected the op taken. `_before_interpreter` below is that code, kept
verbatim as the specification. (NaN is compared as NaN: its sign and payload mean nothing.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest
from sampler_configs import CONFIGS

from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.interpreter import (
    SAFE_OPERAND,
    _branches,
    _domains,
    lane_bounds,
    lane_width,
    schedule,
)
from gradoracle.reference.jax_ref import JaxReference
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import (
    OP_NAMES,
    ROW,
    FlatGraphs,
    Tape,
    compile_graph,
    pack,
    tapes,
)

pytestmark = pytest.mark.jax


@cache
def _before_interpreter() -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp
    from jax import lax

    branches = _branches()
    kinks = [OPS[name].kinks[0] if OPS[name].kinks else None for name in OP_NAMES]
    kink_side = jnp.array([k.operand if k else -1 for k in kinks] + [-1], dtype=jnp.int32)
    kink_at = jnp.array([k.at if k else 0.0 for k in kinks] + [0.0], dtype=jnp.float64)

    domains = _domains()

    def in_domain(code: Any, a: Any, b: Any, a_const: Any, b_const: Any) -> Any:
        ok = jnp.isfinite(a) & jnp.isfinite(b)
        for name, domain in domains.items():
            ok = ok & jnp.where(code == OP_NAMES.index(name), domain(a, b, a_const, b_const), True)
        return ok

    def select_op(code: Any, a: Any, b: Any) -> Any:
        results = []
        for k, fn in enumerate(branches):
            taken = code == k
            results.append(fn(jnp.where(taken, a, SAFE_OPERAND), jnp.where(taken, b, SAFE_OPERAND)))
        return lax.select_n(code, *results)

    def switch_op(code: Any, a: Any, b: Any) -> Any:
        return lax.switch(code, branches, a, b)

    def one(
        apply_op: Callable[..., Any], values: Any, tangents: Any, program: Any, output: Any
    ) -> tuple[Any, ...]:
        codes, left, right, dest = program.T

        def forward(carry: Any, op: tuple[Any, ...]) -> tuple[Any, tuple[Any, Any]]:
            buf, tan = carry
            code, a, b, d = op
            out, vjp = jax.vjp(lambda x, y: apply_op(code, x, y), buf[a], buf[b])
            partial_a, partial_b = vjp(jnp.ones_like(out))
            tangent = partial_a * tan[a] + partial_b * tan[b]
            return (buf.at[d].set(out), tan.at[d].set(tangent)), (partial_a, partial_b)

        (final, final_tangents), (partials_a, partials_b) = lax.scan(
            forward, (values, tangents), (codes, left, right, dest)
        )

        def backward(carry: Any, op: tuple[Any, ...]) -> tuple[Any, None]:
            a, b, d, partial_a, partial_b = op
            update = carry[:, d][:, None] * jnp.stack([partial_a, partial_b])[None, :]
            update = update.at[1].set(jnp.abs(update[1]))
            return carry.at[:, jnp.stack([a, b])].add(update), None

        at_kink = jnp.abs(
            jnp.where(kink_side[codes] == 0, final[left], final[right]) - kink_at[codes]
        )
        kinks = jnp.where(kink_side[codes] >= 0, at_kink, jnp.inf)
        written = jnp.zeros(values.shape[0], dtype=bool).at[dest].set(True)
        constant = ~written & (tangents == 0.0)
        inside = in_domain(codes, final[left], final[right], constant[left], constant[right])

        seed = jnp.zeros((2, values.shape[0]), values.dtype).at[:, output].set(1.0)
        steps = (left, right, dest, partials_a, partials_b)
        swept, _ = lax.scan(backward, seed, steps, reverse=True)
        return final[output], swept, final_tangents[output], kinks, jnp.abs(final), inside

    def interpret(*arrays: Any) -> tuple[Any, ...]:
        if arrays[0].shape[0] == 1:
            return tuple(x[None] for x in one(switch_op, *(a[0] for a in arrays)))
        return jax.vmap(lambda *row: one(select_op, *row))(*arrays)

    return jax.jit(interpret)


OUTPUTS = ("value", "swept", "jvp", "kinks", "magnitudes", "inside")


def differences(new: Sequence[np.ndarray], old: Sequence[Any]) -> list[str]:
    """Which outputs differ in any bit (NaN equal to NaN), with how many numbers."""
    found = []
    for name, a, b in zip(OUTPUTS, new, old, strict=True):
        b = np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.dtype == np.float64:
            same = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
        else:
            same = a == b
        if not same.all():
            found.append(f"{name}: {int((~same).sum())} of {same.size}")
    return found


def tapes_of(graphs: Sequence[Graph], ref: JaxReference) -> list[Tape]:
    return [
        tape for _, tape in tapes(FlatGraphs.of([compile_graph(g) for g in graphs]), ref._chunks)
    ]


def assert_as_before(ref: JaxReference, tape: Tape) -> None:
    old = _before_interpreter()(*tape.arrays())
    assert differences(ref.interpret(tape), old) == []


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


def _edge_graphs() -> list[Graph]:
    """Zero partials of either sign (x * -0.0, relu at 0, a - a), NaN and inf everywhere, an op
    outside its domain, a constant next to an input, a graph without steps."""
    x, neg = Node.input(-1.0), Node.input(-2.0)
    return [
        Graph((Node.input(3.0), Node.const(-0.0), Node.apply("mul", 0, 1))),
        Graph((Node.input(-0.0), Node.input(-2.0), Node.apply("mul", 0, 1), Node.apply("neg", 2))),
        Graph((Node.input(0.0), Node.apply("relu", 0), Node.apply("mul", 1, 0))),
        Graph((Node.input(-1.5), Node.apply("sub", 0, 0), Node.apply("mul", 1, 0))),
        Graph((x, Node.apply("log", 0), Node.apply("relu", 1))),
        Graph((Node.input(800.0), Node.apply("exp", 0), Node.apply("sub", 1, 1))),
        Graph((neg, Node.const(0.0), Node.apply("div", 0, 1), Node.apply("relu", 2))),
        Graph((Node.input(1e-320), Node.apply("log", 0))),
        Graph((Node.input(-8.0), Node.const(0.5), Node.apply("pow", 0, 1))),
        Graph((Node.input(2.5),)),
    ]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sampled_batches_give_the_bits_they_gave_before(name: str, ref: JaxReference) -> None:
    graphs = sample_graphs(31, 1200, CONFIGS[name])
    for start in range(0, len(graphs), 256):  # a check's batches, each of its tapes
        for tape in tapes_of(_edge_graphs() + graphs[start : start + 256], ref):
            assert_as_before(ref, tape)


def test_a_single_row_and_a_small_batch_give_the_bits_they_gave_before(ref: JaxReference) -> None:
    graphs = _edge_graphs() + sample_graphs(5, 30)
    compiled = [compile_graph(g) for g in graphs]
    assert_as_before(ref, pack(compiled[:1], ROW, 1))
    assert_as_before(ref, pack(compiled[-3:-2], ROW, 1))
    assert_as_before(ref, pack(compiled[:24], ROW, 24))


def test_the_edge_graphs_differ_where_the_sign_of_a_zero_partial_shows(ref: JaxReference) -> None:
    """The test above would see a -0.0 partial kept as it comes (the specification made it +0.0):
    the jvp of x * -0.0 along a negative tangent is then -0.0 instead of +0.0."""
    # (Two rows: test_jax_ref counts on a batch of 3 being a shape no other test compiles.)
    tape = pack([compile_graph(_edge_graphs()[0])] * 2, ROW, 2)
    # Input 0's tangent is +1: make it -1 so that -0.0 * -1 = +0.0 and +0.0 * -1 = -0.0 differ.
    flipped = Tape(**{**tape.__dict__, "tangents": -tape.tangents})
    old = np.asarray(_before_interpreter()(*flipped.arrays())[2])
    new = ref.interpret(flipped)[2]
    assert old[0, 0] == 0.0 and new[0, 0] == 0.0
    assert np.signbit(old[0, 0]) == np.signbit(new[0, 0])


def test_every_real_step_gets_one_lane_after_its_operands() -> None:
    graphs = sample_graphs(8, 600, CONFIGS["deep"]) + _edge_graphs()
    for tape in tapes_of(graphs, JaxReference()):
        if tape.batch == 1:
            continue
        lanes, at, used = schedule(tape)
        rows, steps = tape.program.shape[:2]
        most, width = lanes.shape
        bounds = np.array(lane_bounds(width))
        assert width == bounds[-1] == lane_width(rows)
        codes = tape.codes.reshape(-1)
        real = np.flatnonzero(codes < len(OP_NAMES))
        assert (np.delete(at.reshape(-1), real) == most * width).all()
        taken = at.reshape(-1)[real]
        assert len(set(taken.tolist())) == len(taken)  # a lane of its own
        t, lane = np.divmod(taken, width)
        assert (t < used).all()
        assert (lanes[t, lane] == real).all()  # the lane names its step
        assert ((bounds[codes[real]] <= lane) & (lane < bounds[codes[real] + 1])).all()
        empty = np.ones((most, width), dtype=bool)
        empty[t, lane] = False
        assert (lanes[empty] == rows * steps).all()
        slots_of = (
            tape.program.reshape(-1, 4)[real, 1:] + (real // steps)[:, None] * tape.bucket.slots
        )
        iteration = np.full(rows * tape.bucket.slots, -1)
        iteration[slots_of[:, 2]] = t
        assert (iteration[slots_of[:, 0]] < t).all()  # operands from earlier iterations
        assert (iteration[slots_of[:, 1]] < t).all()
