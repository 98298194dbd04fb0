"""Probing: which op spellings an implementation offers, decided by presence and judged by
behaviour.

A spelling is one way of writing an op on a Value: an op in one form, with an int or a float
constant where the form has one (`a + b`, `a + 2`, `a + 2.5`, `2 ** a`, `a ** 2.5`, `a.tanh()`),
and leaves built from ints (`Value(2)`). An engine whose `__pow__` takes only int exponents offers
`a ** 2` but not `a ** 2.5`.

A spelling counts as not offered only when building it refuses on every one of several in-domain
inputs (ints and floats, negative, tiny, large) before producing a result: the method is missing,
the operator returns NotImplemented (TypeError), or it raises whatever it raises, every time. The
report lists each with what it raised. Anything raised later (inside backward(), on reading .grad
or .data), or only for some inputs, is a finding, never a reason to skip: one error in a single
probe once hid whole ops. A spelling that hangs or kills its worker is probed again alone in a new
worker before it is blamed, since a native engine can damage its own process.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradoracle.fuzz.adapters import BACKWARD, BUILD, READ, ImplResult
from gradoracle.fuzz.findings import UNSHRUNK
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS

if TYPE_CHECKING:
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.fuzz.runner import Runner

LEAF = "leaf"  # the pseudo-op of INT_LEAF
INT, FLOAT = "int", "float"
# Operand values tried for each spelling, filtered by the op's domain: in-domain inputs of several
# kinds, so that an engine refusing one kind of input (negative, tiny, integer-valued) is not
# mistaken for one that lacks the op.
VARIABLES = (1.5, -0.75, 2.0, 1e-3, 250.0, -3.0, 0.5, 7.0)
FLOAT_CONSTANTS = (2.5, -1.5, 0.5, 3.0, -0.25, 1.5)
INT_CONSTANTS = (2, -1, 3, 1, -2, 4)
PROBES = 5  # graphs per spelling
INT_OPERANDS = (7, 2)  # int leaves and constants: 7 / 2 is 3.5, and 3 where ints floor


@dataclass(frozen=True, order=True)
class Spelling:
    """An op in one form; `const` says whether its constant operand is an int or a float."""

    op: str
    form: str
    const: str = ""  # INT or FLOAT where the form has a constant operand, else ''

    def __str__(self) -> str:
        return self.text()

    def text(self, methods: Mapping[str, str] | None = None) -> str:
        """`a + 2.5`, `a.tanh()`; with an engine's method names (op -> name), `a.Tanh()`."""
        if self.op == LEAF:
            return "Value(2)"
        op = OPS[self.op]
        constant = "2" if self.const == INT else "2.5"
        names = iter(("a", "b"))
        operands = (constant if f == "c" else next(names) for f in self.form)
        return op.spell(self.form, *operands, method=(methods or {}).get(self.op))


INT_LEAF = Spelling(LEAF, "", INT)


def all_spellings() -> tuple[Spelling, ...]:
    """Every spelling the registry knows, and INT_LEAF."""
    found: list[Spelling] = []
    for op in OPS.values():
        for form in op.forms:
            consts = (INT, FLOAT) if "c" in form else ("",)
            found += [Spelling(op.name, form, c) for c in consts]
    return (*found, INT_LEAF)


def _combinations(spelling: Spelling) -> Iterator[tuple[float, ...]]:
    """Operand tuples for a spelling, in a fixed shuffled order that mixes kinds of input."""
    choices = [
        VARIABLES if f == "v" else INT_CONSTANTS if spelling.const == INT else FLOAT_CONSTANTS
        for f in spelling.form
    ]
    combos = list(itertools.product(*choices))
    random.Random(len(combos)).shuffle(combos)
    return iter(combos)


def int_leaf_graphs(spelling: Spelling) -> list[Graph]:
    """The spelling with its Value operands built from ints, as people write them (`Value(7) / 2`,
    `7 / Value(2)`, `Value(7) / Value(2)`, `Value(7).tanh()`): an engine that takes `Value(2)`
    may keep int data and take another path with it (`//` for two ints). None with a float
    constant: that spelling's int-constant twin is the one to build so."""
    if spelling == INT_LEAF or spelling.const == FLOAT:
        return []
    op = OPS[spelling.op]
    operands = INT_OPERANDS[: len(spelling.form)]
    if not op.float_ok(spelling.form, *map(float, operands)):
        return []
    nodes = [
        Node.input(x) if f == "v" else Node.const(x)
        for f, x in zip(spelling.form, operands, strict=True)
    ]
    return [Graph((*nodes, Node.apply(op.name, *range(len(nodes)))))]


def probe_graphs(spelling: Spelling) -> list[Graph]:
    """PROBES single-op graphs of the spelling, every operand inside the op's domain and every
    value and partial a finite float."""
    if spelling == INT_LEAF:  # the output is the leaf itself: x = Value(2); x.backward()
        return [Graph((Node.input(k),)) for k in INT_CONSTANTS[:PROBES]]
    op = OPS[spelling.op]
    graphs: list[Graph] = []
    for combo in _combinations(spelling):
        if not op.float_ok(spelling.form, *map(float, combo)):
            continue
        nodes = [
            Node.const(x) if f == "c" else Node.input(x)
            for f, x in zip(spelling.form, combo, strict=True)
        ]
        graphs.append(Graph((*nodes, Node.apply(op.name, *range(len(nodes))))))
        if len(graphs) == PROBES:
            break
    return graphs


@dataclass
class ProbeResult:
    offered: list[Spelling]  # spellings to fuzz
    refused: dict[Spelling, str]  # not offered: what building raised
    judged: list[tuple[Graph, ImplResult]]  # every probe run of an offered spelling, to judge
    damaged: list[tuple[Graph, ImplResult, int]]  # failed in a used worker only: (graph, result,
    # graphs the worker had run before)


def run_probe(oracle: Oracle, deadline: float | None = None) -> ProbeResult:
    """Run every spelling's probe graphs; see the module docstring for what the results mean."""
    cases = [(s, g) for s in all_spellings() for g in probe_graphs(s)]
    results = oracle.run_impl([g for _, g in cases], deadline)
    by_spelling: dict[Spelling, list[tuple[Graph, ImplResult]]] = {}
    damaged: list[tuple[Graph, ImplResult, int]] = []
    for (spelling, graph), result in zip(cases, results, strict=True):
        result = _alone_if_fatal(oracle, graph, result, deadline, damaged)
        by_spelling.setdefault(spelling, []).append((graph, result))
    offered: list[Spelling] = []
    refused: dict[Spelling, str] = {}
    judged: list[tuple[Graph, ImplResult]] = []
    # A worker that crashed, or reported an exception from no phase, may have been damaged by
    # the engine (minigrad's C code decrefs objects it does not own): then what failed there is
    # run again, each spelling's probes together in a new worker, before a spelling is judged.
    suspect = bool(damaged) or any(
        r.status in UNSHRUNK or (r.status == "exception" and r.phase not in PHASES) for r in results
    )
    for spelling, runs in by_spelling.items():
        ran = [(g, r) for g, r in runs if r.status != "skipped"]
        if not ran:
            continue  # the deadline came first: neither offered nor refused
        if suspect and any(r.status != "ok" for _, r in ran):
            ran = _afresh(oracle, ran, deadline)
        if all(r.status == "exception" and r.phase == BUILD for _, r in ran):
            refused[spelling] = ran[0][1].error
            continue
        judged += ran
        if not any(r.status in UNSHRUNK for _, r in ran):  # one that hangs or crashes alone is a
            offered.append(spelling)  # finding, and not fuzzed further
    if INT_LEAF in offered:  # then each offered spelling with its Value operands built from ints
        extra = [g for s in offered for g in int_leaf_graphs(s)]
        for graph, result in zip(extra, oracle.run_impl(extra, deadline), strict=True):
            if result.status != "skipped":
                judged.append((graph, _alone_if_fatal(oracle, graph, result, deadline, damaged)))
    return ProbeResult(offered, refused, judged, damaged)


def _alone_if_fatal(
    oracle: Oracle,
    graph: Graph,
    result: ImplResult,
    deadline: float | None,
    damaged: list[tuple[Graph, ImplResult, int]],
) -> ImplResult:
    """A hang or a crash: the same graph alone, in a new worker; what it does there stands (and
    the first result is recorded as damage when it ran)."""
    if result.status not in UNSHRUNK:
        return result
    before = oracle.runner.worker_graphs
    alone = oracle.run_alone(graph, deadline)
    if alone is None or alone.status in (*UNSHRUNK, "skipped"):
        return result
    damaged.append((graph, result, before))
    return alone


PHASES = (BUILD, BACKWARD, READ)


def _afresh(
    oracle: Oracle, ran: list[tuple[Graph, ImplResult]], deadline: float | None
) -> list[tuple[Graph, ImplResult]]:
    """The spelling's probe graphs run again together in a new worker (what ran before stays
    where the runner cannot start one, or the deadline cut the new run short)."""
    if not oracle.runner.fresh():
        return ran
    again = oracle.run_impl([g for g, _ in ran], deadline)
    oracle.runner.fresh()  # what comes next does not inherit what these graphs did
    return [(g, new if new.status != "skipped" else old) for (g, old), new in zip(ran, again)]


def spellings_of(graph: Graph) -> set[Spelling]:
    """The spellings a graph uses (INT_LEAF for a leaf built from an int)."""
    found: set[Spelling] = set()
    for i, node in enumerate(graph.nodes):
        if node.kind == "input" and type(node.value) is int:
            found.add(INT_LEAF)
        if node.op is None:
            continue
        form = graph.forms[i]
        const = ""
        if "c" in form:
            k = node.args[form.index("c")]
            const = INT if type(graph.nodes[k].value) is int else FLOAT
        found.add(Spelling(node.op, form, const))
    return found


def refusal(runner: Runner, spelling: Spelling) -> str:
    """What building the spelling raised on every probe input ('' if it was built at least once,
    or raised later than building)."""
    results = runner.run(probe_graphs(spelling))
    if results and all(r.status == "exception" and r.phase == BUILD for r in results):
        return results[0].error
    return ""


def forms_offered(spellings: Sequence[Spelling]) -> Mapping[str, tuple[str, ...]]:
    """op -> the forms with at least one offered spelling, in the registry's order."""
    forms: dict[str, tuple[str, ...]] = {}
    for op in OPS.values():
        kept = tuple(f for f in op.forms if any(s.op == op.name and s.form == f for s in spellings))
        if kept:
            forms[op.name] = kept
    return forms
