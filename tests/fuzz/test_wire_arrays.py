"""A sampled batch goes to the worker straight from its arrays (fuzz.wire.encode with
reference.carried.wire_columns): the payload must be, byte for byte, the one its graphs' compiled
lists give (so the worker decodes the same graphs), and making it must not make those lists. A
list that no longer holds the graphs its arrays were made with goes by its graphs' lists."""

from __future__ import annotations

import marshal
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from engine import Value
from gradoracle.fuzz import isolation
from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.check import run_check
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.sampler import CHUNK, SINGLY, SamplerConfig, sample_graphs
from gradoracle.fuzz.wire import decode, encode
from gradoracle.reference.carried import GraphsWithFlat
from gradoracle.reference.graph import LATER, Graph, Node
from gradoracle.reference.tape import FlatGraphs, compile_graph

x, const, op = Node.input, Node.const, Node.apply

CONFIGS = {
    "default": SamplerConfig(),
    "deep chains": SamplerConfig(deep=1.0),
    # every whole-number leaf and constant an int
    "ints": SamplerConfig(int_leaves=1.0, int_constants=1.0, const=0.6),
    "tiny": SamplerConfig(min_ops=0, max_ops=2, min_inputs=1, max_inputs=1),
    # graphs of 256 nodes and more: their index lists do not fit in bytes
    "too big for bytes": SamplerConfig(min_ops=150, max_ops=400, max_inputs=8),
}


def lists_made(graphs: Sequence[Graph]) -> int:
    """How many of the sampled graphs have had their Python lists made."""
    return sum(LATER not in vars(graph) for graph in graphs)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_sampled_batch_travels_as_the_bytes_its_lists_give(name: str) -> None:
    kinds: set[str] = set()
    for seed in range(6):
        graphs = sample_graphs(seed, 2 * CHUNK + 37, CONFIGS[name])  # three chunks joined
        assert isinstance(graphs, GraphsWithFlat) and graphs.carried_flat() is not None
        from_arrays = encode(graphs)
        assert lists_made(graphs) == 0
        from_lists = encode(list(graphs))  # (a plain list: the graphs' lists are made)
        assert lists_made(graphs) == len(graphs)
        assert from_arrays == from_lists
        _, decoded = decode(from_arrays, flat=True)
        kinds |= {type(flat.steps).__name__ for flat in decoded}
    # steps travelled as bytes, and those of graphs of over 256 nodes (some deep chains) as lists
    assert "bytes" in kinds
    assert "list" in kinds or name not in ("deep chains", "too big for bytes")


def test_sampled_batches_hold_the_leaves_that_matter() -> None:
    """The batches above include int leaves and -0.0 leaves (the first may travel as either)."""
    ints = sample_graphs(1, CHUNK, CONFIGS["ints"])
    assert ints.leaf_ints.any()
    values = [v for g in ints for v in compile_graph(g).leaf_values]
    assert any(type(v) is int for v in values) and any(type(v) is float for v in values)
    assert any(struct.pack("<d", v) == struct.pack("<d", -0.0) for g in sample_graphs(2, 4 * CHUNK)
               for v in compile_graph(g).leaf_values)  # fmt: skip


EDGE_LEAVES = (-0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e300, 0.1,
               3, -7, 0, 2**60)  # fmt: skip


def chain_of(n_nodes: int) -> Graph:
    return Graph((x(0.5), *(op("tanh", k) for k in range(n_nodes - 1))))


def carrying(graphs: list[Graph]) -> GraphsWithFlat:
    """The graphs with their arrays, as another sampler might hand them over."""
    compiled = [compile_graph(graph) for graph in graphs]
    ints = np.array([type(v) is int for c in compiled for v in c.leaf_values], dtype=np.int8)
    return GraphsWithFlat(graphs, FlatGraphs.of(compiled), ints)


def test_edge_leaves_and_sizes_travel_as_their_lists_give_them() -> None:
    graphs = [Graph((x(v), const(v), op("mul", 0, 1), x(v), op("add", 2, 3))) for v in EDGE_LEAVES]
    graphs += [chain_of(n) for n in (255, 256, 257, 300)]
    graphs += [Graph((*(x(0.25) for _ in range(300)), op("add", 299, 298)))]  # inputs > 255
    with_flat = carrying(graphs)
    assert encode(with_flat) == encode(graphs)
    _, decoded = decode(encode(with_flat), flat=True)
    assert struct.pack("<d", decoded[0].leaf_values[0]) == struct.pack("<d", -0.0)
    assert [type(v) for v in decoded[7].leaf_values] == [int, int, int]
    assert decoded[9].leaf_values[0] == 2**60
    # chains of 255 and 256 nodes index up to 255: bytes; longer ones, and 300 inputs: lists
    steps_kinds = [type(got.steps).__name__ for got in decoded[-5:]]
    assert steps_kinds == ["bytes", "bytes", "list", "list", "list"]
    assert type(decoded[-1].inputs) is tuple and type(decoded[-1].leaf_slots) is list
    # each column by type, as marshal writes it (a list and a tuple are not the same bytes)
    columns = marshal.loads(encode(with_flat)[1:])
    assert [type(column).__name__ for column in columns] == [
        "list", "list", "tuple", "list", "tuple", "tuple"
    ]  # fmt: skip


def test_a_list_no_longer_holding_its_graphs_goes_by_their_lists() -> None:
    graphs = sample_graphs(3, 50)
    other = Graph((x(2.0), op("exp", 0)))
    graphs[10] = other
    assert graphs.carried_flat() is None
    _, decoded = decode(encode(graphs), flat=True)
    assert list(decoded[10].steps) == list(compile_graph(other).steps)
    assert encode(graphs) == encode(list(graphs))


def test_an_isolated_run_of_a_sampled_batch_makes_no_lists_and_gives_the_same_results() -> None:
    graphs = sample_graphs(4, CHUNK, SamplerConfig(deep=0.2, int_leaves=0.5))
    with IsolatedImpl("engine:Value") as impl:
        from_arrays = impl.run(graphs)
        assert lists_made(graphs) == 0
        from_lists = impl.run(list(graphs))
    assert [(r.status, repr(r.outcome), r.error, r.phase) for r in from_arrays] == [
        (r.status, repr(r.outcome), r.error, r.phase) for r in from_lists
    ]


def test_a_check_sends_its_sampled_batches_whole_and_makes_no_lists_to_send_them(
    jax_reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """oracle.judge_while -> IsolatedImpl.submit -> encode: the sampled list itself arrives."""
    sent: list[tuple[bool, int]] = []  # per batch: carried its arrays, lists made by encode

    def recording_encode(graphs: Sequence[Graph]) -> bytes:
        carried = isinstance(graphs, GraphsWithFlat) and graphs.carried_flat() is not None
        before = lists_made(graphs) if carried else 0
        payload = encode(graphs)
        sent.append((carried, lists_made(graphs) - before if carried else 0))
        return payload

    monkeypatch.setattr(isolation, "encode", recording_encode)
    adapter = ValueClassAdapter(Value, "engine:Value")
    with IsolatedImpl("engine:Value") as impl:
        oracle = Oracle(adapter, jax_reference, impl)
        result = run_check(oracle, budget=60.0, seed=5, max_graphs=3000, battery=False)
    assert result.stats.graphs_checked == 3000
    sampled = [made for carried, made in sent if carried]
    assert len(sampled) >= 2 and sampled == [0] * len(sampled)


def test_judging_a_sampled_batch_makes_lists_only_for_the_graphs_read_one_by_one(
    jax_reference: Any,
) -> None:
    """The wire and the reference take the arrays; the float64 pass and compare() read a few
    graphs at most, which get their own lists (sampler.SINGLY per chunk), not their whole
    chunk's (the wire alone made all 256 before)."""
    graphs = sample_graphs(6, CHUNK)
    with IsolatedImpl("engine:Value") as impl:
        oracle = Oracle(ValueClassAdapter(Value, "engine:Value"), jax_reference, impl)
        judged = oracle.judge(graphs)
    assert len(judged) == CHUNK
    assert lists_made(graphs) <= SINGLY, lists_made(graphs)
