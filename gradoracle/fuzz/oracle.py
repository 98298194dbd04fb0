"""The oracle: runs graphs on the implementation (through a `fuzz.runner.Runner`) and on the
reference, and judges them (`reference.compare`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from gradoracle.fuzz.adapters import Adapter, ImplResult
from gradoracle.fuzz.batch_results import BatchResults, aligned, ran_indices, total_seconds
from gradoracle.fuzz.findings import UNSHRUNK, Stats, category
from gradoracle.fuzz.runner import InProcess, Runner
from gradoracle.reference.compare import FAIL, QUICK_PASS, Verdict, compare
from gradoracle.reference.graph import Graph

T = TypeVar("T")


class Reference(Protocol):
    def evaluate(self, graphs: Sequence[Graph]) -> Sequence[Any]:
        """One result per graph with `.value` and `.grads` (floats, in input order)."""
        ...


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
        # pass at once, told apart in a few numpy calls (reference.jax_ref.JaxBatch.quick_mask);
        # compare() would give them exactly this verdict (tests/fuzz/test_quick_verdicts.py).
        quick_mask = getattr(refs, "quick_mask", None)
        verdicts: list[Verdict | None]
        if quick_mask is not None:
            # A worker's batch straight from the arrays it sent (fuzz.batch_results), the same
            # numbers as the ImplResults would give, without making them.
            columns = results.columns() if isinstance(results, BatchResults) else None
            if columns is not None:
                batch: Any = refs  # (a reference.jax_ref.JaxBatch: it has quick_mask)
                got, shaped = aligned(columns, batch.counts)
                rest: list[int] = (~batch.quick_mask_of(got, shaped)).nonzero()[0].tolist()
                left = [k for k in rest if columns.ran[k]]
                impl = (got, shaped & ~columns.unset)  # (plain: all floats, none unset)
            else:
                outcomes = quick_outcomes(results)
                rest = (~quick_mask(outcomes)).nonzero()[0].tolist()
                left = [k for k in rest if outcomes[k] is not None]
            verdicts = [QUICK_PASS] * len(graphs)
            for k in rest:
                verdicts[k] = None
            # XLA flushes subnormals to 0: what JAX could not judge, the float64 evaluation
            # may (fuzz.float64_pass: only where it finds compare()'s verdict, and that one).
            if left:
                from gradoracle.fuzz import float64_pass  # (numba: not in a worker's imports)

                if columns is not None:
                    again = float64_pass.accept_columns(*impl, refs, left)
                else:
                    again = float64_pass.accept_batch(outcomes, refs, left)
                for k, verdict in zip(left, again, strict=True):
                    verdicts[k] = verdict
            rest = [k for k in rest if verdicts[k] is None]
        else:
            verdicts = [None] * len(graphs)
            rest = list(range(len(graphs)))
        quick_end = time.process_time()
        for k in rest:
            verdicts[k] = self._compare(graphs[k], results[k], refs[k])
        end = time.process_time()
        self.stats.compare_seconds += end - start
        # Graphs judged one by one (compare(): the float sweep, mpmath), apart from the quick pass.
        self.stats.adjudicate_seconds += end - quick_end
        return cast(list[Verdict], verdicts)  # (every one is set now)

    @staticmethod
    def _compare(graph: Graph, result: ImplResult, ref: Any) -> Verdict:
        if result.status in UNSHRUNK:  # always a finding, comparable or not
            error = f"{result.status}: {result.error}"
            return Verdict(FAIL, reason=result.error, error=error)
        outcome = result.outcome
        return compare(
            graph,
            outcome.value if outcome else None,
            outcome.grads if outcome else None,
            ref.value,
            ref.grads,
            result.error,
            getattr(ref, "kink_distance", None),
            getattr(ref, "magnitude", None),
            getattr(ref, "sweeps", None),
            getattr(ref, "in_domain", None),
        )

    def judge(
        self, graphs: Sequence[Graph], deadline: float | None = None
    ) -> list[tuple[Graph, Verdict]]:
        """Run and judge; graphs the deadline cut off are left out."""
        return self.judge_while(graphs, deadline, _nothing)[0]

    def judge_while(
        self, graphs: Sequence[Graph], deadline: float | None, meanwhile: Callable[[], T]
    ) -> tuple[list[tuple[Graph, Verdict]], T]:
        """judge(), and what `meanwhile()` returns. A runner with a worker process runs the graphs
        while this process runs the reference and then `meanwhile`."""
        if not graphs:
            return [], meanwhile()
        self.runner.submit(graphs, deadline)
        try:
            refs: Sequence[Any] | None = self._reference(graphs)
            extra = meanwhile()
        finally:  # the runner never keeps a batch nobody collects
            results = self.runner.collect()
        self.stats.impl_seconds += total_seconds(results)
        done = ran_indices(results)
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
        if result is None or result.status == "skipped":
            return None
        return self.verdicts([graph], [result])[0]

    def fails_like(self, wanted: str, deadline: float) -> Callable[[Graph], bool]:
        """A shrinking predicate: the graph still fails in the same category."""

        def still_fails(graph: Graph) -> bool:
            judged = self.judge([graph], deadline)
            return bool(judged) and judged[0][1].status == FAIL and category(judged[0][1]) == wanted

        return still_fails


def _nothing() -> None:
    return None


def quick_outcomes(results: Sequence[ImplResult]) -> list[tuple[Any, Any] | None]:
    """What the reference's `quick_mask` reads of each result: (value, gradients) of a graph that
    ran without error, else None."""
    return [
        (r.outcome.value, r.outcome.grads)
        if r.status == "ok" and not r.error and r.outcome is not None
        else None
        for r in results
    ]
