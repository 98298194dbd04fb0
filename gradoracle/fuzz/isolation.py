"""Run the implementation under test in a worker process, so that it cannot take the oracle down.

The worker is started with the ``spawn`` method (nothing of the parent's state, JAX included, is
inherited) and loads the adapter itself from its ``MODULE:CLASS`` spec, with the parent's
``sys.path`` and working directory, and with the parent's spellings (fuzz.spellings: the names the
class uses for backward(), .grad, .data and method ops) when given, so that it never detects them
differently. Its stdout goes to stderr: engines may print, and the parent's
stdout carries ``--json`` output.

The worker's side, and the messages both sides exchange, are fuzz.worker's. A batch of graphs
travels in one message (the graphs' flat lists marshalled by column, not pickled dataclasses).
While it runs, the worker writes the index and start time of the graph it is in into shared memory
and sends results back in chunks (every `CHUNK_GRAPHS` graphs or `CHUNK_SECONDS`); `collect` keeps
the default adapter's chunks as the arrays they came as (fuzz.batch_results.BatchResults). The
parent waits on the pipe and watches the shared slots: a graph running longer than the timeout
is a 'hang' (the worker is killed), a worker that dies is a 'crash' of the graph it was in; either
way a new worker resumes with the graphs whose results did not arrive. An exception raised by the
implementation is an ordinary 'exception' result. Graphs not started before the deadline are
'skipped' and a graph still running just after it is stopped (with the results not yet reported,
also 'skipped'), so a run ends on time whatever the engine does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import LOAD_TIMEOUT, ImplResult, UsageError
from gradoracle.fuzz.batch_results import BatchResults, PackedChunk, ok_result
from gradoracle.fuzz.runner import IsolationError
from gradoracle.fuzz.spellings import Spellings
from gradoracle.fuzz.wire import encode
from gradoracle.fuzz.worker import (
    CALLING,
    IDLE,
    Call,
    Exit,
    FromWorker,
    LoadFailed,
    PackedResults,
    Raised,
    Ready,
    Results,
    Returned,
    RunBatch,
    worker_main,
)
from gradoracle.reference.graph import Graph

__all__ = ["ImplResult", "IsolatedImpl", "IsolationError"]

POLL = 0.01  # seconds between two looks at the shared slots while waiting
DEADLINE_GRACE = 0.05  # a graph still running this long after the deadline is stopped
# A worker alive but in no graph and silent this long past the per-graph timeout is stuck.
SILENCE_GRACE = 2.0
T = TypeVar("T")


@dataclass
class _Worker:
    process: Any  # a SpawnProcess
    conn: Connection
    slots: Any
    cpu: float = 0.0  # the process time it last reported


@dataclass
class _Job:
    graphs: Sequence[Graph]
    deadline: float | None
    # Per graph: its result, the packed chunk it came in (fuzz.batch_results), or None (none yet)
    results: list[ImplResult | PackedChunk | None]
    sent: Sequence[int] = ()  # the graphs the worker has
    done: bool = False


_CTX = multiprocessing.get_context("spawn")


class IsolatedImpl:
    """The implementation `spec` ('MODULE:CLASS') in a worker process; see the module docstring.

    `run(graphs)` is `submit(graphs)` then `collect()`; between the two the caller may do other
    work (the reference, say) while the worker runs the batch. Use as a context manager, or close().
    """

    def __init__(
        self,
        spec: str,
        timeout: float = 5.0,
        load_timeout: float = LOAD_TIMEOUT,
        spellings: Spellings | None = None,
    ) -> None:
        self.spec = spec
        # The parent's detected spellings, sent to every worker; None: the worker detects them.
        self.spellings = spellings
        self.timeout = timeout  # seconds per graph
        self.load_timeout = load_timeout
        self.restarts = 0  # workers replaced
        self.worker_graphs = 0  # graphs the live worker has run (or started) since it began
        # CPU time of all workers so far: as reported with each answer, or by the OS when a worker
        # is killed (a hang's spinning included).
        self.worker_cpu_seconds = 0.0
        self._dead_cpu = 0.0
        # This process's CPU time spent sending graphs and taking results (not the worker's).
        self.message_cpu_seconds = 0.0
        self._box: list[_Worker] = []  # the live worker, shared with the finalizer
        self._job: _Job | None = None
        self._finalizer = weakref.finalize(self, _kill_all, self._box)  # runs at exit too
        self._start(None)

    def run(self, graphs: Sequence[Graph], deadline: float | None = None) -> list[ImplResult]:
        """One result per graph; `deadline` is a time.monotonic() value."""
        self.submit(graphs, deadline)
        return list(self.collect())

    def submit(self, graphs: Sequence[Graph], deadline: float | None = None) -> None:
        """Send `graphs` to the worker and return at once; `collect()` gets the results."""
        if self._job is not None:
            raise RuntimeError("collect() the submitted batch first")
        self._job = job = _Job(graphs, deadline, [None] * len(graphs))
        try:
            with self._killing_on_error():
                self._send_rest(job)
        except BaseException:  # (an interruption) no batch is left that nobody will collect
            self._job = None
            raise

    def collect(self) -> BatchResults:
        """The submitted batch's results (a sequence of ImplResults that keeps the arrays the
        worker sent: fuzz.batch_results)."""
        job, self._job = self._job, None
        if job is None:
            raise RuntimeError("nothing was submitted")
        with self._killing_on_error():
            while not job.done:
                self._watch(job)
                if not job.done:
                    self._send_rest(job)
        return BatchResults(job.results)

    def call(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        """`function(adapter, *args)` run in the worker (a module-level function: it travels by
        reference); its result must pickle.
        Raises what the function raised, or IsolationError if the worker hangs or dies (a new
        worker is started on the next use)."""
        if self._job is not None:
            raise RuntimeError("collect() the submitted batch first")
        with self._killing_on_error():
            worker = self._ensure_worker(None)
            assert worker is not None
            worker.conn.send(Call(function, args))
            sent = time.monotonic()
            while not worker.conn.poll(POLL):
                interrupt.check()
                index, start = worker.slots
                if not worker.process.is_alive() and not worker.conn.poll():
                    raise IsolationError("crash", _death(worker.process))
                now = time.monotonic()
                if index == CALLING and now - start > timeout:
                    raise IsolationError("hang", f"no answer within {timeout:g} s")
                if index != CALLING and now - sent > timeout + SILENCE_GRACE:  # never started it
                    raise IsolationError("hang", f"the worker stopped answering ({timeout:g} s)")
            try:
                message: FromWorker = worker.conn.recv()
            except (EOFError, OSError):
                raise IsolationError("crash", _death(worker.process)) from None
        assert isinstance(message, Returned | Raised), message
        self._cpu(worker, message.cpu)
        if isinstance(message, Returned):
            returned: T = message.value  # what `function` returned: a T
            return returned
        raised = None
        with contextlib.suppress(Exception):  # an exception class that does not unpickle
            raised = pickle.loads(message.pickled) if message.pickled is not None else None
        if isinstance(raised, BaseException):
            raise raised
        raise IsolationError("exception", message.description)

    def fresh(self) -> bool:
        """Make what runs next run in a new worker, one that no earlier graph has touched (a
        native engine can damage its own process: the graph that then fails is not to blame)."""
        if self._job is not None:
            raise RuntimeError("collect() the submitted batch first")
        self._kill()
        return True

    def abandon(self) -> None:
        """Drop the batch submitted and not collected, if any (the run was interrupted while
        the worker ran it): the worker is stopped, and the next use starts a new one."""
        if self._job is not None:
            self._job = None
            self._kill()

    def close(self) -> None:
        """Stop the worker (politely, then by force) and reap it."""
        for worker in self._box:
            with contextlib.suppress(OSError):
                worker.conn.send(Exit())
            worker.process.join(1.0)
        self._kill()

    def __enter__(self) -> IsolatedImpl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _killing_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:  # KeyboardInterrupt included: no worker is left running
            self._kill()
            raise

    def _start(self, deadline: float | None) -> _Worker | None:
        """A new worker with the adapter loaded, or None if the deadline came first."""
        ours, theirs = _CTX.Pipe()
        slots = _CTX.RawArray("d", [IDLE, 0.0])
        path = [p or os.getcwd() for p in sys.path]
        args = (self.spec, path, os.getcwd(), theirs, slots, self.spellings)
        process = _CTX.Process(target=worker_main, args=args, name="gradoracle-worker")
        with interrupt.signals_held():  # Ctrl-C and SIGTERM are the parent's to handle
            process.start()
        theirs.close()
        self._box.append(worker := _Worker(process, ours, slots))
        self.worker_graphs = 0
        limit = time.monotonic() + self.load_timeout
        if deadline is not None:
            limit = min(limit, deadline + DEADLINE_GRACE)
        while not ours.poll(POLL):
            interrupt.check()
            if not process.is_alive() and not ours.poll():
                self._kill()
                raise IsolationError("crash", f"{_death(process)} while loading {self.spec}")
            if time.monotonic() > limit:
                self._kill()
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                raise IsolationError("hang", f"loading {self.spec} took over {self.load_timeout} s")
        message: FromWorker = ours.recv()
        if isinstance(message, LoadFailed):
            self._kill()
            raise UsageError(message.message)
        assert isinstance(message, Ready), message
        self._cpu(worker, message.cpu)
        return worker

    def _ensure_worker(self, deadline: float | None) -> _Worker | None:
        if self._box and self._box[0].process.is_alive():
            return self._box[0]
        self._kill()
        self.restarts += 1
        return self._start(deadline)

    def _kill(self) -> None:
        """Kill and reap the worker; keep the CPU time it used."""
        while self._box:
            worker = self._box.pop()
            self._dead_cpu += max(worker.cpu, _reap(worker))
            self.worker_cpu_seconds = self._dead_cpu

    def _cpu(self, worker: _Worker, cpu: float) -> None:
        worker.cpu = cpu
        self.worker_cpu_seconds = self._dead_cpu + cpu

    # -- batches ---------------------------------------------------------------------------------

    def _send_rest(self, job: _Job) -> None:
        """Send the graphs without a result to the (maybe new) worker; skip them at the deadline."""
        results = job.results
        if results.count(None) == len(results):  # (a new batch: all of it, as a range)
            todo: Sequence[int] = range(len(results))
        else:
            todo = [i for i, r in enumerate(results) if r is None]
        worker = None
        interrupt.check()
        if todo and (job.deadline is None or time.monotonic() < job.deadline):
            worker = self._ensure_worker(job.deadline)
        if worker is None:
            job.done = True
            return
        start = time.process_time()
        graphs = job.graphs if len(todo) == len(results) else [job.graphs[i] for i in todo]
        worker.conn.send(RunBatch(todo, job.deadline, encode(graphs)))
        job.sent = todo
        self.message_cpu_seconds += time.process_time() - start

    def _watch(self, job: _Job) -> None:
        """Take results until the worker finishes `job.sent`, hangs, dies or overruns the
        deadline; in the last three cases it is killed and the graph it was in is marked."""
        worker = self._box[0]
        conn, slots = worker.conn, worker.slots
        heard = time.monotonic()  # the last message, or the start
        while True:
            interrupt.check()
            if conn.poll(POLL):
                received = time.process_time()
                try:
                    message: FromWorker = conn.recv()
                except (EOFError, OSError):
                    return self._crashed(job, worker)
                assert isinstance(message, Results | PackedResults), message
                heard = time.monotonic()
                self._cpu(worker, message.cpu)
                if isinstance(message, PackedResults):
                    self._store_packed(job, message)
                else:
                    self._store(job, message)
                self.message_cpu_seconds += time.process_time() - received
                if message.finished:
                    job.done = True
                    return None
            elif not worker.process.is_alive() and not conn.poll():  # (else read it first)
                return self._crashed(job, worker)
            index, start = int(slots[0]), slots[1]
            now = time.monotonic()
            if index >= 0 and index == slots[0] and now - start > self.timeout:
                self._kill()
                error = f"no answer within {self.timeout:g} s"
                job.results[index] = ImplResult("hang", None, error, now - start)
                return None
            if index < 0 and now - heard > self.timeout + SILENCE_GRACE:
                # Alive, in no graph, and silent: an engine that corrupted its interpreter can
                # leave the worker's own loop stuck. The next graph waiting is marked; check
                # confirms it alone in a new worker before blaming it.
                self._kill()
                waiting = [i for i in job.sent if job.results[i] is None]
                if waiting:
                    error = f"the worker stopped answering between graphs ({now - heard:.3g} s)"
                    job.results[waiting[0]] = ImplResult("hang", None, error, now - heard)
                return None
            if job.deadline is not None and now > job.deadline + DEADLINE_GRACE:
                self._kill()
                if index >= 0 and job.results[index] is None:
                    late = f"stopped at the deadline after {now - start:.3g} s"
                    job.results[index] = ImplResult("skipped", None, late, now - start)
                job.done = True
                return None

    def _store_packed(self, job: _Job, message: PackedResults) -> None:
        """The chunk in the job, at each of its graphs' places (their ImplResults are made
        when asked for: fuzz.batch_results)."""
        chunk = PackedChunk(message)
        indices = message.indices
        self.worker_graphs += len(indices)
        if type(indices) is range and indices.step == 1:
            job.results[indices.start : indices.stop] = [chunk] * len(indices)
        else:
            for index in indices:
                job.results[index] = chunk

    def _store(self, job: _Job, message: Results) -> None:
        """The chunk's ImplResults in the job: `ok_result(value, grads, seconds)` for each
        graph, then ImplResult('exception', None, error, seconds, phase) for those that raised."""
        store, indices, seconds = job.results, message.indices, message.seconds
        self.worker_graphs += len(indices)
        for index, value, grads, spent in zip(indices, message.values, message.grads, seconds):
            store[index] = ok_result(value, grads, spent)
        for position, error, phase in message.raised:
            store[indices[position]] = ImplResult(
                "exception", None, error, seconds[position], phase
            )

    def _crashed(self, job: _Job, worker: _Worker) -> None:
        index, start = int(worker.slots[0]), worker.slots[1]
        worker.process.join(1.0)  # let it finish dying, for its exit code
        self._kill()
        if index < 0 or job.results[index] is not None:  # between graphs: blame the next one
            waiting = [i for i in job.sent if job.results[i] is None]
            if not waiting:
                return
            index, start = waiting[0], time.monotonic()
        error = _death(worker.process)
        job.results[index] = ImplResult("crash", None, error, time.monotonic() - start)


def _death(process: Any) -> str:
    """'worker died (exit code N)' or 'worker died (signal NAME)'."""
    process.join(5.0)
    code = process.exitcode
    if code is None or code >= 0:
        return f"worker died (exit code {code})"
    try:
        return f"worker died (signal {signal.Signals(-code).name})"
    except ValueError:
        return f"worker died (signal {-code})"


def _reap(worker: _Worker) -> float:
    """Kill and join a worker; the CPU time it used, if the OS can tell (0 if already reaped)."""
    before = _children_cpu()
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(5.0)
    worker.conn.close()
    return _children_cpu() - before


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # not Unix
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _kill_all(box: list[_Worker]) -> None:
    """The finalizer (also run at interpreter exit): no worker outlives its IsolatedImpl."""
    while box:
        _reap(box.pop())
