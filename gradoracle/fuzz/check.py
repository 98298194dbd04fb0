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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gradoracle.fuzz.adapters import Adapter, ImplResult
from gradoracle.fuzz.battery import run_battery
from gradoracle.fuzz.conventions import NONE_ACCEPTED, Accepted
from gradoracle.fuzz.findings import CONVENTION, DAMAGED, UNSHRUNK, Finding, Stats, category
from gradoracle.fuzz.probe import (
    FLOAT,
    INT,
    INT_LEAF,
    LEAF,
    ProbeResult,
    Spelling,
    forms_offered,
    run_probe,
    spellings_of,
)
from gradoracle.fuzz.sampler import GraphStream, SamplerConfig
from gradoracle.fuzz.shrink import shrink
from gradoracle.reference.compare import FAIL, NOT_COMPARABLE, QUICK_PASS, Verdict, compare
from gradoracle.reference.graph import Graph

BATCH = 256  # graphs per reference call: the JAX reference pads batches to 1, 64 or 256
SHRINK_SHARE = 0.3  # of the budget kept for shrinking once something was found
MAX_SHRUNK = 5  # failures shrunk per category; the rest are counted
# Confirming a finding alone in a new worker may run this long past the budget (a hang needs
# the per-graph timeout to show again; most graphs take milliseconds).
CONFIRM_GRACE = 6.0
FILTER_TRIES = 8  # batches drawn in a row when every graph of them used a refused spelling
# Random graphs are the main attack: when the probe and the battery spent the budget (a small
# budget on a loaded machine), the first batch still runs, for up to this many seconds past it.
# A run that checked no random graph at all is not a pass (the command line says so).
FIRST_BATCH_GRACE = 10.0
FIRST_SHARE = 4.0  # shrinking time of a category's smallest failure, against 1 for the others
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

    def fresh(self) -> bool:
        """Run what comes next in a new process if the runner can (True), else False."""
        ...


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
                seconds = time.thread_time() - start
                results.append(ImplResult("exception", None, error, seconds, self.adapter.phase))
        return results

    def fresh(self) -> bool:
        """A new process for what runs next: impossible in this process (False)."""
        return False

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

    def run_alone(self, graph: Graph, deadline: float | None = None) -> ImplResult | None:
        """The graph run alone in a new worker; None if the runner cannot start one."""
        if not self.runner.fresh():
            return None
        result = self.run_impl([graph], deadline)[0]
        self.runner.fresh()  # what comes next does not inherit what this graph did
        return result

    def judge_alone(self, graph: Graph, deadline: float | None = None) -> Verdict | None:
        """The verdict on the graph run alone in a new worker; None if the runner cannot start
        one, or the graph did not run before `deadline`."""
        result = self.run_alone(graph, deadline)
        if result is None or result.kind == "skipped":
            return None
        return self.verdicts([graph], [result])[0]

    def fails_like(self, kind: str, deadline: float) -> Callable[[Graph], bool]:
        """A shrinking predicate: the graph still fails in the same category."""

        def still_fails(graph: Graph) -> bool:
            judged = self.judge([graph], deadline)
            return bool(judged) and judged[0][1].status == FAIL and category(judged[0][1]) == kind

        return still_fails


Failures = dict[str, list[tuple[Graph, Verdict]]]  # category -> failing graphs


@dataclass
class CheckResult:
    impl: str
    seed: int
    budget: float
    stats: Stats
    findings: list[Finding]
    supported: Mapping[str, tuple[str, ...]]  # op -> forms with an offered spelling
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    offered: list[Spelling] = field(default_factory=list)  # spellings fuzzed
    refused: dict[Spelling, str] = field(default_factory=dict)  # not offered: what they raised
    # How often each sampling region was drawn: op -> region -> count (fuzz.sampler).
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def skipped(self) -> list[str]:
        """Spellings the implementation does not offer, e.g. 'a ** 2.5'."""
        return [str(s) for s in self.refused]

    @property
    def bugs(self) -> list[Finding]:
        return [f for f in self.findings if f.category != CONVENTION]

    @property
    def conventions(self) -> list[Finding]:
        """Findings where the engine chose another convention than the reference (not accepted)."""
        return [f for f in self.findings if f.category == CONVENTION]

    @property
    def checked_nothing(self) -> bool:
        """No spelling offered and nothing found: the class is not a Value class we can drive."""
        return not any(s.op != LEAF for s in self.offered) and not self.findings


def sampler_config(config: SamplerConfig, offered: Sequence[Spelling]) -> SamplerConfig:
    """The config restricted to the offered spellings: their ops and forms, int leaves only if
    `Value(2)` works, int constants only if some int constant does (all whole-number constants as
    ints if no float constant does)."""
    forms = dict(forms_offered(offered))
    consts = {s.const for s in offered if s.const}
    int_constants = config.int_constants if consts == {INT, FLOAT} else float(consts == {INT})
    return replace(
        config,
        ops=tuple(n for n in config.ops if n in forms),
        forms=forms,
        int_leaves=config.int_leaves if INT_LEAF in offered else 0.0,
        int_constants=int_constants,
    )


def _judge_probe(oracle: Oracle, probe: ProbeResult) -> tuple[Failures, list[Finding]]:
    """The probe's runs judged like random graphs, and the runs that failed only in a worker
    that earlier graphs had used."""
    failures: Failures = {}
    findings: list[Finding] = []
    if probe.judged:
        graphs = [g for g, _ in probe.judged]
        verdicts = oracle.verdicts(graphs, [r for _, r in probe.judged])
        for graph, verdict in zip(graphs, verdicts, strict=True):
            if verdict.status != FAIL:
                continue
            kind = category(verdict)
            if kind in UNSHRUNK:  # hung or crashed alone in a new worker already (run_probe)
                findings.append(Finding(kind, graph, verdict, graph))
            else:
                failures.setdefault(kind, []).append((graph, verdict))
    findings += [
        damaged_worker(graph, f"{result.kind}: {result.error}", before)
        for graph, result, before in probe.damaged
    ]
    return failures, findings


def damaged_worker(graph: Graph, what: str, before: int | None) -> Finding:
    """A graph that hung, crashed or failed in a worker that had run other graphs, and passes
    alone in a new one: the engine damages its own process, or keeps state between graphs."""
    after = f"after running {before} graphs" if before is not None else "after other graphs"
    reason = (
        f"the worker failed ({what}) {after}; the same graph alone in a new worker passes, so "
        "the engine damages its own process or keeps state between graphs"
    )
    return Finding(DAMAGED, graph, Verdict(FAIL, reason=reason, error=what), graph)


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
    accepted: Accepted = NONE_ACCEPTED,
) -> CheckResult:
    """Probe, battery, replay known failures, then sample, judge and shrink until the budget (wall
    seconds) is spent. `replay` graphs (earlier findings) are judged before any random graph."""
    start_wall, start_cpu = time.monotonic(), time.process_time()
    deadline = start_wall + budget
    stats = oracle.stats
    probed = run_probe(oracle, deadline)
    supported = forms_offered(probed.offered)
    raw, findings = _judge_probe(oracle, probed)

    def found_something() -> None:
        if stats.first_finding_seconds is None:
            stats.first_finding_seconds = time.monotonic() - start_wall

    if raw or findings:
        found_something()
    t = time.perf_counter()
    battery_end = time.monotonic() + budget / 3  # the battery may not eat the random graphs' time
    if battery:
        findings += run_battery(oracle, probed.offered, timeout, battery_end, accepted)
        if findings:
            found_something()
    stats.battery_seconds = time.perf_counter() - t
    offered = set(probed.offered)
    known = [g for g in replay if spellings_of(g) <= offered]
    for graph, verdict in oracle.judge(known, deadline) if known else []:
        stats.replayed += 1
        if verdict.status == FAIL:
            stats.replayed_failing += 1
            found_something()
            raw.setdefault(category(verdict), []).append((graph, verdict))
    config = sampler_config(config or SamplerConfig(), probed.offered)
    stream = GraphStream(seed, config)
    # An op form offered with one kind of constant only (`a ** 2` but not `a ** 2.5`): the sampler
    # draws both kinds, so graphs with a spelling the engine refuses are dropped here.
    partly = any(
        s.const and replace(s, const=INT if s.const == FLOAT else FLOAT) not in offered
        for s in offered
    )
    failures = sum(map(len, raw.values()))
    limit = max_graphs if max_graphs is not None else float("inf")
    sampled = 0  # graphs drawn so far; the next batch is drawn while the implementation runs one

    def next_batch() -> list[Graph]:
        nonlocal sampled
        t = time.process_time()
        graphs: list[Graph] = []
        want = int(min(BATCH, limit - sampled))
        for _ in range(
            FILTER_TRIES if partly else 1
        ):  # full batches: the reference compiles per size
            batch = stream.take(want - len(graphs))
            if partly:
                batch = [g for g in batch if spellings_of(g) <= offered]
            graphs += batch
            if len(graphs) >= want:
                break
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
        graphs = next_batch() if config.ops else []
        while graphs:
            stop = deadline - (budget * SHRINK_SHARE if failures else 0.0)
            if not stats.graphs_checked and not failures and not findings:
                stop = max(stop, time.monotonic() + FIRST_BATCH_GRACE)
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
                    found_something()
                    failures += 1
                    raw.setdefault(category(verdict), []).append((graph, verdict))
            if progress:
                progress(stats, failures, time.monotonic() - start_wall)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    t = time.perf_counter()
    findings = one_per_error(_shrink_all(oracle, raw, deadline) + findings)
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
        offered=probed.offered,
        refused=probed.refused,
        coverage=stream.coverage(),
    )


def _shrink_all(oracle: Oracle, raw: Failures, deadline: float) -> list[Finding]:
    """Shrink the smallest failures of each category; identical results merge into one finding,
    and each is then confirmed alone in a new worker (see _confirmed)."""
    findings: dict[str, Finding] = {}
    ranked = [
        (rank, kind, graph, verdict, len(graphs))
        for kind, graphs in raw.items()
        for rank, (graph, verdict) in enumerate(
            sorted(graphs, key=lambda gv: len(gv[0].nodes))[:MAX_SHRUNK]
        )
    ]
    # The smallest failure of every category first, with FIRST_SHARE times the time of the
    # others: the later ones mostly shrink to the same graph.
    queue = sorted(ranked, key=lambda item: item[0])
    weights = [FIRST_SHARE if rank == 0 else 1.0 for rank, *_ in queue]
    for k, (_, kind, graph, verdict, count) in enumerate(queue):
        small, small_verdict = graph, verdict
        if kind not in UNSHRUNK:
            share = (deadline - time.monotonic()) * weights[k] / sum(weights[k:])
            small = shrink(graph, oracle.fails_like(kind, deadline), time.monotonic() + share)
            judged = oracle.judge([small], deadline + CONFIRM_GRACE)
            if judged and judged[0][1].status == FAIL:
                small_verdict = judged[0][1]
            else:  # the shrunk graph no longer fails reliably: show the original
                small = graph
        key = small.to_json()
        if key not in findings:
            findings[key] = Finding(kind, small, small_verdict, graph, count)
    ordered = sorted(findings.values(), key=lambda f: (f.graph.n_ops, len(f.graph.nodes)))
    return [_confirmed(oracle, f) for f in minimal(ordered)]


def _confirmed(oracle: Oracle, finding: Finding) -> Finding:
    """The finding as its graph shows it alone in a new worker: a graph is blamed only for what
    it does by itself. If neither the shrunk graph nor the original fails alone, the worker had
    been damaged (or the engine keeps state between graphs): a finding of its own category."""
    for graph in dict.fromkeys((finding.graph, finding.original)):
        verdict = oracle.judge_alone(graph, time.monotonic() + CONFIRM_GRACE)
        if verdict is None:  # in-process: no new worker to be had
            return finding
        if verdict.status == FAIL:
            kind = category(verdict)
            return Finding(kind, graph, verdict, finding.original, finding.count, finding.snippet)
    what = finding.verdict.error or finding.verdict.reason
    damaged = damaged_worker(finding.original, what, None)
    damaged.count = finding.count
    return damaged


def one_per_error(findings: list[Finding]) -> list[Finding]:
    """One finding per distinct exception (or crash, or hang), and one damaged-worker finding: a
    backward() that always raises fails every battery case and every graph the same way, and one
    smallest example says it (the others are counted)."""
    by_error: dict[str, Finding] = {}
    kept: list[Finding] = []
    for finding in findings:
        error = DAMAGED if finding.category == DAMAGED else finding.verdict.error
        if not error:
            kept.append(finding)
        elif error not in by_error:
            by_error[error] = finding
            kept.append(finding)
        else:
            first = by_error[error]
            smaller = first.graph.n_ops == 0 or finding.graph.n_ops < first.graph.n_ops
            if finding.graph.n_ops > 0 and smaller and not finding.snippet:
                kept[kept.index(first)] = by_error[error] = finding
                finding.count += first.count
            else:
                first.count += finding.count
    return kept


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
