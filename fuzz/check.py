"""`gradoracle check`: random graphs through an implementation and the references, judged, shrunk.

The run is time-budgeted and deterministic for a seed: the same seed samples the same graphs in the
same order, whatever the machine's speed (a faster machine just gets further down the sequence).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fuzz.adapters import Adapter, Outcome
from fuzz.sampler import SamplerConfig, sample_graph
from fuzz.shrink import shrink
from reference.compare import FAIL, NOT_COMPARABLE, Verdict, compare
from reference.graph import Graph, Node
from reference.ops import OPS

BATCH = (
    128  # graphs per reference call: large enough to amortise JAX's dispatch, small for progress
)
SHRINK_SHARE = 0.3  # of the budget kept for shrinking once something was found
MAX_SHRUNK = 5  # distinct findings shrunk and shown; the rest are counted
# Exceptions that mean "this spelling is not supported", not "this spelling is wrong".
UNSUPPORTED = (AttributeError, TypeError, NotImplementedError, AssertionError)


class Reference(Protocol):
    def evaluate(self, graphs: Sequence[Graph]) -> Sequence[Any]:
        """One result per graph with `.value` and `.grads` (floats, in input order)."""
        ...


@dataclass
class Finding:
    category: str  # 'wrong gradient', 'wrong value', 'exception'
    graph: Graph  # the smallest graph found
    verdict: Verdict
    original: Graph
    count: int = 1  # how many sampled graphs failed the same way


@dataclass
class Stats:
    graphs_checked: int = 0
    not_comparable: int = 0
    impl_seconds: float = 0.0
    reference_seconds: float = 0.0
    sample_seconds: float = 0.0
    compare_seconds: float = 0.0
    shrink_seconds: float = 0.0
    not_comparable_reasons: dict[str, int] = field(default_factory=dict)


def _category(verdict: Verdict) -> str:
    if verdict.error:
        return "exception"
    names = {q.name for q in verdict.failing}
    return "wrong value" if names == {"value"} else "wrong gradient"


class Oracle:
    """Runs graphs on an implementation and the reference, and judges them."""

    def __init__(self, adapter: Adapter, reference: Reference, stats: Stats | None = None) -> None:
        self.adapter = adapter
        self.reference = reference
        self.stats = stats or Stats()

    def run_impl(self, graph: Graph) -> tuple[Outcome | None, BaseException | None]:
        start = time.perf_counter()
        try:
            return self.adapter.run(graph), None
        except Exception as e:  # the implementation's failure is data, not ours
            return None, e
        finally:
            self.stats.impl_seconds += time.perf_counter() - start

    def judge(self, graphs: Sequence[Graph]) -> list[Verdict]:
        outcomes = [self.run_impl(g) for g in graphs]
        start = time.perf_counter()
        refs = self.reference.evaluate(graphs)
        self.stats.reference_seconds += time.perf_counter() - start
        start = time.perf_counter()
        verdicts = []
        for graph, (outcome, error), ref in zip(graphs, outcomes, refs, strict=True):
            value = outcome.value if outcome else None
            grads = outcome.grads if outcome else None
            verdicts.append(compare(graph, value, grads, ref.value, ref.grads, error))
        self.stats.compare_seconds += time.perf_counter() - start
        return verdicts

    def fails_like(self, category: str) -> Callable[[Graph], bool]:
        """A shrinking predicate: the graph still fails in the same category."""

        def still_fails(graph: Graph) -> bool:
            verdict = self.judge([graph])[0]
            return verdict.status == FAIL and _category(verdict) == category

        return still_fails


Failures = dict[str, list[tuple[Graph, Verdict]]]  # category -> failing graphs


def probe(oracle: Oracle, rng: random.Random) -> tuple[dict[str, tuple[str, ...]], Failures]:
    """Try every op and form once on in-domain inputs: which the implementation supports, and
    which already give a wrong answer."""
    supported: dict[str, tuple[str, ...]] = {}
    failures: Failures = {}
    for op in OPS.values():
        forms = []
        for form in op.forms:
            graph = _single_op_graph(op.name, form, rng)
            _, error = oracle.run_impl(graph)
            if isinstance(error, UNSUPPORTED):
                continue
            forms.append(form)
            verdict = oracle.judge([graph])[0]
            if verdict.status == FAIL:
                failures.setdefault(_category(verdict), []).append((graph, verdict))
        if forms:
            supported[op.name] = tuple(forms)
    return supported, failures


def _single_op_graph(name: str, form: str, rng: random.Random) -> Graph:
    """`op` applied once, in `form`, to operands drawn inside its domain."""
    op = OPS[name]
    values: list[float] = []
    for slot in range(len(form)):
        other = values[0] if values else None
        drawn = op.draw(form, rng, slot, other)
        values.append(1.5 if drawn is None else drawn)
    nodes = [Node("const" if k == "c" else "input", v) for k, v in zip(form, values, strict=True)]
    nodes.append(Node("op", None, name, tuple(range(len(form)))))
    return Graph(tuple(nodes))


@dataclass
class CheckResult:
    impl: str
    seed: int
    budget: float
    stats: Stats
    findings: list[Finding]
    supported: dict[str, tuple[str, ...]]
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def skipped(self) -> list[str]:
        """Op spellings the implementation lacks, e.g. 'pow (cv)'."""
        return [
            f"{name} ({form})" if len(op.forms) > 1 else name
            for name, op in OPS.items()
            for form in op.forms
            if form not in self.supported.get(name, ())
        ]


def run_check(
    adapter: Adapter,
    reference: Reference,
    budget: float,
    seed: int = 0,
    config: SamplerConfig | None = None,
    progress: Callable[[Stats, int, float], None] | None = None,
) -> CheckResult:
    """Sample, judge and shrink until the budget (seconds of wall time) is spent."""
    start_wall, start_cpu = time.monotonic(), time.process_time()
    deadline = start_wall + budget
    stats = Stats()
    oracle = Oracle(adapter, reference, stats)
    rng = random.Random(seed)
    supported, raw = probe(oracle, random.Random(seed))
    config = config or SamplerConfig()
    config = SamplerConfig(
        **{
            **config.__dict__,
            "ops": tuple(n for n in config.ops if n in supported),
            "forms": supported,
        }
    )
    failures = sum(map(len, raw.values()))
    while config.ops and time.monotonic() < deadline - (budget * SHRINK_SHARE if failures else 0):
        t = time.perf_counter()
        graphs = [sample_graph(rng, config) for _ in range(BATCH)]
        stats.sample_seconds += time.perf_counter() - t
        for graph, verdict in zip(graphs, oracle.judge(graphs), strict=True):
            stats.graphs_checked += 1
            if verdict.status == NOT_COMPARABLE:
                stats.not_comparable += 1
                key = verdict.reason.split("(")[0].strip()
                stats.not_comparable_reasons[key] = stats.not_comparable_reasons.get(key, 0) + 1
            elif verdict.status == FAIL:
                failures += 1
                raw.setdefault(_category(verdict), []).append((graph, verdict))
        if progress:
            progress(stats, failures, time.monotonic() - start_wall)
    t = time.perf_counter()
    findings = _shrink_all(oracle, raw, deadline)
    stats.shrink_seconds = time.perf_counter() - t
    return CheckResult(
        adapter.name,
        seed,
        budget,
        stats,
        findings,
        supported,
        seconds=time.monotonic() - start_wall,
        cpu_seconds=time.process_time() - start_cpu,
    )


def _shrink_all(oracle: Oracle, raw: Failures, deadline: float) -> list[Finding]:
    """Shrink the smallest failures of each category; identical results merge into one finding."""
    findings: dict[str, Finding] = {}
    queue = [
        (category, graph, len(graphs))
        for category, graphs in raw.items()
        for graph, _ in sorted(graphs, key=lambda gv: len(gv[0].nodes))[:MAX_SHRUNK]
    ]
    for k, (category, graph, count) in enumerate(queue):
        share = (deadline - time.monotonic()) / max(1, len(queue) - k)
        small = shrink(graph, oracle.fails_like(category), time.monotonic() + max(share, 0.5))
        verdict = oracle.judge([small])[0]
        if verdict.status != FAIL:  # the reference path changed under us: keep the original
            small, verdict = graph, oracle.judge([graph])[0]
        key = small.to_json()
        if key in findings:
            continue
        findings[key] = Finding(category, small, verdict, graph, count)
    return sorted(findings.values(), key=lambda f: (f.graph.n_ops, len(f.graph.nodes)))
