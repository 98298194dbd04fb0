"""Reverse mode in Python floats over the op registry: the expected answer for graphs too deep or
too wide for the JAX tape (chains of 10^5 nodes, fan-outs of thousands).

It applies the registry's own forward and partials in float64, in node order and then in reverse:
the answer a careful float64 engine gives. Graphs built for it are chosen so that their arithmetic
is exact or well conditioned (`a + 1`, `a * 1.0`, `-a`, `tanh` near 0.5), where any correct engine
agrees to within FLOAT_SWEEP_RTOL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradoracle.reference.graph import Graph, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS

# A correct engine may round each step differently (1 - t*t against (1 - t)*(1 + t)); over 10^5
# well-conditioned steps the relative drift stays near 10^5 * 2^-52 ~ 2e-11, far below this.
FLOAT_SWEEP_RTOL = 1e-9
# Products of many partials below 1 (a chain of sigmoids) underflow; engines that multiply in
# another order reach 0 at different steps. Below this magnitude every answer is "zero".
FLOAT_SWEEP_ATOL = 1e-290


def float_adjoints(graph: Graph) -> tuple[list[float], list[float]]:
    """Every node's value and adjoint (d output / d node), in float64, in node order."""
    values = node_values(graph, FLOAT)
    return [float(v) for v in values], adjoints_at(graph, values)[0]


def adjoints_at(graph: Graph, values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Every node's adjoint (d output / d node) in float64, given every node's float64 value, and
    its sweep: the sum over paths of |product of local partials| (the adjoint without
    cancellation, what its rounding error is relative to; reference.compare.within_sweeps).
    Raises ValueError or ArithmeticError where a partial does (it overflows)."""
    nodes = graph.nodes
    adjoint = [0.0] * len(nodes)
    sweep = [0.0] * len(nodes)
    adjoint[graph.output] = sweep[graph.output] = 1.0
    for i in range(graph.output, -1, -1):
        node = nodes[i]
        if node.op is None or sweep[i] == 0.0:
            continue
        a = values[node.args[0]]
        b = values[node.args[1]] if len(node.args) == 2 else None
        partials = OPS[node.op].partials(FLOAT, graph.forms[i], a, b, values[i])
        for arg, partial in zip(node.args, partials, strict=True):
            if partial is not None:
                if adjoint[i] != 0.0:  # (0 * an overflowed partial would be NaN)
                    adjoint[arg] += adjoint[i] * partial
                sweep[arg] += sweep[i] * abs(partial)
    return adjoint, sweep


def float_gradients(graph: Graph) -> tuple[float, tuple[float, ...]]:
    """The output value and every input's gradient (in input order), in float64."""
    values, adjoint = float_adjoints(graph)
    return values[graph.output], tuple(adjoint[i] for i in graph.inputs)


def agrees(got: float | None, expected: float) -> bool:
    """Within FLOAT_SWEEP_RTOL (or both below FLOAT_SWEEP_ATOL); None only where 0 is expected."""
    if got is None:
        return expected == 0.0
    if not math.isfinite(got):
        return False
    return abs(got - expected) <= max(FLOAT_SWEEP_RTOL * abs(expected), FLOAT_SWEEP_ATOL)
