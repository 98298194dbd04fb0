"""The second quick pass: graphs JAX's quick pass left, against a float64 evaluation compiled with
numba, several graphs to a call.

XLA's CPU build flushes subnormal numbers to 0, so JAX cannot judge the 4-5% of random graphs that
go through one (exp(-710) is 0 there, log(1e-310) is -inf). reference.compare judges them against
the registry's formulas in Python floats, which keep subnormals, at ~0.3 ms a graph. This kernel
evaluates the same formulas (the op table fuzz.sampler_kernel generates from the registry) over the
graphs' compiled steps, and accepts a graph only where compare() would pass every quantity at once
(_Judge.quick): every operand inside its op's domain and finite, every node's value and local
partials finite, no partial float64 cannot compute (Op.unstable), and every quantity within
QUICK_RTOL of JAX's finite number or of the float64 one, or (a gradient) within the rounding budget
of either's sweep. Everything else goes to compare() as before: this pass only ever accepts, and
only what compare() accepts (tests/fuzz/test_float64_pass.py checks both on sampled graphs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from gradoracle.fuzz.sampler_kernel import (
    CV,
    VC,
    VV,
    V,
    op_in_domain,
    op_partial,
    op_unstable,
    op_value,
)
from gradoracle.reference.compare import QUICK_RTOL, sweep_budget
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import CompiledGraph, compile_graph

ARITY = np.array([op.arity for op in OPS.values()], dtype=np.int64)


@njit(cache=True)
def _near(impl: float, ref: float, sweep: float, budget: float, rtol: float) -> bool:
    """reference.compare._near: within rtol of a finite number, or within budget of its sweep."""
    if not math.isfinite(ref):
        return False
    error = abs(impl - ref)
    return error <= rtol * abs(ref) or (math.isfinite(sweep) and error <= budget * sweep)


@njit(cache=True)
def _accept_one(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, budget: float, rtol: float,
) -> bool:  # fmt: skip
    values = np.zeros(n_nodes)
    constant = np.zeros(n_nodes, dtype=np.bool_)
    for k in range(len(leaf_slots)):
        values[leaf_slots[k]] = leaf_values[k]
        constant[leaf_slots[k]] = True
    for k in range(len(inputs)):
        constant[inputs[k]] = False
    n_ops = len(steps) // 4
    forms = np.empty(n_ops, dtype=np.int64)
    partials = np.zeros((n_ops, 2))
    for t in range(n_ops):
        code, left, right, dest = steps[4 * t], steps[4 * t + 1], steps[4 * t + 2], steps[4 * t + 3]
        a, b = values[left], values[right]
        if arity[code] == 1:
            form = V
        elif constant[left] and constant[right]:
            return False  # (no such graph is valid; compare() says so)
        else:
            form = CV if constant[left] else VC if constant[right] else VV
        forms[t] = form
        if not (math.isfinite(a) and math.isfinite(b) and op_in_domain(code, form, a, b)):
            return False
        if op_unstable(code, form, a, b):
            return False
        out = op_value(code, a, b)
        if not math.isfinite(out):
            return False
        if form != CV:
            partials[t, 0] = op_partial(code, 0, a, b, out)
        if form in (VV, CV):
            partials[t, 1] = op_partial(code, 1, a, b, out)
        if not (math.isfinite(partials[t, 0]) and math.isfinite(partials[t, 1])):
            return False
        values[dest] = out
    # Reverse mode as reference.float_sweep.adjoints_at: adjoints, and sweeps without cancellation.
    adjoint = np.zeros(n_nodes)
    sweep = np.zeros(n_nodes)
    adjoint[output] = 1.0
    sweep[output] = 1.0
    for t in range(n_ops - 1, -1, -1):
        dest = steps[4 * t + 3]
        if sweep[dest] == 0.0:
            continue
        for slot in range(arity[steps[4 * t]]):
            if (slot == 0 and forms[t] == CV) or (slot == 1 and forms[t] == VC):
                continue  # a constant: no gradient
            arg = steps[4 * t + 1 + slot]
            partial = partials[t, slot]
            if adjoint[dest] != 0.0:
                adjoint[arg] += adjoint[dest] * partial
            sweep[arg] += sweep[dest] * abs(partial)
    for q in range(len(inputs) + 1):
        got = impl[q]
        if not math.isfinite(got):
            return False
        if q == 0:
            mine, my_sweep, their_sweep = values[output], math.inf, math.inf
        else:
            node = inputs[q - 1]
            mine, my_sweep, their_sweep = adjoint[node], sweep[node], jax_sweeps[q]
        if not (
            _near(got, jax[q], their_sweep, budget, rtol)
            or _near(got, mine, my_sweep, budget, rtol)
        ):
            return False
    return True


@njit(cache=True)
def _accept_all(
    steps: np.ndarray, step_starts: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray,
    leaf_starts: np.ndarray, inputs: np.ndarray, input_starts: np.ndarray, outputs: np.ndarray,
    n_nodes: np.ndarray, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, budgets: np.ndarray, rtol: float,
) -> np.ndarray:  # fmt: skip
    n = len(outputs)
    accepted = np.zeros(n, dtype=np.bool_)
    for g in range(n):
        q0, q1 = input_starts[g] + g, input_starts[g + 1] + g + 1  # value, then the gradients
        accepted[g] = _accept_one(
            steps[step_starts[g] : step_starts[g + 1]],
            leaf_slots[leaf_starts[g] : leaf_starts[g + 1]],
            leaf_values[leaf_starts[g] : leaf_starts[g + 1]],
            inputs[input_starts[g] : input_starts[g + 1]],
            outputs[g], n_nodes[g], arity, impl[q0:q1], jax[q0:q1], jax_sweeps[q0:q1],
            budgets[g], rtol,
        )  # fmt: skip
    return accepted


def _starts(lengths: Sequence[int]) -> np.ndarray:
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


def accept(
    graphs: Sequence[Any], outcomes: Sequence[tuple[Any, Any] | None], refs: Sequence[Any]
) -> list[bool]:
    """Per graph (a reference.graph.Graph), with the implementation's (value, gradients) and JAX's
    result (`.value`, `.grads`, `.sweeps`): True where every quantity passes at once against JAX or
    the float64 evaluation, as compare() would pass it; False where compare() has to look."""
    if not graphs:
        return []
    compiled: list[CompiledGraph] = [compile_graph(g) for g in graphs]
    impl: list[float] = []
    jax: list[float] = []
    jax_sweeps: list[float] = []
    for outcome, ref, c in zip(outcomes, refs, compiled, strict=True):
        n = len(c.inputs)
        value, grads = outcome if outcome is not None else (None, None)
        numbers = [value, *grads] if grads is not None and len(grads) == n else []
        if len(numbers) != n + 1 or not all(type(x) is float for x in numbers):
            numbers = [math.nan] * (n + 1)  # not plain numbers: compare() says what is wrong
        impl += numbers
        if len(ref.grads) == n:
            jax.append(ref.value)
            jax += ref.grads
        else:
            jax += [math.nan] * (n + 1)
        jax_sweeps.append(math.inf)  # (the value has no sweep)
        jax_sweeps += ref.sweeps if len(ref.sweeps) == n else [math.inf] * n
    try:
        leaves = [float(x) for c in compiled for x in c.leaf_values]  # (an int past float64)
    except OverflowError:
        return [False] * len(graphs)
    got = np.array(impl, dtype=np.float64)
    accepted = _accept_all(
        np.fromiter((x for c in compiled for x in c.steps), np.int64),
        _starts([len(c.steps) for c in compiled]),
        np.fromiter((x for c in compiled for x in c.leaf_slots), np.int64),
        np.array(leaves, dtype=np.float64),
        _starts([len(c.leaf_slots) for c in compiled]),
        np.fromiter((x for c in compiled for x in c.inputs), np.int64),
        _starts([len(c.inputs) for c in compiled]),
        np.array([c.output for c in compiled], dtype=np.int64),
        np.array([c.n_nodes for c in compiled], dtype=np.int64),
        ARITY,
        got,
        np.array(jax, dtype=np.float64),
        np.array(jax_sweeps, dtype=np.float64),
        np.array([sweep_budget(c.n_ops) for c in compiled], dtype=np.float64),
        QUICK_RTOL,
    )
    return [bool(a) for a in accepted]
