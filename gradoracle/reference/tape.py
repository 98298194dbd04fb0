"""Graphs compiled into padded arrays (a "tape") for the batched JAX interpreter; numpy, and numba
for the loops over graphs (reference.tape_kernel).

Layout of one graph in a bucket of `steps` op steps and `slots` buffer slots:
- value buffer (slots,): node i lives in slot i (inputs and constants hold their values, op slots
  are written by the interpreter); the last two slots are ONE (holds 1.0, never written) and SCRATCH
  (written by padding steps, never read by a real op or the output);
- op steps (steps, 4): opcode (index into the registry order, NOP = len(OPS)), left and right
  operand slots (a unary op repeats its operand), destination slot. Real steps come first, in
  node order; padding steps are NOP reading ONE and writing SCRATCH, so they change nothing a
  real graph reads.

Sizes are rounded up to powers of two so that graphs of similar size share one compiled
interpreter; a batch is padded with inert all-NOP graphs to a fixed batch size for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from gradoracle.reference import pack_kernel as _pack_kernel
from gradoracle.reference import tape_kernel as _kernel
from gradoracle.reference.graph import OP_NAMES, OPCODES, FlatGraph, Graph, Number

NOP = len(OP_NAMES)  # padding step: copies its left operand (ONE) to its destination (SCRATCH)

# Smallest bucket: tiny graphs cost ~2 us more per graph in 16 steps than in 8, while every bucket
# costs a compilation (~1 s) per batch size.
MIN_STEPS = 16
EXTRA_SLOTS = 2  # ONE and SCRATCH


def _power_of_two(n: int, minimum: int) -> int:
    size = minimum
    while size < n:
        size *= 2
    return size


@dataclass(frozen=True)
class Bucket:
    """A compiled interpreter's shape: op steps per graph and value slots per graph."""

    steps: int
    slots: int

    @property
    def one(self) -> int:
        return self.slots - 2

    @property
    def scratch(self) -> int:
        return self.slots - 1


@cache
def bucket_of(n_ops: int, n_nodes: int) -> Bucket:
    """The smallest bucket for a graph of n_ops op nodes among n_nodes nodes (typically
    slots == 2 * steps: inputs and constants rarely outnumber the ops)."""
    steps = _power_of_two(n_ops, MIN_STEPS)
    slots = max(2 * steps, _power_of_two(n_nodes + EXTRA_SLOTS, 2 * MIN_STEPS))
    return Bucket(steps, slots)


class CompiledGraph(NamedTuple):
    """One graph as flat lists: its op steps, leaf slots and values, inputs, output.
    (A NamedTuple: built once per graph, where a frozen dataclass's __init__ would cost ~1 us.)"""

    steps: list[int]  # 4 ints per op node, in node order: opcode, left, right, dest
    leaf_slots: list[int]
    leaf_values: list[Number]  # floats, and Python ints for int leaves (the tape gets floats)
    inputs: tuple[int, ...]
    output: int
    n_nodes: int
    bucket: Bucket

    @property
    def n_ops(self) -> int:
        return len(self.steps) // 4

    @property
    def flat(self) -> FlatGraph:
        """The graph's flat lists, without the bucket."""
        return FlatGraph(
            self.steps, self.leaf_slots, self.leaf_values, self.inputs, self.output, self.n_nodes
        )


def compile_graph(graph: Graph) -> CompiledGraph:
    """One Python pass over the nodes (this loop is most of the host-side cost per graph), unless
    the graph was made from its compiled form (`Graph.from_compiled`: the sampler's graphs are;
    tests/reference/test_tape_cache.py checks that it gives what this pass gives)."""
    cached: CompiledGraph | None = graph.compiled()
    if cached is not None:
        return cached
    return compile_nodes(graph)


def compile_nodes(graph: Graph) -> CompiledGraph:
    """compile_graph's pass over the nodes, whatever the graph caches."""
    codes_of = OPCODES
    steps: list[int] = []
    leaf_slots: list[int] = []
    leaf_values: list[Number] = []
    for i, node in enumerate(graph.nodes):
        op = node.op
        if op is None:
            leaf_slots.append(i)
            leaf_values.append(node.value)  # type: ignore[arg-type]
        else:
            args = node.args
            steps += (codes_of[op], args[0], args[-1], i)  # unary ops read their operand twice
    n_nodes = len(graph.nodes)
    return CompiledGraph(
        steps,
        leaf_slots,
        leaf_values,
        graph.inputs,
        graph.output,
        n_nodes,
        bucket_of(len(steps) // 4, n_nodes),
    )


def tangent_at(positions: np.ndarray) -> np.ndarray:
    """The fixed JVP direction at the given input positions: distinct, alternating in sign,
    |t| in [1, 2).

    It depends only on the input's position, so a graph gets the same check in any batch; distinct
    magnitudes keep gradients from cancelling in the dot product by symmetry (a ones vector would
    see d(x - y) as 0).
    """
    k = np.asarray(positions, dtype=np.float64)
    return np.where(k % 2 == 0, 1.0, -1.0) * (1.0 + (k * 0.6180339887498949) % 1.0)


def tangent(n_inputs: int) -> np.ndarray:
    """The JVP direction over a graph's n inputs, in input order."""
    return tangent_at(np.arange(n_inputs))


# The row shape small graphs share: several graphs to a row, laid side by side (see `place`).
ROW = Bucket(64, 128)
# ... and deeper ones (the sampler's long chains, 100-300 ops): one shape for all of them, not one
# per power of two (each shape costs a compilation, ~0.4 s of every process that meets it).
DEEP_ROW = Bucket(512, 1024)
# Most graphs one row holds (its outputs array has this many places).
GRAPHS_PER_ROW = 16


def row_shape(bucket: Bucket) -> Bucket:
    """The row shape a graph of this bucket runs in: ROW or DEEP_ROW if it fits there, else its
    own."""
    for row in (ROW, DEEP_ROW):
        if bucket.steps <= row.steps and bucket.slots <= row.slots:
            return row
    return bucket


@dataclass(frozen=True)
class Tape:
    """A padded batch of rows, each holding one or more graphs side by side in one bucket's shape.
    Arrays have a leading batch (row) axis."""

    bucket: Bucket
    values: np.ndarray  # (batch, slots) float64: initial buffer
    tangents: np.ndarray  # (batch, slots) float64: JVP direction, nonzero only at input slots
    program: np.ndarray  # (batch, steps, 4) int32: opcode, left, right, dest per step
    output: np.ndarray  # (batch, graphs per row) int32: each graph's output slot, or ONE
    # Where the real graphs' inputs are, flattened in graph order then input order:
    # row and slot of each input, and how many inputs each real graph has.
    input_rows: np.ndarray
    input_slots: np.ndarray
    input_counts: tuple[int, ...]
    # Per real graph, in graph order: its row, its place among the row's outputs, where its steps
    # and its slots begin in the flattened (batch * steps) and (batch * slots) arrays, its steps.
    rows: np.ndarray
    places: np.ndarray
    step_starts: np.ndarray
    slot_starts: np.ndarray
    n_ops: np.ndarray

    @property
    def batch(self) -> int:
        return int(self.output.shape[0])

    @property
    def codes(self) -> np.ndarray:
        return self.program[..., 0]

    @property
    def dest(self) -> np.ndarray:
        return self.program[..., 3]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The interpreter's arguments, in order."""
        return (self.values, self.tangents, self.program, self.output)


class FlatGraphs(NamedTuple):
    """Compiled graphs' lists concatenated, graph k's part of each at its offsets [k]:[k + 1]
    (made once per batch: per-graph numpy calls would cost more than the interpreter itself)."""

    n_ops: np.ndarray
    n_nodes: np.ndarray
    n_inputs: np.ndarray
    outputs: np.ndarray
    steps: np.ndarray  # int64, 4 per op: opcode, left, right, dest
    step_offsets: np.ndarray
    leaf_slots: np.ndarray
    leaf_values: np.ndarray  # float64 (an int leaf as its float)
    leaf_offsets: np.ndarray
    inputs: np.ndarray
    input_offsets: np.ndarray

    @classmethod
    def of(cls, graphs: Sequence[CompiledGraph]) -> FlatGraphs:
        n = len(graphs)
        if not n:
            empty = np.zeros(0, dtype=np.int64)
            start = np.zeros(1, dtype=np.int64)
            return cls(empty, empty, empty, empty, empty, start, empty, np.zeros(0), start, empty,
                       start)  # fmt: skip
        steps, leaf_slots, leaf_values, inputs, outputs, n_nodes, _ = zip(*graphs, strict=True)
        step_offsets = _offsets(steps, n)
        leaf_offsets = _offsets(leaf_slots, n)
        input_offsets = _offsets(inputs, n)
        return cls(
            np.diff(step_offsets) >> 2,
            np.array(n_nodes, dtype=np.int64),
            np.diff(input_offsets),
            np.array(outputs, dtype=np.int64),
            np.fromiter(chain.from_iterable(steps), np.int64, int(step_offsets[-1])),
            step_offsets,
            np.fromiter(chain.from_iterable(leaf_slots), np.int64, int(leaf_offsets[-1])),
            np.fromiter(chain.from_iterable(leaf_values), np.float64, int(leaf_offsets[-1])),
            leaf_offsets,
            np.fromiter(chain.from_iterable(inputs), np.int64, int(input_offsets[-1])),
            input_offsets,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[FlatGraphs]) -> FlatGraphs:
        """The graphs of all parts, in order: what `of` gives for their graphs together."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.of([])
        joined = [np.concatenate(column) for column in zip(*parts, strict=True)]
        for field, counted in (("step_offsets", "steps"), ("leaf_offsets", "leaf_values"),
                               ("input_offsets", "inputs")):  # fmt: skip
            starts = np.cumsum([0] + [len(getattr(part, counted)) for part in parts[:-1]])
            shifted = [getattr(part, field)[:-1] + start for part, start in zip(parts, starts)]
            total = sum(len(getattr(part, counted)) for part in parts)
            joined[cls._fields.index(field)] = np.concatenate([*shifted, [total]])
        return cls(*joined)

    def row_shapes(self) -> tuple[list[Bucket], np.ndarray]:
        """The row shapes the graphs run in (`row_shape` of their buckets), in order of first
        appearance, and each graph's index among them."""
        shapes, which, *_ = self.grouped()
        return shapes, which

    def grouped(self) -> tuple[list[Bucket], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`row_shapes`, and the graphs placed in rows of their shapes (`place`), by shape: the
        graphs of shape i are members[bounds[i]:bounds[i + 1]], ordered by row, then index, and
        their rows (from 0 per shape) are rows[bounds[i]:bounds[i + 1]]. One compiled call
        (reference.pack_kernel.group_and_place): shapes, which, members, rows, bounds."""
        used, which, members, rows, bounds = _group_and_place(
            self.n_ops, self.n_nodes, _SHARED_SHAPES, MIN_STEPS, EXTRA_SLOTS, GRAPHS_PER_ROW
        )
        shapes = [_shape(steps, slots) for steps, slots in used.tolist()]
        return shapes, which, members, rows, bounds


# The shared row shapes, in order of preference (`row_shape`), as pack_kernel reads them.
_SHARED_SHAPES = np.array([[ROW.steps, ROW.slots], [DEEP_ROW.steps, DEEP_ROW.slots]], np.int64)
_group_and_place: Any = _pack_kernel.group_and_place  # (a numba Dispatcher hides its signature)


def _shape(steps: int, slots: int) -> Bucket:
    """The Bucket of a row shape: ROW, DEEP_ROW or a graph's own bucket."""
    for shared in (ROW, DEEP_ROW):
        if shared.steps == steps and shared.slots == slots:
            return shared
    return Bucket(steps, slots)


def _offsets(lists: Sequence[Sequence[object]], n: int) -> np.ndarray:
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, lists), np.int64, n), out=offsets[1:])
    return offsets


def place(graphs: Sequence[CompiledGraph], bucket: Bucket) -> list[int]:
    """A row for each graph (each fitting `bucket`), several to a row where their steps, slots
    and outputs fit: largest graphs first, each into the open row it leaves the fewest free steps
    in (best fit decreasing: rows come out ~99 % full of real steps for sampled graphs in ROW).
    Rows are numbered from 0, all used."""
    flat = FlatGraphs.of(graphs)
    return place_flat(flat.n_ops, flat.n_nodes, bucket).tolist()


def place_flat(n_ops: np.ndarray, n_nodes: np.ndarray, bucket: Bucket) -> np.ndarray:
    """`place` for graphs given by their op and node counts."""
    order = np.argsort(-n_ops, kind="stable")  # largest first, ties in graph order
    room = bucket.slots - EXTRA_SLOTS
    return _kernel.place_rows(order, n_ops, n_nodes, bucket.steps, room, GRAPHS_PER_ROW)


def pack(
    graphs: Sequence[CompiledGraph], bucket: Bucket, batch: int, rows: Sequence[int] | None = None
) -> Tape:
    """Pad compiled graphs (each fitting `bucket`) into a tape of `batch` rows: graph k in row
    rows[k] (default: row k), after the graphs before it in that row, steps and slots alike.
    Padding rows and steps are inert."""
    n = len(graphs)
    if rows is None and n > batch:
        raise ValueError(f"pack: {n} graphs do not fit a batch of {batch}")
    graph_rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    return pack_flat(FlatGraphs.of(graphs), np.arange(n), graph_rows, bucket, batch)


def pack_flat(
    flat: FlatGraphs, members: np.ndarray, rows: np.ndarray, bucket: Bucket, batch: int
) -> Tape:
    """`pack` of the graphs flat[members], member i in row rows[i]."""
    n = len(members)
    at_step, base, places, step_starts, slot_starts, n_ops, input_counts = (
        np.empty(n, dtype=np.int64) for _ in range(7)
    )
    verdict, k, n_inputs, widest = _kernel.lay_out(
        members, rows, flat.n_ops, flat.n_nodes, flat.n_inputs, batch, bucket.steps,
        bucket.slots, EXTRA_SLOTS, GRAPHS_PER_ROW,
        at_step, base, places, step_starts, slot_starts, n_ops, input_counts,
    )  # fmt: skip
    if verdict == _kernel.ROW_OUTSIDE:
        raise ValueError(f"pack: rows must lie in 0..{batch - 1}")
    if verdict == _kernel.TOO_BIG:
        g = members[k]
        raise ValueError(
            f"pack: a graph of {flat.n_ops[g]} ops and {flat.n_nodes[g]} nodes does not fit "
            f"{bucket}" + (f" (after others in row {rows[k]})" if at_step[k] or base[k] else "")
        )
    if verdict == _kernel.ROW_FULL:
        raise ValueError(f"pack: more than {GRAPHS_PER_ROW} graphs in a row")
    input_rows, input_cols = np.empty(n_inputs, dtype=np.int64), np.empty(n_inputs, dtype=np.int64)
    program = np.empty((batch, bucket.steps, 4), dtype=np.int32)
    values, tangents = np.empty((batch, bucket.slots)), np.empty((batch, bucket.slots))
    # Always GRAPHS_PER_ROW places, so that the shape (and the compiled interpreter) is the
    # bucket's and the batch's alone.
    output = np.empty((batch, GRAPHS_PER_ROW), dtype=np.int32)
    _kernel.scatter(
        members, rows, at_step, base, places, NOP, bucket.one, bucket.scratch,
        flat.steps, flat.step_offsets, flat.leaf_slots, flat.leaf_values, flat.leaf_offsets,
        flat.inputs, flat.input_offsets, flat.outputs, _tangents(widest),
        program, values, tangents, output, input_rows, input_cols,
    )  # fmt: skip
    return Tape(
        bucket, values, tangents, program, output, input_rows, input_cols,
        tuple(input_counts.tolist()), rows, places, step_starts, slot_starts, n_ops,
    )  # fmt: skip


_tangent_table = tangent(64)


def _tangents(n: int) -> np.ndarray:
    """tangent(m) for some m >= n (its first n entries are tangent(n)'s), made once."""
    global _tangent_table
    if n > len(_tangent_table):
        _tangent_table = tangent(2 * n)
    return _tangent_table


def tapes(
    flat: FlatGraphs, chunks: Callable[[int, Bucket], list[int]]
) -> Iterator[tuple[np.ndarray, Tape]]:
    """The graphs as tapes, grouped by row shape (in order of first appearance) and placed
    several to a row (`place`), with the indices of the graphs each tape holds in its order: a
    shape's rows are cut into tapes of chunks(rows, shape) rows each, a tape's graphs ordered by
    row, then by index."""
    shapes, _, placed, placed_rows, bounds = flat.grouped()
    for number, shape in enumerate(shapes):
        lo_shape, hi_shape = bounds[number : number + 2].tolist()
        members, rows = placed[lo_shape:hi_shape], placed_rows[lo_shape:hi_shape]
        first = 0
        for size in chunks(int(rows[-1]) + 1, shape):
            lo, hi = np.searchsorted(rows, (first, first + size))
            yield members[lo:hi], pack_flat(flat, members[lo:hi], rows[lo:hi] - first, shape, size)
            first += size
