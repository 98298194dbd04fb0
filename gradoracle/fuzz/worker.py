"""The worker side of isolation (fuzz.isolation is the parent's): the process that loads the
implementation under test and runs what the parent sends, and the messages both sides exchange.

Every message is a named record (a frozen dataclass; graphs' results travel by column). The
parent sends `RunBatch`, `Call` and `Exit`; the worker answers `Ready` or `LoadFailed` once, then
`PackedResults` (the default adapter's) or `Results` (a custom adapter's) in chunks for a batch,
and `Returned` or `Raised` for a call. While it works it writes into two shared slots the index
of the graph it is in (or `IDLE`, or `CALLING`) and when that began: the parent watches them for
hangs.

A batch of graphs travels in one message, as fuzz.wire encodes it (marshalled by column). The
default adapter builds straight from them and reads the numbers back with less of the oracle's
own work around the engine's (`_FlatAdapter.read_into`), into one float64 array per chunk that
goes back as bytes (`PackedResults`; the parent keeps it as an array: fuzz.batch_results); a
custom adapter gets Graph objects rebuilt from them and its own `run`, its results going back as
lists. Each graph's CPU seconds are its wall time scaled by the worker's share of a core over its
chunk (fuzz.runner.cpu_seconds): CPU clocks are read per chunk, not per graph.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from gradoracle.fuzz import adapters
from gradoracle.fuzz.adapters import BACKWARD, BUILD, READ, UsageError, _as_float
from gradoracle.fuzz.runner import core_share, cpu_seconds
from gradoracle.fuzz.spellings import Spellings
from gradoracle.fuzz.wire import decode
from gradoracle.reference.graph import build_from_steps

# The worker reports results at least every this many graphs (a check's batch: one message for
# it, each message costing both sides system calls and pickling)...
CHUNK_GRAPHS = 256
CHUNK_SECONDS = 0.05  # ...and this often, so that killing it loses little work
ERROR_CHARS = 300
IDLE, CALLING = -1.0, -2.0  # the first shared slot outside any graph; while running a `Call`


# ---- messages: parent to worker -----------------------------------------------------------------


@dataclass(frozen=True)
class RunBatch:
    indices: Sequence[int]  # the batch's graphs' places in the parent's job (a list or a range)
    deadline: float | None  # a time.monotonic() value: graphs not started by then are not run
    payload: bytes  # the graphs, as `encode` writes them


@dataclass(frozen=True)
class Call:
    function: Callable[..., Any]  # a module-level function: pickled by reference
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Exit:
    pass


# ---- messages: worker to parent -----------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    cpu: float  # the worker's process time so far


@dataclass(frozen=True)
class LoadFailed:
    message: str  # one line: a usage error


@dataclass(frozen=True)
class Results:
    """A chunk of a batch's results, by column: one list per field, not a tuple per graph
    (thousands of graphs a second cross the pipe; status, error and phase travel only for the
    graphs that raised). A graph that raised has None for its value and gradients and an entry in
    `raised`; the others ran without error."""

    indices: Sequence[int]  # the graphs' places in the parent's job (a list or a range)
    values: list[Any]  # the output's value (a float), None if it raised
    grads: list[Any]  # one per input (a float, or None for an unset grad), None if it raised
    seconds: list[float]  # the implementation's CPU seconds on each graph (runner.cpu_seconds)
    # (position in this chunk, `describe(exception)`, phase: adapters.BUILD ...) per graph that
    # raised
    raised: list[tuple[int, str, str]]
    finished: bool  # the batch is done (the last chunk)
    cpu: float


@dataclass(frozen=True)
class PackedResults:
    """A chunk of a batch's results from the default adapter, whose numbers are all floats
    (`_FlatAdapter.read_into`), as machine-format arrays' bytes: pickling them is a copy, where
    `Results`' lists cost a pickle opcode and, on the other side, a float object per number;
    and the parent judges a batch from the arrays (fuzz.batch_results), making one graph's
    ImplResult only when something asks for it. A graph that raised has no numbers and an entry
    in `raised`; the others ran without error."""

    indices: Sequence[int]  # the graphs' places in the parent's job (a list or a range)
    # float64 (array "d"): each graph's value, then its gradients in input order, graph after graph
    numbers: bytes
    ends: bytes  # int64 (array "q") per graph: where its numbers end in `numbers`
    unset: list[int]  # places in `numbers` of gradients left unset (None; NaN there)
    walls: bytes  # float64 per graph: the wall seconds around its run
    share: float  # the worker thread's share of a core over the chunk (runner.core_share)
    raised: list[tuple[int, str, str]]  # as in `Results`
    finished: bool
    cpu: float


@dataclass(frozen=True)
class Returned:
    value: Any
    cpu: float


@dataclass(frozen=True)
class Raised:
    pickled: bytes | None  # the exception, if it pickles
    description: str  # `describe(exception)`
    cpu: float


ToWorker = RunBatch | Call | Exit
FromWorker = Ready | LoadFailed | Results | PackedResults | Returned | Raised


def describe(e: BaseException) -> str:
    """'TypeName: first line of the message', at most ERROR_CHARS long."""
    try:
        lines = str(e).strip().splitlines()
    except Exception:  # a hostile __str__
        lines = ["<unprintable message>"]
    text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


class _FlatAdapter(adapters.ValueClassAdapter):
    """The default adapter, building from a FlatGraph what `reference.graph.build` builds from a
    Graph (reference.graph.build_from_steps): no Graph or Node objects to rebuild."""

    def build(self, graph: Any) -> tuple[list[Any], Any]:
        return build_from_steps(graph, self.cls, self.spellings.methods)

    def read(self, graph: Any) -> tuple[float, tuple[float | None, ...]]:
        """`run(graph)`'s value and grads, as `read_into` reads them."""
        numbers: array[float] = array("d")
        unset: list[int] = []
        self.read_into(graph, numbers, unset)
        read: list[float | None] = list(numbers)
        for place in unset:
            read[place] = None
        return cast(float, read[0]), tuple(read[1:])

    def read_into(self, graph: Any, numbers: array[float], unset: list[int]) -> None:
        """`run(graph)`'s value and then its grads appended to `numbers`, the places of grads
        left unset (None) appended to `unset` (NaN at those places). The same calls into the
        engine in the same order, so the same numbers and the same exceptions in the same
        phases, without most of the oracle's own work that `run` adds around them (a method call
        per step, a message built and a type check made per number read, the Outcome, a tuple).
        On an exception, what it appended is the caller's to remove."""
        self.phase = BUILD
        inputs, out = build_from_steps(graph, self.cls, self.spellings.methods)
        self.phase = BACKWARD
        self._backward(out)
        self.phase = READ
        value = self._data(out)
        if type(value) is not float:  # (_as_float gives a float back as it is)
            value = _as_float(value, "the output's value")
        add = numbers.append
        add(value)
        first_grad = len(numbers)
        read_grad = self._grad
        for x in inputs:
            grad = read_grad(x)
            if type(grad) is not float:
                what = f"input {len(numbers) - first_grad}'s gradient"
                grad = _as_float(grad, what, none=True)
                if grad is None:
                    unset.append(len(numbers))
                    grad = math.nan
            add(grad)


# ---- the worker ---------------------------------------------------------------------------------


def worker_main(
    spec: str, path: list[str], cwd: str, conn: Connection, slots: Any, spellings: Spellings | None
) -> None:
    """The worker process. slots: [index of the graph it is in (or IDLE, CALLING), its start]."""
    os.chdir(cwd)
    sys.path[:] = path
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    with contextlib.suppress(OSError):
        os.dup2(2, 1)
    sys.stdout = sys.stderr
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        adapter = adapters.load_adapter(spec, resolved=spellings)
    except UsageError as e:
        return conn.send(LoadFailed(str(e)))
    except Exception as e:
        return conn.send(LoadFailed(f"loading {spec} failed: {describe(e)}"))
    # The slots through a memoryview: a third less time per write than the ctypes array's
    # __setitem__ (three writes per graph), the same 8-byte stores.
    slots = memoryview(slots).cast("B").cast("d")
    fast = None
    if type(adapter) is adapters.ValueClassAdapter:
        fast = _FlatAdapter(adapter.cls, adapter.name, adapter.spellings)
    conn.send(Ready(time.process_time()))
    while True:
        try:
            message: ToWorker = conn.recv()
        except (EOFError, OSError):
            return None
        if isinstance(message, RunBatch):
            flat, batch = decode(message.payload, flat=fast is not None)
            if flat and fast:
                _run_packed(fast, conn, slots, message.indices, message.deadline, batch)
            else:
                _run_batch(adapter, conn, slots, message.indices, message.deadline, batch)
        elif isinstance(message, Call):
            _call(adapter, conn, slots, message.function, message.args)
        else:
            return None


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _run_batch(
    adapter: adapters.Adapter, conn: Connection, slots: Any, indices: Sequence[int],
    deadline: float | None, batch: list[Any],
) -> None:  # fmt: skip
    """Run the graphs with `adapter.run` (its phase says where an exception came from)."""
    now, thread_cpu = time.monotonic, time.thread_time
    first = 0  # the place in the batch of the chunk's first graph
    values: list[Any] = []
    grads: list[Any] = []
    walls: list[float] = []  # wall seconds around each graph's run
    raised: list[tuple[int, str, str]] = []
    value: float | None
    grad: tuple[float | None, ...] | None
    # The engine's CPU time is its wall time scaled by this thread's share of a core over the
    # chunk (runner.cpu_seconds): a CPU clock is a system call (~1 us), the wall clock is not.
    end = chunk_wall = now()
    chunk_cpu = thread_cpu()
    for index, graph in zip(indices, batch):
        # The graphs done so far are sent before the next starts, not after each graph (a slow
        # graph's result still leaves as soon as it is done).
        if values and (len(values) >= CHUNK_GRAPHS or end - chunk_wall >= CHUNK_SECONDS):
            seconds = cpu_seconds(walls, thread_cpu() - chunk_cpu, now() - chunk_wall)
            last = first + len(values)
            done = indices[first:last]  # (a slice of a range is a range: a few bytes to send)
            conn.send(Results(done, values, grads, seconds, raised, False, time.process_time()))
            first, values, grads, walls, raised = last, [], [], [], []
            # (sending can wait on a full pipe: not part of the next chunk)
            end = chunk_wall = now()
            chunk_cpu = thread_cpu()
        if deadline is not None and end >= deadline:
            break
        slots[1] = end  # (when the last graph ended: as good as now for the hang watch)
        slots[0] = index
        start = now()
        try:
            outcome = adapter.run(graph)
            value, grad = outcome.value, outcome.grads
        except Exception as e:
            value = grad = None
            raised.append((len(values), describe(e), adapter.phase))
        end = now()
        walls.append(end - start)
        slots[0] = IDLE
        values.append(value)
        grads.append(grad)
    seconds = cpu_seconds(walls, thread_cpu() - chunk_cpu, now() - chunk_wall)
    done = indices[first : first + len(values)]
    conn.send(Results(done, values, grads, seconds, raised, True, time.process_time()))


def _run_packed(
    adapter: _FlatAdapter, conn: Connection, slots: Any, indices: Sequence[int],
    deadline: float | None, batch: list[Any],
) -> None:  # fmt: skip
    """`_run_batch` for the default adapter, its results sent as `PackedResults`."""
    now, thread_cpu, read = time.monotonic, time.thread_time, adapter.read_into
    first = 0  # the place in the batch of the chunk's first graph
    numbers: array[float] = array("d")
    ends: list[int] = []  # (lists while running: appending to one is the cheapest)
    walls: list[float] = []
    unset: list[int] = []
    raised: list[tuple[int, str, str]] = []
    end = chunk_wall = now()
    chunk_cpu = thread_cpu()
    for index, graph in zip(indices, batch):
        if ends and (len(ends) >= CHUNK_GRAPHS or end - chunk_wall >= CHUNK_SECONDS):
            share = core_share(thread_cpu() - chunk_cpu, now() - chunk_wall)
            last = first + len(ends)
            message = _packed(indices[first:last], numbers, ends, unset, walls, share, raised)
            conn.send(message)
            first, ends, walls, unset, raised, numbers = last, [], [], [], [], array("d")
            end = chunk_wall = now()
            chunk_cpu = thread_cpu()
        if deadline is not None and end >= deadline:
            break
        slots[1] = end
        slots[0] = index
        start = now()
        try:
            read(graph, numbers, unset)
        except Exception as e:
            kept = ends[-1] if ends else 0  # (what this graph appended goes)
            del numbers[kept:]
            while unset and unset[-1] >= kept:
                unset.pop()
            raised.append((len(ends), describe(e), adapter.phase))
        end = now()
        walls.append(end - start)
        slots[0] = IDLE
        ends.append(len(numbers))
    share = core_share(thread_cpu() - chunk_cpu, now() - chunk_wall)
    done = indices[first : first + len(ends)]
    conn.send(_packed(done, numbers, ends, unset, walls, share, raised, finished=True))


def _packed(
    indices: Sequence[int], numbers: array[float], ends: list[int], unset: list[int],
    walls: list[float], share: float, raised: list[tuple[int, str, str]], finished: bool = False,
) -> PackedResults:  # fmt: skip
    return PackedResults(
        indices, numbers.tobytes(), array("q", ends).tobytes(), unset,
        array("d", walls).tobytes(), share, raised, finished, time.process_time(),
    )  # fmt: skip


def _call(
    adapter: adapters.Adapter, conn: Connection, slots: Any, function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:  # fmt: skip
    slots[1] = time.monotonic()
    slots[0] = CALLING
    reply: FromWorker
    try:
        returned = function(adapter, *args)
    except Exception as e:
        pickled = None
        with contextlib.suppress(Exception):
            pickled = pickle.dumps(e, pickle.HIGHEST_PROTOCOL)
        slots[0] = IDLE
        reply = Raised(pickled, describe(e), time.process_time())
    else:
        slots[0] = IDLE
        reply = Returned(returned, time.process_time())
    try:
        conn.send(reply)
    except Exception as e:  # the result does not pickle
        unsent = f"cannot send the result back: {describe(e)}"
        conn.send(Raised(None, unsent, time.process_time()))
