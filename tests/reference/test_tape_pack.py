"""The compiled packing (reference.tape_kernel) lays out exactly the tapes the pure-Python packing
before it did: same rows, same places, every array bit for bit, for the same graphs in the same
order. `_before_*` below is that Python code, kept verbatim as the specification."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import fields
from itertools import chain

import numpy as np
import pytest
from sampler_configs import CONFIGS

from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.jax_ref import JVP_RTOL, JaxReference
from gradoracle.reference.tape import (
    DEEP_ROW,
    EXTRA_SLOTS,
    GRAPHS_PER_ROW,
    NOP,
    ROW,
    Bucket,
    CompiledGraph,
    FlatGraphs,
    Tape,
    bucket_of,
    compile_graph,
    pack,
    place,
    row_shape,
    tangent_at,
    tapes,
)


def _before_positions(counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - np.asarray(counts, dtype=np.int64)
    return rows, np.arange(len(rows)) - np.repeat(starts, counts)


def _before_place(graphs: Sequence[CompiledGraph], bucket: Bucket) -> list[int]:
    room = bucket.slots - EXTRA_SLOTS
    ops = [g.n_ops for g in graphs]
    nodes = [g.n_nodes for g in graphs]
    steps_used: list[int] = []
    slots_used: list[int] = []
    counts: list[int] = []
    by_free: list[list[int]] = [[] for _ in range(bucket.steps + 1)]
    levels = 0
    placed = [0] * len(graphs)
    for k in sorted(range(len(graphs)), key=ops.__getitem__, reverse=True):
        need, size = ops[k], nodes[k]
        row = -1
        candidates = levels >> need
        while candidates and row < 0:
            lowest = candidates & -candidates
            free = need + lowest.bit_length() - 1
            rows = by_free[free]
            for i in range(len(rows) - 1, -1, -1):
                if slots_used[rows[i]] + size <= room:
                    row = rows.pop(i)
                    break
            if not rows:
                levels &= ~(1 << free)
            candidates ^= lowest
        if row < 0:
            row = len(counts)
            steps_used.append(0)
            slots_used.append(0)
            counts.append(0)
        steps_used[row] += need
        slots_used[row] += size
        counts[row] += 1
        placed[k] = row
        if counts[row] < GRAPHS_PER_ROW and slots_used[row] < room:
            free = bucket.steps - steps_used[row]
            by_free[free].append(row)
            levels |= 1 << free
    return placed


def _before_within_rows(
    rows: np.ndarray, ops: np.ndarray, nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ops_before = np.cumsum(ops) - ops
    nodes_before = np.cumsum(nodes) - nodes
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    return ops_before - ops_before[starts][group], nodes_before - nodes_before[starts][group]


def _before_pack(
    graphs: Sequence[CompiledGraph], bucket: Bucket, batch: int, rows: Sequence[int]
) -> Tape:
    n = len(graphs)
    steps, slots = bucket.steps, bucket.slots
    graph_rows = np.asarray(rows, dtype=np.int64)
    n_ops = np.fromiter((g.n_ops for g in graphs), dtype=np.int64, count=n)
    n_nodes = np.fromiter((g.n_nodes for g in graphs), dtype=np.int64, count=n)
    order = np.argsort(graph_rows, kind="stable")
    ops_before, nodes_before = _before_within_rows(graph_rows[order], n_ops[order], n_nodes[order])
    at_step, base = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    at_step[order], base[order] = ops_before, nodes_before
    places = np.empty(n, dtype=np.int64)
    places[order] = _before_positions(np.bincount(graph_rows, minlength=batch).tolist())[1]
    step_starts, slot_starts = graph_rows * steps + at_step, graph_rows * slots + base
    program = np.empty((batch, steps, 4), dtype=np.int32)
    program[:, :] = (NOP, bucket.one, bucket.one, bucket.scratch)
    owner, within = _before_positions(n_ops.tolist())
    flat = np.fromiter(chain.from_iterable(g.steps for g in graphs), np.int64, 4 * int(n_ops.sum()))
    placed = flat.reshape(-1, 4)
    placed[:, 1:] += base[owner, None]
    program.reshape(-1, 4)[step_starts[owner] + within] = placed
    values = np.ones((batch, slots))
    leaf_counts = [len(g.leaf_slots) for g in graphs]
    leaf_owner, _ = _before_positions(leaf_counts)
    leaf_slots = np.fromiter(
        chain.from_iterable(g.leaf_slots for g in graphs), np.int64, sum(leaf_counts)
    )
    leaf_values = list(chain.from_iterable(g.leaf_values for g in graphs))
    values.reshape(-1)[slot_starts[leaf_owner] + leaf_slots] = leaf_values
    input_counts = tuple(len(g.inputs) for g in graphs)
    input_owner, positions = _before_positions(input_counts)
    input_slots = np.fromiter(
        chain.from_iterable(g.inputs for g in graphs), np.int64, sum(input_counts)
    )
    input_rows = graph_rows[input_owner]
    input_cols = base[input_owner] + input_slots
    tangents = np.zeros((batch, slots))
    tangents[input_rows, input_cols] = tangent_at(positions)
    output = np.full((batch, GRAPHS_PER_ROW), bucket.one, dtype=np.int32)
    outputs = np.fromiter((g.output for g in graphs), dtype=np.int64, count=n)
    output[graph_rows, places] = base + outputs
    return Tape(
        bucket, values, tangents, program, output, input_rows, input_cols, input_counts,
        graph_rows, places, step_starts, slot_starts, n_ops,
    )  # fmt: skip


def _before_tapes(graphs: Sequence[Graph], ref: JaxReference) -> Iterator[tuple[list[int], Tape]]:
    """JaxReference.evaluate_batch's grouping, placing and chunking before the kernel."""
    groups: dict[Bucket, list[tuple[int, CompiledGraph]]] = defaultdict(list)
    for index, graph in enumerate(graphs):
        compiled = compile_graph(graph)
        groups[row_shape(compiled.bucket)].append((index, compiled))
    for shape, members in groups.items():
        rows = _before_place([compiled for _, compiled in members], shape)
        by_row: list[list[int]] = [[] for _ in range(max(rows) + 1)]
        for member, row in enumerate(rows):
            by_row[row].append(member)
        first = 0
        for size in ref._chunks(len(by_row), shape):
            taken = [(member, row - first) for row in range(first, first + size)
                     if row < len(by_row) for member in by_row[row]]  # fmt: skip
            first += size
            part = [members[member] for member, _ in taken]
            tape = _before_pack([c for _, c in part], shape, size, [row for _, row in taken])
            yield [index for index, _ in part], tape


def _before_per_graph(
    reduce: np.ufunc, per_row: np.ndarray, starts: np.ndarray, sizes: np.ndarray, empty: float
) -> np.ndarray:
    reduced = np.full(len(starts), empty, dtype=per_row.dtype)
    some = np.flatnonzero(sizes > 0)
    if len(some):
        order = some[np.argsort(starts[some], kind="stable")]
        reduced[order] = reduce.reduceat(per_row.reshape(-1), starts[order])
    return reduced


def _before_columns(tape: Tape, outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """JaxReference._run_arrays's columns from the interpreter's outputs, before the kernel."""
    value, swept, jvp, kinks, magnitudes, inside = outputs
    rows, slots = tape.input_rows, tape.input_slots
    flat_grads = swept[rows, 0, slots]
    tangents = tape.tangents[rows, slots]
    n = len(tape.input_counts)
    owner = np.repeat(np.arange(n), tape.input_counts)
    values = value[tape.rows, tape.places]
    jvps = jvp[tape.rows, tape.places]
    with np.errstate(invalid="ignore", over="ignore"):
        dots = np.bincount(owner, weights=flat_grads * tangents, minlength=n)
        weights = swept[rows, 1, slots] * np.abs(tangents)
        scales = np.bincount(owner, weights=weights, minlength=n)
        consistent = (
            np.isfinite(values)
            & np.isfinite(jvps)
            & np.isfinite(dots)
            & (np.abs(jvps - dots) <= JVP_RTOL * scales)
        )
    flat_sweeps = swept[rows, 1, slots]
    kink = _before_per_graph(np.minimum, kinks, tape.step_starts, tape.n_ops, math.inf)
    magnitude = np.maximum(
        _before_per_graph(np.maximum, magnitudes, tape.slot_starts, tape.n_ops + 1, 1.0), 1.0
    )
    within = _before_per_graph(np.logical_and, inside, tape.step_starts, tape.n_ops, True)
    return (
        values, jvps, dots, scales, consistent, kink, magnitude, within, flat_grads, flat_sweeps,
    )  # fmt: skip


def assert_same_tape(new: Tape, old: Tape) -> None:
    for field in fields(Tape):
        a, b = getattr(new, field.name), getattr(old, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            assert np.array_equal(a, b), field.name
        else:
            assert type(a) is type(b) and a == b, field.name


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_reference_packs_what_it_packed_before(name: str, ref: JaxReference) -> None:
    graphs = sample_graphs(23, 1500, CONFIGS[name])
    for start in range(0, len(graphs), 256):  # a check's batches
        batch = graphs[start : start + 256]
        flat = FlatGraphs.of([compile_graph(g) for g in batch])
        new, old = list(tapes(flat, ref._chunks)), list(_before_tapes(batch, ref))
        assert len(new) == len(old)
        for (new_indices, new_tape), (old_indices, old_tape) in zip(new, old, strict=True):
            assert new_indices.tolist() == old_indices
            assert_same_tape(new_tape, old_tape)


def test_graphs_beyond_every_row_shape_get_their_own(ref: JaxReference) -> None:
    chain_of = lambda n: Graph((Node.input(0.5), *(Node.apply("tanh", i) for i in range(n))))  # noqa: E731
    graphs = [chain_of(600), *sample_graphs(4, 40), chain_of(1100), chain_of(700), chain_of(80)]
    flat = FlatGraphs.of([compile_graph(g) for g in graphs])
    shapes, _ = flat.row_shapes()
    assert shapes == [bucket_of(600, 601), ROW, bucket_of(1100, 1101), DEEP_ROW]
    new, old = list(tapes(flat, ref._chunks)), list(_before_tapes(graphs, ref))
    for (new_indices, new_tape), (old_indices, old_tape) in zip(new, old, strict=True):
        assert new_indices.tolist() == old_indices
        assert_same_tape(new_tape, old_tape)


def test_place_and_pack_by_hand_agree_with_before() -> None:
    """Rows in any order, ints among the leaves, and the public wrappers."""
    compiled = [compile_graph(g) for g in sample_graphs(9, 600, CONFIGS["constants"])]
    small = [c for c in compiled if row_shape(c.bucket) == ROW]
    rows = place(small, ROW)
    assert rows == _before_place(small, ROW)
    batch = max(rows) + 1
    assert_same_tape(pack(small, ROW, batch, rows), _before_pack(small, ROW, batch, rows))
    few = small[:20]
    assert_same_tape(pack(few, ROW, 24), _before_pack(few, ROW, 24, list(range(20))))
    assert any(isinstance(v, int) for c in small for v in c.leaf_values)


def test_row_shapes_are_row_shape_of_the_bucket() -> None:
    for n_ops in range(0, 1200, 7):
        for n_nodes in range(n_ops + 1, 2 * n_ops + 140, 13):
            bucket = bucket_of(n_ops, n_nodes)
            compiled = CompiledGraph(
                [0, 0, 0, 0] * n_ops, [], [], (), 0, n_nodes, bucket
            )  # only the counts matter here
            shapes, which = FlatGraphs.of([compiled]).row_shapes()
            assert shapes[int(which[0])] == row_shape(bucket), (n_ops, n_nodes)


def test_pack_says_what_does_not_fit() -> None:
    graphs = [compile_graph(g) for g in sample_graphs(2, 40, SamplerConfig(min_ops=5, max_ops=9))]
    with pytest.raises(ValueError, match=r"^pack: rows must lie in 0\.\.1$"):
        pack(graphs[:2], ROW, 2, [0, 2])
    with pytest.raises(ValueError, match=r"^pack: 3 graphs do not fit a batch of 2$"):
        pack(graphs[:3], ROW, 2)
    with pytest.raises(ValueError, match=r"^pack: more than 16 graphs in a row$"):
        pack(graphs[:17], Bucket(256, 512), 1, [0] * 17)
    wide = compile_graph(Graph((Node.input(1.0), *(Node.apply("neg", i) for i in range(40)))))
    with pytest.raises(ValueError, match=r"^pack: a graph of 40 ops and 41 nodes does not fit "
                       r"Bucket\(steps=64, slots=128\) \(after others in row 1\)$"):  # fmt: skip
        pack([graphs[0], wide, wide], ROW, 2, [1, 1, 1])
    with pytest.raises(ValueError, match=r"^pack: a graph of 40 ops and 41 nodes does not fit "
                       r"Bucket\(steps=16, slots=32\)$"):  # fmt: skip
        pack([graphs[0], wide], Bucket(16, 32), 2)


def _non_finite_graphs() -> list[Graph]:
    """NaN and inf in values, gradients, kink distances and magnitudes; an op outside its domain;
    a graph without steps."""
    x, neg = Node.input(-1.0), Node.input(-2.0)
    return [
        Graph((x, Node.apply("log", 0), Node.apply("relu", 1))),  # NaN at a kink
        Graph((Node.input(30.0), Node.apply("exp", 0), Node.apply("exp", 1))),  # inf
        Graph((Node.input(800.0), Node.apply("exp", 0), Node.apply("sub", 1, 1))),  # inf - inf
        Graph((neg, Node.const(0.0), Node.apply("div", 0, 1), Node.apply("relu", 2))),
        Graph((Node.input(0.0), Node.apply("relu", 0), Node.apply("mul", 1, 0))),  # on the kink
        Graph((Node.input(1e-320), Node.apply("log", 0))),  # subnormal
        Graph((Node.input(2.5),)),  # no steps
    ]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_reference_unpacks_what_it_unpacked_before(name: str, ref: JaxReference) -> None:
    graphs = _non_finite_graphs() + sample_graphs(29, 700, CONFIGS[name]) + _non_finite_graphs()
    flat = FlatGraphs.of([compile_graph(g) for g in graphs])
    for _, tape in tapes(flat, ref._chunks):
        outputs = [np.asarray(x) for x in ref.interpret(tape)]
        new, old = ref._run_arrays(tape), _before_columns(tape, outputs)
        for a, b in zip(new, old, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b, equal_nan=True)
            same_sign = np.signbit(a[np.isfinite(a)]) == np.signbit(b[np.isfinite(b)])
            assert same_sign.all()
    results = ref.evaluate(_non_finite_graphs())
    assert math.isnan(results[0].kink_distance) and math.isinf(results[1].value)
    assert not results[3].in_domain and results[4].kink_distance == 0.0
    assert not all(r.jvp_consistent for r in results)
