"""The second quick pass: graphs JAX's quick pass left, against a float64 evaluation compiled with
numba, several graphs to a call.

XLA's CPU build flushes subnormal numbers to 0, so JAX cannot judge the 4-5% of random graphs that
go through one (exp(-710) is 0 there, log(1e-310) is -inf). reference.compare judges them against
the registry's formulas in Python floats, which keep subnormals, at ~0.3 ms a graph. This kernel
evaluates the same formulas (the op table fuzz.sampler_kernel generates from the registry) over the
graphs' compiled steps and gives a verdict only where compare() gives a constant one, without the
exact answer:
- QUICK_PASS: every quantity within QUICK_RTOL of JAX's finite number or of the float64 one, or (a
  gradient) within the rounding budget of either's sweep (compare's _Judge.quick);
- SCALED_PASS: the others within the rounding budget of their error scales (the forward sweep of
  spreads and partial sizes, ported), none of them below an operand within its forward error of a
  kink (which compare() sets aside).
Only where every operand is inside its op's domain and finite, every value and local partial is
finite, and no partial is one float64 cannot compute (Op.unstable). Everything else goes to
compare() as before (tests/fuzz/test_float64_pass.py checks on sampled graphs, engine results and
spoiled ones, that the verdicts are compare()'s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from gradoracle.fuzz.float64_kernel import (
    ARITY,
    below_a_kink,
    error_scales,
    evaluate,
    forward_sweep,
)
from gradoracle.reference.compare import (
    EPS,
    QUICK_PASS,
    QUICK_RTOL,
    SCALED_PASS,
    ULPS_PER_OP,
    Verdict,
    sweep_budget,
)
from gradoracle.reference.tape import CompiledGraph, FlatGraphs, compile_graph


@njit(cache=True, error_model="numpy")
def _near(impl: float, ref: float, sweep: float, budget: float, rtol: float) -> bool:
    """reference.compare._near: within rtol of a finite number, or within budget of its sweep."""
    if not math.isfinite(ref):
        return False
    error = abs(impl - ref)
    return error <= rtol * abs(ref) or (math.isfinite(sweep) and error <= budget * sweep)


# What _accept_one found: compare() must look (REJECT), it passes at once (QUICK_PASS), or after
# its error scales (SCALED_PASS), with nothing set aside.
REJECT, QUICK, SCALED = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _accept_one(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, budget: float, rtol: float,
) -> int:  # fmt: skip
    evaluated, values, forms, partials, adjoint, sweep, leaf = evaluate(
        steps, leaf_slots, leaf_values, inputs, output, n_nodes, arity
    )
    if not evaluated:
        return REJECT
    n_ops = len(steps) // 4
    # compare()'s quick tests (_Judge.quick), quantity by quantity.
    n_q = len(inputs) + 1
    mine = np.empty(n_q)
    passed = np.zeros(n_q, dtype=np.bool_)
    for q in range(n_q):
        got = impl[q]
        if not math.isfinite(got):
            return REJECT
        if q == 0:
            mine[q], my_sweep, their_sweep = values[output], math.inf, math.inf
        else:
            node = inputs[q - 1]
            mine[q], my_sweep, their_sweep = adjoint[node], sweep[node], jax_sweeps[q]
        passed[q] = _near(got, jax[q], their_sweep, budget, rtol) or _near(
            got, mine[q], my_sweep, budget, rtol
        )
    if passed.all():
        return QUICK
    # The rest as compare() goes on: nothing within its forward error of a kink, then every
    # quantity within the rounding budget of its error scale of JAX's number or the float64 one.
    spread, sizes = forward_sweep(steps, forms, arity, values, partials, n_nodes)
    scales = error_scales(steps, forms, arity, sizes, spread, inputs, output, n_nodes)
    if below_a_kink(steps, forms, leaf, values, spread, inputs, output, passed, n_nodes):
        return REJECT
    scale_budget = ULPS_PER_OP * EPS * (n_ops + 1)
    for q in range(n_q):
        if passed[q]:
            continue
        s = scales[q]
        if not math.isfinite(s):
            return REJECT  # compare() sets it aside
        got, theirs = impl[q], jax[q]
        ok = math.isfinite(theirs) and abs(got - theirs) <= max(
            rtol * abs(theirs), scale_budget * s
        )
        if not ok and math.isfinite(mine[q]):
            ok = abs(got - mine[q]) <= max(rtol * abs(mine[q]), scale_budget * s)
        if not ok:
            return REJECT
    return SCALED


@njit(cache=True, error_model="numpy")
def _accept_all(
    steps: np.ndarray, step_starts: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray,
    leaf_starts: np.ndarray, inputs: np.ndarray, input_starts: np.ndarray, outputs: np.ndarray,
    n_nodes: np.ndarray, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, budgets: np.ndarray, rtol: float,
) -> np.ndarray:  # fmt: skip
    n = len(outputs)
    accepted = np.zeros(n, dtype=np.int64)
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


def accept(
    graphs: Sequence[Any], outcomes: Sequence[tuple[Any, Any] | None], refs: Sequence[Any]
) -> list[Verdict | None]:
    """Per graph (a reference.graph.Graph), with the implementation's (value, gradients) and JAX's
    result (`.value`, `.grads`, `.sweeps`): the verdict compare() gives where it is QUICK_PASS or
    SCALED_PASS (see the module docstring), None where compare() has to look."""
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
        flat = FlatGraphs.of(compiled)
    except OverflowError:  # an int leaf past float64
        return [None] * len(graphs)
    arrays = (
        flat.steps, flat.step_offsets, flat.leaf_slots, flat.leaf_values, flat.leaf_offsets,
        flat.inputs, flat.input_offsets, flat.outputs, flat.n_nodes, ARITY,
        np.array(impl, dtype=np.float64),
        np.array(jax, dtype=np.float64),
        np.array(jax_sweeps, dtype=np.float64),
        sweep_budget(flat.n_ops.astype(np.float64)),
        QUICK_RTOL,
    )  # fmt: skip
    try:
        accepted = _accept_all(*arrays)
    except Exception:  # a corner the kernel gets wrong must not stop a campaign: compare() judges
        return [None] * len(graphs)
    verdicts = {REJECT: None, QUICK: QUICK_PASS, SCALED: SCALED_PASS}
    return [verdicts[a] for a in accepted.tolist()]
