"""`gradoracle fuzz`: a time-budgeted campaign over several processes that share findings.

Each shard is a process of its own running the check loop (fast sampler, batched JAX reference,
comparator, shrinker) on its own seed stream (`seed`, shard number), with the implementation
under test in an isolated worker. Shards share findings through a hypothesis example database:
every shrunk finding is saved under a key naming the implementation, and every shard replays what
is saved there before sampling. A campaign started later, on this machine or on another one that
points at the same database (a directory on shared storage, or hypothesis's Redis backend), starts
from those findings.

On SIGINT or SIGTERM the parent tells every shard to stop; each shrinks what it found for a few
seconds, saves it to the database and sends it, and the parent reports what came back
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
from pathlib import Path
from typing import Any

from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import UsageError, load_adapter
from gradoracle.fuzz.check import CheckResult, minimal
from gradoracle.fuzz.findings import Finding, Stats
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.fuzz.spellings import Spellings
from gradoracle.reference.graph import Graph, GraphError

# Seconds a shard keeps back from the budget to send its result; and how long the parent waits past
# the budget before it gives up on a shard.
REPORT_MARGIN = 1.0
STARTUP_MARGIN = 20.0
PROGRESS_EVERY = 1.0  # seconds between a shard's progress messages
# On SIGINT or SIGTERM the parent tells each shard to stop (STOP_SHARD: the terminal's Ctrl-C and a
# scheduler's SIGTERM reach the shards too, but they ignore those, so that each hears it once) and
# waits this long for their results: shrinking (interrupt.SHRINK_SECONDS), confirming each finding
# in a new worker, saving to the database.
STOP_SHARD = signal.SIGUSR1
STOP_WAIT = 20.0
ORPHAN_POLL = 0.5  # seconds between a shard's looks at whether its parent is still there
DEFAULT_DATABASE = Path(".gradoracle") / "examples"


def database_key(spec: str) -> bytes:
    return f"gradoracle:findings:{spec}".encode()


def open_database(where: str) -> Any:
    """A hypothesis ExampleDatabase: a directory, or redis://host:port[/db] (needs `redis`)."""
    if where.startswith("redis://"):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError as e:
            raise UsageError(f"--database {where}: the redis backend needs `redis` ({e})") from None
        return RedisExampleDatabase(redis.Redis.from_url(where))
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(where)


def saved_graphs(database: Any, key: bytes) -> list[Graph]:
    """The findings saved under `key`, oldest format errors skipped (a database is only a cache)."""
    graphs = []
    for blob in database.fetch(key):
        try:
            graphs.append(Graph.from_json(blob))
        except GraphError:
            continue
    return sorted(graphs, key=Graph.to_json)


@dataclass(frozen=True)
class ShardConfig:
    spec: str
    deadline: float  # time.time() by which the shard's result must be ready
    seed: int
    shard: int
    database: str | None
    timeout: float
    in_process: bool
    spellings: Spellings | None = None  # the parent's (fuzz.spellings): shards never detect


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
    """A shard whose parent died (SIGKILL) stops as if told to, saving what it found to the
    database; if that takes longer than STOP_WAIT it ends at once."""
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
    database = open_database(config.database) if config.database else None
    key = database_key(config.spec)
    replay = saved_graphs(database, key) if database is not None else []
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
    interrupt.begin_saving()  # told to stop now, it still saves and sends what it has
    if database is not None:
        for finding in result.findings:
            if not finding.snippet:  # battery findings are rebuilt by every run anyway
                database.save(key, finding.graph.to_json().encode())
    return result


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
) -> tuple[CheckResult, list[str]]:
    """Run `workers` shards for `budget` seconds; return the merged result and any shard errors.
    `spellings`: the class's names as the caller detected them (else detected here, once)."""
    # A usage error is reported here, once, not by every shard.
    spellings = load_adapter(spec, resolved=spellings).spellings
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
                ShardConfig(
                    spec, shard_deadline, seed, k, database, timeout, in_process, spellings
                ),
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
        except interrupt.Interrupted as e:  # every shard stops, saves and sends what it found
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
