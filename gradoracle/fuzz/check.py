"""`gradoracle check`: probe, battery, random graphs through an implementation and the references,
judged and shrunk.

The run is time-budgeted and deterministic for a seed: the same seed samples the same graphs in the
same order, whatever the machine's speed (a faster machine just gets further down the sequence).
The implementation runs through a runner (`fuzz.runner`): `fuzz.isolation.IsolatedImpl` (a worker
process, the default: hangs and crashes become findings) or `InProcess` (trusted engines, tests,
benchmarks).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gradoracle.fuzz import interrupt
from gradoracle.fuzz.battery import run_battery_cases
from gradoracle.fuzz.conventions import NONE_ACCEPTED, Accepted
from gradoracle.fuzz.cpu_split import CpuAccount
from gradoracle.fuzz.findings import CONVENTION, DAMAGED, UNSHRUNK, Finding, Stats, category
from gradoracle.fuzz.oracle import Oracle
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
from gradoracle.reference.compare import FAIL, NOT_COMPARABLE, PASS, Verdict
from gradoracle.reference.graph import Graph

BATCH = 256  # graphs per reference call: ~80 rows of the JAX reference's tape, one call
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
    # Each battery case (fuzz.battery.CASES): "ran", or "not run: why"; empty without a battery.
    battery: dict[str, str] = field(default_factory=dict)
    interrupted: str | None = None  # the signal that stopped the run early ('SIGINT'), if any

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


def offered_partly(offered: set[Spelling]) -> bool:
    """Some op form is offered with one kind of constant only (`a ** 2` but not `a ** 2.5`): the
    sampler draws both kinds, so graphs with a spelling the engine refuses must be dropped. (An
    int leaf, `Value(2)`, is no such form: the sampler draws int leaves only if it is offered.
    Counting it made every check on an engine with int leaves filter every graph, ~50 us each.)"""
    return any(
        s.const
        and s.op != LEAF
        and replace(s, const=INT if s.const == FLOAT else FLOAT) not in offered
        for s in offered
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
            what = category(verdict)
            if what in UNSHRUNK:  # hung or crashed alone in a new worker already (run_probe)
                findings.append(Finding(what, graph, verdict, graph))
            else:
                failures.setdefault(what, []).append((graph, verdict))
    findings += [
        damaged_worker(graph, f"{result.status}: {result.error}", before)
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
    seconds) is spent. `replay` graphs (earlier findings) are judged before any random graph.
    Stopped by a signal (fuzz.interrupt), it shrinks what it found for a few seconds and returns
    that, with `interrupted` set."""
    start_wall, start_cpu = time.monotonic(), time.process_time()
    deadline = start_wall + budget
    stats = oracle.stats
    found = _Found(start_wall, CpuAccount(oracle))
    stopped_by = None

    def wind_up(until: float) -> list[Finding]:
        t = time.perf_counter()
        with found.account.phase("shrink"):
            shrunk = one_per_error(_shrink_all(oracle, found.raw, until) + found.findings)
        stats.shrink_seconds += time.perf_counter() - t
        return shrunk

    with rare_collections():
        try:
            _attack(oracle, found, deadline, budget, seed, config, progress, max_graphs, timeout,
                    battery, replay, accepted)  # fmt: skip
            findings = wind_up(deadline)
            interrupt.check()
            interrupt.begin_saving()  # a signal from now on: the result is still returned
        except interrupt.Interrupted as e:  # keep what was found: shrunk briefly, then saved
            stopped_by = interrupt.name(e.signum)
            interrupt.begin_saving()  # a second signal now ends the process at once
            oracle.runner.abandon()
            findings = wind_up(time.monotonic() + interrupt.SHRINK_SECONDS)
    probed = found.probed
    stats.cpu_split = found.account.split()
    return CheckResult(
        oracle.adapter.name,
        seed,
        budget,
        stats,
        findings,
        forms_offered(probed.offered),
        seconds=time.monotonic() - start_wall,
        cpu_seconds=time.process_time() - start_cpu + oracle.runner.worker_cpu_seconds,
        offered=probed.offered,
        refused=probed.refused,
        coverage=found.stream.coverage() if found.stream is not None else {},
        battery=found.battery,
        interrupted=stopped_by,
    )


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """The run with what is alive at its start frozen, and young collections rarer.

    The cyclic garbage collector cost ~15 % of a campaign's CPU: its full passes traversed the
    ~1.4 * 10^5 objects of the imports (JAX, numba) and the sampler's shared op nodes every few
    hundred graphs, while a run makes hardly any cyclic garbage (the implementation runs
    elsewhere, or is collected in larger sweeps). Frozen from the run's start, not from the first
    random graph on: the probe's first reference call and the battery's chains (~1.5 * 10^5
    nodes) set off five full passes, ~0.1 s of CPU each, half of the battery's own CPU."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class _Found:
    """What a run has found so far: all of it is kept when the run is interrupted."""

    start_wall: float
    account: CpuAccount  # where the CPU went (fuzz.cpu_split)
    probed: ProbeResult = field(default_factory=lambda: ProbeResult([], {}, [], []))
    raw: Failures = field(default_factory=dict)  # failures not yet shrunk
    findings: list[Finding] = field(default_factory=list)  # shown as they are
    stream: GraphStream | None = None
    battery: dict[str, str] = field(default_factory=dict)  # each battery case: ran, or why not


def _attack(
    oracle: Oracle, found: _Found, deadline: float, budget: float, seed: int,
    config: SamplerConfig | None, progress: Callable[[Stats, int, float], None] | None,
    max_graphs: int | None, timeout: float, battery: bool, replay: Sequence[Graph],
    accepted: Accepted,
) -> None:  # fmt: skip
    """Probe, battery, replay, then sample and judge until the deadline (less the shrinking
    share once something failed), filling `found` as it goes."""
    stats = oracle.stats
    with found.account.phase("probe"):
        found.probed = probed = run_probe(oracle, deadline)
    raw, findings = _judge_probe(oracle, probed)
    found.raw, found.findings = raw, findings

    def found_something() -> None:
        if stats.first_finding_seconds is None:
            stats.first_finding_seconds = time.monotonic() - found.start_wall

    if raw or findings:
        found_something()
    t = time.perf_counter()
    battery_end = time.monotonic() + budget / 3  # the battery may not eat the random graphs' time
    if battery:
        with found.account.phase("battery"):  # its findings go straight into found.findings
            _, found.battery = run_battery_cases(
                oracle, probed.offered, timeout, battery_end, accepted, findings
            )
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
    interrupt.check()
    config = sampler_config(config or SamplerConfig(), probed.offered)
    found.stream = stream = GraphStream(seed, config)
    partly = offered_partly(offered)
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
            # (the sampled list itself when it is all: it carries its arrays to the reference)
            graphs = graphs + batch if graphs else batch
            if len(graphs) >= want:
                break
        sampled += len(graphs)
        stats.sample_seconds += time.process_time() - t
        return graphs

    graphs = next_batch() if config.ops else []
    while graphs:
        interrupt.check()
        stop = deadline - (budget * SHRINK_SHARE if failures else 0.0)
        if not stats.graphs_checked and not failures and not findings:
            stop = max(stop, time.monotonic() + FIRST_BATCH_GRACE)
        if time.monotonic() >= stop:
            break
        judged, graphs = oracle.judge_while(graphs, stop, next_batch)
        stats.graphs_checked += len(judged)
        for graph, verdict in judged:  # (most pass: one attribute and one compare for those)
            status = verdict.status
            if status == PASS:
                continue
            if status == NOT_COMPARABLE:
                stats.not_comparable += 1
                key = verdict.reason.split("(")[0].strip()
                reasons = stats.not_comparable_reasons
                reasons[key] = reasons.get(key, 0) + 1
            elif status == FAIL:
                found_something()
                failures += 1
                raw.setdefault(category(verdict), []).append((graph, verdict))
        if progress:
            progress(stats, failures, time.monotonic() - found.start_wall)


def _shrink_all(oracle: Oracle, raw: Failures, deadline: float) -> list[Finding]:
    """Shrink the smallest failures of each category; identical results merge into one finding,
    and each is then confirmed alone in a new worker (see _confirmed)."""
    findings: dict[str, Finding] = {}
    ranked = [
        (rank, what, graph, verdict, len(graphs))
        for what, graphs in raw.items()
        for rank, (graph, verdict) in enumerate(
            sorted(graphs, key=lambda gv: len(gv[0].nodes))[:MAX_SHRUNK]
        )
    ]
    # The smallest failure of every category first, with FIRST_SHARE times the time of the
    # others: the later ones mostly shrink to the same graph.
    queue = sorted(ranked, key=lambda item: item[0])
    weights = [FIRST_SHARE if rank == 0 else 1.0 for rank, *_ in queue]
    for k, (_, what, graph, verdict, count) in enumerate(queue):
        small, small_verdict = graph, verdict
        if what not in UNSHRUNK:
            share = (deadline - time.monotonic()) * weights[k] / sum(weights[k:])
            small = shrink(graph, oracle.fails_like(what, deadline), time.monotonic() + share)
            judged = oracle.judge([small], deadline + CONFIRM_GRACE)
            if judged and judged[0][1].status == FAIL:
                small_verdict = judged[0][1]
            else:  # the shrunk graph no longer fails reliably: show the original
                small = graph
        key = small.to_json()
        if key not in findings:
            findings[key] = Finding(what, small, small_verdict, graph, count)
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
            what = category(verdict)
            return Finding(what, graph, verdict, finding.original, finding.count, finding.snippet)
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
