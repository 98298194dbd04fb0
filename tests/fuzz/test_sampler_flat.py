"""A sampled batch carries its flat arrays to the reference (reference.carried.GraphsWithFlat): what
the sampler makes of its kernel's arrays must be, bit for bit, what `FlatGraphs.of` reads back
from the graphs (deep chains, int leaves, several chunks joined), and it must count only while the
list holds exactly the graphs it was made with. A campaign's reference gets the sampled lists
themselves, and gives them the results it gives their plain copies."""

from __future__ import annotations

import copy
import gc
import marshal
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from engine import Value
from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.check import run_check
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.sampler import CHUNK, SINGLY, GraphStream, SamplerConfig, sample_graphs
from gradoracle.reference.carried import GraphsWithFlat, flat_graphs, graph_columns
from gradoracle.reference.graph import COMPILED, LATER, Graph
from gradoracle.reference.jax_ref import JaxReference
from gradoracle.reference.tape import FlatGraphs, compile_graph, compile_nodes

CONFIGS = {
    "default": SamplerConfig(),
    "deep chains": SamplerConfig(deep=1.0),
    "some deep": SamplerConfig(deep=0.3),
    # every whole-number leaf and constant an int (their -0.0 reads back as 0.0)
    "ints": SamplerConfig(int_leaves=1.0, int_constants=1.0, const=0.6),
    "tiny": SamplerConfig(min_ops=0, max_ops=2, min_inputs=1, max_inputs=1),
    "big": SamplerConfig(min_ops=40, max_ops=90, max_inputs=8),
    "no regions": SamplerConfig(regions=0.0),
}


def assert_same_bits(carried: FlatGraphs, read_back: FlatGraphs) -> None:
    for name, a, b in zip(FlatGraphs._fields, carried, read_back, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # (-0.0 and 0.0 differ here)


def read_back(graphs: Sequence[Graph]) -> FlatGraphs:
    """FlatGraphs.of from each graph's nodes (not from the lists the sampler cached)."""
    return FlatGraphs.of([compile_nodes(Graph(g.nodes, g.output)) for g in graphs])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_carried_arrays_are_what_flat_graphs_of_reads_back(name: str) -> None:
    for seed in range(8):
        graphs = sample_graphs(seed, 2 * CHUNK + 37, CONFIGS[name])  # three chunks joined
        assert isinstance(graphs, GraphsWithFlat)
        carried = graphs.carried_flat()
        assert carried is not None and flat_graphs(graphs) is carried
        assert_same_bits(carried, read_back(graphs))
        assert_same_bits(carried, FlatGraphs.of([compile_graph(g) for g in graphs]))


def test_int_leaves_and_deep_chains_are_in_the_batches_compared() -> None:
    ints = sample_graphs(0, 2 * CHUNK, CONFIGS["ints"])
    leaves = [v for g in ints for v in compile_graph(g).leaf_values]
    assert sum(type(v) is int for v in leaves) > 300
    assert any(type(v) is int and v == 0 for v in leaves)
    deep = sample_graphs(0, CHUNK, CONFIGS["deep chains"])
    assert min(g.n_ops for g in deep) >= 100


def test_takes_in_any_sizes_carry_the_same_arrays() -> None:
    whole = GraphStream(4).take(700)
    stream = GraphStream(4)
    parts = [stream.take(n) for n in (1, 0, 300, CHUNK, 143)]
    assert [g for part in parts for g in part] == whole
    joined = FlatGraphs.concatenate([flat_graphs(part) for part in parts])
    assert_same_bits(joined, flat_graphs(whole))
    assert_same_bits(flat_graphs(parts[1]), FlatGraphs.of([]))


def test_a_changed_list_no_longer_carries_its_arrays() -> None:
    others = sample_graphs(9, 5)
    changes: list[Any] = [
        lambda gs: gs.append(others[0]),
        lambda gs: gs.pop(),
        lambda gs: gs.reverse(),
        lambda gs: gs.__setitem__(3, others[1]),
        lambda gs: gs.__delitem__(0),
        lambda gs: gs.__iadd__(others),
        lambda gs: gs.sort(key=lambda g: g.n_ops),
    ]
    for change in changes:
        graphs = sample_graphs(2, 50)
        change(graphs)
        assert graphs.carried_flat() is None
        assert_same_bits(flat_graphs(graphs), read_back(graphs))
    graphs = sample_graphs(2, 50)
    for plain in (graphs[:40], list(graphs), graphs + others, [g for g in graphs if g.n_ops > 3]):
        assert not isinstance(plain, GraphsWithFlat)
        assert_same_bits(flat_graphs(plain), read_back(plain))


def test_copies_carry_arrays_that_still_fit() -> None:
    graphs = sample_graphs(6, 40)
    for other in (copy.copy(graphs), copy.deepcopy(graphs), pickle.loads(pickle.dumps(graphs))):
        assert other == graphs
        carried = other.carried_flat()
        assert carried is not None
        assert_same_bits(carried, read_back(other))


def test_arrays_for_another_number_of_graphs_are_refused() -> None:
    graphs = sample_graphs(1, 3)
    flat = flat_graphs(graphs)
    ints = np.zeros(len(flat.leaf_values), dtype=bool)
    with pytest.raises(ValueError, match=r"3 graphs of \d+ leaves, but flat arrays of 2 graphs"):
        GraphsWithFlat(graphs, flat_graphs(graphs[:2]), ints)
    with pytest.raises(ValueError, match="leaves, but flat arrays"):
        GraphsWithFlat(graphs, flat, ints[1:])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_wire_lists_from_the_arrays_are_the_graphs_own(name: str) -> None:
    """graph_columns() of the carried arrays (what a sampled graph's lists are made from) is what
    each graph's compile_graph(graph)[:6] is, types and all (ints stay ints): the same bytes once
    marshalled, as the worker's wire writes them."""
    for seed in range(4):
        graphs = sample_graphs(seed, CHUNK + 100, CONFIGS[name])
        flat = graphs.carried_flat()
        assert flat is not None
        lists = list(zip(*graph_columns(flat, graphs.leaf_ints)))
        own = [tuple(compile_nodes(Graph(g.nodes, g.output))[:6]) for g in graphs]
        assert marshal.dumps(lists, 2) == marshal.dumps(own, 2)
        assert [tuple(map(type, x)) for x in lists] == [tuple(map(type, x)) for x in own]
        flags = [type(v) is int for x in own for v in x[2]]
        assert graphs.leaf_ints.tolist() == flags
        graphs.append(graphs[0])
        assert graphs.carried_flat() is None


def test_a_sampled_graph_makes_its_lists_only_when_asked() -> None:
    graphs = sample_graphs(3, 2 * CHUNK, CONFIGS["some deep"])
    assert not any(COMPILED in vars(g) or "inputs" in vars(g) for g in graphs)
    JaxReference().evaluate_batch(graphs)  # packs from the arrays
    assert not any(COMPILED in vars(g) for g in graphs)
    assert graphs[CHUNK + 5].inputs == compile_nodes(graphs[CHUNK + 5]).inputs
    # the first SINGLY graphs of a chunk asked for get their own lists only (the parent reads a
    # few graphs of most batches)...
    assert [k for k, g in enumerate(graphs) if COMPILED in vars(g)] == [CHUNK + 5]
    for k in range(1, SINGLY):
        compile_graph(graphs[CHUNK + 5 + k])
    assert sum(COMPILED in vars(g) for g in graphs) == SINGLY
    # ...the next makes its whole chunk's lists, and only that chunk's
    compile_graph(graphs[-1])
    assert all(COMPILED in vars(g) and LATER not in vars(g) for g in graphs[CHUNK:])
    assert not any(COMPILED in vars(g) for g in graphs[:CHUNK])
    for g in graphs:
        assert compile_graph(g) == compile_nodes(Graph(g.nodes, g.output))


def test_a_chunk_whose_other_graphs_are_gone_still_makes_its_lists() -> None:
    graphs = sample_graphs(12, 40)
    kept = graphs[7]
    expected = compile_nodes(Graph(sample_graphs(12, 40)[7].nodes))
    del graphs
    gc.collect()
    assert compile_graph(kept) == expected and LATER not in vars(kept)


def test_pickles_and_copies_of_a_graph_not_yet_made_carry_its_lists() -> None:
    for make in (
        lambda g: pickle.loads(pickle.dumps(g)), copy.copy, copy.deepcopy,
    ):  # fmt: skip
        graphs = sample_graphs(13, 30)
        other = make(graphs[4])
        assert LATER not in vars(other) and COMPILED in vars(other)
        assert other == graphs[4] and compile_graph(other) == compile_graph(graphs[4])
        assert len(pickle.dumps(graphs[4])) < 2000  # its own lists, not its batch's arrays


def test_the_reference_gives_a_sampled_batch_what_it_gives_its_copy(jax_reference: Any) -> None:
    graphs = sample_graphs(11, CHUNK, SamplerConfig(deep=0.3, int_leaves=0.5))
    sampled, plain = (
        jax_reference.evaluate_batch(graphs),
        jax_reference.evaluate_batch(list(graphs)),
    )
    for name in ("value", "jvp", "jvp_dot", "jvp_scale", "kink_distance", "magnitude",
                 "quantities", "sweeps", "consistent", "in_domain"):  # fmt: skip
        a, b = getattr(sampled, name), getattr(plain, name)
        assert a.tobytes() == b.tobytes(), name
    assert repr(list(sampled)) == repr(list(plain))  # (repr: NaN equals NaN)


class _Recording:
    """The JAX reference, noting whether each batch came with its arrays."""

    def __init__(self, reference: Any) -> None:
        self.reference = reference
        self.carried: list[bool] = []

    def evaluate(self, graphs: Sequence[Graph]) -> Any:
        return self.evaluate_batch(graphs)

    def evaluate_batch(self, graphs: Sequence[Graph]) -> Any:
        self.carried.append(
            isinstance(graphs, GraphsWithFlat) and graphs.carried_flat() is not None
        )
        return self.reference.evaluate_batch(graphs)


def test_a_campaign_hands_its_sampled_batches_to_the_reference(jax_reference: Any) -> None:
    recording = _Recording(jax_reference)
    oracle = Oracle(ValueClassAdapter(Value, "engine:Value"), recording)
    result = run_check(oracle, budget=60.0, seed=5, max_graphs=1000, battery=False)
    assert result.stats.graphs_checked == 1000
    assert len(recording.carried) >= 4 and all(recording.carried[-4:])
