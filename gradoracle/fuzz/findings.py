"""What a check reports: findings, the run's statistics, and how a failure is categorised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradoracle.reference.compare import Verdict
from gradoracle.reference.graph import Graph

# Categories whose failures are shown as they are: shrinking them costs a timeout per try.
UNSHRUNK = ("hang", "crash")
# A graph that failed in a worker earlier graphs had used, and passes alone in a new one.
DAMAGED = "damaged worker"
# Where the engine chose another convention than the reference's (fuzz.conventions): reported
# apart from the bugs, still a failed check unless accepted.
CONVENTION = "convention"


@dataclass
class Finding:
    category: str  # 'wrong gradient', 'wrong value', 'exception', 'hang', 'crash', or a battery's
    graph: Graph  # the smallest graph found
    verdict: Verdict
    original: Graph
    count: int = 1  # how many sampled graphs failed the same way
    snippet: str = ""  # set when the graph alone does not show it (a second backward, a loop)


@dataclass
class Stats:
    graphs_checked: int = 0
    not_comparable: int = 0
    impl_seconds: float = 0.0
    reference_seconds: float = 0.0
    sample_seconds: float = 0.0
    compare_seconds: float = 0.0
    adjudicate_seconds: float = 0.0  # of compare_seconds: graphs the quick pass did not accept
    shrink_seconds: float = 0.0
    battery_seconds: float = 0.0
    not_comparable_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the run could not decide, in words
    replayed: int = 0  # earlier findings judged again (from the example database)
    replayed_failing: int = 0  # ... and still failing
    first_finding_seconds: float | None = None  # wall seconds from the start to the first failure
    # Where the CPU time went, in seconds by part (fuzz.check.CPU_SPLIT names and defines them):
    # the parts add up to the run's cpu_seconds.
    cpu_split: dict[str, float] = field(default_factory=dict)
    # What the engine does at each convention (fuzz.conventions.Observed.as_json), by name.
    conventions: dict[str, Any] = field(default_factory=dict)


def category(verdict: Verdict) -> str:
    if verdict.error:
        kind = verdict.error.partition(":")[0]
        return kind if kind in UNSHRUNK else "exception"
    names = {q.name for q in verdict.failing}
    return "wrong value" if names == {"value"} else "wrong gradient"
