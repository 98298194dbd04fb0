"""The semantics battery: explicit cases every engine must get right, run by `check` besides the
random graphs, each built from the spellings the engine offers (fuzz.battery_graphs).

- reuse: a node used twice, by two consumers or as both operands of one op, must receive the sum
  of all contributions;
- edges of the domain where the answer is finite (tanh(1000), log(5e-324), `x ** 2` at 0, ...);
- conventions (fuzz.conventions): relu'(0), and what ops do outside their domain;
- repeated backward(): the second and third calls give two and three times the leaf gradients;
- two roots sharing nodes: backward() from an inner node, then from the output;
- inputs' .data unchanged by backward();
- deep chains of every offered spelling (10^3 nodes each, then 10^4 and 10^5 as the engine's
  measured speed allows: a slow engine is never a finding, one that does not answer is), wide
  fan-out and stacked diamonds (2**40 paths: backward must visit each node once);
- memory: building and dropping graphs must not grow the process without bound.

Graph cases are judged like random graphs (the comparator); behaviour cases run inside the worker
(fuzz.battery_worker) through the runner's `call`, so an engine that hangs or dies there is
reported, not fatal.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradoracle.fuzz import battery_graphs as graphs
from gradoracle.fuzz import battery_worker as worker
from gradoracle.fuzz import float64_kernel
from gradoracle.fuzz.conventions import NONE_ACCEPTED, Accepted, run_conventions
from gradoracle.fuzz.findings import Finding
from gradoracle.fuzz.probe import Spelling, probe_graphs, spellings_of
from gradoracle.fuzz.runner import IsolationError
from gradoracle.fuzz.snippets import graph_snippet
from gradoracle.reference.compare import EPS, FAIL, PASS, Quantity, Verdict, error_scales
from gradoracle.reference.float_sweep import agrees, float_gradients
from gradoracle.reference.graph import Graph, Node, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.tape import CompiledGraph, bucket_of

if TYPE_CHECKING:
    from gradoracle.fuzz.oracle import Oracle

# Repeated backward passes add the same contributions again; (s + c1) + c2 may differ from 2s by a
# few ulps of the sum of |contributions|.
ROUNDING_ULPS = 4.0
BACKWARD_CALLS = 3
CHAIN_DEPTHS = (1_000, 10_000, 100_000)
FAN_OUT = 4_096
DIAMOND_LEVELS = 40
# A deeper chain is tried only if, at the speed measured on the shallower one, it would take at
# most this share of the battery's remaining time; a case may take SLOWDOWN times its predicted
# time (plus the per-graph timeout) before it counts as a hang.
CHAIN_SHARE = 0.25
SLOWDOWN = 10.0
# Memory: MEMORY_NODES nodes in short chains built and dropped MEMORY_ROUNDS times; resident memory
# that grows by LEAK_BYTES_PER_NODE or more per node in every round after the first is a leak (our
# engine's nodes are ~112 B, micrograd's ~620 B; a freed graph's memory is reused, so a correct
# engine levels off after the first round, page rounding aside).
MEMORY_NODES = 10_000
MEMORY_ROUNDS = 4
LEAK_BYTES_PER_NODE = 32.0
# The battery's cases by the finding category each reports under (conventions apart: each is
# observed by fuzz.conventions), in the order they run. Stats.battery says, for each, whether it
# ran: a case that never ran is reported as skipped, never as passed.
CASES = (
    "reuse",
    "domain",
    "double backward",
    "two roots",
    "input changed",
    "memory",
    "deep graph",
    "fan-out",
    "diamonds",
)
RAN = "ran"
NOT_BUILT = "not run: cannot be built from the spellings offered"


def _runnable(graph: Graph, offered: Sequence[Spelling]) -> bool:
    return spellings_of(graph) <= set(offered)


@dataclass
class _Battery:
    oracle: Oracle
    offered: Sequence[Spelling]
    timeout: float
    deadline: float
    per_node: float = 1e-5  # CPU seconds per node of a chain, once measured (a guess before)
    cases: dict[str, str] = field(default_factory=dict)  # case -> RAN, or why it did not run

    def mark(self, case: str, status: str) -> None:
        """A case ran (RAN) or did not (why): once one of its runs answered, it ran."""
        if self.cases.get(case) != RAN:
            self.cases[case] = status

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def call(
        self, category: str, function: Callable[..., Any], *args: Any, expect: float = 0.0
    ) -> Any:
        """function(adapter, *args) in the worker. Returns its result, or a Finding when it raised,
        hung or killed the worker, and did so again alone in a new worker (a native engine damages
        its own process: what fails only after other cases is not this case's), or None when the
        battery's time ran out first (noted, never a finding)."""
        allowed = self.timeout + SLOWDOWN * expect
        left = self.time_left()
        if left <= 0:
            self.oracle.stats.notes.append(f"{category}: not run (time)")
            self.mark(category, "not run: time")
            return None
        runner = self.oracle.runner
        try:
            answer = runner.call(function, *args, timeout=min(allowed, left))
            self.mark(category, RAN)
            return answer
        except Exception as e:
            status = e.status if isinstance(e, IsolationError) else ""
            if status == "hang" and left < allowed:
                self.oracle.stats.notes.append(f"{category}: not finished within the time left")
                self.mark(category, "not run: not finished within the time left")
                return None
            self.mark(category, RAN)  # it raised, hung or crashed: an answer, judged below
            problem = f"{type(e).__name__}: {e}" if not status else str(e)
            if (status != "hang" or self.time_left() >= allowed) and runner.fresh():
                try:
                    result = runner.call(function, *args, timeout=min(allowed, self.time_left()))
                except Exception as again:
                    status = again.status if isinstance(again, IsolationError) else ""
                    problem = f"{type(again).__name__}: {again}" if not status else str(again)
                else:  # the engine had damaged its worker: the case alone passes
                    reason = f"{category}: in a used worker: {problem}; alone in a new one it ran"
                    self.oracle.stats.notes.append(reason)
                    return result
            verdict = Verdict(FAIL, reason=problem, error=problem)
            return Finding(category, _one_leaf(), verdict, _one_leaf())


def _failed(reason: str, quantities: tuple[Quantity, ...] = ()) -> Verdict:
    return Verdict(FAIL, quantities, reason)


def _one_leaf() -> Graph:
    return Graph((Node.input(1.5),))


def _number_text(x: float | None) -> str:
    return "None" if x is None else repr(x)


def run_battery(
    oracle: Oracle,
    offered: Sequence[Spelling],
    timeout: float,
    deadline: float,
    accepted: Accepted = NONE_ACCEPTED,
) -> list[Finding]:
    """The semantics battery (see the module docstring): each deviation is a finding with its
    category. A behaviour case may take `timeout` seconds (more where it is big), and none
    starts after `deadline`. `accepted`: the conventions the engine chose (--accept)."""
    return run_battery_cases(oracle, offered, timeout, deadline, accepted)[0]


def run_battery_cases(
    oracle: Oracle,
    offered: Sequence[Spelling],
    timeout: float,
    deadline: float,
    accepted: Accepted = NONE_ACCEPTED,
    findings: list[Finding] | None = None,
) -> tuple[list[Finding], dict[str, str]]:
    """run_battery's findings, and for each of CASES whether it ran: RAN, or 'not run: why'.
    `findings`, if given, is extended case by case and returned: a run stopped by a signal keeps
    what the cases before it found."""
    findings = [] if findings is None else findings
    battery = _Battery(oracle, offered, timeout, deadline)
    findings += _graph_cases(battery)
    found, observed = run_conventions(oracle, offered, accepted, deadline)
    oracle.stats.conventions = {name: seen.as_json() for name, seen in observed.items()}
    findings += found
    for case in (_repeated_backward, _two_roots, _inputs_unchanged, _memory, _deep, _wide):
        findings += case(battery)
    return findings, {case: battery.cases.get(case, NOT_BUILT) for case in CASES}


def _graph_cases(b: _Battery) -> list[Finding]:
    findings: list[Finding] = []
    cases = (("reuse", graphs.reuse_cases(b.offered)), ("domain", graphs.domain_cases(b.offered)))
    for group, named in cases:
        runnable = [g for _, g in named if _runnable(g, b.offered)]
        judged = b.oracle.judge(runnable, b.deadline) if runnable else []
        if runnable:
            b.mark(group, RAN if judged else "not run: time")
        if len(judged) < len(runnable):
            b.oracle.stats.notes.append(
                f"{len(runnable) - len(judged)} {group} cases not run (time)"
            )
        failing = {g: v for g, v in judged if v.status == FAIL}
        if failing and b.oracle.runner.fresh():  # blamed only for what they do in a new worker
            failing |= dict(b.oracle.judge(list(failing), None))  # (no deadline: a few graphs)
            b.oracle.runner.fresh()
            judged = list(failing.items())
            passed = sum(v.status != FAIL for _, v in judged)
            if passed:
                b.oracle.stats.notes.append(
                    f"{passed} {group} cases failed in a used worker and passed in a new one"
                )
        findings += [Finding(group, g, v, g) for g, v in judged if v.status == FAIL]
    return findings


def _repeated_backward(b: _Battery) -> list[Finding]:
    graph = graphs.any_graph(b.offered)
    if graph is None:
        return []
    after = b.call("double backward", worker.repeated_backward, graph.to_json(), BACKWARD_CALLS)
    if after is None or isinstance(after, Finding):
        return [after] if after else []
    _, scales = error_scales(graph, node_values(graph, FLOAT))
    once = [0.0 if g is None else g for g in after[0]]
    for calls, grads in enumerate(after[1:], 2):
        expected = [calls * g for g in once]
        right = [
            g is not None and abs(g - e) <= ROUNDING_ULPS * calls * EPS * s
            for g, e, s in zip(grads, expected, scales, strict=True)
        ]
        if not all(right):
            names = [f"x{i}" for i in graph.inputs]
            quantities = tuple(
                Quantity(f"{n} (call {calls})", g, e, 1.0, PASS if ok else FAIL)
                for n, g, e, ok in zip(names, grads, expected, right, strict=True)
            )
            reason = (
                f"backward() call {calls} gives {grads}, expected {calls} times the first call's "
                f"{after[0]}"
            )
            shown = [Quantity(q.name.split()[0], q.impl, q.jax, 1.0, q.status) for q in quantities]
            snippet = graph_snippet(graph, b.oracle.adapter, shown, backward_calls=calls)
            verdict = _failed(reason, quantities)
            return [Finding("double backward", graph, verdict, graph, 1, snippet)]
    return []


def _two_roots(b: _Battery) -> list[Finding]:
    made = graphs.two_roots(b.offered)
    if made is None:
        return []
    graph, first = made
    adapter = b.oracle.adapter
    if getattr(adapter, "cls", None) is None and not hasattr(adapter, "leaf"):
        # An interior node to call backward() on exists only if the graph is built node by node.
        why = f"{type(adapter).__name__} has no `leaf(x)` method to build interior nodes with"
        b.oracle.stats.notes.append(f"two roots: not run ({why})")
        b.mark("two roots", f"not run: {why}")
        return []
    got = b.call("two roots", worker.two_roots, graph.to_json(), first)
    if got is None or isinstance(got, Finding):
        return [got] if got else []
    after_first, after_second = got
    first_graph = Graph(graph.nodes[: first + 1])
    _, first_grads = float_gradients(first_graph)
    first_expected = list(first_grads) + [0.0] * (len(graph.inputs) - len(first_grads))
    _, second = float_gradients(graph)
    base = [0.0 if g is None else g for g in after_first]
    delta = [None if g is None else g - f for g, f in zip(after_second, base, strict=True)]
    ok = all(agrees(g, e) for g, e in zip(after_first, first_expected, strict=True)) and all(
        agrees(d, e) for d, e in zip(delta, second, strict=True)
    )
    if ok:
        return []
    reason = (
        f"backward() from node {first}, then from the output (sharing nodes): the second call "
        f"added {delta} to the leaf gradients, expected {list(second)} "
        f"(after the first: {after_first}, expected {first_expected})"
    )
    quantities = tuple(
        Quantity(f"x{i} (second root)", d, e, 1.0, PASS if agrees(d, e) else FAIL)
        for i, d, e in zip(graph.inputs, delta, second, strict=True)
    )
    adapter = b.oracle.adapter
    total = [
        Quantity(f"x{i}", g, f + e, 1.0, PASS if agrees(g, f + e) else FAIL)
        for i, g, f, e in zip(graph.inputs, after_second, first_expected, second, strict=True)
    ]
    snippet = graph_snippet(graph, adapter, total)
    first_root = adapter.snippet_backward.format(out=f"v{first}")
    last = adapter.snippet_backward.format(out="out")
    snippet = snippet.replace(last, f"{first_root}  # first root\n{last}", 1)
    return [Finding("two roots", graph, _failed(reason, quantities), graph, 1, snippet)]


def _inputs_unchanged(b: _Battery) -> list[Finding]:
    cases = [probe_graphs(s)[0] for s in b.offered if probe_graphs(s)]
    if not cases:
        return []
    got = b.call("input changed", worker.inputs_after_backward, [g.to_json() for g in cases])
    if got is None or isinstance(got, Finding):
        return [got] if got else []
    for graph, change in zip(cases, got, strict=True):
        if change is None:
            continue
        before, after = change
        if before != after:
            reason = f"backward() changed the inputs' .data from {before} to {after}"
            snippet = graph_snippet(graph, b.oracle.adapter)
            data = b.oracle.adapter.snippet_data
            snippet += "".join(
                f"print('x{i}.data =', float({data.format(x=f'x{i}')}), '  expected {v!r}')\n"
                for i, v in zip(graph.inputs, before, strict=True)
            )
            return [Finding("input changed", graph, _failed(reason), graph, 1, snippet)]
    return []


def _check_run(
    b: _Battery, category: str, graph: Graph, got: Any, what: str,
    snippet: Callable[[], str] | None = None,
) -> Finding | None:  # fmt: skip
    """A (value, grads, seconds) result of a deep or wide graph against the float sweep; the
    snippet is made only for a finding (a chain's costs a float sweep of its own)."""
    value, grads, seconds = got
    b.oracle.stats.impl_seconds += seconds  # the engine's build and backward(), in the worker
    expected_value, expected = float64_kernel.gradients(graph) or float_gradients(graph)
    if agrees(value, expected_value) and all(
        agrees(g, e) for g, e in zip(grads, expected, strict=True)
    ):
        return None
    reason = (
        f"{what}: value {_number_text(value)}, grads {grads}; expected {expected_value!r}, "
        f"{list(expected)}"
    )
    text = snippet() if snippet else graph_snippet(graph, b.oracle.adapter)
    return Finding(category, graph, _failed(reason), graph, 1, text)


def _chain_finding(b: _Battery, spelling: Spelling, depth: int, got: Any) -> Finding | None:
    """The verdict on one chain's result: a (value, grads, seconds) triple, what it raised (a
    string), or the Finding that calling it made."""
    adapter = b.oracle.adapter
    what = f"a chain of {depth} `{spelling.text(adapter.spellings.methods)}`"

    def snippet() -> str:
        return graphs.chain_snippet(spelling, depth, adapter)

    if isinstance(got, str | Finding):
        problem = got if isinstance(got, str) else got.verdict.reason
        verdict = Verdict(FAIL, reason=f"{what} fails: {problem}", error=problem)
        return Finding("deep graph", _one_leaf(), verdict, _one_leaf(), 1, snippet())
    return _check_run(b, "deep graph", _chain_compiled(spelling, depth), got, what, snippet)


def _chain_compiled(spelling: Spelling, depth: int) -> Graph:
    """The chain the worker ran, as a graph made from its compiled lists: the float64 kernel
    reads them, and nothing makes its 10^3 to 10^5 nodes unless a finding shows them."""
    steps, slots, values, inputs, output, n_nodes = graphs.chain_lists(spelling, depth)
    bucket = bucket_of(len(steps) // 4, n_nodes)
    compiled = CompiledGraph(list(steps), list(slots), list(values), tuple(inputs), output,
                             n_nodes, bucket)  # fmt: skip
    return Graph.from_compiled(compiled)


def _deep(b: _Battery) -> list[Finding]:
    """Chains of 10^3 of every offered spelling, then deeper chains, fan-out and diamonds of the
    first that allows them, each sized by the speed measured on the one before."""
    steps = [s for s in b.offered if graphs.chainable(s, b.offered)]
    if not steps:
        return []
    depth = CHAIN_DEPTHS[0]
    got = b.call("deep graph", worker.deep_chains, steps, depth)
    if got is None:
        return []
    if isinstance(got, Finding):  # one of them hung or killed the worker: which, alone
        got = [
            tuple(b.call("deep graph", worker.deep_chain, s, k) for k in (depth, worker.SHALLOW))
            for s in steps
        ]
    timed = [deep[2] / depth for deep, _ in got if isinstance(deep, tuple)]
    per_node = b.per_node = max(timed, default=b.per_node)  # CPU seconds per node
    for spelling, (deep, shallow) in zip(steps, got, strict=True):
        if isinstance(deep, str) and b.oracle.runner.fresh():  # raised: does it alone?
            deep = b.call("deep graph", worker.deep_chain, spelling, depth)
        if deep is None or (found := _chain_finding(b, spelling, depth, deep)) is None:
            continue
        if shallow is not None and _chain_finding(b, spelling, worker.SHALLOW, shallow):
            continue  # wrong at two steps already: not a matter of depth
        return [found]
    findings: list[Finding] = []
    for depth in CHAIN_DEPTHS[1:]:
        predicted = per_node * depth
        if predicted > CHAIN_SHARE * b.time_left():
            b.oracle.stats.notes.append(f"chains of {depth} nodes not tried (time)")
            break
        result = b.call("deep graph", worker.deep_chain, steps[0], depth, expect=predicted)
        if result is None:
            break
        if found := _chain_finding(b, steps[0], depth, result):
            return [*findings, found]
        per_node = max(per_node, result[2] / depth)
    return findings


def _wide(b: _Battery) -> list[Finding]:
    """Fan-out and stacked diamonds of the first of `+` and `*` offered on two variables."""
    per_node = b.per_node
    findings: list[Finding] = []
    binary = [s.op for s in b.offered if s.form == "vv" and s.op in ("add", "mul")]
    for name in binary[:1]:
        adapter = b.oracle.adapter
        for category, make, size, function, spell in (
            ("fan-out", graphs.fan_out, FAN_OUT, worker.wide_fan_out, graphs.fan_out_snippet),
            ("diamonds", graphs.stacked_diamonds, DIAMOND_LEVELS, worker.diamonds,
             graphs.diamonds_snippet),
        ):  # fmt: skip
            graph = make(name, size)
            snippet = functools.partial(spell, name, size, adapter)
            got = b.call(category, function, name, size, expect=per_node * len(graph.nodes))
            what = f"{category} of `{name}` ({len(graph.nodes)} nodes)"
            if isinstance(got, Finding):
                reason = f"{what}: {got.verdict.reason}"
                verdict = Verdict(FAIL, reason=reason, error=got.verdict.error)
                findings.append(Finding(category, graph, verdict, graph, 1, snippet()))
            elif got is not None and (found := _check_run(b, category, graph, got, what, snippet)):
                findings.append(found)
    return findings


def _memory(b: _Battery) -> list[Finding]:
    steps = [s for s in b.offered if graphs.chainable(s, b.offered)]
    if not steps:
        return []
    unreadable = "not run: this system does not say how much memory a process holds"
    if worker.resident_bytes() is None:
        b.mark("memory", unreadable)
        return []
    count = MEMORY_NODES // worker.MEMORY_DEPTH
    got = b.call("memory", worker.memory_rounds, steps[0], count, MEMORY_ROUNDS)
    if isinstance(got, list) and any(size is None for size in got):
        b.cases["memory"] = unreadable
    if not isinstance(got, list) or any(size is None for size in got):
        return []  # an error here is the chains' finding, not a leak
    nodes = count * graphs.chain_lists(steps[0], worker.MEMORY_DEPTH).n_nodes
    growth = [(after - before) / nodes for before, after in itertools.pairwise(got[1:])]
    if not growth or min(growth) < LEAK_BYTES_PER_NODE:
        return []
    reason = (
        f"memory is not returned: building and dropping {count} graphs ({nodes} nodes in all) "
        f"grew the process by {sum(growth) / len(growth):.0f} bytes per node in every round "
        f"(resident bytes after each round: {got})"
    )
    snippet = graphs.memory_snippet(
        steps[0],
        worker.MEMORY_DEPTH,
        count,
        nodes,
        MEMORY_ROUNDS,
        LEAK_BYTES_PER_NODE,
        b.oracle.adapter,
    )
    return [Finding("memory", _one_leaf(), _failed(reason), _one_leaf(), 1, snippet)]
