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

from typing import Any

from reference.compare import EPS, error_scales
from reference.graph import Graph, Node, node_values
from reference.libs import FLOAT

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
