"""fuzz.isolation: the implementation in a worker process. Same results as in-process for a sound
engine; hangs, crashes, exceptions and non-floats of hostile engines (tests/hostile_engines.py)
reported at the right graph while the rest of the batch still runs; deadlines kept; no zombies."""

from __future__ import annotations

import _thread
import array
import multiprocessing
import signal
import statistics
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import hostile_engines
import pytest

from gradoracle.fuzz.adapters import ImplResult, Outcome, UsageError, load_adapter
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.runner import InProcess, IsolationError, cpu_seconds
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.fuzz.wire import decode, encode
from gradoracle.fuzz.worker import describe
from gradoracle.reference.graph import FlatGraph, Graph, Node
from gradoracle.reference.tape import compile_graph

x, op = Node.input, Node.apply
FINE = Graph((x(1.5), x(-0.5), op("mul", 0, 1), op("add", 2, 0)))  # x*y + x
FINE_EXPECTED = (-0.75 + 1.5, (-0.5 + 1.0, 1.5))


def poisoned(name: str) -> Graph:
    """A graph whose only op besides arithmetic is `name`, on an in-domain operand."""
    return Graph((x(0.7), x(2.0), op("mul", 0, 1), op(name, 2)))


def workers() -> set[int | None]:
    """The live workers (active_children() reaps finished ones: a zombie would show here)."""
    return {p.pid for p in multiprocessing.active_children() if p.name == "gradoracle-worker"}


@pytest.fixture
def new_workers() -> Iterator[Callable[[], set[int | None]]]:
    """The workers started during the test and still there; none may be left at its end."""
    before = workers()
    yield lambda: workers() - before
    assert workers() - before == set()


@pytest.fixture(scope="module")
def engine() -> Iterator[IsolatedImpl]:
    with IsolatedImpl("engine:Value") as impl:
        yield impl


def test_same_results_as_in_process(engine: IsolatedImpl) -> None:
    graphs = sample_graphs(3, 300, SamplerConfig(min_ops=1, max_ops=40))
    graphs += [Graph((x(0.0), op("log", 0))), Graph((x(2.0), op("div", 0, 0)))]  # an exception
    graphs.append(Graph((x(0.0), Node.const(-0.0), op("div", 0, 1))))  # -0.0 survives the wire
    adapter = load_adapter("engine:Value")
    results = engine.run(graphs)
    assert len(results) == len(graphs)
    for graph, result in zip(graphs, results, strict=True):
        expected: tuple[str, object, str, str]
        try:
            expected = ("ok", adapter.run(graph), "", "")
        except Exception as e:
            expected = ("exception", None, describe(e), adapter.phase)
        # (repr: a NaN gradient, log's slope at a subnormal times 0, equals itself there)
        assert repr((result.status, result.outcome, result.error, result.phase)) == repr(expected)
        assert 0 < result.seconds < 1
        if result.outcome is not None:  # made field by field: what the dataclasses would make
            outcome = Outcome(result.outcome.value, result.outcome.grads)
            made = ImplResult("ok", outcome, "", result.seconds)
            assert vars(result) == vars(made) and vars(result.outcome) == vars(outcome)
            assert list(vars(result)) == list(vars(made))
    assert {r.status for r in results} == {"ok", "exception"}
    # Results travel in chunks: the exceptions after the first chunk land at their own graphs.
    assert [(r.status, r.phase) for r in results[-3:]] == [
        ("exception", "build"),
        ("ok", ""),
        ("exception", "build"),
    ]
    assert engine.restarts == 0
    assert engine.worker_cpu_seconds > 0


@pytest.mark.parametrize("isolated", [True, False])
def test_seconds_are_the_engines_cpu_time_not_its_waiting(isolated: bool) -> None:
    """An engine's seconds are its CPU time: a backward() that sleeps 50 ms costs it next to
    nothing (well under a tenth of the 20 ms that a busy one costs), one that keeps a core busy
    for 20 ms costs it about that (each graph's wall time is scaled by the thread's share of a
    core: runner.cpu_seconds)."""
    graphs = [FINE] * 4
    for name, low, high in (("SlowBackward", 0.0, 0.1), ("BusyBackward", 0.6, 1.4)):
        spec = f"hostile_engines:{name}"
        if isolated:
            with IsolatedImpl(spec) as impl:
                cpu = impl.worker_cpu_seconds
                results = impl.run(graphs)
                worker_cpu = impl.worker_cpu_seconds - cpu
        else:
            start = time.process_time()
            results = InProcess(load_adapter(spec)).run(graphs)
            worker_cpu = time.process_time() - start
        assert [r.status for r in results] == ["ok"] * 4
        seconds = [r.seconds for r in results]
        assert all(s > 0 for s in seconds), seconds
        # (the worker's CPU is read once per chunk: what it reports includes all of the graphs')
        assert sum(seconds) <= worker_cpu + 1e-6, (seconds, worker_cpu)
        busy = hostile_engines.BUSY_SECONDS
        assert low * busy <= statistics.median(seconds) <= high * busy, (name, seconds)


def test_cpu_seconds_scale_wall_times_by_the_share_of_a_core() -> None:
    assert cpu_seconds([0.1, 0.3], cpu=0.2, wall=0.8) == [0.025, 0.075]
    # A thread never has more than a core: the clocks' small disagreements are not scaled up.
    assert cpu_seconds([0.1, 0.3], cpu=0.5000001, wall=0.5) == [0.1, 0.3]
    assert cpu_seconds([], cpu=0.0, wall=0.0) == []
    assert cpu_seconds([0.0], cpu=0.0, wall=0.0) == [0.0]


def test_the_wire_format_round_trips_graphs() -> None:
    """Custom adapters get real Graph objects, equal to the ones sent."""
    graphs = sample_graphs(5, 50, SamplerConfig(max_ops=20))
    graphs.append(Graph((x(1.0), Node.const(-0.0), op("mul", 1, 0))))
    steps, decoded = decode(encode(graphs), flat=False)
    assert not steps
    assert decoded == graphs
    assert [g.forms for g in decoded] == [g.forms for g in graphs]
    assert [g.inputs for g in decoded] == [g.inputs for g in graphs]
    assert str(decoded[-1].nodes[1].value) == "-0.0"


def chain_of(n_nodes: int) -> Graph:
    """x, then n_nodes - 1 ops each on the one before (node indices up to n_nodes - 1)."""
    return Graph((x(0.5), *(op("tanh", k) for k in range(n_nodes - 1))))


EDGE_LEAVES = (-0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1.7976931348623157e308, -1e300,
               0.1, 3, -7, 0, 10**30, -(2**70))  # fmt: skip


def test_the_wire_carries_every_field_exactly() -> None:
    """What the default adapter builds from: FlatGraphs equal, number for number and type for
    type, to the compiled graphs sent (ints stay ints, a float keeps its bits), for graphs small
    enough to travel as bytes and graphs too large to."""
    graphs = sample_graphs(11, 200) + sample_graphs(12, 40, SamplerConfig(deep=1.0))
    graphs += [chain_of(n) for n in (255, 256, 257, 300)]
    graphs += [Graph((x(v), Node.const(v), op("mul", 0, 1), x(v), op("add", 2, 3)))
               for v in EDGE_LEAVES]  # fmt: skip
    assert max(g.compiled().n_nodes if g.compiled() else len(g.nodes) for g in graphs) > 256
    flat, decoded = decode(encode(graphs), flat=True)
    assert flat and len(decoded) == len(graphs)
    for graph, got in zip(graphs, decoded, strict=True):
        sent = compile_graph(graph)
        assert isinstance(got, FlatGraph)
        for field in ("steps", "leaf_slots", "inputs"):
            assert list(getattr(got, field)) == list(getattr(sent, field)), field
        assert (got.output, got.n_nodes) == (sent.output, sent.n_nodes)
        assert [(type(v), repr(v)) for v in got.leaf_values] == [
            (type(v), repr(v)) for v in sent.leaf_values
        ]
        assert [struct.pack("<d", v) for v in got.leaf_values if isinstance(v, float)] == [
            struct.pack("<d", v) for v in sent.leaf_values if isinstance(v, float)
        ]
    # (the small graphs' index lists travelled as bytes, the large ones' as lists)
    kinds = {type(got.steps).__name__ for got in decoded}
    assert kinds == {"bytes", "list"}, kinds


def test_index_arrays_travel_as_their_numbers_not_their_buffers() -> None:
    """bytes() or bytearray() of an int64 array is its 8-byte buffer: a compiled graph whose
    lists are arrays (another sampler's) must still arrive as the same numbers."""
    sent = compile_graph(FINE)
    as_arrays = sent._replace(
        steps=array.array("q", sent.steps),
        leaf_slots=array.array("q", sent.leaf_slots),
        inputs=array.array("q", sent.inputs),
    )
    flat, decoded = decode(encode([Graph.from_compiled(as_arrays), FINE]), flat=True)
    assert flat
    for got in decoded:
        assert [list(got.steps), list(got.leaf_slots), list(got.inputs)] == [
            list(sent.steps),
            list(sent.leaf_slots),
            list(sent.inputs),
        ]


def test_graphs_of_every_size_give_the_in_process_results(engine: IsolatedImpl) -> None:
    graphs = sample_graphs(13, 40, SamplerConfig(deep=1.0)) + [
        chain_of(n) for n in (255, 256, 257, 300)
    ]
    graphs += [Graph((x(v), Node.const(3), op("mul", 0, 1))) for v in EDGE_LEAVES]
    adapter = load_adapter("engine:Value")
    results = engine.run(graphs)
    for graph, result in zip(graphs, results, strict=True):
        expected = adapter.run(graph)
        assert result.status == "ok", result
        assert repr(result.outcome) == repr(expected)


class Real(float):
    """A float subclass: marshal refuses it, so the batch travels pickled."""


def unvalidated(cls: type, fields: dict[str, Any]) -> Any:
    """An instance of a frozen dataclass with these fields, its __init__'s checks skipped (a
    graph the oracle's own code would refuse to make)."""
    obj: Any = object.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    return obj


def test_graphs_marshal_cannot_carry_travel_pickled(engine: IsolatedImpl) -> None:
    nodes = (
        *FINE.nodes[:1],
        unvalidated(Node, {**vars(FINE.nodes[1]), "value": Real(-0.5)}),
    )
    odd = unvalidated(Graph, {**vars(FINE), "nodes": nodes + FINE.nodes[2:]})
    assert encode([odd])[:1] == b"p"
    result = engine.run([odd, FINE])
    assert [(r.outcome.value, r.outcome.grads) for r in result if r.outcome] == [FINE_EXPECTED] * 2


def test_empty_batch(engine: IsolatedImpl) -> None:
    assert engine.run([]) == []


@pytest.mark.parametrize(
    ("spec", "poison", "kind", "error"),
    [
        ("HangingTanh", "tanh", "hang", "no answer within 0.5 s"),
        ("ExitingExp", "exp", "crash", "worker died (exit code 3)"),
        ("SegfaultingLog", "log", "crash", "worker died (signal SIGSEGV)"),
        ("SysExitRelu", "relu", "crash", "worker died (exit code 5)"),
    ],
)
def test_a_hang_or_crash_is_reported_and_the_batch_goes_on(
    spec: str, poison: str, kind: str, error: str, new_workers: Callable[[], set[int | None]]
) -> None:
    graphs = [FINE] * 100 + [poisoned(poison)] + [FINE] * 3  # the first 64 results arrive early
    with IsolatedImpl(f"hostile_engines:{spec}", timeout=0.5) as impl:
        results = impl.run(graphs)
        assert [r.status for r in results] == ["ok"] * 100 + [kind] + ["ok"] * 3
        assert results[100].error == error
        assert results[100].outcome is None
        after = [(r.outcome.value, r.outcome.grads) for r in results[101:] if r.outcome]
        assert after == [FINE_EXPECTED] * 3
        assert impl.restarts == 1
        assert len(new_workers()) == 1  # the dead one was reaped
        if kind == "hang":  # its 0.5 s of spinning is counted (the OS tells, at the kill)
            assert impl.worker_cpu_seconds > 0.2
        assert impl.run([poisoned(poison), FINE])[0].status == kind  # the first graph, too
        assert impl.restarts == 2
    assert new_workers() == set()


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("StrData", "TypeError: the output's value is a str, not a number"),
        ("RaisingBackward", "RuntimeError: backward exploded"),
    ],
)
def test_an_exception_is_a_result_not_a_restart(spec: str, error: str) -> None:
    with IsolatedImpl(f"hostile_engines:{spec}") as impl:
        results = impl.run([FINE, FINE])
        assert [(r.status, r.error, r.outcome) for r in results] == [("exception", error, None)] * 2
        assert impl.restarts == 0


def test_engine_prints_go_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with IsolatedImpl("hostile_engines:Printing") as impl:
        assert [r.status for r in impl.run([FINE, FINE])] == ["ok", "ok"]
    out, err = capfd.readouterr()
    assert "engine says hello" not in out
    assert err.count("engine says hello") == 2


def test_a_deadline_skips_what_did_not_start() -> None:
    with IsolatedImpl("hostile_engines:SlowBackward") as impl:
        start = time.monotonic()
        results = impl.run([FINE] * 100, deadline=start + 0.5)  # 50 ms per graph
        elapsed = time.monotonic() - start
        kinds = [r.status for r in results]
        assert 0.5 <= elapsed < 0.5 + 0.3, elapsed
        assert 3 <= kinds.count("ok") <= 11 and kinds.count("skipped") == 100 - kinds.count("ok")
        assert kinds == sorted(kinds)  # 'ok' first, then 'skipped'
        assert impl.restarts == 0  # the worker stopped by itself


def test_a_deadline_stops_a_graph_that_runs_past_it(
    new_workers: Callable[[], set[int | None]],
) -> None:
    with IsolatedImpl("hostile_engines:HangingTanh", timeout=30.0) as impl:
        start = time.monotonic()
        results = impl.run([FINE, poisoned("tanh"), FINE], deadline=start + 0.5)
        assert time.monotonic() - start < 0.5 + 0.3
        # The first result may be lost with the worker (results travel in chunks): then skipped.
        assert [r.status for r in results][1:] == ["skipped", "skipped"]
        assert results[0].status in ("ok", "skipped")
        assert results[1].error.startswith("stopped at the deadline after")
        assert results[2].error == "not started before the deadline"
        assert new_workers() == set()  # killed; the next use starts a new one
        assert impl.run([FINE])[0].status == "ok"
        assert impl.restarts == 1


def test_a_past_deadline_runs_nothing(engine: IsolatedImpl) -> None:
    assert [r.status for r in engine.run([FINE] * 3, deadline=time.monotonic())] == ["skipped"] * 3


def test_call(new_workers: Callable[[], set[int | None]]) -> None:
    with IsolatedImpl("hostile_engines:ClosureValue") as impl:
        assert impl.call(hostile_engines.doubled, 1.25, timeout=5) == 2.5
        with pytest.raises(ValueError, match="failing on purpose"):
            impl.call(hostile_engines.fail, timeout=5)
        with pytest.raises(IsolationError, match="exception: Unpicklable: 1 2"):
            impl.call(hostile_engines.fail_oddly, timeout=5)
        with pytest.raises(IsolationError, match="exception: cannot send the result back"):
            impl.call(hostile_engines.returns_value, timeout=5)
        assert impl.restarts == 0
        start = time.monotonic()
        with pytest.raises(IsolationError, match=r"hang: no answer within 0\.3 s") as hang:
            impl.call(hostile_engines.spin, timeout=0.3)
        assert hang.value.status == "hang" and time.monotonic() - start < 2
        with pytest.raises(IsolationError, match=r"crash: worker died \(exit code 4\)"):
            impl.call(hostile_engines.die, timeout=5)
        assert impl.call(hostile_engines.doubled, 2.0, timeout=5) == 4.0  # a new worker
        assert impl.restarts == 2
        assert [r.status for r in impl.run([FINE])] == ["ok"]
    assert new_workers() == set()


def test_bad_specs_are_usage_errors(new_workers: Callable[[], set[int | None]]) -> None:
    with pytest.raises(UsageError, match="cannot import module 'no_such_module_here'"):
        IsolatedImpl("no_such_module_here:Value")
    with pytest.raises(UsageError, match="has no attribute 'Nope'"):
        IsolatedImpl("engine:Nope")
    assert new_workers() == set()


def test_ctrl_c_kills_the_worker(new_workers: Callable[[], set[int | None]]) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with IsolatedImpl("hostile_engines:HangingTanh", timeout=30.0) as impl:
            threading.Timer(0.3, _thread.interrupt_main).start()
            with pytest.raises(KeyboardInterrupt):
                impl.run([poisoned("tanh")])
            assert new_workers() == set()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_workers_are_reaped_when_the_object_goes_away(
    new_workers: Callable[[], set[int | None]],
) -> None:
    impl = IsolatedImpl("engine:Value")
    assert len(new_workers()) == 1
    del impl
    import gc

    gc.collect()
    assert new_workers() == set()
