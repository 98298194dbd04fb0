"""How the oracle runs the implementation under test: the `Runner` contract, and `InProcess`.

Two runners keep it: `InProcess` here (trusted engines, tests, benchmarks: fast, but a hang or a
crash takes the run with it) and `fuzz.isolation.IsolatedImpl` (a worker process, the default:
hangs and crashes become findings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from gradoracle.fuzz.adapters import Adapter, ImplResult, Outcome
from gradoracle.reference.graph import Graph

T = TypeVar("T")


class IsolationError(RuntimeError):
    """No answer from a runner's worker: `status` is 'hang', 'crash' or 'exception' (one that
    won't pickle), as an ImplResult's would be."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def cpu_seconds(walls: Sequence[float], cpu: float, wall: float) -> list[float]:
    """The implementation's CPU seconds on each of a stretch of graphs: the wall time around each
    graph's run times this thread's share of a core over the whole stretch (its CPU time / its
    wall time, at most 1), the stretch being the graphs' runs and the loop around them.

    A CPU clock is a system call (~1 us here, against ~0.07 us for the wall clock), too dear to
    read twice per graph. Waiting for a core is not the implementation's cost, and a preemption
    is as likely in one microsecond of the stretch as in another: the scaled times add up, over
    many graphs, to the CPU spent inside the runs. Their sum never exceeds `cpu`."""
    share = core_share(cpu, wall)
    return [w * share for w in walls] if share < 1.0 else list(walls)


def core_share(cpu: float, wall: float) -> float:
    """A thread's share of a core over a stretch: its CPU time / the stretch's wall time, at most
    1 (the two clocks differ a little). `cpu_seconds` scales wall times by it."""
    return cpu / wall if wall > cpu else 1.0


class Runner(Protocol):
    """Runs graphs, and functions of the adapter, on the implementation under test."""

    # CPU seconds spent outside this process (by workers); 0 for a runner that has none.
    worker_cpu_seconds: float
    # Graphs the current worker has run (or started) since it began.
    worker_graphs: int

    def run(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]:
        """One result per graph; graphs not started before `deadline` (time.monotonic()) are
        'skipped'."""
        ...

    def submit(self, graphs: Sequence[Graph], deadline: float | None = None) -> None:
        """Start `run(graphs, deadline)`; `collect()` returns its results. The caller may work in
        between (a runner with a worker process runs the batch meanwhile)."""
        ...

    def collect(self) -> Sequence[ImplResult]:
        """The results of the batch `submit` started (a runner with a worker keeps them as the
        arrays it sent: fuzz.batch_results.BatchResults)."""
        ...

    def call(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        """`function(adapter, *args)` where the graphs run (a module-level function: a worker
        process gets it by reference). Raises what it raised; a runner with a worker raises
        IsolationError when the worker hangs or dies."""
        ...

    def fresh(self) -> bool:
        """Run what comes next in a new process if the runner can (True), else False."""
        ...

    def abandon(self) -> None:
        """Drop a batch `submit` started and nobody will collect (the run was interrupted)."""
        ...

    def close(self) -> None:
        """Release the runner's resources (its worker process)."""
        ...


class InProcess:
    """Runs the implementation in this process: fast, but a hang or crash takes the run with it."""

    worker_cpu_seconds = 0.0

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.worker_graphs = 0  # this process is the worker
        self._submitted: list[ImplResult] | None = None

    def run(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]:
        ran: list[tuple[str, Outcome | None, str, str]] = []  # status, outcome, error, phase
        walls: list[float] = []  # per graph, in order
        now, adapter = time.monotonic, self.adapter
        start_wall, start_cpu = now(), time.thread_time()
        for graph in graphs:
            start = now()
            if deadline is not None and start >= deadline:
                ran.append(("skipped", None, "", ""))
                walls.append(0.0)
                continue
            self.worker_graphs += 1
            try:
                outcome = adapter.run(graph)
                walls.append(now() - start)
                ran.append(("ok", outcome, "", ""))
            except Exception as e:  # the implementation's failure is data, not ours
                walls.append(now() - start)
                ran.append(("exception", None, f"{type(e).__name__}: {e}", adapter.phase))
        # (CPU time: waiting for a core is not the engine's cost)
        seconds = cpu_seconds(walls, time.thread_time() - start_cpu, now() - start_wall)
        return [
            ImplResult(status, outcome, error, spent, phase)
            for (status, outcome, error, phase), spent in zip(ran, seconds, strict=True)
        ]

    def submit(self, graphs: Sequence[Graph], deadline: float | None = None) -> None:
        """Runs the batch at once: there is no other process to run it meanwhile."""
        if self._submitted is not None:
            raise RuntimeError("collect() the submitted batch first")
        self._submitted = self.run(graphs, deadline)

    def collect(self) -> list[ImplResult]:
        results, self._submitted = self._submitted, None
        if results is None:
            raise RuntimeError("nothing was submitted")
        return results

    def call(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        return function(self.adapter, *args)

    def fresh(self) -> bool:
        """A new process for what runs next: impossible in this process (False)."""
        return False

    def abandon(self) -> None:
        self._submitted = None

    def close(self) -> None:
        """Nothing to release."""
