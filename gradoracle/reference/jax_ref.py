"""The JAX float64 reference: value, reverse-mode gradients and a forward-mode (JVP) cross-check.

Graphs are compiled to data (`reference.tape`) and run in batches on one jitted interpreter per
tape shape (`reference.interpreter`: its module doc says how it evaluates them).

Graphs share rows (`reference.tape.place`): a row of ROW's 64 steps (DEEP_ROW's 512, for the
sampler's long chains) holds several graphs side by side, each in its own slots, so that padding
costs little (one graph per row padded to a power of two left a third of the steps and a quarter of
the rows empty). Graphs sharing a row share no slot, so their values and adjoints never mix; each
output is seeded, and what is reduced per graph (kink distance, magnitude, in-domain) comes back per
step and slot and is reduced over each graph's own run on the host.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, overload

import numpy as np

from gradoracle.reference import pack_kernel, tape_kernel
from gradoracle.reference.carried import flat_graphs
from gradoracle.reference.compare import QUICK_RTOL, sweep_budget
from gradoracle.reference.graph import Graph
from gradoracle.reference.interpreter import interpreter, schedule, trace_count
from gradoracle.reference.jax_cache import PerShape
from gradoracle.reference.tape import DEEP_ROW, NOP, Bucket, FlatGraphs, Tape, tapes

# Batch sizes (rows) a tape is padded to. Each (bucket, batch size) pair is compiled once (~0.5-1.5
# s), and a padding row costs as much as a full one, so few sizes, close together: a check's batch
# of 256 sampled graphs fills 75-90 rows of reference.tape.ROW (several graphs to a row), one call
# of 96. One row alone runs unvmapped (see the module doc), in SINGLE_ROW's shape. A size of 24
# for the few rows a check's probe has cost a shape of its own: ~45 ms of CPU to load it in every
# process (~1 s to compile it afresh), for 8 calls that save ~0.3 ms each padded to 96.
BATCH_SIZES: tuple[int, ...] = (1, 96)
# The shape a row alone runs in whatever its bucket, when it fits: the single row's loops run its
# real steps only, so a row of ROW (a probe's or a battery's graph) costs about the same there
# and needs no shape of its own.
SINGLE_ROW = DEEP_ROW
# Largest batch buffer (graphs x slots) run at once. Per graph, big graphs run fastest in batches
# of about this many slots (measured: 512 slots in batches of 32-64, 2048 in batches of 16); beyond
# it the vmapped buffer updates stop being cheap.
MAX_BATCH_SLOTS = 1 << 15
# In buckets of BIG_STEPS steps and more (the sampler's deep chains: 1% of graphs, 100-300 ops),
# up to ALONE_MOST graphs left over run one at a time rather than padded to a batch of 64: one
# graph costs 0.2 / 0.3 / 0.7 ms in buckets of 128 / 256 / 512 steps, a batch of 64 1.6 / 4.9 /
# 20 ms (measured), so a few graphs of a deep batch cost 20x less, and no batch-64 shape of a big
# bucket needs compiling.
BIG_STEPS = 128
ALONE_MOST = 16
# Forward and reverse mode sum the same chain-rule products in different orders, so they differ by
# rounding: a few ulps per op of JaxResult.jvp_scale (measured on 2,000 random 30-op graphs: at most
# 1e-15 of it). 1e-10 is ~10^5 ulps: only a real disagreement trips it.
JVP_RTOL = 1e-10
_unpack: Any = tape_kernel.unpack  # (a numba Dispatcher: its type hides the signature)
_put_results: Any = pack_kernel.put_results
# A single row is not scheduled (reference.interpreter): what it is given in place of lanes
# (with its real steps in place of the iterations).
_NOT_SCHEDULED = (np.zeros((1, 1), dtype=np.int32), np.zeros((1, 1), dtype=np.int32))

CPU_PARTS = ("pack", "compile", "xla", "unpack")  # JaxReference.cpu's keys


@dataclass(frozen=True)
class JaxResult:
    """The reference's answer for one graph. Non-finite numbers are kept as computed."""

    value: float
    grads: tuple[float, ...]  # d value / d input, in Graph.inputs order
    jvp: float  # forward mode: directional derivative along reference.tape.tangent(len(grads))
    jvp_dot: float  # reverse mode: dot(grads, tangent)
    # The same dot product without cancellation: sum over all paths from an input to the output of
    # |tangent| * |product of local partials|. Both modes' rounding errors are relative to this,
    # not to the result: y / y has a zero gradient that forward mode may compute as 1e-20.
    jvp_scale: float
    jvp_consistent: bool  # they agree within JVP_RTOL (False if they or the value are not finite)
    # Smallest |operand - kink| over the ops with kinks (inf if none), and the largest |value| of
    # any node (at least 1).
    kink_distance: float = math.inf
    magnitude: float = 0.0
    # Per gradient, the sum over all paths from its input to the output of |product of local
    # partials|: what its rounding errors are relative to (reference.compare's quick path).
    sweeps: tuple[float, ...] = ()
    # Every op's operands inside its domain (Op.in_domain: finite, and log's > 0, a divisor != 0,
    # pow's per form) at JAX's float64 node values: where not, the comparator calls the graph not
    # comparable whatever the numbers are (JAX's (-1.0) ** (-1.0) is finite, and means nothing).
    # JAX on CPU flushes subnormals to 0, so a subnormal divisor or log operand is outside here:
    # the comparator then asks Python's floats.
    in_domain: bool = True


@cache
def _shared_interpreter() -> PerShape:
    """The interpreter, each shape loaded from disk when exported there (reference.jax_cache)."""
    return PerShape(interpreter())


def configure_jax() -> None:
    import jax

    # JAX computes in float32 unless told otherwise; the whole project compares in float64.
    jax.config.update("jax_enable_x64", True)
    # Every evaluation waits for its result at once, so asynchronous dispatch to XLA's CPU
    # threads only adds hand-offs between threads: 15 instead of 12 us of CPU per sampled graph,
    # on a machine that the implementation's worker shares.
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    _start_single_threaded(jax)


# XLA's CPU client sizes its intra-op thread pool when it starts: one thread per core, unless the
# PJRT_NPROC environment variable says how many. The interpreter's small kernels mostly wait on
# one another, on a machine the implementation's worker shares: a second pool thread only steals
# them and spins waiting (CPU that counts): ~20 % of XLA's CPU in `check` (5.7 -> 4.5 us per graph).
POOL_THREADS = "1"


def _start_single_threaded(jax: Any) -> None:
    """Starts JAX's CPU client with POOL_THREADS intra-op threads, unless it started already or the
    user chose PJRT_NPROC; processes started later (the workers) do not inherit the setting."""
    if "PJRT_NPROC" in os.environ:
        return
    os.environ["PJRT_NPROC"] = POOL_THREADS
    try:
        jax.devices("cpu")
    finally:
        del os.environ["PJRT_NPROC"]


def use_compilation_cache(directory: str | os.PathLike[str]) -> None:
    """Keep compiled interpreters on disk (JAX's persistent cache, process-wide): a new process then
    loads a (bucket, batch size) shape in ~0.4 s instead of compiling it in ~1 s. Call it before the
    first evaluation; JAX also honours the JAX_COMPILATION_CACHE_DIR environment variable."""
    import jax

    jax.config.update("jax_compilation_cache_dir", os.fspath(directory))
    # JAX skips caching compilations under 1 s by default; ours take about that long.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def default_cache_dir() -> Path:
    """Where compiled interpreters are kept: $GRADORACLE_CACHE, else the user's cache directory."""
    if os.environ.get("GRADORACLE_CACHE"):
        return Path(os.environ["GRADORACLE_CACHE"]) / "jax"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradoracle" / "jax"


def batch_size_for(n: int, sizes: Sequence[int] = BATCH_SIZES) -> int:
    """The smallest allowed batch size that holds n graphs (n <= max(sizes))."""
    return next(size for size in sorted(sizes) if size >= n)


class JaxReference:
    """Evaluates batches of Graphs on a jitted float64 tape interpreter (compiled per bucket)."""

    def __init__(self, batch_sizes: Sequence[int] = BATCH_SIZES) -> None:
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch_sizes must be positive, got {tuple(batch_sizes)}")
        self.batch_sizes = tuple(sorted(batch_sizes))
        configure_jax()
        self._run: Callable[..., Any] = _shared_interpreter()
        # CPU seconds (process time: XLA's threads included) spent so far, by part: 'pack'
        # (graphs to padded tapes, host), 'compile' (calls that traced and compiled a new shape, or
        # loaded it from the disk cache), 'xla' (the jitted interpreter on shapes compiled before),
        # 'unpack' (results to columns, host).
        self.cpu: dict[str, float] = dict.fromkeys(CPU_PARTS, 0.0)

    def evaluate(self, graphs: Sequence[Graph]) -> list[JaxResult]:
        """One result per graph, in order; graphs are grouped by bucket, run in padded batches."""
        return list(self.evaluate_batch(graphs))

    def evaluate_one(self, graph: Graph) -> JaxResult:
        return self.evaluate([graph])[0]

    def evaluate_batch(self, graphs: Sequence[Graph]) -> JaxBatch:
        """evaluate() as columns (numpy arrays in graph order): a sequence of the same JaxResults,
        made only when asked for, and a vectorised quick-pass test for a whole batch."""
        clock = time.process_time
        since = clock()
        flat = flat_graphs(graphs)  # (a sampled batch carries it)
        batch = JaxBatch(flat.n_inputs, flat.n_ops, flat)
        for indices, tape in tapes(flat, self._chunks):
            self.cpu["pack"] += clock() - since
            columns = self._run_arrays(tape)
            since = clock()
            batch.put(indices, *columns)
            self.cpu["unpack"] += clock() - since
            since = clock()
        batch.finish()
        self.cpu["unpack"] += clock() - since
        return batch

    def _chunks(self, n: int, bucket: Bucket) -> list[int]:
        """Batch sizes that hold n rows of a bucket with little padding: the largest size while
        it fills up, then the smallest sizes above 1 that cover the rest (108 rows run as two 64s,
        not as one 256: padding rows cost as much as real ones, an extra call only ~0.1 ms); a few
        rows left of a big bucket run one at a time (BIG_STEPS, ALONE_MOST)."""
        largest = max(1, min(self.batch_sizes[-1], MAX_BATCH_SLOTS // bucket.slots))
        sizes = sorted({s for s in self.batch_sizes if s < largest} | {largest})
        chunks = [largest] * (n // largest)
        rest = n % largest
        if rest:
            one = batch_size_for(rest, sizes)
            small = min((s for s in sizes if s > 1), default=one)
            count = -(-rest // small)
            if bucket.steps >= BIG_STEPS and rest <= ALONE_MOST and 1 in sizes:
                chunks += [1] * rest
            else:
                chunks += [one] if rest == 1 or one <= small * count else [small] * count
        return chunks

    def interpret(self, tape: Tape) -> list[np.ndarray]:
        """The interpreter's outputs for a tape (reference.interpreter), per row: its graphs'
        values, (2, slots) adjoints and magnitudes, its graphs' jvps, and per step and slot the
        kink distance, |value| and in domain."""
        clock = time.process_time
        start = clock()
        arrays = tape.arrays()
        if tape.batch > 1:
            lanes = schedule(tape)
        else:  # one row: its real steps
            lanes = (*_NOT_SCHEDULED, np.array(tape.n_ops.sum(), dtype=np.int32))
            arrays = _as_single_row(tape)
        self.cpu["pack"] += clock() - start
        traces, start = trace_count(), clock()
        outputs = [np.asarray(x) for x in self._run(*arrays, *lanes)]
        self.cpu["compile" if trace_count() != traces else "xla"] += clock() - start
        if arrays[0].shape != tape.values.shape:  # run in SINGLE_ROW's shape: the tape's part
            steps, slots = tape.bucket.steps, tape.bucket.slots
            value, swept, jvp, kinks, magnitudes, inside = outputs
            outputs = [
                value, swept[..., :slots], jvp, kinks[:, :steps], magnitudes[:, :slots],
                inside[:, :steps],
            ]  # fmt: skip
        return outputs

    def _run_arrays(self, tape: Tape) -> tuple[np.ndarray, ...]:
        """Per real graph of the tape: value, jvp, jvp_dot, jvp_scale, consistent, kink distance,
        magnitude, in domain; and the gradients and their sweeps, flat in graph then input order."""
        clock = time.process_time
        outputs = self.interpret(tape)
        ran = clock()
        n, n_inputs = len(tape.rows), len(tape.input_rows)
        per_graph = [np.empty(n) for _ in range(4)]
        consistent = np.empty(n, dtype=bool)
        kink, magnitude, within = np.empty(n), np.empty(n), np.empty(n, dtype=bool)
        flat_grads, flat_sweeps = np.empty(n_inputs), np.empty(n_inputs)
        # Per graph: its value, jvp, dot(grads, tangent) and that sum without cancellation, the
        # two modes' agreement; the smallest kink distance over its steps, the largest |value|
        # over its slots (at least 1: unused slots hold 1.0), all its steps inside their domains
        # (each reduced over the graph's run of the flattened rows: what lies between graphs is
        # padding, neutral: NOP steps have no kink and are inside).
        _unpack(
            *outputs, tape.tangents, tape.input_rows, tape.input_slots,
            np.asarray(tape.input_counts, dtype=np.int64), tape.rows, tape.places,
            tape.step_starts, tape.slot_starts, tape.n_ops, JVP_RTOL,
            *per_graph, consistent, kink, magnitude, within, flat_grads, flat_sweeps,
        )  # fmt: skip
        self.cpu["unpack"] += clock() - ran
        values, jvps, dots, scales = per_graph
        return (
            values, jvps, dots, scales, consistent, kink, magnitude, within,
            flat_grads, flat_sweeps,
        )  # fmt: skip


def _as_single_row(tape: Tape) -> tuple[np.ndarray, ...]:
    """A one-row tape's arrays in SINGLE_ROW's shape, if it fits there: its slots (ONE and SCRATCH
    where they are) then more slots holding 1.0 with tangent 0, its steps then padding steps of
    SINGLE_ROW (never run: a row alone runs its real steps; neutral in what comes back per step,
    no kink and inside). The results for its own steps and slots are those of its own shape."""
    bucket, row = tape.bucket, SINGLE_ROW
    if bucket == row or bucket.steps > row.steps or bucket.slots > row.slots:
        return tape.arrays()
    values = np.ones((1, row.slots))
    values[:, : bucket.slots] = tape.values
    tangents = np.zeros((1, row.slots))
    tangents[:, : bucket.slots] = tape.tangents
    program = np.empty((1, row.steps, 4), dtype=tape.program.dtype)
    program[:] = (NOP, row.one, row.one, row.scratch)
    program[:, : bucket.steps] = tape.program
    return values, tangents, program, tape.output


class JaxBatch(Sequence[JaxResult]):
    """A batch's JaxResults as columns in graph order (see JaxReference.evaluate_batch). Indexing
    makes the JaxResult that evaluate() gives; `quick_pass` judges a batch of implementation results
    at once, as reference.compare.compare's quick tests do one by one."""

    def __init__(
        self, counts: np.ndarray, n_ops: np.ndarray, graphs: FlatGraphs | None = None
    ) -> None:
        n = len(counts)
        self.graphs = graphs  # the graphs, compiled (fuzz.float64_pass judges from them)
        self.counts = counts  # gradients per graph
        self.n_ops = n_ops  # op nodes per graph (the sweeps' rounding budget)
        self.value = np.empty(n)
        self.jvp = np.empty(n)
        self.jvp_dot = np.empty(n)
        self.jvp_scale = np.empty(n)
        self.consistent = np.empty(n, dtype=bool)
        self.kink_distance = np.empty(n)
        self.magnitude = np.empty(n)
        self.in_domain = np.empty(n, dtype=bool)
        # Graph k's quantities (its value, then its gradients): quantities[offsets[k]:offsets[k+1]].
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts + 1, out=self.offsets[1:])
        self.quantities = np.empty(int(self.offsets[-1]))
        self.sweeps = np.zeros(len(self.quantities))  # at the gradients' places; 0 at the values
        self._grads: list[float] = []
        self._sweeps: list[float] = []
        self._starts: list[int] = []
        self._rows: list[tuple[Any, ...]] = []
        self._counts: list[int] = counts.tolist()

    def put(self, indices: np.ndarray, *columns: np.ndarray) -> None:
        """Results of graphs `indices` (columns as JaxReference._run_arrays gives them)."""
        _put_results(
            indices, self.counts, self.offsets, *columns, self.value, self.jvp, self.jvp_dot,
            self.jvp_scale, self.consistent, self.kink_distance, self.magnitude, self.in_domain,
            self.quantities, self.sweeps,
        )  # fmt: skip

    def finish(self) -> None:
        """Once every graph was put. (The Python-side columns that indexing reads are made on the
        first index: a campaign's quick passes never need them.)"""
        self._rows = []

    def _python_columns(self) -> None:
        first = np.ones(len(self.quantities), dtype=bool)
        first[self.offsets[:-1]] = False
        self._grads = self.quantities[first].tolist()
        self._sweeps = self.sweeps[first].tolist()
        self._starts = np.cumsum([0, *self._counts]).tolist()
        self._rows = list(
            zip(
                self.value.tolist(),
                self.jvp.tolist(),
                self.jvp_dot.tolist(),
                self.jvp_scale.tolist(),
                self.consistent.tolist(),
                self.kink_distance.tolist(),
                self.magnitude.tolist(),
                self.in_domain.tolist(),
                strict=True,
            )
        )

    def __len__(self) -> int:
        return len(self._counts)

    @overload
    def __getitem__(self, k: int) -> JaxResult: ...

    @overload
    def __getitem__(self, k: slice) -> list[JaxResult]: ...

    def __getitem__(self, k: int | slice) -> JaxResult | list[JaxResult]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not self._rows and self._counts:
            self._python_columns()
        v, j, d, scale, ok, kink, magnitude, inside = self._rows[k]
        start = self._starts[k if k >= 0 else k + len(self)]
        grads = tuple(self._grads[start : start + self._counts[k]])
        sweeps = tuple(self._sweeps[start : start + self._counts[k]])
        return JaxResult(v, grads, j, d, scale, ok, kink, magnitude, sweeps, inside)

    def __iter__(self) -> Iterator[JaxResult]:
        return (self[k] for k in range(len(self)))

    def quick_pass(self, outcomes: Sequence[tuple[Any, Any] | None]) -> list[bool]:
        """quick_mask as a list."""
        return self.quick_mask(outcomes).tolist()

    def quick_mask(self, outcomes: Sequence[tuple[Any, Any] | None]) -> np.ndarray:
        """Per implementation outcome ((value, gradients) of a graph that ran without error, else
        None): True where compare() passes it at once (every operand inside its op's domain, every
        reference finite, an outcome, and every quantity within QUICK_RTOL of JAX, or a gradient
        within the rounding budget of its sweep: see reference.compare.within_sweeps), False where
        compare() has to look closer.
        Kinks need no test here: a kink's side changes only gradients, which are then not
        comparable, while the value (finite here) passes, and so does the graph. A None number
        (a gradient a PyTorch-style engine left unset) becomes NaN here: never quick."""
        if not len(self._counts):
            return np.zeros(0, dtype=bool)
        got, shaped = self._flat(outcomes)
        return self.quick_mask_of(got, shaped)

    def quick_mask_of(self, got: np.ndarray | None, shaped: np.ndarray) -> np.ndarray:
        """quick_mask from the outcomes' numbers laid out as `quantities` (NaN for a graph
        without an outcome, or misshapen; None if some were not numbers) and per graph whether
        its outcome is shaped (there, with one gradient per input)."""
        n = len(self._counts)
        if got is None or got.shape != self.quantities.shape or not n:
            return np.zeros(n, dtype=bool)
        jax = self.quantities
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(got - jax)
            budget = np.repeat(sweep_budget(self.n_ops), self.counts + 1)
            within_sweep = np.isfinite(self.sweeps) & (error <= budget * self.sweeps)
            close = (error <= QUICK_RTOL * np.abs(jax)) | within_sweep
            close &= np.isfinite(jax)
            ok = np.logical_and.reduceat(close, self.offsets[:-1]) & self.in_domain & shaped
        return ok

    def _flat(
        self, outcomes: Sequence[tuple[Any, Any] | None]
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Every outcome's numbers in the quantities' order (NaN for a missing or misshapen one),
        and which are shaped (there, with one gradient per input); None if some are not numbers."""
        nan = math.nan
        impl: list[float] = []
        push, extend = impl.append, impl.extend
        shaped = [True] * len(self._counts)
        for k, (outcome, count) in enumerate(zip(outcomes, self._counts, strict=True)):
            if outcome is not None:
                value, grads = outcome
                if grads is not None and len(grads) == count:
                    push(value)
                    extend(grads)
                    continue
            shaped[k] = False
            extend([nan] * (count + 1))
        try:
            got = np.array(impl, dtype=np.float64)
        except (TypeError, ValueError):  # not plain numbers: compare() says what is wrong
            return None, np.array(shaped)
        return got, np.array(shaped)
