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

from gradoracle.fuzz.sampler_kernel import (
    CV,
    VC,
    VV,
    V,
    op_in_domain,
    op_kink,
    op_partial,
    op_partial_floor,
    op_unstable,
    op_value,
)
from gradoracle.reference.compare import (
    EPS,
    FORWARD_ULPS_PER_OP,
    PROBE,
    QUICK_PASS,
    QUICK_RTOL,
    SCALE_FLOOR,
    SCALED_PASS,
    TINY,
    ULPS_PER_OP,
    Verdict,
    sweep_budget,
)
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


# What _accept_one found: compare() must look (REJECT), it passes at once (QUICK_PASS), or after
# its error scales (SCALED_PASS), with nothing set aside.
REJECT, QUICK, SCALED = 0, 1, 2


@njit(cache=True)
def _evaluate(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray,
) -> tuple[bool, Any, Any, Any, Any, Any, Any]:  # fmt: skip
    """The graph in float64 (reference.compare.float_evaluation, then float_sweep.adjoints_at):
    (evaluated, node values, step forms, step partials, adjoints, sweeps, which nodes are leaves).
    Not evaluated where compare() has to look: an operand outside its op's domain or not finite,
    a value or partial that is not finite, a partial float64 cannot compute (Op.unstable)."""
    values = np.zeros(n_nodes)
    constant = np.zeros(n_nodes, dtype=np.bool_)
    leaf = np.zeros(n_nodes, dtype=np.bool_)
    for k in range(len(leaf_slots)):
        values[leaf_slots[k]] = leaf_values[k]
        constant[leaf_slots[k]] = True
        leaf[leaf_slots[k]] = True
    for k in range(len(inputs)):
        constant[inputs[k]] = False
    n_ops = len(steps) // 4
    forms = np.empty(n_ops, dtype=np.int64)
    partials = np.zeros((n_ops, 2))
    adjoint = np.zeros(n_nodes)
    sweep = np.zeros(n_nodes)
    for t in range(n_ops):
        code, left, right, dest = steps[4 * t], steps[4 * t + 1], steps[4 * t + 2], steps[4 * t + 3]
        a, b = values[left], values[right]
        if arity[code] == 1:
            form = V
        elif constant[left] and constant[right]:
            return False, values, forms, partials, adjoint, sweep, leaf  # (not a valid graph)
        else:
            form = CV if constant[left] else VC if constant[right] else VV
        forms[t] = form
        if not (math.isfinite(a) and math.isfinite(b) and op_in_domain(code, form, a, b)):
            return False, values, forms, partials, adjoint, sweep, leaf
        if op_unstable(code, form, a, b):
            return False, values, forms, partials, adjoint, sweep, leaf
        out = op_value(code, a, b)
        if form != CV:
            partials[t, 0] = op_partial(code, 0, a, b, out)
        if form in (VV, CV):
            partials[t, 1] = op_partial(code, 1, a, b, out)
        values[dest] = out
        if not (
            math.isfinite(out) and math.isfinite(partials[t, 0]) and math.isfinite(partials[t, 1])
        ):
            return False, values, forms, partials, adjoint, sweep, leaf
    # Reverse mode: adjoints, and sweeps (the sum over paths of |product of partials|).
    adjoint[output] = 1.0
    sweep[output] = 1.0
    for t in range(n_ops - 1, -1, -1):
        dest = steps[4 * t + 3]
        if sweep[dest] == 0.0:
            continue
        for slot in range(arity[steps[4 * t]]):
            if _constant_slot(forms[t], slot):
                continue  # no gradient
            arg = steps[4 * t + 1 + slot]
            partial = partials[t, slot]
            if adjoint[dest] != 0.0:
                adjoint[arg] += adjoint[dest] * partial
            sweep[arg] += sweep[dest] * abs(partial)
    return True, values, forms, partials, adjoint, sweep, leaf


@njit(cache=True)
def _accept_one(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, budget: float, rtol: float,
) -> int:  # fmt: skip
    evaluated, values, forms, partials, adjoint, sweep, leaf = _evaluate(
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
    spread, sizes = _forward_sweep(steps, forms, arity, values, partials, n_nodes)
    scales = _scales(steps, forms, arity, sizes, spread, inputs, output, n_nodes)
    if _below_a_kink(steps, forms, leaf, values, spread, inputs, output, passed, n_nodes):
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


@njit(cache=True)
def _forward_sweep(
    steps: np.ndarray, forms: np.ndarray, arity: np.ndarray, values: np.ndarray,
    partials: np.ndarray, n_nodes: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """reference.compare._forward_sweep: every node's spread and every step's partial sizes. A
    probe that leaves the domain or overflows (compare() retries smaller steps) is not followed:
    the spread is then NaN, and the graph goes to compare()."""
    n_ops = len(steps) // 4
    spread = np.zeros(n_nodes)
    sizes = np.zeros((n_ops, 2))
    for t in range(n_ops):
        code, left, right, dest = steps[4 * t], steps[4 * t + 1], steps[4 * t + 2], steps[4 * t + 3]
        form, n_args = forms[t], arity[code]
        operands = (values[left], values[right])
        out = values[dest]
        magnitudes = np.zeros(2)
        moves = np.zeros(2)
        for slot in range(n_args):
            if not _constant_slot(form, slot):
                magnitudes[slot] = max(abs(partials[t, slot]), op_partial_floor(code, slot, out))
        for k in range(n_args):
            arg = left if k == 0 else right
            operand_spread = spread[arg]
            if operand_spread == 0.0 or _constant_slot(form, k):
                continue
            x = operands[k]
            step = max(abs(x) * PROBE, EPS * operand_spread)
            a2 = x + step if k == 0 else operands[0]
            b2 = x + step if k == 1 else operands[1]
            if n_args == 1:
                b2 = a2
            out2 = op_value(code, a2, b2)
            for slot in range(n_args):
                if _constant_slot(form, slot):
                    continue
                shifted = op_partial(code, slot, a2, b2, out2)
                if not (math.isfinite(out2) and math.isfinite(shifted)):
                    spread[dest] = math.nan
                    return spread, sizes
                moves[slot] += abs(shifted - partials[t, slot]) * (operand_spread / step)
        total = max(abs(out), TINY)
        for slot in range(n_args):
            sizes[t, slot] = magnitudes[slot] + moves[slot]
            arg = left if slot == 0 else right
            if spread[arg] != 0.0:
                total += (magnitudes[slot] + EPS * moves[slot]) * spread[arg]
        spread[dest] = total
    return spread, sizes


@njit(cache=True)
def _constant_slot(form: int, slot: int) -> bool:
    return (slot == 0 and form == CV) or (slot == 1 and form == VC)


@njit(cache=True)
def _scales(
    steps: np.ndarray, forms: np.ndarray, arity: np.ndarray, sizes: np.ndarray,
    spread: np.ndarray, inputs: np.ndarray, output: int, n_nodes: int,
) -> np.ndarray:  # fmt: skip
    """reference.compare._scales_from: the value's scale, then each input's gradient scale."""
    sens = np.zeros(n_nodes)
    sens[output] = 1.0
    for t in range(len(steps) // 4 - 1, -1, -1):
        dest = steps[4 * t + 3]
        if sens[dest] == 0.0:
            continue
        for slot in range(arity[steps[4 * t]]):
            size = (
                sizes[t, slot]
                if _constant_slot(forms[t], slot)
                else max(sizes[t, slot], SCALE_FLOOR)
            )
            sens[steps[4 * t + 1 + slot]] += size * sens[dest]
    scales = np.empty(len(inputs) + 1)
    scales[0] = _at_least(spread[output])
    for q in range(len(inputs)):
        scales[q + 1] = _at_least(sens[inputs[q]])
    return scales


@njit(cache=True)
def _at_least(x: float) -> float:
    return x if x != x else max(x, SCALE_FLOOR)


@njit(cache=True)
def _below_a_kink(
    steps: np.ndarray, forms: np.ndarray, leaf: np.ndarray, values: np.ndarray,
    spread: np.ndarray, inputs: np.ndarray, output: int, passed: np.ndarray, n_nodes: int,
) -> bool:  # fmt: skip
    """Whether a quantity not passed yet is a gradient below an operand within its forward error
    of a kink (reference.compare._near_kinks): compare() sets it aside."""
    n_ops = len(steps) // 4
    reach = np.zeros(n_nodes, dtype=np.bool_)
    reach[output] = True
    for t in range(n_ops - 1, -1, -1):
        if reach[steps[4 * t + 3]]:
            reach[steps[4 * t + 1]] = True
            reach[steps[4 * t + 2]] = True
    error_budget = FORWARD_ULPS_PER_OP * EPS * (n_ops + 1)
    below = np.zeros(n_nodes, dtype=np.bool_)
    for t in range(n_ops):
        code, dest = steps[4 * t], steps[4 * t + 3]
        side, at = op_kink(code)
        if side < 0 or not reach[dest] or _constant_slot(forms[t], side):
            continue
        arg = steps[4 * t + 1 + side]
        distance = abs(values[arg] - at)
        if distance > 0.0 and (leaf[arg] or not distance <= error_budget * spread[arg]):
            continue  # an exact leaf off the kink, or an operand farther than its error
        below[arg] = True
    if not below.any():
        return False
    for t in range(n_ops - 1, -1, -1):
        if below[steps[4 * t + 3]]:
            below[steps[4 * t + 1]] = True
            below[steps[4 * t + 2]] = True
    for q in range(len(inputs)):  # noqa: SIM110 (numba compiles no generator into any())
        if not passed[q + 1] and below[inputs[q]]:
            return True
    return False


@njit(cache=True)
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


def _starts(lengths: Sequence[int]) -> np.ndarray:
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


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
        leaves = [float(x) for c in compiled for x in c.leaf_values]  # (an int past float64)
    except OverflowError:
        return [None] * len(graphs)
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
    verdicts = {REJECT: None, QUICK: QUICK_PASS, SCALED: SCALED_PASS}
    return [verdicts[a] for a in accepted.tolist()]


def gradients(graph: Any) -> tuple[float, tuple[float, ...]] | None:
    """The graph's value and gradients in float64 as reference.float_sweep.float_gradients gives
    them, compiled (the battery's chains of 10^3 steps in 0.5 ms instead of 3), or None where
    the kernel does not evaluate it (an operand outside a domain, a number not finite): then ask
    float_gradients, which says what went wrong."""
    c = compile_graph(graph)
    try:
        leaves = np.array([float(x) for x in c.leaf_values], dtype=np.float64)
    except OverflowError:
        return None
    inputs = np.array(c.inputs, dtype=np.int64)
    evaluated, values, _, _, adjoint, _, _ = _evaluate(
        np.array(c.steps, dtype=np.int64), np.array(c.leaf_slots, dtype=np.int64), leaves,
        inputs, c.output, c.n_nodes, ARITY,
    )  # fmt: skip
    if not evaluated:
        return None
    return float(values[c.output]), tuple(adjoint[inputs].tolist())
