"""Graphs on the wire between the parent (fuzz.isolation) and the worker (fuzz.worker): a batch
in one payload, marshalled by column (`encode`), and back to FlatGraphs or Graphs (`decode`).

Marshalled flat lists (`reference.graph.FlatGraph`, which the sampler writes while sampling) are
several times faster than pickled frozen dataclasses, and the worker does not validate the graphs
again. A sampled batch's columns are made from the sampler's arrays
(reference.carried.wire_columns): the same bytes, without making its graphs' Python lists.
"""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from gradoracle.reference.graph import FlatGraph, Graph, nodes_from_steps

_PLAIN_SEQUENCES = frozenset((list, tuple))


def encode(graphs: Sequence[Graph]) -> bytes:
    """The graphs as one payload: their FlatGraph fields marshalled by column, or (a graph that
    does not marshal, say with a float subclass in it) the Graphs pickled.

    Steps, leaf slots and inputs travel as bytes when every number fits in one (a graph of at
    most 256 nodes): marshal writes and reads a bytes object in one copy where it takes a list's
    ints one by one, and a bytes object gives the builder the same ints (iterating it is as fast
    as a list's) without being one more object for the garbage collector to traverse. Leaf
    values stay lists: marshal keeps their types (an int leaf stays an int) and floats' bits.
    By column, so that the conversions run as C loops (map), not a Python loop per graph.
    Marshal format 2 keeps no table of shared objects (flat data gains nothing from one)."""
    # (imported here, by the parent only: numpy stays out of the worker)
    from gradoracle.reference.carried import GraphsWithFlat, wire_columns
    from gradoracle.reference.tape import compile_graph

    if not graphs:
        return b"m" + marshal.dumps(((),) * 6, 2)
    # A sampled batch still holding its graphs: the same columns from the sampler's arrays,
    # without making every graph's Python lists (~1.5 us a graph) that nothing else here needs.
    if isinstance(graphs, GraphsWithFlat) and (carried := graphs.carried_flat()) is not None:
        return b"m" + marshal.dumps(wire_columns(carried, graphs.leaf_ints), 2)
    try:
        # A sampled graph keeps its compiled lists (Graph.compiled): the first six fields are
        # its FlatGraph's.
        compiled = [g.compiled() or compile_graph(g) for g in graphs]
        steps, slots, values, inputs, outputs, n_nodes = list(zip(*compiled))[:6]
        columns = (_as_bytes(steps), _as_bytes(slots), values, _as_bytes(inputs), outputs, n_nodes)
        return b"m" + marshal.dumps(columns, 2)
    except Exception:  # an unvalidated graph (a float subclass, say): pickle it all
        return b"p" + pickle.dumps(list(graphs), pickle.HIGHEST_PROTOCOL)


def _as_bytes(column: tuple[Sequence[int], ...]) -> list[Any]:
    """Each sequence of ints as a bytearray (marshal writes it as bytes) if its numbers all fit,
    else as it is. (bytearray() of a list takes half the time bytes() does.)"""
    if not set(map(type, column)) <= _PLAIN_SEQUENCES:  # bytearray() of an array is its buffer
        return [list(numbers) for numbers in column]
    try:
        return list(map(bytearray, column))
    except ValueError:  # a number of 256 or more (in a graph of over 256 nodes): one by one
        return [_bytes_if_small(numbers) for numbers in column]


def _bytes_if_small(numbers: Sequence[int]) -> Any:
    try:
        return bytearray(numbers)
    except ValueError:
        return numbers


def decode(payload: bytes, flat: bool) -> tuple[bool, list[Any]]:
    """(flat, batch): FlatGraphs if `flat` and the payload allows, else Graphs. A FlatGraph's
    steps, leaf slots and inputs may be bytes (see `encode`): sequences of the same ints."""
    if payload[:1] == b"p":
        return False, pickle.loads(payload[1:])
    columns = marshal.loads(memoryview(payload)[1:])
    # (tuple.__new__ through map, not FlatGraph._make: no Python call per graph)
    items = list(map(tuple.__new__, repeat(FlatGraph), zip(*columns)))
    return (True, items) if flat else (False, [graph_from_flat(item) for item in items])


def graph_from_flat(flat: FlatGraph) -> Graph:
    """The Graph that reference.tape.compile_graph flattened into these lists."""
    nodes, forms = nodes_from_steps(flat)
    return Graph.trusted(nodes, flat.output, forms, tuple(flat.inputs))
