"""Graphs compiled into padded arrays (a "tape") for the batched JAX interpreter; numpy only.

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

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import NamedTuple

import numpy as np

from gradoracle.reference.graph import OP_NAMES, FlatGraph, Graph, Number

OPCODES: dict[str, int] = {name: code for code, name in enumerate(OP_NAMES)}
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


def _positions(counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Items grouped by row, counts[row] items each: every item's row and its index in the row."""
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - np.asarray(counts, dtype=np.int64)
    return rows, np.arange(len(rows)) - np.repeat(starts, counts)


def place(graphs: Sequence[CompiledGraph], bucket: Bucket) -> list[int]:
    """A row for each graph (each fitting `bucket`), several to a row where their steps, slots
    and outputs fit: largest graphs first, each into the open row it leaves the fewest free steps
    in (best fit decreasing: rows come out ~99 % full of real steps for sampled graphs in ROW).
    Rows are numbered from 0, all used."""
    room = bucket.slots - EXTRA_SLOTS
    ops = [g.n_ops for g in graphs]
    nodes = [g.n_nodes for g in graphs]
    steps_used: list[int] = []  # per row
    slots_used: list[int] = []
    counts: list[int] = []
    by_free: list[list[int]] = [[] for _ in range(bucket.steps + 1)]  # open rows by free steps
    levels = 0  # bit f set: by_free[f] is not empty
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


def pack(
    graphs: Sequence[CompiledGraph], bucket: Bucket, batch: int, rows: Sequence[int] | None = None
) -> Tape:
    """Pad compiled graphs (each fitting `bucket`) into a tape of `batch` rows: graph k in row
    rows[k] (default: row k), after the graphs before it in that row, steps and slots alike.

    numpy scatters the concatenated lists into the padded arrays in one call per array (per-graph
    numpy calls would cost more than the interpreter itself). Padding rows and steps are inert.
    """
    n = len(graphs)
    if rows is None and n > batch:
        raise ValueError(f"pack: {n} graphs do not fit a batch of {batch}")
    steps, slots = bucket.steps, bucket.slots
    graph_rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    n_ops = np.fromiter((g.n_ops for g in graphs), dtype=np.int64, count=n)
    n_nodes = np.fromiter((g.n_nodes for g in graphs), dtype=np.int64, count=n)
    if n and (graph_rows.min() < 0 or graph_rows.max() >= batch):
        raise ValueError(f"pack: rows must lie in 0..{batch - 1}")
    # Where each graph begins in its row: after the graphs before it there (a cumulative sum
    # within each row, in graph order).
    order = np.argsort(graph_rows, kind="stable")
    ops_before, nodes_before = _within_rows(graph_rows[order], n_ops[order], n_nodes[order])
    at_step, base = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    at_step[order], base[order] = ops_before, nodes_before
    places = np.empty(n, dtype=np.int64)
    places[order] = _positions(np.bincount(graph_rows, minlength=batch).tolist())[1]
    too_big = (at_step + n_ops > steps) | (base + n_nodes + EXTRA_SLOTS > slots)
    if too_big.any():
        k = int(np.argmax(too_big))
        raise ValueError(
            f"pack: a graph of {n_ops[k]} ops and {n_nodes[k]} nodes does not fit {bucket}"
            + (f" (after others in row {graph_rows[k]})" if at_step[k] or base[k] else "")
        )
    if n and places.max() >= GRAPHS_PER_ROW:
        raise ValueError(f"pack: more than {GRAPHS_PER_ROW} graphs in a row")
    step_starts, slot_starts = graph_rows * steps + at_step, graph_rows * slots + base

    program = np.empty((batch, steps, 4), dtype=np.int32)
    program[:, :] = (NOP, bucket.one, bucket.one, bucket.scratch)
    owner, within = _positions(n_ops.tolist())  # per step: its graph, its index there
    flat = np.fromiter(chain.from_iterable(g.steps for g in graphs), np.int64, 4 * int(n_ops.sum()))
    placed = flat.reshape(-1, 4)
    placed[:, 1:] += base[owner, None]  # every slot of a graph moves to its base
    program.reshape(-1, 4)[step_starts[owner] + within] = placed

    values = np.ones((batch, slots))
    leaf_counts = [len(g.leaf_slots) for g in graphs]
    leaf_owner, _ = _positions(leaf_counts)
    leaf_slots = np.fromiter(
        chain.from_iterable(g.leaf_slots for g in graphs), np.int64, sum(leaf_counts)
    )
    leaf_values = list(chain.from_iterable(g.leaf_values for g in graphs))
    values.reshape(-1)[slot_starts[leaf_owner] + leaf_slots] = leaf_values  # ints: their floats
    input_counts = tuple(len(g.inputs) for g in graphs)
    input_owner, positions = _positions(input_counts)
    input_slots = np.fromiter(
        chain.from_iterable(g.inputs for g in graphs), np.int64, sum(input_counts)
    )
    input_rows = graph_rows[input_owner]
    input_cols = base[input_owner] + input_slots
    tangents = np.zeros((batch, slots))
    tangents[input_rows, input_cols] = tangent_at(positions)

    # Always GRAPHS_PER_ROW places, so that the shape (and the compiled interpreter) is the
    # bucket's and the batch's alone.
    output = np.full((batch, GRAPHS_PER_ROW), bucket.one, dtype=np.int32)
    outputs = np.fromiter((g.output for g in graphs), dtype=np.int64, count=n)
    output[graph_rows, places] = base + outputs
    return Tape(
        bucket, values, tangents, program, output, input_rows, input_cols, input_counts,
        graph_rows, places, step_starts, slot_starts, n_ops,
    )  # fmt: skip


def _within_rows(
    rows: np.ndarray, ops: np.ndarray, nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For graphs sorted by row: the ops and nodes of the graphs before each in its row."""
    ops_before = np.cumsum(ops) - ops
    nodes_before = np.cumsum(nodes) - nodes
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    return ops_before - ops_before[starts][group], nodes_before - nodes_before[starts][group]
