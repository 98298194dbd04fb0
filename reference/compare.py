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
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reference.graph import Graph, node_values
from reference.graph import kink_distance as distance_to_kinks
from reference.highprec import highprec
from reference.libs import FLOAT
from reference.ops import OPS, Op

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
# Errors below the smallest normal float64 are lost in the subnormals, which have no relative
# precision to hold an engine to: every scale is at least this, so that a rounding budget (a few
# hundred EPS times the scale) is never below it. (A correct engine gave a gradient of 1.85e-316
# where the exact one is 0, and a scale of 1e-310 made that a false alarm.)
SCALE_FLOOR = sys.float_info.min / EPS

# A gradient also passes at once when it is within the rounding budget of JAX's finite sweep (the
# sum over paths of |product of local partials|), a bound of its own: d(x/x)/dx may come out as
# 1e-16 instead of 0. error_scales' gradient scales are such sums of partial sizes that are never
# smaller, so where they are finite this is a shortcut to the test after them (where they overflow,
# compare() without sweeps calls the graph not comparable). The share below 1 covers the sums'
# rounding (measured: sweep / scale up to 1 + 6e-16).
SWEEP_SHARE = 1.0 - 1e-9

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


QUICK_PASS = Verdict(PASS, reason="within QUICK_RTOL of JAX, or of its sweeps' rounding budget")


def sweep_budget(n_ops: Any) -> Any:
    """The rounding budget of a graph of n_ops ops, per unit of sweep (works on arrays too)."""
    return ULPS_PER_OP * EPS * (n_ops + 1) * SWEEP_SHARE


def within_sweeps(
    impl: Sequence[float], jax: Sequence[float], sweeps: Sequence[float], n_ops: int
) -> bool:
    """Every quantity (the value, then the gradients) within QUICK_RTOL of JAX, or, for a gradient,
    within the rounding budget of its sweep: y / y's gradient may come out as 1e-17 instead of 0."""
    budget = sweep_budget(n_ops)
    value_ok = abs(impl[0] - jax[0]) <= QUICK_RTOL * abs(jax[0])
    return value_ok and all(
        abs(i - j) <= max(QUICK_RTOL * abs(j), budget * s if math.isfinite(s) else 0.0)
        for i, j, s in zip(impl[1:], jax[1:], sweeps, strict=True)
    )


def _partial_floor(op: str, slot: int, out: float) -> float:
    """How large a partial's own rounding error can be, where that exceeds the partial itself.

    tanh's and sigmoid's partials (1 - t*t, s*(1 - s)) are computed from terms of size 1 and s;
    the exponent's partial of a**b, log(a) * out, is off by ~eps * out when `a` is one ulp from 1.
    """
    if op == "tanh":
        return 1.0
    if op == "sigmoid" or (op == "pow" and slot == 1):
        return abs(out)
    return 0.0


def _partial_sizes(
    op: Op, form: str, operands: tuple[float, float | None], out: float, spreads: list[float]
) -> tuple[list[float], list[float]]:
    """Per operand: |partial| (at least its own rounding floor; 0 for a constant), and how far the
    partial moves when the operands move by their forward errors (EPS times `spreads`), in units
    of EPS: d(a*b)/da is b, and a b that cancelled (x - y ~ 1e-16) is only known to within its
    forward error. The moves are measured by evaluating the partials at perturbed operands."""
    a, b = operands
    partials = op.partials(FLOAT, form, a, b, out)
    magnitudes = [
        0.0 if p is None else max(abs(p), _partial_floor(op.name, k, out))
        for k, p in enumerate(partials)
    ]
    moves = [0.0] * len(partials)
    for k, spread in enumerate(spreads):
        if spread == 0.0 or form[k] == "c":
            continue
        x = (a, b)[k]
        assert x is not None
        step = max(abs(x) * _PROBE, EPS * spread)  # x is known within EPS * spread
        for _ in range(_PROBE_TRIES):
            shifted = _partials_at(
                op, form, [x + step if j == k else v for j, v in enumerate((a, b))]
            )
            if shifted is not None:
                break
            step *= _PROBE_SHRINK  # the probe left the domain or overflowed: a smaller step
        else:  # no bound on how far the partials move: the scale is unknown, not small
            return magnitudes, [math.inf if p is not None else 0.0 for p in partials]
        for j, (p, q) in enumerate(zip(partials, shifted, strict=True)):
            if p is not None and q is not None:
                moves[j] += abs(q - p) / step * spread
    return magnitudes, moves


def _partials_at(
    op: Op, form: str, operands: list[float | None]
) -> tuple[float | None, ...] | None:
    """The op's partials at the operands, or None if they raise or are not finite."""
    try:
        partials = op.partials(FLOAT, form, operands[0], operands[1])
    except (ValueError, ArithmeticError):
        return None
    return partials if all(p is None or math.isfinite(p) for p in partials) else None


# The step at which a partial's sensitivity to an operand is probed: the operand's forward error
# (EPS * spread), or _PROBE times the operand when that is larger. (A step of _PROBE * spread left
# the linear range: 0.5 ** (0 + 4.9e7) underflows, and the partial's move came out 0, as it did
# when a probe overflowed and was skipped: a scale of 0, and a false alarm on a correct engine.)
# A probe that leaves the domain or overflows is retried _PROBE_TRIES times, each step
# _PROBE_SHRINK times smaller; a partial that no probe can bound gets an infinite size: not
# comparable.
_PROBE = 1e-6
_PROBE_TRIES = 6
_PROBE_SHRINK = 1e-3


def error_scales(graph: Graph, values: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """Scales for the output value and each input's gradient: what float64 rounding is relative to.

    A forward sweep gives every node's spread: the magnitude its rounding errors are proportional to
    (its own value plus its operands' spreads carried through |partials|, and through the partials'
    moves at second order: (x - x)**2 errs by the square of x - x's error). A reverse sweep with
    absolute values then gives each input's gradient scale: the sum over all paths of the products
    of partial sizes (|partial| plus its move, see _partial_sizes), with no cancellation; the value
    scale is the output's spread. (Carrying the moves forward at first order, without their EPS,
    made spreads grow like their squares along a graph: scales of 1e20 on ordinary graphs, which
    hid wrong gradients.)
    """
    nodes = graph.nodes
    n = len(nodes)
    spread = [0.0] * n
    sizes: list[list[float]] = [[] for _ in range(n)]
    for i, node in enumerate(nodes):
        if node.op is None:
            spread[i] = abs(values[i]) if node.kind == "input" else 0.0
            continue
        op, form = OPS[node.op], graph.forms[i]
        a = values[node.args[0]]
        b = values[node.args[1]] if op.arity == 2 else None
        operand_spreads = [spread[arg] for arg in node.args]
        magnitudes, moves = _partial_sizes(op, form, (a, b), values[i], operand_spreads)
        sizes[i] = [m + d for m, d in zip(magnitudes, moves, strict=True)]
        spread[i] = abs(values[i]) + sum(
            (m + EPS * d) * sp for m, d, sp in zip(magnitudes, moves, operand_spreads, strict=True)
        )
    sens = [0.0] * n
    sens[graph.output] = 1.0
    for i in range(n - 1, -1, -1):
        if nodes[i].op is None or sens[i] == 0.0:
            continue
        for arg, size in zip(nodes[i].args, sizes[i], strict=True):
            sens[arg] += size * sens[i]
    floor = SCALE_FLOOR
    return max(spread[graph.output], floor), tuple(max(sens[i], floor) for i in graph.inputs)


def reference_problem(
    graph: Graph,
    jax_value: float,
    jax_grads: Sequence[float],
    kink_distance: float | None = None,
    magnitude: float | None = None,
) -> str:
    """Why the graph is not comparable ('' if it is): non-finite references, or a kink too close.

    Given the kink distance and the largest node magnitude (the JAX reference reports both), the
    float evaluation is skipped: where JAX's float64 value and gradients are finite, no node left
    its domain or overflowed (each of those gives inf or NaN there).
    """
    if kink_distance is not None and magnitude is not None:
        if not math.isfinite(jax_value) or not all(math.isfinite(g) for g in jax_grads):
            return "JAX value or gradient is not finite"
        if kink_distance < KINK_MARGIN * max(1.0, magnitude):
            return f"an operand is within {kink_distance:.3g} of a kink"
        return ""
    try:
        values = node_values(graph, FLOAT)
    except (ValueError, ArithmeticError) as e:
        return f"float reference raises {type(e).__name__}: {e}"
    if not all(math.isfinite(v) for v in values):
        return "float reference is not finite"
    if not math.isfinite(jax_value) or not all(math.isfinite(g) for g in jax_grads):
        return "JAX value or gradient is not finite"
    distance = distance_to_kinks(graph, values)
    if distance < KINK_MARGIN * max(1.0, max(abs(v) for v in values)):
        return f"an operand is within {distance:.3g} of a kink"
    return ""


def compare(
    graph: Graph,
    impl_value: float | None,
    impl_grads: Sequence[float] | None,
    jax_value: float,
    jax_grads: Sequence[float],
    error: str = "",
    kink_distance: float | None = None,
    magnitude: float | None = None,
    jax_sweeps: Sequence[float] | None = None,
) -> Verdict:
    """Judge one implementation result against the JAX reference. `error` describes what went
    wrong instead of a result ('TypeName: message' for an exception, or a hang or crash);
    `kink_distance` and `magnitude` as in reference_problem; `jax_sweeps` as in JaxResult."""
    problem = reference_problem(graph, jax_value, jax_grads, kink_distance, magnitude)
    if problem:
        return Verdict(NOT_COMPARABLE, reason=problem)
    names = ["value", *(f"x{i}" for i in graph.inputs)]
    jax = [jax_value, *jax_grads]
    if error or impl_value is None or impl_grads is None:
        quantities = tuple(
            Quantity(nm, None, j, 0.0, FAIL) for nm, j in zip(names, jax, strict=True)
        )
        detail = error or "no result"
        return Verdict(
            FAIL, quantities, f"raised where the reference is finite ({detail})", error=detail
        )
    impl = [impl_value, *impl_grads]
    if len(impl) != len(jax):
        return Verdict(FAIL, reason=f"expected {len(jax) - 1} gradients, got {len(impl) - 1}")
    if all(abs(i - j) <= QUICK_RTOL * abs(j) for i, j in zip(impl, jax, strict=True)):
        return QUICK_PASS  # the hot path of a campaign: no per-quantity detail
    if jax_sweeps and within_sweeps(impl, jax, jax_sweeps, graph.n_ops):
        return QUICK_PASS
    try:
        value_scale, grad_scales = error_scales(graph, node_values(graph, FLOAT))
    except (ValueError, ArithmeticError):
        return Verdict(NOT_COMPARABLE, reason="an intermediate derivative is not finite")
    scales = [value_scale, *grad_scales]
    if not all(math.isfinite(s) for s in scales):
        return Verdict(NOT_COMPARABLE, reason="an intermediate derivative is not finite")
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
