"""The comparator: pass, fail or not comparable, per quantity (the output value and each input's
grad).

A quantity passes at once when the implementation agrees with JAX within QUICK_RTOL (scale-aware:
the scale is the largest magnitude the float64 computation went through, not just the result's, so a
result that cancels to near zero is not held to a relative tolerance it could never meet). Otherwise
the exact answer is computed with mpmath and the implementation passes only if its error is not much
worse than what float64 evaluation itself can err by there: JAX's own error times JAX_ERROR_FACTOR,
or the rounding budget. Graphs whose references are not finite, or that sit within KINK_MARGIN of a
kink, are not comparable: counted and reported, never passed or failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from reference.graph import Graph, kink_distance, node_values
from reference.highprec import highprec
from reference.libs import FLOAT
from reference.ops import OPS

EPS = 2.0**-52
# Quick accept. Two correct float64 engines differ by a few ulps per op; 1e-10 leaves room for ~10^5
# ulps of drift while a derivative rounded through float32 (relative error ~1e-8) still fails.
QUICK_RTOL = 1e-10
# An implementation may err up to this many times JAX's own error (measured against the exact
# answer): it may round differently (x*y*z vs x*(y*z)), but a wrong formula errs by orders of
# magnitude more.
JAX_ERROR_FACTOR = 16.0
# Rounding budget per op, in ulps of the largest magnitude the computation went through (its scale).
ULPS_PER_OP = 8.0
# Operands this close to a kink (relative to max(1, |x|)) make a graph not comparable: there the
# derivative depends on the convention, which explicit cases check instead.
KINK_MARGIN = 1e-9

PASS, FAIL, NOT_COMPARABLE = "pass", "fail", "not comparable"


@dataclass(frozen=True)
class Quantity:
    """One compared number: the output value or the gradient of one input."""

    name: str  # 'value' or the input's variable name ('x0', 'x3', ...)
    impl: float | None  # None when the implementation raised
    jax: float
    scale: float  # the magnitude that rounding errors are measured against
    status: str = PASS
    truth: float | None = None  # the exact answer, rounded to float64, when adjudicated
    fd: float | None = None  # a central finite difference, when asked for

    @property
    def error(self) -> float:
        """The implementation's absolute error against the best answer known."""
        best = self.truth if self.truth is not None else self.jax
        return math.inf if self.impl is None else abs(self.impl - best)


@dataclass(frozen=True)
class Verdict:
    status: str
    quantities: tuple[Quantity, ...] = ()
    reason: str = ""  # why it failed or is not comparable
    error: str = ""  # the implementation's exception, 'TypeName: message', if it raised
    adjudicated: bool = field(default=False)

    @property
    def failing(self) -> tuple[Quantity, ...]:
        return tuple(q for q in self.quantities if q.status == FAIL)


def _partial_floor(op: str, slot: int, out: float) -> float:
    """How large a partial's rounding error can be, where that exceeds the partial itself.

    tanh's and sigmoid's partials (1 - t*t, s*(1 - s)) are computed from terms of size 1 and s; the
    exponent's partial of a**b, log(a) * out, is off by ~eps * out when `a` is off by one ulp near 1
    (x / x computed as x * x**-1 is 1 - 1e-16, and log of it is not 0).
    """
    if op == "tanh":
        return 1.0
    if op == "sigmoid" or (op == "pow" and slot == 1):
        return abs(out)
    return 0.0


def error_scales(graph: Graph, values: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """Scales for the output value and each input's gradient: what float64 rounding is relative to.

    Reverse sweep with absolute values: the gradient scale of an input sums |products of partials|
    over all paths (no cancellation), the value scale sums |node value| * |d out / d node| over all
    op nodes (each node's rounding, propagated). Partials whose rounding can exceed their size count
    with that size instead (see _partial_floor).
    """
    n = len(graph.nodes)
    sens = [0.0] * n
    sens[graph.output] = 1.0
    for i in range(n - 1, -1, -1):
        node = graph.nodes[i]
        if node.op is None or sens[i] == 0.0:
            continue
        op, form = OPS[node.op], graph.forms[i]
        a = values[node.args[0]]
        b = values[node.args[1]] if op.arity == 2 else None
        partials = op.partials(FLOAT, form, a, b, values[i])
        for slot, (arg, p) in enumerate(zip(node.args, partials, strict=True)):
            if p is not None:
                sens[arg] += max(abs(p), _partial_floor(node.op, slot, values[i])) * sens[i]
    value_scale = sum(abs(values[i]) * sens[i] for i, nd in enumerate(graph.nodes) if nd.op)
    value_scale = max(value_scale, abs(values[graph.output]))
    return value_scale, tuple(sens[i] for i in graph.inputs)


def reference_problem(
    graph: Graph, jax_value: float, jax_grads: Sequence[float]
) -> tuple[str, list[float], tuple[float, tuple[float, ...]]]:
    """Why the graph is not comparable ('' if it is): non-finite references, or a kink too close.

    Also returns the float node values and the error scales, which the comparison needs.
    """
    try:
        values = node_values(graph, FLOAT)
        scales = error_scales(graph, values)
    except (ValueError, ArithmeticError) as e:
        return f"float reference raises {type(e).__name__}: {e}", [], (0.0, ())
    if not all(math.isfinite(v) for v in values):
        return "float reference is not finite", values, scales
    if not math.isfinite(jax_value) or not all(math.isfinite(g) for g in jax_grads):
        return "JAX value or gradient is not finite", values, scales
    if not math.isfinite(scales[0]) or not all(math.isfinite(s) for s in scales[1]):
        return "an intermediate derivative is not finite", values, scales
    distance = kink_distance(graph, values)
    if distance < KINK_MARGIN * max(1.0, max(abs(v) for v in values)):
        return f"an operand is within {distance:.3g} of a kink", values, scales
    return "", values, scales


def compare(
    graph: Graph,
    impl_value: float | None,
    impl_grads: Sequence[float] | None,
    jax_value: float,
    jax_grads: Sequence[float],
    error: str = "",
) -> Verdict:
    """Judge one implementation result against the JAX reference. `error` describes what went
    wrong instead of a result ('TypeName: message' for an exception, or a hang or crash)."""
    problem, _, (value_scale, grad_scales) = reference_problem(graph, jax_value, jax_grads)
    if problem:
        return Verdict(NOT_COMPARABLE, reason=problem)
    names = ["value", *(f"x{i}" for i in graph.inputs)]
    jax = [jax_value, *jax_grads]
    scales = [value_scale, *grad_scales]
    if error or impl_value is None or impl_grads is None:
        quantities = tuple(
            Quantity(nm, None, j, s, FAIL) for nm, j, s in zip(names, jax, scales, strict=True)
        )
        detail = error or "no result"
        return Verdict(
            FAIL, quantities, f"raised where the reference is finite ({detail})", error=detail
        )
    impl = [impl_value, *impl_grads]
    if len(impl) != len(jax):
        return Verdict(FAIL, reason=f"expected {len(jax) - 1} gradients, got {len(impl) - 1}")
    budget = ULPS_PER_OP * EPS * (graph.n_ops + 1)
    quick = [
        math.isfinite(i) and abs(i - j) <= max(QUICK_RTOL * abs(j), budget * s)
        for i, j, s in zip(impl, jax, scales, strict=True)
    ]
    if all(quick):
        return Verdict(
            PASS, tuple(Quantity(*t) for t in zip(names, impl, jax, scales, strict=True))
        )
    return _adjudicate(graph, names, impl, jax, scales, budget)


def _adjudicate(
    graph: Graph,
    names: Sequence[str],
    impl: Sequence[float],
    jax: Sequence[float],
    scales: Sequence[float],
    budget: float,
) -> Verdict:
    """Judge against the exact answer: the implementation may err about as much as JAX does."""
    try:
        exact = highprec(graph)
    except (ValueError, ArithmeticError) as e:
        return Verdict(
            NOT_COMPARABLE, reason=f"the exact answer is undefined ({e})", adjudicated=True
        )
    if not exact.converged:
        return Verdict(
            NOT_COMPARABLE,
            reason="the exact answer did not converge (cancellation)",
            adjudicated=True,
        )
    quantities = []
    for name, i, j, s, t in zip(names, impl, jax, scales, exact.rounded(), strict=True):
        if not math.isfinite(t):
            return Verdict(
                NOT_COMPARABLE,
                reason=f"the exact {name} is not finite in float64",
                adjudicated=True,
            )
        tolerance = max(QUICK_RTOL * abs(t), JAX_ERROR_FACTOR * abs(j - t), budget * s)
        ok = math.isfinite(i) and abs(i - t) <= tolerance
        quantities.append(Quantity(name, i, j, s, PASS if ok else FAIL, truth=t))
    failing = [q.name for q in quantities if q.status == FAIL]
    if not failing:
        return Verdict(PASS, tuple(quantities), adjudicated=True)
    return Verdict(FAIL, tuple(quantities), f"wrong {', '.join(failing)}", adjudicated=True)
