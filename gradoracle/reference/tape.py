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


@dataclass(frozen=True)
class Tape:
    """A padded batch of graphs, all in one bucket. Arrays have a leading batch axis."""

    bucket: Bucket
    values: np.ndarray  # (batch, slots) float64: initial buffer
    tangents: np.ndarray  # (batch, slots) float64: JVP direction, nonzero only at input slots
    program: np.ndarray  # (batch, steps, 4) int32: opcode, left, right, dest per step
    output: np.ndarray  # (batch,) int32
    # Where the real graphs' inputs are, flattened in graph order then input order:
    # row (graph) and slot of each input, and how many inputs each real graph has.
    input_rows: np.ndarray
    input_slots: np.ndarray
    input_counts: tuple[int, ...]

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


def pack(graphs: Sequence[CompiledGraph], bucket: Bucket, batch: int) -> Tape:
    """Pad compiled graphs (each fitting `bucket`) into a tape of `batch` rows.

    numpy scatters the concatenated lists into the padded arrays in one call per array (per-graph
    numpy calls would cost more than the interpreter itself). Padding rows and steps are inert.
    """
    if len(graphs) > batch:
        raise ValueError(f"pack: {len(graphs)} graphs do not fit a batch of {batch}")
    steps, slots = bucket.steps, bucket.slots
    flat_steps: list[int] = []
    leaf_slots: list[int] = []
    leaf_values: list[Number] = []
    input_slots: list[int] = []
    for g in graphs:
        if g.n_ops > steps or g.n_nodes + EXTRA_SLOTS > slots:
            raise ValueError(
                f"pack: a graph of {g.n_ops} ops and {g.n_nodes} nodes does not fit {bucket}"
            )
        flat_steps += g.steps
        leaf_slots += g.leaf_slots
        leaf_values += g.leaf_values
        input_slots += g.inputs

    program = np.empty((batch, steps, 4), dtype=np.int32)
    program[:, :] = (NOP, bucket.one, bucket.one, bucket.scratch)
    rows, cols = _positions([g.n_ops for g in graphs])
    program[rows, cols] = np.array(flat_steps, dtype=np.int32).reshape(-1, 4)

    values = np.ones((batch, slots))
    leaf_rows, _ = _positions([len(g.leaf_slots) for g in graphs])
    values[leaf_rows, np.asarray(leaf_slots, dtype=np.int64)] = leaf_values  # ints: their floats
    input_counts = tuple(len(g.inputs) for g in graphs)
    input_rows, positions = _positions(input_counts)
    input_cols = np.asarray(input_slots, dtype=np.int64)
    tangents = np.zeros((batch, slots))
    tangents[input_rows, input_cols] = tangent_at(positions)

    output = np.full(batch, bucket.one, dtype=np.int32)
    output[: len(graphs)] = [g.output for g in graphs]
    return Tape(bucket, values, tangents, program, output, input_rows, input_cols, input_counts)
