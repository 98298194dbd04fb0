"""Finite-difference reference: central differences in float64 through the FLOAT forward.

Per input x: step h = STEP_FACTOR * max(1, |x|) (cbrt(eps) balances the O(h**2) truncation error of
a central difference against the O(eps/h) rounding error), central differences with h and h/2, and
Richardson extrapolation of the two. The error estimate adds the size of the Richardson correction
(the truncation error left in the h/2 difference bounds that of the extrapolation) and a rounding
term. An input is "not usable" when its stencil leaves an op's domain (an exception, or an operand
outside `Op.in_domain`), gives a non-finite value, or crosses a kink or domain edge of any op (relu
at 0, a divisor or pow base crossing 0): the difference quotient would not approximate the
derivative there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gradoracle.reference.compare import EPS
from gradoracle.reference.graph import Graph, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS

STEP_FACTOR = EPS ** (1.0 / 3.0)  # ~6.1e-6
# Rounding noise in one evaluation is taken as eps * (number of ops + 1) * the largest intermediate
# magnitude: pessimistic (errors rarely add up linearly) but it must not under-report.
ROUNDING_SLACK = 1.0


@dataclass(frozen=True)
class FDEstimate:
    grad: float  # the extrapolated derivative; nan if not usable
    error: float  # estimated absolute error; inf if not usable
    step: float  # the larger of the two steps
    usable: bool
    reason: str  # why not usable ('' if usable)


@dataclass(frozen=True)
class FDResult:
    value: float  # the FLOAT output at the unperturbed inputs
    estimates: tuple[FDEstimate, ...]  # per input, in input order

    @property
    def grads(self) -> tuple[float, ...]:
        return tuple(e.grad for e in self.estimates)

    @property
    def errors(self) -> tuple[float, ...]:
        return tuple(e.error for e in self.estimates)

    @property
    def usable(self) -> tuple[bool, ...]:
        return tuple(e.usable for e in self.estimates)


class _NotUsable(Exception):
    pass


def _representable_step(x: float, h: float) -> float:
    """The step actually taken: (x + h) - x is exact, so the divisor matches the perturbation."""
    return (x + h) - x


def _sides(graph: Graph, values: list[Any]) -> list[int]:
    """Which side (-1, 0, +1) of every breakpoint each op's variable operands are on."""
    sides: list[int] = []
    for i, n in enumerate(graph.nodes):
        if n.kind != "op" or n.op is None:
            continue
        for operand, at in OPS[n.op].breakpoints:
            if graph.forms[i][operand] == "v":
                d = values[n.args[operand]] - at
                sides.append((d > 0) - (d < 0))
    return sides


def _checked_values(graph: Graph, inputs: list[float], where: str) -> list[Any]:
    try:
        values = node_values(graph.with_inputs(inputs), FLOAT)
    except (ValueError, ArithmeticError) as e:
        raise _NotUsable(f"stencil point {where} leaves the domain: {e}") from None
    if not math.isfinite(values[graph.output]):
        raise _NotUsable(f"stencil point {where} gives a non-finite value")
    for i, n in enumerate(graph.nodes):
        operands = [values[a] for a in n.args]
        if n.op is not None and not OPS[n.op].in_domain(graph.forms[i], *operands):
            raise _NotUsable(f"stencil point {where} leaves the domain of {n.op} at node {i}")
    return values


def _within_reach(graph: Graph, values: list[Any], center: list[Any], where: str) -> None:
    """Raise _NotUsable where the stencil moved an op's operand farther than its `fd_reach`."""
    for i, n in enumerate(graph.nodes):
        reach = OPS[n.op].fd_reach if n.op is not None else None
        if reach is None:
            continue
        for a in n.args:
            moved = abs(values[a] - center[a])
            if moved > reach:
                raise _NotUsable(
                    f"stencil point {where} moves {n.op}'s operand by {moved:.3g} (node {i}), "
                    f"more than the {reach:g} its difference quotient can follow"
                )


def _estimate(graph: Graph, k: int, center: list[Any], step_factor: float) -> FDEstimate:
    x = graph.input_values[k]
    h1 = _representable_step(x, step_factor * max(1.0, abs(x)))
    h2 = _representable_step(x, h1 / 2)
    base = list(graph.input_values)
    center_sides = _sides(graph, center)
    f: dict[str, float] = {}
    try:
        for name, point in (("x+h", x + h1), ("x-h", x - h1), ("x+h/2", x + h2), ("x-h/2", x - h2)):
            inputs = base.copy()
            inputs[k] = point
            values = _checked_values(graph, inputs, name)
            if _sides(graph, values) != center_sides:
                raise _NotUsable(f"stencil point {name} crosses a kink or domain edge")
            _within_reach(graph, values, center, name)
            f[name] = values[graph.output]
    except _NotUsable as e:
        return FDEstimate(math.nan, math.inf, h1, False, str(e))
    d1 = (f["x+h"] - f["x-h"]) / (2 * h1)
    d2 = (f["x+h/2"] - f["x-h/2"]) / (2 * h2)
    r2 = (h1 / h2) ** 2
    extrapolated = d2 + (d2 - d1) / (r2 - 1)  # Richardson; r2 * d2 could overflow
    scale = max(abs(v) for v in center)
    noise = ROUNDING_SLACK * EPS * (graph.n_ops + 1) * scale
    error = abs(extrapolated - d2) + (r2 + 1) / (r2 - 1) * noise / h2
    if not (math.isfinite(extrapolated) and math.isfinite(error)):
        return FDEstimate(math.nan, math.inf, h1, False, "non-finite difference quotient")
    return FDEstimate(extrapolated, error, h1, True, "")


def finite_diff(graph: Graph, step_factor: float = STEP_FACTOR) -> FDResult:
    """Central-difference gradient of the output wrt every input, with error estimates.

    Raises the FLOAT error (naming the node) if the unperturbed graph cannot be evaluated.
    """
    center = node_values(graph, FLOAT)
    estimates = tuple(_estimate(graph, k, center, step_factor) for k in range(len(graph.inputs)))
    return FDResult(float(center[graph.output]), estimates)
