"""Sampled batches that carry their flat arrays to the reference (`GraphsWithFlat`).

The sampler draws a batch straight into the arrays `reference.tape.FlatGraphs` holds; reading them
back from every graph's Python lists (`FlatGraphs.of`) cost the reference ~2 us a graph. A list of
graphs made with its arrays keeps them, and `flat_graphs` hands them to the reference for as long
as the list holds exactly those graphs; any other list of graphs goes through FlatGraphs.of.
The worker's wire takes its columns from them too (`wire_columns`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import is_
from typing import Any

import numpy as np

from gradoracle.reference.graph import Graph, Number
from gradoracle.reference.tape import FlatGraphs, compile_graph


class GraphsWithFlat(list[Graph]):
    """A list of graphs that keeps their FlatGraphs (what `FlatGraphs.of` gives for their
    compiled lists) and which of their leaves are Python ints, made by whoever had the arrays
    already (the sampler draws into them): the reference packs from those instead of reading every
    graph's lists back, and the wire takes its columns from them (`wire_columns`). They
    count for as long as the list holds exactly the graphs it was made with (`carried_flat`); a
    slice, a copy by list() or a concatenation is a plain list."""

    __slots__ = ("_flat", "_leaf_ints", "_members")

    def __init__(self, graphs: Sequence[Graph], flat: FlatGraphs, leaf_ints: np.ndarray) -> None:
        super().__init__(graphs)
        if len(flat.n_ops) != len(self) or len(leaf_ints) != len(flat.leaf_values):
            raise ValueError(
                f"{len(self)} graphs of {len(leaf_ints)} leaves, but flat arrays of "
                f"{len(flat.n_ops)} graphs and {len(flat.leaf_values)} leaves"
            )
        self._flat = flat
        self._leaf_ints = leaf_ints
        self._members = tuple(self)

    def carried_flat(self) -> FlatGraphs | None:
        """The FlatGraphs made with the list, if it still holds exactly those graphs."""
        members = self._members
        if len(members) == len(self) and all(map(is_, members, self)):
            return self._flat
        return None

    @property
    def leaf_ints(self) -> np.ndarray:
        """Per leaf of the carried FlatGraphs, whether it is a Python int (its value is the float
        of it there)."""
        return self._leaf_ints


def graph_columns(flat: FlatGraphs, leaf_ints: np.ndarray) -> tuple[Iterator[Any], ...]:
    """The graphs' CompiledGraph fields but the bucket, one iterator per field in graph order, as
    compile_graph gives them: steps, leaf slots and leaf values lists (a Python int where
    leaf_ints is set), the inputs tuple, the output, the node count. One tolist() per array, each
    graph's lists sliced out of those by C-level maps (a Python loop over the graphs cost as
    much as the compiled sampler that drew them)."""
    steps, slots, values = flat.steps.tolist(), flat.leaf_slots.tolist(), flat.leaf_values.tolist()
    for i in np.flatnonzero(leaf_ints).tolist():
        values[i] = int(values[i])
    inputs = tuple(flat.inputs.tolist())  # (a slice of it is the tuple)
    step_offsets, leaf_offsets, input_offsets = (
        offsets.tolist() for offsets in (flat.step_offsets, flat.leaf_offsets, flat.input_offsets)
    )
    leaf_spans = list(map(slice, leaf_offsets[:-1], leaf_offsets[1:]))
    return (
        map(steps.__getitem__, map(slice, step_offsets[:-1], step_offsets[1:])),
        map(slots.__getitem__, leaf_spans),
        map(values.__getitem__, leaf_spans),
        map(inputs.__getitem__, map(slice, input_offsets[:-1], input_offsets[1:])),
        iter(flat.outputs.tolist()),
        iter(flat.n_nodes.tolist()),
    )


def graph_lists(
    flat: FlatGraphs, leaf_ints: np.ndarray, k: int
) -> tuple[list[int], list[int], list[Number], tuple[int, ...], int, int]:
    """Graph k's fields as `graph_columns` gives them, read from its part of the arrays alone: a
    few numpy calls for one graph, where graph_columns converts the whole batch (worth it when
    only a few graphs of a batch are asked for their lists)."""
    s0, s1 = flat.step_offsets[k : k + 2].tolist()
    l0, l1 = flat.leaf_offsets[k : k + 2].tolist()
    i0, i1 = flat.input_offsets[k : k + 2].tolist()
    values = flat.leaf_values[l0:l1].tolist()
    for i in np.flatnonzero(leaf_ints[l0:l1]).tolist():
        values[i] = int(values[i])
    return (
        flat.steps[s0:s1].tolist(),
        flat.leaf_slots[l0:l1].tolist(),
        values,
        tuple(flat.inputs[i0:i1].tolist()),
        int(flat.outputs[k]),
        int(flat.n_nodes[k]),
    )


def wire_columns(flat: FlatGraphs, leaf_ints: np.ndarray) -> tuple[Any, ...]:
    """The six columns fuzz.wire.encode marshals for these graphs, equal object for object
    to what it makes from their compiled lists (the same marshalled bytes), made from the arrays:
    no graph's Python lists are made. Steps, leaf slots and inputs as bytes per graph where every
    number fits in one, else as the list (steps, leaf slots) or tuple (inputs) compile_graph
    gives; leaf values as lists of floats (an int where leaf_ints says); outputs and node counts
    as tuples."""
    values = flat.leaf_values.tolist()
    for i in np.flatnonzero(leaf_ints).tolist():
        values[i] = int(values[i])
    leaf_spans = _spans(flat.leaf_offsets)  # (leaf slots and values share them)
    return (
        _index_column(flat.steps, flat.step_offsets, _spans(flat.step_offsets), list),
        _index_column(flat.leaf_slots, flat.leaf_offsets, leaf_spans, list),
        tuple(map(values.__getitem__, leaf_spans)),
        _index_column(flat.inputs, flat.input_offsets, _spans(flat.input_offsets), tuple),
        tuple(flat.outputs.tolist()),
        tuple(flat.n_nodes.tolist()),
    )


def _spans(offsets: np.ndarray) -> list[slice]:
    """Each graph's slice of a column (its offsets [k]:[k + 1])."""
    bounds = offsets.tolist()
    return list(map(slice, bounds[:-1], bounds[1:]))


def _index_column(
    numbers: np.ndarray,
    offsets: np.ndarray,
    spans: list[slice],
    sequence: type[list[Any]] | type[tuple[Any, ...]],
) -> list[Any]:
    """Each graph's part of `numbers` (its span) as bytes if every number in it is in
    range(256), else as a `sequence` of Python ints: what fuzz.worker._as_bytes makes of the
    compiled lists (bytearray there, bytes here: marshal writes both alike)."""
    as_bytes = numbers.astype(np.uint8).tobytes()  # (wrapped where out of range: not used there)
    if not len(numbers) or (numbers.min() >= 0 and numbers.max() <= 255):  # the usual batch
        return list(map(as_bytes.__getitem__, spans))
    # How many numbers of each graph do not fit: a difference of running counts (empty parts
    # give 0, where a reduceat would not).
    running = np.concatenate(([0], np.cumsum((numbers < 0) | (numbers > 255))))
    misfits = running[offsets[1:]] - running[offsets[:-1]]
    as_ints = numbers.tolist()
    column: list[Any] = list(map(as_bytes.__getitem__, spans))
    for k in np.flatnonzero(misfits).tolist():
        column[k] = sequence(as_ints[spans[k]])
    return column


def flat_graphs(graphs: Sequence[Graph]) -> FlatGraphs:
    """FlatGraphs.of the graphs' compiled lists, or the FlatGraphs they carry (GraphsWithFlat)."""
    carried = graphs.carried_flat() if isinstance(graphs, GraphsWithFlat) else None
    if carried is not None:
        return carried
    return FlatGraphs.of([compile_graph(graph) for graph in graphs])
