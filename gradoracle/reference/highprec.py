"""High-precision reference: mpmath (>= 50 significant digits) with forward-mode dual numbers.

Every node carries its value as an mpf and its tangent (a sparse map: input ordinal -> d node / d
input), so one forward pass gives the output value and its gradient wrt every input. Local
derivatives come from the op registry (`Op.partials`), with the same conventions the engines follow
(relu'(0) = 0, d(a**k)/da = k*a**(k-1), ...). Inputs and constants are floats (an int counts as
its float, as in every reference: see reference.graph), so they convert to mpf exactly: the only
rounding is mpmath's own.

Precision is set in a local `mpmath.workdps` context; the global mpmath precision is never changed
once the call returns. Fixed precision is not enough by itself: (x + 1e150) - 1e150 is 0 at 50 and
at 100 digits alike, so "two precisions agree" can agree on a wrong answer. Each evaluation thus
also measures the bits at risk in every sum (of values and of tangent terms): the bits cancelled
(log2 of largest operand / result) and the bits an operand is shifted out (log2 of the operand
ratio, up to ABSORB_LIMIT). Distinct nodes cancelling to exactly 0 put an unknown number of bits at
risk. With `verify=True` the graph is re-evaluated until the precision exceeds the bits at risk by
MARGIN_BITS and the float64 roundings of the value and every gradient agree with the previous
evaluation; `converged` says whether that happened by MAX_DPS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import mpmath

from gradoracle.reference.graph import Graph
from gradoracle.reference.libs import MP
from gradoracle.reference.ops import OPS

DEFAULT_DPS = 50  # ~166 bits: three times float64's 53, ample for ordinary cancellation
MAX_DPS = 800  # ~2660 bits: beyond this a graph is cancelling on purpose; report non-convergence
MARGIN_BITS = 128  # bits kept beyond the bits at risk: 53 for float64, the rest for what follows
BITS_PER_DIGIT = math.log2(10)
# An operand more than this many bits smaller than its partner cannot matter: to reach a float64
# result it would need amplifying by more than 2**(ABSORB_LIMIT - 53 - 1074) > 2**1024 (the largest
# finite float), and graphs whose float evaluation is not finite are not compared at all.
ABSORB_LIMIT = 2300


@dataclass(frozen=True)
class HighPrecResult:
    value: float  # the output rounded to the nearest float64 (may be +-inf: overflow)
    grads: tuple[float, ...]  # d output / d input, per input in order, rounded to float64
    value_mp: Any  # mpmath.mpf
    grads_mp: tuple[Any, ...]  # mpmath.mpf per input
    dps: int  # the precision (decimal digits) these results were computed at
    converged: bool  # see the module docstring (True when not verified)
    bits_at_risk: float  # the largest over all sums; inf if distinct nodes cancelled exactly

    def rounded(self) -> tuple[float, ...]:
        return (self.value, *self.grads)


def _bits_at_risk(x: Any, y: Any, total: Any) -> float:
    """Bits of precision needed beyond float64 to trust total = x + y (or x - y)."""
    if not x or not y:
        return 0.0
    if not total:
        return math.inf  # complete cancellation: the true difference may be far smaller
    mx, my, mt = mpmath.mag(x), mpmath.mag(y), mpmath.mag(total)
    cancelled = max(mx, my) - mt
    shifted_out = abs(mx - my)
    return float(max(cancelled, shifted_out if shifted_out <= ABSORB_LIMIT else 0))


def _evaluate_dual(graph: Graph) -> tuple[Any, tuple[Any, ...], float]:
    """Value and gradient of the output at the current mpmath precision, and the bits at risk."""
    values: list[Any] = []
    tangents: list[dict[int, Any]] = []
    ordinal = {node_index: k for k, node_index in enumerate(graph.inputs)}
    one = mpmath.mpf(1)
    risk = 0.0
    for i, n in enumerate(graph.nodes):
        if n.kind != "op":
            values.append(MP.lift(n.value))  # type: ignore[arg-type]
            tangents.append({ordinal[i]: one} if n.kind == "input" else {})
            continue
        assert n.op is not None
        op, form = OPS[n.op], graph.forms[i]
        a = values[n.args[0]]
        b = values[n.args[1]] if op.arity == 2 else None
        try:
            out = op.forward(MP, a, b)
            partials = op.partials(MP, form, a, b, out)
        except (ValueError, ArithmeticError) as e:
            if type(e) not in (ValueError, ZeroDivisionError, OverflowError):
                raise
            raise type(e)(f"node {i}: {e}") from e
        if op.value_cancels and n.args[0] != n.args[1]:  # x - x is exactly 0: no risk
            risk = max(risk, _bits_at_risk(a, b, out))
        if op.arity == 2 and n.args[0] == n.args[1]:
            # One node as both operands: combine the partials first. x-x, x+x, x*x, x/x have
            # exactly combinable partials (0, 2, 2x, 0); only x**x can cancel (at x = 1/e).
            combined = partials[0] + partials[1]
            if op.partials_cancel:
                risk = max(risk, _bits_at_risk(partials[0], partials[1], combined))
            contributions = [(n.args[0], combined)]
        else:  # partial is None for a constant operand
            contributions = [(arg, p) for arg, p in zip(n.args, partials) if p is not None]
        tangent: dict[int, Any] = {}
        for arg, partial in contributions:
            for k, t in tangents[arg].items():
                term = partial * t
                if k in tangent:
                    total = tangent[k] + term
                    risk = max(risk, _bits_at_risk(tangent[k], term, total))
                    tangent[k] = total
                else:
                    tangent[k] = term
        values.append(out)
        tangents.append(tangent)
    out_tangent = tangents[graph.output]
    zero = mpmath.mpf(0)
    grads = tuple(out_tangent.get(k, zero) for k in range(len(graph.inputs)))
    return values[graph.output], grads, risk


def _result(graph: Graph, dps: int) -> HighPrecResult:
    with mpmath.workdps(dps):
        value, grads, risk = _evaluate_dual(graph)
        # Convert inside the context: float(mpf) rounds to nearest whatever the context.
        return HighPrecResult(
            float(value), tuple(float(g) for g in grads), value, grads, dps, True, risk
        )


def _enough(result: HighPrecResult) -> bool:
    """The precision covers the bits at risk (exact zeros that survive MAX_DPS count as true)."""
    if math.isinf(result.bits_at_risk):
        return result.dps >= MAX_DPS
    return result.dps * BITS_PER_DIGIT >= result.bits_at_risk + MARGIN_BITS


def highprec(graph: Graph, dps: int = DEFAULT_DPS, verify: bool = True) -> HighPrecResult:
    """Exact value and gradient of the graph's output, computed with `dps` >= 50 digits.

    Raises ValueError / ZeroDivisionError / OverflowError (naming the node) when a node leaves its
    real domain at high precision (e.g. log of a value that is exactly 0).
    """
    if dps < DEFAULT_DPS:
        raise ValueError(f"highprec: dps must be >= {DEFAULT_DPS}, got {dps}")
    result = _result(graph, dps)
    if not verify:
        return result
    previous: HighPrecResult | None = None
    while True:
        agreed = previous is not None and _same_floats(previous.rounded(), result.rounded())
        if agreed and _enough(result):
            return result
        if result.dps >= MAX_DPS:
            return replace(result, converged=False)
        needed = (result.bits_at_risk + MARGIN_BITS) / BITS_PER_DIGIT
        next_dps = 2 * result.dps if math.isinf(needed) else max(2 * result.dps, math.ceil(needed))
        previous, result = result, _result(graph, min(next_dps, MAX_DPS))


def _same_floats(xs: tuple[float, ...], ys: tuple[float, ...]) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(xs, ys, strict=True))
