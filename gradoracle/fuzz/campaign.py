"""`gradoracle fuzz`: a time-budgeted campaign over several processes that share findings.

Each shard is a process of its own running the check loop (fast sampler, batched JAX reference,
comparator, shrinker) on its own seed stream (`seed`, shard number), with the implementation
under test in an isolated worker. Shards share findings through a hypothesis example database:
the parent reads what is saved under a key naming the implementation, every shard replays it before
sampling, and the parent saves the shards' shrunk findings there at the end (fuzz.database).
A campaign started later, on this machine or on another one that points at the same database (a
directory on shared storage, or hypothesis's Redis backend), starts from those findings.

On SIGINT or SIGTERM the parent tells every shard to stop; each shrinks what it found for a few
seconds and sends it, and the parent saves what came back to the database and reports it
(fuzz.interrupt).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import UsageError, load_adapter
from gradoracle.fuzz.check import CheckResult, minimal
from gradoracle.fuzz.database import DEFAULT_DATABASE, DEFAULT_PREFIX, FindingsStore, open_store
from gradoracle.fuzz.findings import Finding, Stats
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.fuzz.spellings import Spellings
from gradoracle.reference.graph import Graph

# Seconds a shard keeps back from the budget to send its result; and how long the parent waits past
# the budget before it gives up on a shard.
REPORT_MARGIN = 1.0
STARTUP_MARGIN = 20.0
PROGRESS_EVERY = 1.0  # seconds between a shard's progress messages
# On SIGINT or SIGTERM the parent tells each shard to stop (STOP_SHARD: the terminal's Ctrl-C and a
# scheduler's SIGTERM reach the shards too, but they ignore those, so that each hears it once) and
# waits this long for their results: shrinking (interrupt.SHRINK_SECONDS), confirming each finding
# in a new worker, sending it.
STOP_SHARD = signal.SIGUSR1
STOP_WAIT = 20.0
ORPHAN_POLL = 0.5  # seconds between a shard's looks at whether its parent is still there


@dataclass(frozen=True)
class ShardConfig:
    spec: str
    deadline: float  # time.time() by which the shard's result must be ready
    seed: int
    shard: int
    timeout: float
    in_process: bool
    spellings: Spellings | None = None  # the parent's (fuzz.spellings): shards never detect
    replay: tuple[str, ...] = ()  # earlier findings (graph JSON) the parent read from the database


def shard_seed(seed: int, shard: int) -> int:
    """Distinct, reproducible seed streams: shard k of seed s."""
    return seed * 1_000_003 + shard


def _run_shard(config: ShardConfig, messages: Any) -> None:
    """A shard's process: check loop with progress messages, then its result (or its error).
    It starts with SIGINT, SIGTERM and STOP_SHARD blocked (run_campaign): the first two stay so,
    STOP_SHARD stops it as SIGINT stops a check (fuzz.interrupt)."""
    sys.stdout = sys.stderr  # the parent's stdout carries --json
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    with interrupt.stopping_on((STOP_SHARD,)):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (STOP_SHARD,))
        try:
            messages.put(("result", config.shard, _shard(config, messages)))
        except interrupt.Interrupted:  # before its check began: nothing to send
            messages.put(("error", config.shard, "stopped before its check began"))
        except Exception as e:  # reported by the parent as one line
            messages.put(("error", config.shard, f"{type(e).__name__}: {e}"))


def _stop_when_orphaned(parent: int) -> None:
    """A shard whose parent died (SIGKILL) stops as if told to (what it found is lost with the
    parent, which alone saves to the database), and ends at once after STOP_WAIT."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL)
    os.kill(os.getpid(), STOP_SHARD)
    time.sleep(STOP_WAIT)
    interrupt.end_now(STOP_SHARD)


def _shard(config: ShardConfig, messages: Any) -> CheckResult:
    from gradoracle.fuzz.check import run_check
    from gradoracle.fuzz.isolation import IsolatedImpl
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.fuzz.runner import InProcess, Runner
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    use_compilation_cache(default_cache_dir())
    adapter = load_adapter(config.spec, resolved=config.spellings)
    replay = [Graph.from_json(text) for text in config.replay]
    runner: Runner = (
        InProcess(adapter)
        if config.in_process
        else IsolatedImpl(config.spec, config.timeout, spellings=adapter.spellings)
    )
    last = [0.0]

    def progress(stats: Stats, failures: int, elapsed: float) -> None:
        if elapsed - last[0] >= PROGRESS_EVERY:
            last[0] = elapsed
            messages.put(("progress", config.shard, (stats.graphs_checked, failures)))

    try:
        oracle = Oracle(adapter, JaxReference(), runner)
        result = run_check(
            oracle,
            max(1.0, config.deadline - time.time()),
            shard_seed(config.seed, config.shard),
            progress=progress,
            timeout=config.timeout,
            battery=config.shard == 0,
            replay=replay,
        )
    finally:
        runner.close()
    interrupt.begin_saving()  # told to stop now, it still sends what it has
    return result


def save_findings(store: FindingsStore, results: list[CheckResult]) -> list[str]:
    """Every shard's shrunk findings into the database; battery findings (a snippet, not a graph)
    are rebuilt by every run anyway. The problem, if the database could not take them."""
    graphs = [f.graph for r in results for f in r.findings if not f.snippet]
    problem = store.save(graphs)
    return [problem] if problem else []


def merge(results: list[CheckResult], budget: float, seed: int) -> CheckResult:
    """One result from the shards': stats summed, findings deduplicated and minimised."""
    stats = Stats()
    for r in results:
        for f in fields(Stats):
            value = getattr(r.stats, f.name)
            if f.name == "conventions":  # what the engine does, the same in every shard
                stats.conventions.update(value)
            elif isinstance(value, dict):
                merged = getattr(stats, f.name)
                for k, v in value.items():
                    merged[k] = merged.get(k, 0) + v
            elif f.name == "first_finding_seconds":  # the earliest shard's
                times = [t for t in (stats.first_finding_seconds, value) if t is not None]
                stats.first_finding_seconds = min(times, default=None)
            else:
                setattr(stats, f.name, getattr(stats, f.name) + value)
    by_graph: dict[str, Finding] = {}
    for r in results:
        for finding in r.findings:
            key = f"{finding.category}:{finding.snippet or finding.graph.to_json()}"
            if key in by_graph:
                by_graph[key].count += finding.count
            else:
                by_graph[key] = finding
    findings = minimal(sorted(by_graph.values(), key=lambda f: (f.graph.n_ops, len(f.graph.nodes))))
    first = results[0]
    coverage: dict[str, dict[str, int]] = {}
    for r in results:
        for op, regions in r.coverage.items():
            merged = coverage.setdefault(op, {})
            for region, n in regions.items():
                merged[region] = merged.get(region, 0) + n
    return CheckResult(
        first.impl,
        seed,
        budget,
        stats,
        findings,
        first.supported,
        offered=first.offered,
        refused=first.refused,
        coverage=coverage,
    )


def run_campaign(
    spec: str,
    budget: float,
    workers: int | None = None,
    seed: int = 0,
    database: str | None = str(DEFAULT_DATABASE),
    timeout: float = 5.0,
    in_process: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    spellings: Spellings | None = None,
    database_prefix: str = DEFAULT_PREFIX,
) -> tuple[CheckResult, list[str]]:
    """Run `workers` shards for `budget` seconds; return the merged result and the problems met
    (shard errors, a database that went away). `spellings`: the class's names as the caller
    detected them (else detected here, once)."""
    # A usage error is reported here, once, not by every shard.
    spellings = load_adapter(spec, resolved=spellings).spellings
    store = open_store(database, spec, database_prefix) if database else None
    replay: tuple[str, ...] = ()
    database_problems: list[str] = []
    if store is not None:
        graphs, problem = store.load()
        replay = tuple(g.to_json() for g in graphs)
        database_problems += [problem] if problem else []
    workers = workers or os.cpu_count() or 1
    # The sampler's compiled loop: compiled here on a machine's first campaign (~5 s, kept on disk
    # by numba), so that the shards load it rather than each compile it on their budget.
    sample_graphs(0, 1)
    start_wall, start_cpu = time.monotonic(), time.process_time()
    # Shards spend their budget up to one shared deadline: their start-up (importing JAX, loading
    # compilations) comes out of it, and the campaign ends within its budget plus REPORT_MARGIN.
    shard_deadline = time.time() + budget - REPORT_MARGIN
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    shards = [
        context.Process(
            target=_run_shard,
            args=(
                ShardConfig(spec, shard_deadline, seed, k, timeout, in_process, spellings, replay),
                messages,
            ),
        )
        for k in range(workers)
    ]
    gathered = _Gathered(workers, progress, start_wall)
    stopped_by = None
    try:
        try:
            with interrupt.signals_held((*interrupt.STOP_SIGNALS, STOP_SHARD)):  # see _run_shard
                for process in shards:
                    process.start()
            gathered.take(messages, shards, start_wall + budget + STARTUP_MARGIN)
        except interrupt.Interrupted as e:  # every shard stops and sends what it found
            stopped_by = interrupt.name(e.signum)
            interrupt.begin_saving()  # a second signal ends the process at once
            for process in shards:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, STOP_SHARD)
            gathered.take(messages, shards, time.monotonic() + STOP_WAIT)
    finally:
        interrupt.begin_saving()  # a signal from now on: what was gathered is still reported
        for process in shards:
            if process.pid is None:  # not started
                continue
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join()
    results, errors = gathered.results, gathered.errors
    for k in range(workers):
        if k not in results and k not in errors:
            errors[k] = "no result before the deadline"
    problems = [f"shard {k}: {message}" for k, message in sorted(errors.items())]
    if not results and stopped_by is None:
        raise UsageError("; ".join(problems))
    if store is not None:
        database_problems += save_findings(store, list(results.values()))
    problems += database_problems
    merged = (
        merge([results[k] for k in sorted(results)], budget, seed)
        if results
        else CheckResult(spec, seed, budget, Stats(), [], {})
    )
    merged.interrupted = stopped_by
    merged.seconds = time.monotonic() - start_wall
    merged.cpu_seconds = sum(r.cpu_seconds for r in results.values()) + (
        time.process_time() - start_cpu
    )
    return merged, problems


class _Gathered:
    """What the shards sent so far: results, errors, and their progress (summed for `progress`)."""

    def __init__(
        self, workers: int, progress: Callable[[int, int, float], None] | None, start: float
    ) -> None:
        self.results: dict[int, CheckResult] = {}
        self.errors: dict[int, str] = {}
        self.counts = [(0, 0)] * workers
        self.progress = progress
        self.start = start

    def take(self, messages: Any, shards: list[Any], deadline: float) -> None:
        """Messages until every shard has sent its result or error, or all died, or the deadline
        (a time.monotonic() value)."""
        while len(self.results) + len(self.errors) < len(shards) and time.monotonic() < deadline:
            interrupt.check()
            try:
                kind, shard, payload = messages.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in shards) and messages.empty():
                    break
                continue
            if kind == "progress":
                self.counts[shard] = payload
                if self.progress:
                    checked = sum(c for c, _ in self.counts)
                    failing = sum(f for _, f in self.counts)
                    self.progress(checked, failing, time.monotonic() - self.start)
            elif kind == "result":
                self.results[shard] = payload
            else:
                self.errors[shard] = payload
