"""reference.pack_kernel against the numpy code it replaced (kept here as the definition): the
grouping by row shape and placing in rows (FlatGraphs.grouped, used by tapes), and the writing of a
tape's results into a batch's columns (JaxBatch.put)."""

from __future__ import annotations

import numpy as np
import pytest

from gradoracle.reference.jax_ref import JaxBatch
from gradoracle.reference.tape import (
    DEEP_ROW,
    EXTRA_SLOTS,
    ROW,
    Bucket,
    FlatGraphs,
    bucket_of,
    place_flat,
    row_shape,
)


def _numpy_row_shapes(flat: FlatGraphs) -> tuple[list[Bucket], np.ndarray]:
    """FlatGraphs.row_shapes as it was written with numpy."""
    which = np.where(
        (flat.n_ops <= ROW.steps) & (flat.n_nodes + EXTRA_SLOTS <= ROW.slots),
        0,
        np.where(
            (flat.n_ops <= DEEP_ROW.steps) & (flat.n_nodes + EXTRA_SLOTS <= DEEP_ROW.slots), 1, 2
        ),
    )
    shapes = [ROW, DEEP_ROW]
    for k in np.flatnonzero(which == 2).tolist():
        shape = row_shape(bucket_of(int(flat.n_ops[k]), int(flat.n_nodes[k])))
        if shape not in shapes:
            shapes.append(shape)
        which[k] = shapes.index(shape)
    used, first = np.unique(which, return_index=True)
    order = used[np.argsort(first)]
    renumber = np.empty(len(shapes), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return [shapes[i] for i in order.tolist()], renumber[which]


def _numpy_placed(flat: FlatGraphs) -> list[tuple[Bucket, np.ndarray, np.ndarray]]:
    """Per row shape, its graphs and their rows, as reference.tape.tapes placed them with numpy."""
    shapes, which = _numpy_row_shapes(flat)
    placed = []
    for number, shape in enumerate(shapes):
        members = np.flatnonzero(which == number) if len(shapes) > 1 else np.arange(len(which))
        rows = place_flat(flat.n_ops[members], flat.n_nodes[members], shape)
        order = np.argsort(rows, kind="stable")
        placed.append((shape, members[order], rows[order]))
    return placed


def _counts_only(n_ops: np.ndarray, n_nodes: np.ndarray) -> FlatGraphs:
    """A FlatGraphs of which only the op and node counts matter (all that grouping reads)."""
    n = len(n_ops)
    empty, zeros = np.zeros(0, dtype=np.int64), np.zeros(n + 1, dtype=np.int64)
    return FlatGraphs(
        n_ops, n_nodes, np.zeros(n, dtype=np.int64), n_nodes - 1, empty, zeros, empty,
        np.zeros(0), zeros, empty, zeros,
    )  # fmt: skip


def _random_counts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Op and node counts of a batch: mostly small graphs, some deep ones, some beyond every row
    shape (their own buckets), many ties."""
    kind = rng.choice(3, size=n, p=[0.85, 0.1, 0.05])
    n_ops = np.where(
        kind == 0,
        rng.integers(0, 65, n),
        np.where(kind == 1, rng.integers(65, 513, n), rng.integers(300, 2500, n)),
    )
    extra = np.where(kind == 0, rng.integers(1, 60, n), rng.integers(1, 900, n))
    n_nodes = np.minimum(n_ops + extra, np.where(kind == 0, 126, 4000))
    return n_ops.astype(np.int64), np.maximum(n_nodes, n_ops + 1).astype(np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_grouping_and_placing_are_what_numpy_gave(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 17, 256, 600):
        flat = _counts_only(*_random_counts(rng, n))
        shapes, which, members, rows, bounds = flat.grouped()
        old_shapes, old_which = _numpy_row_shapes(flat)
        assert shapes == old_shapes and which.tolist() == old_which.tolist()
        assert flat.row_shapes()[0] == old_shapes
        assert len(bounds) == len(shapes) + 1 and bounds[-1] == n
        for number, (shape, old_members, old_rows) in enumerate(_numpy_placed(flat)):
            lo, hi = bounds[number], bounds[number + 1]
            assert shapes[number] == shape
            assert members[lo:hi].tolist() == old_members.tolist()
            assert rows[lo:hi].tolist() == old_rows.tolist()
            assert members.dtype == rows.dtype == np.int64


def test_grouping_tells_ties_apart_by_graph_order() -> None:
    """Equal graphs in one row shape: placed in graph order, each row's graphs in graph order."""
    flat = _counts_only(np.full(40, 20, dtype=np.int64), np.full(40, 30, dtype=np.int64))
    _, _, members, rows, _ = flat.grouped()
    assert members.tolist() == list(range(40))
    assert rows.tolist() == [k // 3 for k in range(40)]  # 3 graphs of 20 ops to a row of 64


def _numpy_put(batch: JaxBatch, indices: np.ndarray, *columns: np.ndarray) -> None:
    """JaxBatch.put as it was written with numpy."""
    value, jvp, dots, scales, consistent, kinks, magnitudes, inside = columns[:8]
    flat_grads, flat_sweeps = columns[8:]
    batch.value[indices] = value
    batch.jvp[indices] = jvp
    batch.jvp_dot[indices] = dots
    batch.jvp_scale[indices] = scales
    batch.consistent[indices] = consistent
    batch.kink_distance[indices] = kinks
    batch.magnitude[indices] = magnitudes
    batch.in_domain[indices] = inside
    starts = batch.offsets[indices]
    batch.quantities[starts] = value
    counts = batch.counts[indices]
    ends = np.cumsum(counts)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)
    places = np.repeat(starts + 1, counts) + within
    batch.quantities[places] = flat_grads
    batch.sweeps[places] = flat_sweeps


@pytest.mark.parametrize("seed", range(6))
def test_put_writes_what_numpy_wrote(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    counts = rng.integers(0, 9, n).astype(np.int64)  # graphs without inputs too
    n_ops = rng.integers(0, 40, n).astype(np.int64)
    new, old = JaxBatch(counts, n_ops), JaxBatch(counts, n_ops)
    for batch in (new, old):  # (np.empty: the same garbage would hide a missed write)
        for column in (batch.value, batch.jvp, batch.quantities, batch.sweeps):
            column.fill(np.nan)
    order = rng.permutation(n)
    for part in np.array_split(order, [0, 7, 130, 131, 299]):  # an empty tape too
        m, grads = len(part), int(counts[part].sum())
        columns = [rng.normal(size=m) for _ in range(4)]
        columns[0][: m // 5] = np.nan  # non-finite values pass through as they are
        columns += [rng.random(m) < 0.5, rng.normal(size=m), rng.normal(size=m)]
        columns += [rng.random(m) < 0.5, rng.normal(size=grads), rng.random(grads)]
        new.put(part, *columns)
        _numpy_put(old, part, *columns)
    for name in ("value", "jvp", "jvp_dot", "jvp_scale", "consistent", "kink_distance",
                 "magnitude", "in_domain", "quantities", "sweeps"):  # fmt: skip
        a, b = getattr(new, name), getattr(old, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
