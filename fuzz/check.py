"""`gradoracle check`: probe, battery, random graphs through an implementation and the references,
judged and shrunk.

The run is time-budgeted and deterministic for a seed: the same seed samples the same graphs in the
same order, whatever the machine's speed (a faster machine just gets further down the sequence).
The implementation runs through a runner: `fuzz.isolation.IsolatedImpl` (a worker process, the
default: hangs and crashes become findings) or `InProcess` (trusted engines, tests, benchmarks).
"""

from __future__ import annotations

import gc
import importlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fuzz.adapters import Adapter, ImplResult
from fuzz.battery import run_battery, supports
from fuzz.findings import UNSHRUNK, Finding, Stats, category
from fuzz.sampler import GraphStream, SamplerConfig
from fuzz.shrink import shrink
from reference.compare import FAIL, NOT_COMPARABLE, QUICK_PASS, Verdict, compare
from reference.graph import Graph, Node
from reference.ops import OPS

BATCH = 256  # graphs per reference call: the JAX reference pads batches to 1, 64 or 256
SHRINK_SHARE = 0.3  # of the budget kept for shrinking once something was found
MAX_SHRUNK = 5  # failures shrunk per category; the rest are counted
# Exceptions that mean "this spelling is not supported", not "this spelling is wrong".
UNSUPPORTED = ("AttributeError", "TypeError", "NotImplementedError", "AssertionError")
# Allocations between two young-generation collections while sampling (Python's default: 700).
GC_THRESHOLD = 20_000


class Reference(Protocol):
    def evaluate(self, graphs: Sequence[Graph]) -> Sequence[Any]:
        """One result per graph with `.value` and `.grads` (floats, in input order)."""
        ...


class Runner(Protocol):
    worker_cpu_seconds: float

    def run(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]: ...

    def call(self, function: str, *args: Any, timeout: float) -> Any: ...


class InProcess:
    """Runs the implementation in this process: fast, but a hang or crash takes the run with it."""

    worker_cpu_seconds = 0.0

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter

    def run(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]:
        results = []
        for graph in graphs:
            if deadline is not None and time.monotonic() >= deadline:
                results.append(ImplResult("skipped", None, "", 0.0))
                continue
            start = time.thread_time()  # CPU time: waiting for a core is not the engine's cost
            try:
                outcome = self.adapter.run(graph)
                results.append(ImplResult("ok", outcome, "", time.thread_time() - start))
            except Exception as e:  # the implementation's failure is data, not ours
                error = f"{type(e).__name__}: {e}"
                results.append(ImplResult("exception", None, error, time.thread_time() - start))
        return results

    def call(self, function: str, *args: Any, timeout: float) -> Any:
        module, _, name = function.partition(":")
        return getattr(importlib.import_module(module), name)(self.adapter, *args)


class Oracle:
    """Runs graphs on an implementation and the reference, and judges them."""

    def __init__(
        self, adapter: Adapter, reference: Reference, runner: Runner | None = None
    ) -> None:
        self.adapter = adapter  # names the implementation in snippets and reports
        self.runner: Runner = runner or InProcess(adapter)
        self.reference = reference
        self.stats = Stats()

    def run_impl(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]:
        results = self.runner.run(graphs, deadline)
        self.stats.impl_seconds += sum(r.seconds for r in results)
        return results

    def verdicts(self, graphs: Sequence[Graph], results: Sequence[ImplResult]) -> list[Verdict]:
        """Judge implementation results (none skipped) against the reference."""
        return self._verdicts(graphs, results, self._reference(graphs))

    def _reference(self, graphs: Sequence[Graph]) -> Sequence[Any]:
        """The reference's results, columns and all when it has them (`evaluate_batch`)."""
        start = time.process_time()  # CPU time, JAX's threads included, like impl_seconds
        batch = getattr(self.reference, "evaluate_batch", None)
        refs = batch(graphs) if batch is not None else self.reference.evaluate(graphs)
        self.stats.reference_seconds += time.process_time() - start
        return refs

    def _verdicts(
        self, graphs: Sequence[Graph], results: Sequence[ImplResult], refs: Sequence[Any]
    ) -> list[Verdict]:
        start = time.process_time()
        # The hot path of a campaign: graphs whose every quantity is within QUICK_RTOL of JAX
        # pass at once, told apart in a few numpy calls (reference.jax_ref.JaxBatch.quick_pass);
        # compare() would give them exactly this verdict (tests/fuzz/test_quick_verdicts.py).
        quick_pass = getattr(refs, "quick_pass", None)
        quick = quick_pass(results) if quick_pass is not None else None
        verdicts: list[Verdict] = []
        for k, (graph, result) in enumerate(zip(graphs, results, strict=True)):
            if quick is not None and quick[k]:
                verdicts.append(QUICK_PASS)
                continue
            if result.kind in UNSHRUNK:  # always a finding, comparable or not
                error = f"{result.kind}: {result.error}"
                verdicts.append(Verdict(FAIL, reason=result.error, error=error))
                continue
            ref = refs[k]
            outcome = result.outcome
            value = outcome.value if outcome else None
            grads = outcome.grads if outcome else None
            verdicts.append(
                compare(
                    graph,
                    value,
                    grads,
                    ref.value,
                    ref.grads,
                    result.error,
                    getattr(ref, "kink_distance", None),
                    getattr(ref, "magnitude", None),
                    getattr(ref, "sweeps", None),
                    getattr(ref, "in_domain", None),
                )
            )
        self.stats.compare_seconds += time.process_time() - start
        return verdicts

    def judge(
        self, graphs: Sequence[Graph], deadline: float | None = None
    ) -> list[tuple[Graph, Verdict]]:
        """Run and judge; graphs the deadline cut off are left out."""
        return self._judge(graphs, deadline)[0]

    def _judge(
        self,
        graphs: Sequence[Graph],
        deadline: float | None = None,
        meanwhile: Callable[[], Any] | None = None,
    ) -> tuple[list[tuple[Graph, Verdict]], Any]:
        """judge(), and what `meanwhile()` returns. A runner that can (`submit` and `collect`: a
        worker process) computes while this process runs the reference and then `meanwhile`."""
        submit = getattr(self.runner, "submit", None)
        refs: Sequence[Any] | None = None
        extra = None
        if submit is not None and graphs:
            submit(graphs, deadline)
            try:
                refs = self._reference(graphs)
                if meanwhile is not None:
                    extra = meanwhile()
            finally:  # the runner never keeps a batch nobody collects
                results = self.runner.collect()  # type: ignore[attr-defined]
            self.stats.impl_seconds += sum(r.seconds for r in results)
        else:
            results = self.run_impl(graphs, deadline)
            if meanwhile is not None:
                extra = meanwhile()
        done = [k for k, r in enumerate(results) if r.kind != "skipped"]
        if not done:
            return [], extra
        if len(done) == len(graphs):
            kept, kept_results = graphs, results
        else:
            kept, kept_results = [graphs[k] for k in done], [results[k] for k in done]
            refs = None  # (only at a deadline) judged again for the graphs that ran
        if refs is None:
            refs = self._reference(kept)
        return list(zip(kept, self._verdicts(kept, kept_results, refs), strict=True)), extra

    def fails_like(self, kind: str, deadline: float) -> Callable[[Graph], bool]:
        """A shrinking predicate: the graph still fails in the same category."""

        def still_fails(graph: Graph) -> bool:
            judged = self.judge([graph], deadline)
            return bool(judged) and judged[0][1].status == FAIL and category(judged[0][1]) == kind

        return still_fails


Failures = dict[str, list[tuple[Graph, Verdict]]]  # category -> failing graphs


def single_op_graph(name: str, form: str, rng: random.Random) -> Graph:
    """`op` applied once, in `form`, to operands drawn inside its domain."""
    op = OPS[name]
    values: list[float] = []
    for slot in range(len(form)):
        drawn = op.draw(form, rng, slot, values[0] if values else None)
        values.append(1.5 if drawn is None else drawn)
    nodes = [Node("const" if k == "c" else "input", v) for k, v in zip(form, values, strict=True)]
    nodes.append(Node("op", None, name, tuple(range(len(form)))))
    return Graph(tuple(nodes))


def probe(
    oracle: Oracle, rng: random.Random, deadline: float | None = None
) -> tuple[dict[str, tuple[str, ...]], Failures]:
    """Try every op and form once on in-domain inputs: which the implementation supports, and
    which already give a wrong answer."""
    cases = [(op.name, form) for op in OPS.values() for form in op.forms]
    graphs = [single_op_graph(name, form, rng) for name, form in cases]
    results = oracle.run_impl(graphs, deadline)
    supported: dict[str, tuple[str, ...]] = {}
    kept: list[tuple[Graph, ImplResult]] = []
    for (name, form), graph, result in zip(cases, graphs, results, strict=True):
        if result.kind == "skipped" or (
            result.kind == "exception" and result.error.partition(":")[0] in UNSUPPORTED
        ):
            continue
        kept.append((graph, result))
        if result.kind not in UNSHRUNK:  # a spelling that hangs or kills is not fuzzed further
            supported[name] = (*supported.get(name, ()), form)
    failures: Failures = {}
    if kept:
        verdicts = oracle.verdicts([g for g, _ in kept], [r for _, r in kept])
        for (graph, _), verdict in zip(kept, verdicts, strict=True):
            if verdict.status == FAIL:
                failures.setdefault(category(verdict), []).append((graph, verdict))
    return supported, failures


@dataclass
class CheckResult:
    impl: str
    seed: int
    budget: float
    stats: Stats
    findings: list[Finding]
    supported: dict[str, tuple[str, ...]]
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def skipped(self) -> list[str]:
        """Op spellings the implementation lacks, e.g. 'pow (cv)'."""
        return [
            f"{name} ({form})" if len(op.forms) > 1 else name
            for name, op in OPS.items()
            for form in op.forms
            if form not in self.supported.get(name, ())
        ]


def run_check(
    oracle: Oracle,
    budget: float,
    seed: int = 0,
    config: SamplerConfig | None = None,
    progress: Callable[[Stats, int, float], None] | None = None,
    max_graphs: int | None = None,
    timeout: float = 5.0,
    battery: bool = True,
    replay: Sequence[Graph] = (),
) -> CheckResult:
    """Probe, battery, replay known failures, then sample, judge and shrink until the budget (wall
    seconds) is spent. `replay` graphs (earlier findings) are judged before any random graph."""
    start_wall, start_cpu = time.monotonic(), time.process_time()
    deadline = start_wall + budget
    stats = oracle.stats
    supported, raw = probe(oracle, random.Random(seed), deadline)
    t = time.perf_counter()
    battery_end = time.monotonic() + budget / 3  # the battery may not eat the random graphs' time
    findings = run_battery(oracle, supported, timeout, battery_end) if battery else []
    stats.battery_seconds = time.perf_counter() - t
    known = [g for g in replay if supports(g, supported)]
    for graph, verdict in oracle.judge(known, deadline) if known else []:
        stats.replayed += 1
        if verdict.status == FAIL:
            stats.replayed_failing += 1
            raw.setdefault(category(verdict), []).append((graph, verdict))
    config = config or SamplerConfig()
    ops = tuple(n for n in config.ops if n in supported)
    config = SamplerConfig(**{**config.__dict__, "ops": ops, "forms": supported})
    stream = GraphStream(seed, config)
    failures = sum(map(len, raw.values()))
    limit = max_graphs if max_graphs is not None else float("inf")
    sampled = 0  # graphs drawn so far; the next batch is drawn while the implementation runs one

    def next_batch() -> list[Graph]:
        nonlocal sampled
        t = time.process_time()
        graphs = stream.take(int(min(BATCH, limit - sampled)))
        sampled += len(graphs)
        stats.sample_seconds += time.process_time() - t
        return graphs

    # The cyclic garbage collector cost ~15 % of a campaign's CPU: its full passes traversed the
    # ~10^5 objects of the imports (JAX) and the sampler's shared op nodes every few hundred graphs,
    # while this loop makes hardly any cyclic garbage (the implementation runs elsewhere, or is
    # collected in larger sweeps). What is alive now is frozen, and collections are rarer.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *thresholds[1:])
    try:
        graphs = next_batch() if ops else []
        while graphs:
            stop = deadline - (budget * SHRINK_SHARE if failures else 0.0)
            if time.monotonic() >= stop:
                break
            judged, graphs = oracle._judge(graphs, stop, next_batch)
            for graph, verdict in judged:
                stats.graphs_checked += 1
                if verdict.status == NOT_COMPARABLE:
                    stats.not_comparable += 1
                    key = verdict.reason.split("(")[0].strip()
                    reasons = stats.not_comparable_reasons
                    reasons[key] = reasons.get(key, 0) + 1
                elif verdict.status == FAIL:
                    failures += 1
                    raw.setdefault(category(verdict), []).append((graph, verdict))
            if progress:
                progress(stats, failures, time.monotonic() - start_wall)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    t = time.perf_counter()
    findings = _shrink_all(oracle, raw, deadline) + findings
    stats.shrink_seconds = time.perf_counter() - t
    return CheckResult(
        oracle.adapter.name,
        seed,
        budget,
        stats,
        findings,
        supported,
        seconds=time.monotonic() - start_wall,
        cpu_seconds=time.process_time() - start_cpu + oracle.runner.worker_cpu_seconds,
    )


def _shrink_all(oracle: Oracle, raw: Failures, deadline: float) -> list[Finding]:
    """Shrink the smallest failures of each category; identical results merge into one finding."""
    findings: dict[str, Finding] = {}
    queue = [
        (kind, graph, verdict, len(graphs))
        for kind, graphs in raw.items()
        for graph, verdict in sorted(graphs, key=lambda gv: len(gv[0].nodes))[:MAX_SHRUNK]
    ]
    for k, (kind, graph, verdict, count) in enumerate(queue):
        small, small_verdict = graph, verdict
        if kind not in UNSHRUNK:
            share = (deadline - time.monotonic()) / max(1, len(queue) - k)
            small = shrink(graph, oracle.fails_like(kind, deadline), time.monotonic() + share)
            judged = oracle.judge([small])
            if judged and judged[0][1].status == FAIL:
                small_verdict = judged[0][1]
            else:  # the shrunk graph no longer fails reliably: show the original
                small = graph
        key = small.to_json()
        if key not in findings:
            findings[key] = Finding(kind, small, small_verdict, graph, count)
    return minimal(sorted(findings.values(), key=lambda f: (f.graph.n_ops, len(f.graph.nodes))))


def _ops_used(graph: Graph) -> frozenset[str]:
    return frozenset(n.op for n in graph.nodes if n.op is not None)


def minimal(findings: list[Finding]) -> list[Finding]:
    """Drop a finding when a smaller one of its category uses a subset of its ops: `x * x` already
    explains `(x * x) + y`."""
    kept: list[Finding] = []
    for f in findings:  # smallest first
        if not any(
            k.category == f.category and _ops_used(k.graph) <= _ops_used(f.graph) for k in kept
        ):
            kept.append(f)
    return kept
