"""The results' way back from a worker (fuzz.worker.PackedResults, fuzz.batch_results): a batch
kept as the float64 arrays the worker sent gives the ImplResults the implementation gives in
process, field by field and type by type, and the oracle's verdicts on it are the ones it gives
on those ImplResults, whatever odd numbers an engine hands back; and judging it makes no
ImplResult for a graph the quick passes settle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sampler_configs import CONFIGS

from gradoracle.fuzz import batch_results
from gradoracle.fuzz.adapters import ImplResult, load_adapter
from gradoracle.fuzz.batch_results import BatchResults
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.runner import InProcess
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.reference.compare import FAIL, QUICK_PASS, Verdict
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.jax_ref import JaxReference

SPECS = ("engine:Value", "packed_engines:OddReads")


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


@pytest.fixture(scope="module", params=SPECS)
def isolated(request: pytest.FixtureRequest) -> Iterator[IsolatedImpl]:
    with IsolatedImpl(request.param) as impl:
        yield impl


def edge_graphs() -> list[Graph]:
    """Graphs whose results are edges: an exception while building, -0.0, NaN, an input the
    output does not use (its gradient 0, or None), subnormals, a gradient of 0."""
    x, op, c = Node.input, Node.apply, Node.const
    return [
        Graph((x(0.0), op("log", 0))),
        Graph((x(0.0), c(-0.0), op("div", 0, 1))),
        Graph((x(2.0), c(-0.0), op("mul", 0, 1))),
        Graph((x(1e308), x(1e308), op("mul", 0, 1), op("sub", 2, 2))),
        Graph((x(1.5), x(2.0), op("mul", 0, 0))),
        Graph((x(5e-324), op("log", 0))),
        Graph((x(-3.0), op("relu", 0))),
        Graph((x(0.3), x(0.7), op("add", 0, 1), op("mul", 2, 2))),
    ]


def batches() -> list[list[Graph]]:
    """Sampled batches of every shared sampler config (deep chains included), two seeds each,
    with the edges in among them."""
    out = []
    for k, config in enumerate(CONFIGS.values()):
        for seed in (11 + k, 40 + k):
            graphs = list(sample_graphs(seed, 300, config))
            out.append(graphs[:150] + edge_graphs() + graphs[150:])
    return out


def same(a: Sequence[ImplResult], b: Sequence[ImplResult]) -> None:
    """Equal field by field and type by type (repr: NaN equals itself there, -0.0 is not 0.0)."""
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        got = (x.status, x.outcome, x.error, x.phase, type(x.seconds))
        want = (y.status, y.outcome, y.error, y.phase, type(y.seconds))
        assert repr(got) == repr(want), k
        if x.outcome is not None:
            types = {type(x.outcome.value), *map(type, x.outcome.grads)}
            assert types <= {float, type(None)}, types
            assert type(x.outcome.grads) is tuple


def test_packed_results_are_the_in_process_ones(isolated: IsolatedImpl) -> None:
    adapter = load_adapter(isolated.spec)
    statuses = set()
    for graphs in batches():
        isolated.submit(graphs)
        packed = isolated.collect()
        assert isinstance(packed, BatchResults) and packed.columns() is not None
        expected = InProcess(adapter).run(graphs)
        same(packed, expected)
        same(list(packed), expected)  # (made once, then the same objects)
        assert all(a is b for a, b in zip(packed, packed, strict=True))
        assert packed.total_seconds() == pytest.approx(sum(r.seconds for r in packed))
        statuses |= {(r.status, r.phase) for r in packed}
    if isolated.spec == "engine:Value":
        assert statuses == {("ok", ""), ("exception", "build")}
    else:  # (numbers the engine reads back wrong: read errors, after part of a graph's numbers)
        assert statuses == {("ok", ""), ("exception", "build"), ("exception", "read")}
    assert isolated.restarts == 0


def verdicts_text(verdicts: Sequence[Verdict]) -> list[str]:
    return [repr(v) for v in verdicts]


def test_verdicts_from_the_arrays_are_the_verdicts_from_the_results(
    isolated: IsolatedImpl, ref: JaxReference
) -> None:
    adapter = load_adapter(isolated.spec)
    oracle = Oracle(adapter, ref, isolated)
    kinds: set[str] = set()
    for graphs in batches():
        isolated.submit(graphs)
        packed = isolated.collect()
        refs = ref.evaluate_batch(graphs)
        listed = list(BatchResults(list(packed)))  # (the same ImplResults, not as arrays)
        from_arrays = oracle._verdicts(graphs, packed, refs)
        from_results = oracle._verdicts(graphs, listed, refs)
        assert verdicts_text(from_arrays) == verdicts_text(from_results)
        # ...and as compare() gives them one by one, with no quick pass at all.
        pairs = enumerate(zip(graphs, listed, strict=True))
        one_by_one = [oracle._compare(g, r, refs[k]) for k, (g, r) in pairs]
        assert [v.status for v in from_arrays] == [v.status for v in one_by_one]
        kinds |= {v.reason.split("(")[0] if v is not QUICK_PASS else "quick" for v in from_arrays}
    assert "quick" in kinds and len(kinds) > 2, kinds


def test_judging_a_batch_makes_results_only_for_the_graphs_compare_judges(
    isolated: IsolatedImpl, ref: JaxReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    make = batch_results.PackedChunk.result

    def counted(chunk: batch_results.PackedChunk, index: int) -> ImplResult:
        made.append(index)
        return make(chunk, index)

    monkeypatch.setattr(batch_results.PackedChunk, "result", counted)
    oracle = Oracle(load_adapter(isolated.spec), ref, isolated)
    graphs = batches()[0]
    judged = oracle.judge(graphs)
    assert len(judged) == len(graphs)
    # compare() looks at the graphs neither quick pass settled: only those were made.
    compared = [k for k, (_, v) in enumerate(judged) if v is not QUICK_PASS]
    assert made and set(made) <= set(compared)
    if isolated.spec == "engine:Value":  # (a right engine's graphs: mostly quick passes)
        assert len(set(made)) < len(graphs) / 10, len(set(made))


def test_a_batch_resent_after_a_crash_is_judged_from_its_results(ref: JaxReference) -> None:
    """After a restart the graphs left go again as a list: the batch is judged from its
    ImplResults, the crash among them, and the others are the engine's."""
    sampled = [g for g in sample_graphs(3, 300) if all(n.op != "log" for n in g.nodes)]
    crash = Graph((Node.input(2.0), Node.apply("log", 0)))
    graphs = [*sampled[:90], crash, *sampled[90:200]]
    spec = "hostile_engines:SegfaultingLog"
    with IsolatedImpl(spec) as isolated:
        oracle = Oracle(load_adapter(spec), ref, isolated)
        isolated.submit(graphs)
        results = isolated.collect()
        assert isinstance(results, BatchResults) and results.columns() is None
        assert isolated.restarts == 1
        verdicts = oracle._verdicts(graphs, results, ref.evaluate_batch(graphs))
    assert results[90].status == "crash"
    assert verdicts[90].status == FAIL and verdicts[90].error.startswith("crash")
    others = [r for k, r in enumerate(results) if k != 90]
    same(others, InProcess(load_adapter(spec)).run(graphs[:90] + graphs[91:]))
    expected = oracle.verdicts(graphs[:90] + graphs[91:], others)
    assert verdicts_text(verdicts[:90] + verdicts[91:]) == verdicts_text(expected)
