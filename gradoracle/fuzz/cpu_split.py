"""Where a check's CPU time goes: the parts of `cpu_seconds`, each counted once.

The parts (`Stats.cpu_split`, the `cpu_split` object of `--json`), in CPU seconds:

- `impl`: the implementation under test: per graph, the wall time around `adapter.run` (building
  the graph from Values, forward and backward(), reading the results) times the worker thread's
  share of a core over the chunk of graphs it ran in (thread CPU time / wall time of the chunk's
  loop, sending excluded: fuzz.runner.cpu_seconds; two CPU-clock reads per chunk, not per graph),
  and the worker's CPU time around the battery's deep chains, fan-out and diamonds (10^3 to 10^5
  nodes built and backward()), and nothing else: never decoding, encoding or messaging. It is
  `impl_seconds`.
- `worker other`: the rest of the workers' CPU: starting and importing, decoding the graphs sent,
  sending results back, the probe's and battery's calls into the worker.
- `messaging`: this process encoding batches for the worker and taking its results; for sampled
  graphs, that includes making their flat lists from the batch's arrays (the first reader makes
  them: see fuzz.sampler).
- `sampling`: drawing random graphs (`sample_seconds`), as arrays and Graph objects.
- `reference pack`, `reference compile`, `reference xla`, `reference unpack`: the JAX reference
  (`reference_seconds`, their sum): graphs to padded tapes; calls that traced and compiled (or
  loaded) a new shape; the jitted interpreter on shapes already compiled; results to columns.
  Process time, so XLA's threads are included.
- `compare quick`: the quick passes over whole batches: JAX's (vectorised), then for what it left
  the float64 evaluation compiled with numba (fuzz.float64_pass); `adjudicate`: graphs neither
  accepted, judged one by one (float sweep, error scales, mpmath). Together `compare_seconds`.
- `probe`, `battery`, `shrink`: what those phases spent in this process beyond the parts above
  (their reference and comparisons are counted there).
- `other`: the rest of this process (imports, JAX's start, the loop's own work).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gradoracle.reference.jax_ref import CPU_PARTS

if TYPE_CHECKING:
    from gradoracle.fuzz.oracle import Oracle

PHASES = ("probe", "battery", "shrink")


class CpuAccount:
    """Counts a run's CPU by part (see the module doc); `split()` at the end."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.start = time.process_time()
        self.base = self._parts()
        self.phases = dict.fromkeys(PHASES, 0.0)

    def _parts(self) -> dict[str, float]:
        """This process's counted parts so far (cumulative counters)."""
        stats, reference = self.oracle.stats, self.oracle.reference
        parts = {
            "messaging": float(getattr(self.oracle.runner, "message_cpu_seconds", 0.0)),
            "sampling": stats.sample_seconds,
            "compare quick": stats.compare_seconds - stats.adjudicate_seconds,
            "adjudicate": stats.adjudicate_seconds,
        }
        cpu: dict[str, float] = getattr(reference, "cpu", {})
        for part in CPU_PARTS:
            parts[f"reference {part}"] = cpu.get(part, 0.0)
        return parts

    def _counted(self) -> float:
        return sum(self._parts().values())

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count this process's CPU inside the block, beyond the parts, as `name`."""
        start, counted = time.process_time(), self._counted()
        try:
            yield
        finally:
            spent = time.process_time() - start - (self._counted() - counted)
            self.phases[name] += spent

    def split(self) -> dict[str, float]:
        """The parts since this account began; they add up to this process's CPU since then plus
        the workers' (all of it, their start-up included): the run's cpu_seconds."""
        stats = self.oracle.stats
        worker = self.oracle.runner.worker_cpu_seconds  # all of it, as cpu_seconds counts it
        parts = {k: v - self.base[k] for k, v in self._parts().items()}
        own = time.process_time() - self.start
        if worker == 0.0:  # no worker process: the implementation ran in this one
            own -= stats.impl_seconds
        split = {"impl": stats.impl_seconds, "worker other": max(0.0, worker - stats.impl_seconds)}
        split.update(parts)
        split.update(self.phases)
        split["other"] = own - sum(parts.values()) - sum(self.phases.values())
        return split
