"""The semantics battery: explicit cases every engine must get right, run by `check` besides the
random graphs.

- reuse: a node used twice, by two consumers or as both operands of one op (`x + x`, `x * x`,
  diamonds) must receive the sum of all contributions;
- edges of the domain where the reference is finite (tanh(1000), sigmoid(-1000), exp(700), ...);
- kinks: relu'(0) = 0;
- two `backward()` calls give twice the leaf gradients;
- deep chains: the depth at which backward fails (micrograd's recursive sort stops near 1,000).

Graph cases are judged like random graphs (the comparator); behaviour cases run inside the worker
through `IsolatedImpl.call`, so an engine that hangs or dies there is reported, not fatal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fuzz.findings import Finding
from reference.compare import EPS, FAIL, Quantity, Verdict, error_scales
from reference.graph import Graph, Node, node_values
from reference.libs import FLOAT

if TYPE_CHECKING:
    from fuzz.check import Oracle

# Chains tried in increasing depth; each must build and backward within the per-case timeout.
DEPTHS = (1_000, 10_000, 100_000)
# Two backward passes add the same contributions twice; (s + c1) + c2 may differ from 2s by a few
# ulps of the sum of |contributions|.
ROUNDING_ULPS = 4.0


def _x(*values: float) -> list[Node]:
    return [Node.input(v) for v in values]


def reuse_cases() -> list[tuple[str, Graph]]:
    """Graphs whose only difficulty is that nodes are used more than once."""
    op = Node.apply
    return [
        ("x + x", Graph((*_x(1.5), op("add", 0, 0)))),
        ("x * x", Graph((*_x(1.5), op("mul", 0, 0)))),
        ("x - x", Graph((*_x(1.5), op("sub", 0, 0)))),
        ("x / x", Graph((*_x(1.5), op("div", 0, 0)))),
        ("x ** x", Graph((*_x(1.5), op("pow", 0, 0)))),
        ("(x * y) + x", Graph((*_x(1.5, -2.0), op("mul", 0, 1), op("add", 2, 0)))),
        (
            "diamond: a = x * y; (a + x) * a",
            Graph((*_x(1.5, -2.0), op("mul", 0, 1), op("add", 2, 0), op("mul", 3, 2))),
        ),
        (
            "one node feeding three consumers",
            Graph((*_x(0.7), op("tanh", 0), op("mul", 1, 1), op("add", 2, 1), op("mul", 3, 0))),
        ),
    ]


def domain_cases() -> list[tuple[str, Graph]]:
    """Single ops at the edges of float64 where the exact answer is still a finite float."""
    op = Node.apply
    cases = [
        ("tanh(1000)", 1000.0, "tanh"),
        ("tanh(-1000)", -1000.0, "tanh"),
        ("sigmoid(1000)", 1000.0, "sigmoid"),
        ("sigmoid(-1000)", -1000.0, "sigmoid"),
        ("exp(700)", 700.0, "exp"),
        ("exp(-1000)", -1000.0, "exp"),
        ("log(1e-300)", 1e-300, "log"),
        ("tanh(1e-10)", 1e-10, "tanh"),
    ]
    return [(name, Graph((*_x(x), op(o, 0)))) for name, x, o in cases]


def kink_cases() -> list[tuple[str, Graph, tuple[float, ...]]]:
    """Graphs at a kink and the gradient the convention gives there."""
    return [("relu'(0) = 0", Graph((*_x(0.0), Node.apply("relu", 0))), (0.0,))]


def double_backward_case() -> Graph:
    """(x * x) * x at x = 3: 27 after one backward, 54 after two (micrograd 0.1.0 gives 72)."""
    return Graph((*_x(3.0), Node.apply("mul", 0, 0), Node.apply("mul", 1, 0)))


# ---- behaviour, run inside the worker: function(adapter, *args) -> picklable ------------------


def double_backward(adapter: Any, graph_json: str) -> tuple[list[float], list[float]]:
    """The leaf gradients after one and after two backward() calls."""
    inputs, out = adapter.build(Graph.from_json(graph_json))
    adapter.backward(out)
    once = [float(adapter.grad(x)) for x in inputs]
    adapter.backward(out)
    return once, [float(adapter.grad(x)) for x in inputs]


def twice_ok(graph: Graph, once: list[float], twice: list[float]) -> bool:
    _, scales = error_scales(graph, node_values(graph, FLOAT))
    return all(
        abs(t - 2 * o) <= ROUNDING_ULPS * EPS * s
        for o, t, s in zip(once, twice, scales, strict=True)
    )


def chain(depth: int) -> Graph:
    """x, x + 1, (x + 1) + 1, ... with `depth` additions."""
    nodes = [Node.input(0.5), Node.const(1.0)]
    nodes += [Node.apply("add", 0 if i == 0 else i + 1, 1) for i in range(depth)]
    return Graph(tuple(nodes))


def deep_chain(adapter: Any, depth: int) -> str:
    """'' when a chain of `depth` additions gives the right value and gradient, else what failed."""
    try:
        outcome = adapter.run(chain(depth))
    except RecursionError as e:
        return f"RecursionError: {e}"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    if outcome.value != 0.5 + depth or outcome.grads != (1.0,):
        return f"wrong result: value {outcome.value!r}, grad {outcome.grads!r}"
    return ""


def chain_snippet(depth: int, import_line: str, cls: str) -> str:
    return (
        f"{import_line}\n\nx = {cls}(0.5)\ny = x\nfor _ in range({depth}):\n    y = y + 1.0\n"
        "y.backward()\nprint(y.data, x.grad)\n"
    )


# ---- running the battery on an oracle ------------------------------------------------------------


def supports(graph: Graph, supported: dict[str, tuple[str, ...]]) -> bool:
    return all(
        n.op is None or graph.forms[i] in supported.get(n.op, ()) for i, n in enumerate(graph.nodes)
    )


def run_battery(
    oracle: Oracle, supported: dict[str, tuple[str, ...]], timeout: float, deadline: float
) -> list[Finding]:
    """The semantics battery (see fuzz.battery): each deviation is a finding with its category.
    Each case may take `timeout` seconds, and none starts after `deadline`."""
    findings: list[Finding] = []
    for kind, cases in (("reuse", reuse_cases()), ("domain", domain_cases())):
        graphs = [g for _, g in cases if supports(g, supported)]
        judged = oracle.judge(graphs, deadline) if graphs else []
        if len(judged) < len(graphs):
            oracle.stats.notes.append(f"{len(graphs) - len(judged)} {kind} cases not run (time)")
        for graph, verdict in judged:
            if verdict.status == FAIL:
                findings.append(Finding(kind, graph, verdict, graph))
    for name, graph, expected in kink_cases():
        if not supports(graph, supported):
            continue
        result = oracle.run_impl([graph], deadline)[0]
        if result.kind == "skipped":
            continue
        got = result.outcome.grads if result.outcome else None
        if got != expected:
            quantity = Quantity(name, got[0] if got else None, expected[0], 1.0, FAIL)
            reason = f"{name} expected, got {got!r} {result.error}".strip()
            findings.append(Finding("kink", graph, Verdict(FAIL, (quantity,), reason), graph))
    findings += _behaviour(oracle, supported, timeout, deadline)
    return findings


def _behaviour(
    oracle: Oracle, supported: dict[str, tuple[str, ...]], timeout: float, deadline: float
) -> list[Finding]:
    findings = []

    def time_left() -> float:
        return min(timeout, deadline - time.monotonic())

    adapter = oracle.adapter
    graph = double_backward_case()
    if supports(graph, supported) and time_left() <= 0:
        oracle.stats.notes.append("the double backward() case was not run (time)")
    elif supports(graph, supported):
        try:
            once, twice = oracle.runner.call(
                "fuzz.battery:double_backward", graph.to_json(), timeout=time_left()
            )
            if not twice_ok(graph, once, twice):
                quantities = tuple(
                    Quantity(f"x{i} (2nd call)", t, 2 * o, 1.0, FAIL)
                    for i, o, t in zip(graph.inputs, once, twice, strict=True)
                )
                reason = f"a second backward() gives {twice}, expected twice the first: {once}"
                snippet = graph.to_snippet(adapter.import_line, adapter.class_name).replace(
                    "out.backward()\n", "out.backward()\nout.backward()  # must double the grads\n"
                )
                verdict = Verdict(FAIL, quantities, reason)
                findings.append(Finding("double backward", graph, verdict, graph, 1, snippet))
        except Exception as e:  # the implementation's failure, or the worker's (IsolationError)
            reason = f"two backward() calls failed: {type(e).__name__}: {e}"
            findings.append(Finding("double backward", graph, Verdict(FAIL, reason=reason), graph))
    if not supports(chain(1), supported):
        return findings
    for depth in DEPTHS:
        allowed = time_left()
        if allowed <= 0:
            oracle.stats.notes.append(f"chains of {depth} nodes and more were not tried (time)")
            break
        try:
            problem = oracle.runner.call("fuzz.battery:deep_chain", depth, timeout=allowed)
        except Exception as e:  # the worker hung or died (IsolationError)
            if getattr(e, "kind", "") == "hang":  # slow is not wrong: say so, report nothing
                oracle.stats.notes.append(f"a chain of {depth} nodes took over {allowed:.3g} s")
                break
            problem = f"{type(e).__name__}: {e}"
        if problem:
            snippet = chain_snippet(depth, adapter.import_line, adapter.class_name)
            reason = f"a chain of {depth} additions fails: {problem}"
            verdict = Verdict(FAIL, reason=reason, error=problem)
            findings.append(Finding("deep graph", chain(1), verdict, chain(1), 1, snippet))
            break
    return findings
