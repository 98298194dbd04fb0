"""A batch's results as they come back from a worker, kept as arrays (`BatchResults`).

The worker sends the default adapter's results as float64 bytes (fuzz.worker.PackedResults):
each graph's value and then its gradients, graph after graph. Making an ImplResult and an Outcome
per graph, then tuples of them for the quick pass and a numpy array again from those, cost the
parent ~3 us a graph of work that is not the verdict's. `BatchResults` keeps the arrays: the
oracle's quick passes read them (`columns`, `aligned`), and a graph's ImplResult is made only
when asked for (`results[k]`: the graphs compare() judges one by one, a report, the shrinker),
equal field by field to the one `InProcess` makes. Results that came otherwise (a hang, a crash,
a custom adapter's `Results`) sit in it as ImplResults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from gradoracle.fuzz.adapters import ImplResult, Outcome
from gradoracle.fuzz.worker import PackedResults

SKIPPED = ImplResult("skipped", None, "not started before the deadline", 0.0)
_OK_FIELDS = vars(ImplResult("ok", None, "", 0.0))  # what `ok_result` fills in, then completes


def ok_result(value: Any, grads: Any, seconds: float) -> ImplResult:
    """ImplResult('ok', Outcome(value, grads), '', seconds), equal to what the frozen
    dataclasses' __init__ would make at a fraction of the cost (thousands a second come back
    from a worker): no validation, each object's own __dict__ filled in place (a quarter less
    than setting a new one)."""
    outcome: Any = object.__new__(Outcome)
    fields = outcome.__dict__
    fields["value"] = value
    fields["grads"] = grads
    result: Any = object.__new__(ImplResult)
    fields = result.__dict__
    fields.update(_OK_FIELDS)  # (status 'ok', no error, no phase: in the fields' order)
    fields["outcome"] = outcome
    fields["seconds"] = seconds
    return result  # type: ignore[no-any-return]


class PackedChunk:
    """One PackedResults message, as arrays."""

    __slots__ = ("indices", "numbers", "ends", "unset", "seconds", "raised", "_places")

    def __init__(self, message: PackedResults) -> None:
        self.indices = message.indices
        self.numbers = np.frombuffer(message.numbers, dtype=np.float64)
        self.ends = np.frombuffer(message.ends, dtype=np.int64)
        walls = np.frombuffer(message.walls, dtype=np.float64)
        # (runner.cpu_seconds: wall times scaled by the share of a core)
        self.seconds = walls * message.share if message.share < 1.0 else walls
        self.unset = message.unset
        self.raised = {position: (error, phase) for position, error, phase in message.raised}
        self._places: dict[int, int] | None = None
        if not len(self.ends) == len(walls) == len(self.indices):
            raise ValueError(f"a chunk of {len(self.indices)} graphs with {len(self.ends)} ends")

    def place(self, index: int) -> int:
        """The position in this chunk of the job's graph `index`."""
        indices = self.indices
        if type(indices) is range and indices.step == 1:
            return index - indices.start
        if self._places is None:
            self._places = {k: position for position, k in enumerate(indices)}
        return self._places[index]

    def result(self, index: int) -> ImplResult:
        """The ImplResult of the job's graph `index`, as fuzz.runner.InProcess makes it."""
        position = self.place(index)
        seconds = float(self.seconds[position])
        if position in self.raised:
            error, phase = self.raised[position]
            return ImplResult("exception", None, error, seconds, phase)
        start = int(self.ends[position - 1]) if position else 0
        end = int(self.ends[position])
        numbers: list[Any] = self.numbers[start:end].tolist()
        for place in self.unset:
            if start <= place < end:
                numbers[place - start] = None
        return ok_result(numbers[0], tuple(numbers[1:]), seconds)

    def lengths(self) -> np.ndarray:
        """How many numbers each graph has (0 for one that raised)."""
        ends = self.ends
        lengths = np.empty_like(ends)  # (np.diff with prepend= costs eight times as much)
        if len(ends):
            lengths[0] = ends[0]
            np.subtract(ends[1:], ends[:-1], out=lengths[1:])
        return lengths


@dataclass(frozen=True)
class Columns:
    """Every graph's numbers in the batch's order, when all of them came packed."""

    numbers: np.ndarray  # float64: each graph's value then gradients (none for one that raised)
    lengths: np.ndarray  # int64 per graph: how many numbers it has
    ran: np.ndarray  # bool per graph: ran without error (an 'ok' result)
    unset: np.ndarray  # bool per graph: a gradient of it was left unset (None)


class BatchResults(Sequence[ImplResult]):
    """One ImplResult per graph of a batch (fuzz.isolation's `collect`), kept as the chunks the
    worker sent where it sent them packed; see the module docstring."""

    def __init__(self, entries: list[ImplResult | PackedChunk | None]) -> None:
        # Per graph: its ImplResult, the chunk it came in, or None (never run: skipped).
        self._entries = entries
        self._made: dict[int, ImplResult] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, k: int) -> ImplResult: ...

    @overload
    def __getitem__(self, k: slice) -> list[ImplResult]: ...

    def __getitem__(self, k: int | slice) -> ImplResult | list[ImplResult]:
        if isinstance(k, slice):
            return [self[i] for i in range(len(self))[k]]
        entry = self._entries[k]
        if type(entry) is PackedChunk:
            k = range(len(self))[k]  # (a negative index counts from the end)
            made = self._made.get(k)
            if made is None:
                made = self._made[k] = entry.result(k)
            return made
        return entry or SKIPPED  # type: ignore[return-value]

    def __iter__(self) -> Iterator[ImplResult]:
        return (self[k] for k in range(len(self)))

    def all_packed(self) -> bool:
        """Every graph's result came in a chunk (none skipped, hung or crashed)."""
        return set(map(type, self._entries)) <= {PackedChunk}

    def total_seconds(self) -> float:
        """The sum of the results' `seconds` (CPU seconds inside the implementation)."""
        if not self.all_packed():
            return sum(r.seconds for r in self)
        # (every chunk's graphs are all here: a chunk's seconds are theirs)
        chunks: dict[Any, None] = dict.fromkeys(self._entries)
        return float(sum(chunk.seconds.sum() for chunk in chunks))

    def columns(self) -> Columns | None:
        """Every graph's numbers in graph order, or None unless every graph's result came
        packed, in chunks that follow one another (a batch the worker ran straight through:
        the usual one; after a restart the graphs left are sent again as a list)."""
        if not self.all_packed():
            return None
        chunks: list[PackedChunk] = list(dict.fromkeys(self._entries))  # type: ignore[arg-type]
        start = 0
        for chunk in chunks:
            indices = chunk.indices
            if not (type(indices) is range and indices.step == 1 and indices.start == start):
                return None
            start = indices.stop
        if start != len(self._entries):
            return None
        if len(chunks) == 1:  # (the usual batch: one chunk)
            lengths = chunks[0].lengths()
        else:
            lengths = np.concatenate([chunk.lengths() for chunk in chunks])
        ran = np.ones(len(lengths), dtype=bool)
        unset = np.zeros(len(lengths), dtype=bool)
        for chunk in chunks:
            first = chunk.indices[0] if len(chunk.indices) else 0
            if chunk.raised:
                ran[[first + position for position in chunk.raised]] = False
            if chunk.unset:
                ends = chunk.ends
                unset[first + np.searchsorted(ends, chunk.unset, side="right")] = True
        # (a copy: the chunks' arrays are read-only views of the message's bytes, and numba
        # compiles a kernel anew for a read-only array)
        numbers = np.concatenate([chunk.numbers for chunk in chunks])
        return Columns(numbers, lengths, ran, unset)


def aligned(columns: Columns, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers laid out as a reference.jax_ref.JaxBatch's quantities (graph k's value and
    `counts[k]` gradients), NaN for a graph that raised or whose numbers are not that many;
    and per graph whether it is shaped (ran, with one gradient per input)."""
    shaped = columns.ran & (columns.lengths == counts + 1)
    if shaped.all():
        return columns.numbers, shaped
    got = np.full(int(counts.sum()) + len(counts), np.nan)
    got[np.repeat(shaped, counts + 1)] = columns.numbers[np.repeat(shaped, columns.lengths)]
    return got, shaped


def ran_indices(results: Sequence[ImplResult]) -> Sequence[int]:
    """The places of the results that are not 'skipped'."""
    if isinstance(results, BatchResults) and results.all_packed():
        return range(len(results))
    return [k for k, r in enumerate(results) if r.status != "skipped"]


def total_seconds(results: Sequence[ImplResult]) -> float:
    """The sum of the results' `seconds`."""
    if isinstance(results, BatchResults):
        return results.total_seconds()
    return sum(r.seconds for r in results)
