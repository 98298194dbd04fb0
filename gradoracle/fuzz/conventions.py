"""Conventions are not bugs: what an engine does where the maths leaves a choice.

- At a kink (relu'(0)): the reference takes 0, like micrograd, PyTorch and jax.nn.relu; 1 and the
  mean 0.5 are other engines' choices. Anything else there is a bug (category "kink").
- Outside an op's domain or past float64's range (log(0), log(-1), x / 0, 0 ** -1, (-8) ** 0.5,
  exp(1000), 10 ** 400): the reference raises, as Python's floats and `math` do. IEEE 754
  arithmetic (numpy, C) gives inf or nan instead ("ieee"), some engines give nan everywhere
  ("nan"), and Python's `**` makes a complex number of a negative base with a fractional exponent
  ("complex"). A finite number there is a bug (category "domain").

Both come from the op registry (`Kink.alternatives`, `Op.outside`). An engine that differs gets one
finding per convention, in the category "convention": reported apart from the bugs, and still a
failed check unless `--accept NAME=ALTERNATIVE` says the engine chose that alternative.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradoracle.fuzz.adapters import READ, Adapter, ImplResult, UsageError
from gradoracle.fuzz.findings import CONVENTION, Finding
from gradoracle.fuzz.probe import Spelling, spellings_of
from gradoracle.fuzz.snippets import DIFFERS, graph_snippet, value_snippet
from gradoracle.reference.compare import FAIL, Quantity, Verdict
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS, Kink, Op, Outside

if TYPE_CHECKING:
    from gradoracle.fuzz.oracle import Oracle

RAISE = "raise"
# The alternatives --accept can name outside a domain, and what each means.
OUTSIDE_ALTERNATIVES = {
    "ieee": "IEEE 754's inf or nan, as numpy and C give",
    "nan": "nan at every such point",
    "complex": "a complex number for a negative base with a fractional exponent (Python's **)",
}


@dataclass(frozen=True)
class Convention:
    name: str  # what --accept takes: 'relu-kink', 'log-domain', ...
    expected: str  # the reference's choice: '0', 'raise'
    alternatives: tuple[str, ...]
    doc: str


def _number(x: float) -> str:
    return f"{x:g}"


def _kink_conventions() -> Iterable[tuple[Op, Kink, Convention]]:
    for op in OPS.values():
        for kink in op.kinks:
            if kink.alternatives:
                name, expected = f"{op.name}-kink", _number(kink.derivative)
                alternatives = tuple(_number(x) for x in kink.alternatives)
                yield op, kink, Convention(name, expected, alternatives, kink.note)


def _outside_points() -> list[tuple[Op, Outside]]:
    return [(op, point) for op in OPS.values() for point in op.outside]


def _conventions() -> dict[str, Convention]:
    found = {c.name: c for _, _, c in _kink_conventions()}
    for _, point in _outside_points():
        if point.convention not in found:
            ops = sorted({o.name for o, p in _outside_points() if p.convention == point.convention})
            doc = f"{', '.join(ops)}: {point.convention.replace('-', ' ')}; the reference raises"
            alternatives = tuple(OUTSIDE_ALTERNATIVES)
            found[point.convention] = Convention(point.convention, RAISE, alternatives, doc)
    return found


CONVENTIONS: dict[str, Convention] = _conventions()


@dataclass(frozen=True)
class Accepted:
    """The alternatives a class chose, by convention name (from --accept)."""

    chosen: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def of(self, name: str) -> frozenset[str]:
        return self.chosen.get(name, frozenset())


NONE_ACCEPTED = Accepted()


def parse_accept(texts: Sequence[str], target: Sequence[str] = ()) -> Accepted:
    """`NAME=ALTERNATIVE[@TARGET]` items (repeated or comma-separated), those with @TARGET only
    when the glob matches one of `target`'s names (its MODULE:CLASS, its name in a table);
    UsageError names what is wrong, whatever the target."""
    chosen: dict[str, set[str]] = {}
    for item in (part.strip() for text in texts for part in text.split(",")):
        item, at, pattern = item.partition("@")
        if at and not pattern:
            raise UsageError(f"--accept {item}@: no target after '@'")
        applies = not at or any(fnmatch.fnmatchcase(name, pattern) for name in target if name)
        name, sep, alternative = item.partition("=")
        convention = CONVENTIONS.get(name.strip())
        if not sep or convention is None:
            names = ", ".join(CONVENTIONS)
            raise UsageError(f"--accept takes NAME=ALTERNATIVE with NAME one of {names}: {item!r}")
        alternative = alternative.strip()
        if alternative not in convention.alternatives:
            allowed = ", ".join(convention.alternatives)
            raise UsageError(f"--accept {name}: {alternative!r} is not one of {allowed}")
        if applies:
            chosen.setdefault(convention.name, set()).add(alternative)
    return Accepted({k: frozenset(v) for k, v in chosen.items()})


# ---- the cases -------------------------------------------------------------------------------


def _point_graph(point: Outside, op: str) -> Graph:
    """The op alone at the point: Value operands are inputs, 'c' operands plain constants."""
    operands = zip(point.form, point.operands, strict=True)
    nodes = [Node.input(x) if f == "v" else Node.const(x) for f, x in operands]
    return Graph((*nodes, Node.apply(op, *range(len(nodes)))))


def _what(graph: Graph) -> str:
    """The case as code, e.g. `x0.log()` with x0 = -1.0, or `x0 ** -1` with x0 = 0.0."""
    text = graph.to_snippet("", "V").splitlines()
    built = next(line for line in text if line.startswith("v")).partition(" = ")[2]
    inputs = ", ".join(line for line in text if line.startswith("x"))
    return f"`{built}` at {inputs.replace('V(', '').replace(')', '')}"


def outside_label(result: ImplResult) -> str | None:
    """What the engine did at a point outside the domain; None when it hung or crashed."""
    if result.status == "exception":
        return "complex" if result.phase == READ and "complex" in result.error else RAISE
    if result.status != "ok" or result.outcome is None:
        return None
    value = result.outcome.value
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return "finite"


def _matching(label: str, ieee: float) -> set[str]:
    """The alternatives that name this behaviour at a point whose IEEE 754 value is `ieee`."""
    names = set()
    if label == ("nan" if math.isnan(ieee) else ("inf" if ieee > 0 else "-inf")):
        names.add("ieee")
    if label in ("nan", "complex"):
        names.add(label)
    return names


@dataclass
class Observed:
    """One convention's cases on one engine: what it did at each, and the verdict."""

    convention: Convention
    behaviour: dict[str, str] = field(default_factory=dict)  # case -> label or value
    differs: list[tuple[Graph, str, set[str]]] = field(default_factory=list)  # + alternatives
    wrong: list[tuple[Graph, str]] = field(default_factory=list)  # finite where it cannot be
    accepted: set[str] = field(default_factory=set)

    def verdict(self) -> str:
        if self.wrong:
            return "bug"
        if self.differs:
            return "differs"
        return "accepted" if self.accepted else "as expected"

    def as_json(self) -> dict[str, Any]:
        return {
            "expected": self.convention.expected,
            "observed": self.behaviour,
            "accepted": sorted(self.accepted),
            "verdict": self.verdict(),
        }


def run_conventions(
    oracle: Oracle, offered: Sequence[Spelling], accepted: Accepted, deadline: float
) -> tuple[list[Finding], dict[str, Observed]]:
    """Every convention case the engine's spellings allow: findings (conventions that differ and
    are not accepted, and bugs: a finite number outside a domain, a kink derivative no convention
    names, a hang or a crash), and what was observed for each convention."""
    cases: list[tuple[str, Graph, Any]] = []
    for op, kink, convention in _kink_conventions():
        cases.append((convention.name, Graph((Node.input(kink.at), Node.apply(op.name, 0))), kink))
    for op, point in _outside_points():
        cases.append((point.convention, _point_graph(point, op.name), point))
    cases = [c for c in cases if spellings_of(c[1]) <= set(offered)]
    if not cases:
        return [], {}
    results = oracle.run_impl([graph for _, graph, _ in cases], deadline)
    # What differs from the reference's choice is what the engine does in a new worker: one that
    # earlier graphs damaged (minigrad) answered relu'(0) = 1 there, and 0 alone.
    differing = [k for k, r in enumerate(results) if _differs(cases[k][2], r)]
    if differing and oracle.runner.fresh():
        again = oracle.run_impl([cases[k][1] for k in differing], deadline)
        oracle.runner.fresh()  # what comes next does not inherit what these cases did
        for k, result in zip(differing, again, strict=True):
            if result.status != "skipped":
                results[k] = result
    observed: dict[str, Observed] = {}
    findings: list[Finding] = []
    for (name, graph, where), result in zip(cases, results, strict=True):
        if result.status == "skipped":
            oracle.stats.notes.append(f"convention {name}: not run (time)")
            continue
        seen = observed.setdefault(name, Observed(CONVENTIONS[name]))
        if isinstance(where, Kink):
            bug = _kink_case(seen, graph, where, result, accepted.of(name))
        else:
            bug = _outside_case(seen, graph, where, result, accepted.of(name))
        if bug is not None:
            findings.append(bug)
    for seen in observed.values():
        if seen.wrong:
            findings.append(_domain_finding(seen, oracle.adapter))
        if seen.differs:
            findings.append(_convention_finding(seen, oracle))
    return findings, observed


def _differs(where: Kink | Outside, result: ImplResult) -> bool:
    """Whether the engine did otherwise than the reference chose: a convention finding or a bug."""
    if result.status == "skipped":
        return False
    if isinstance(where, Kink):
        got = result.outcome.grads[0] if result.status == "ok" and result.outcome else None
        return got != where.derivative
    return outside_label(result) != RAISE


def _kink_case(
    seen: Observed, graph: Graph, kink: Kink, result: ImplResult, accepted: frozenset[str]
) -> Finding | None:
    got = result.outcome.grads[0] if result.status == "ok" and result.outcome else None
    what = f"{graph.nodes[-1].op}'({_number(kink.at)})"
    seen.behaviour[what] = "error" if got is None else repr(got)
    if got == kink.derivative:
        return None
    if got is not None and got in kink.alternatives:
        if _number(got) in accepted:
            seen.accepted.add(_number(got))
        else:
            seen.differs.append((graph, f"{what} = {got!r}", {_number(got)}))
        return None
    shown = f"{got!r}" if got is not None else f"{result.status}: {result.error}"
    quantity = Quantity("x0", got, kink.derivative, 1.0, FAIL)
    reason = f"{what} = {kink.derivative!r} expected, got {shown}"
    verdict = Verdict(FAIL, (quantity,), reason, result.error)
    return Finding("kink", graph, verdict, graph)


def _outside_case(
    seen: Observed, graph: Graph, point: Outside, result: ImplResult, accepted: frozenset[str]
) -> Finding | None:
    what = _what(graph)
    label = outside_label(result)
    if label is None:  # a hang or a crash is a bug wherever it happens
        verdict = Verdict(FAIL, reason=f"{what}: {result.error}", error=result.error)
        return Finding(result.status, graph, verdict, graph)
    value = result.outcome.value if result.outcome else None
    seen.behaviour[what] = repr(value) if label == "finite" else label
    if label == RAISE:
        return None
    alternatives = _matching(label, point.ieee)
    if not alternatives:  # a finite number, or an infinity of the wrong sign
        seen.wrong.append((graph, f"{what} returned {value!r} (IEEE 754: {point.ieee!r})"))
        return None
    if alternatives & accepted:
        seen.accepted |= alternatives & accepted
        return None
    seen.differs.append((graph, f"{what} gives {label}", alternatives))
    return None


def _domain_finding(seen: Observed, adapter: Adapter) -> Finding:
    """One finding for the points of a convention where the engine gave a number no convention
    gives: a bug."""
    cases = "; ".join(text for _, text in seen.wrong)
    reason = f"{cases}: outside the domain the reference raises, and no convention gives a number"
    graph = seen.wrong[0][0]
    snippet = value_snippet(graph, adapter, "an exception, or inf/nan as IEEE 754 gives")
    return Finding("domain", graph, Verdict(FAIL, reason=reason), graph, len(seen.wrong), snippet)


def _convention_finding(seen: Observed, oracle: Oracle) -> Finding:
    """One finding for a convention: every case where the engine chose otherwise, and the
    alternative(s) to accept."""
    convention = seen.convention
    cover = set.intersection(*(names for _, _, names in seen.differs))
    suggest = sorted(cover) or sorted(set.union(*(names for _, _, names in seen.differs)))
    flags = " ".join(f"--accept {convention.name}={s}" for s in suggest[:1])
    cases = "; ".join(text for _, text, _ in seen.differs)
    reason = f"{convention.name}: {cases} (the reference: {convention.expected}); {flags} if chosen"
    graph = seen.differs[0][0]
    adapter = oracle.adapter
    if convention.expected == RAISE:
        snippet = value_snippet(graph, adapter, "an exception, as Python's floats give", DIFFERS)
    else:
        got = float(seen.differs[0][1].rpartition("= ")[2])
        quantity = Quantity("x0", got, float(convention.expected), 1.0, FAIL)
        snippet = graph_snippet(graph, adapter, (quantity,))
    verdict = Verdict(FAIL, reason=reason)
    return Finding(CONVENTION, graph, verdict, graph, len(seen.differs), snippet)
