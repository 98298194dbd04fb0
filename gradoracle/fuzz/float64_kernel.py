"""A graph in float64 compiled with numba: the registry's formulas (the op table fuzz.sampler_kernel
generates from it) over a graph's compiled steps, as reference.compare evaluates them in Python
floats: node values and local partials (float_evaluation), adjoints and sweeps (float_sweep),
spreads and error scales (_forward_sweep, _scales_from) and the kink test (_near_kinks). Used by
fuzz.float64_pass (verdicts on whole batches) and by the battery (expected answers of its long
graphs, `gradients`).
"""

from __future__ import annotations

import math
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
from gradoracle.reference.compare import EPS, FORWARD_ULPS_PER_OP, PROBE, SCALE_FLOOR, TINY
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import OPCODES, FlatGraphs, compile_graph

ARITY = np.array([op.arity for op in OPS.values()], dtype=np.int64)
POW, SQRT = OPCODES["pow"], OPCODES["sqrt"]


@njit(cache=True, error_model="numpy")
def evaluate(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray,
) -> tuple[bool, Any, Any, Any, Any, Any, Any, Any, bool]:  # fmt: skip
    """The graph in float64 (reference.compare.float_evaluation, then float_sweep.adjoints_at):
    (evaluated, node values, step forms, step partials, adjoints, sweeps, which nodes are leaves,
    per step whether float64 is unreliable there, whether the adjoints exist).
    Not evaluated where compare() has to look: an operand outside its op's domain or not finite,
    a value that is not finite. A step whose local partial is not finite is OVERFLOWS
    (FloatEvaluation.overflows), one whose partial float64 cannot compute (Op.unstable) is
    UNSTABLE; the adjoints then carry what IEEE arithmetic gives, and they do not exist where the
    Python-float sweep (adjoints_at) would raise computing a partial it reaches."""
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
    shaky = np.zeros(n_ops, dtype=np.int64)
    raises = np.zeros(n_ops, dtype=np.bool_)
    for t in range(n_ops):
        code, left, right, dest = steps[4 * t], steps[4 * t + 1], steps[4 * t + 2], steps[4 * t + 3]
        a, b = values[left], values[right]
        if arity[code] == 1:
            form = V
        elif constant[left] and constant[right]:  # (not a valid graph)
            return False, values, forms, partials, adjoint, sweep, leaf, shaky, False
        else:
            form = CV if constant[left] else VC if constant[right] else VV
        forms[t] = form
        if not (math.isfinite(a) and math.isfinite(b) and op_in_domain(code, form, a, b)):
            return False, values, forms, partials, adjoint, sweep, leaf, shaky, False
        out = op_value(code, a, b)
        if not math.isfinite(out):
            return False, values, forms, partials, adjoint, sweep, leaf, shaky, False
        if form != CV:
            partials[t, 0] = op_partial(code, 0, a, b, out)
        if form in (VV, CV):
            partials[t, 1] = op_partial(code, 1, a, b, out)
        values[dest] = out
        if not (math.isfinite(partials[t, 0]) and math.isfinite(partials[t, 1])):
            shaky[t] = OVERFLOWS
            raises[t] = partial_raises(code, form, a, b, out)
        elif op_unstable(code, form, a, b):
            shaky[t] = UNSTABLE
    # Reverse mode: adjoints, and sweeps (the sum over paths of |product of partials|).
    adjoint[output] = 1.0
    sweep[output] = 1.0
    adjoints_exist = True
    for t in range(n_ops - 1, -1, -1):
        dest = steps[4 * t + 3]
        if sweep[dest] == 0.0:
            continue
        if raises[t]:
            adjoints_exist = False  # (adjoints_at raises here: compare() has no float64 numbers)
        for slot in range(arity[steps[4 * t]]):
            if constant_slot(forms[t], slot):
                continue  # no gradient
            arg = steps[4 * t + 1 + slot]
            partial = partials[t, slot]
            if adjoint[dest] != 0.0:
                adjoint[arg] += adjoint[dest] * partial
            sweep[arg] += sweep[dest] * abs(partial)
    return True, values, forms, partials, adjoint, sweep, leaf, shaky, adjoints_exist


# What evaluate() says of a step: float64 is reliable there, a local partial is not finite
# (compare() calls that "float64 overflows"), or float64 cannot compute it (Op.unstable).
RELIABLE, OVERFLOWS, UNSTABLE = 0, 1, 2


@njit(cache=True, error_model="numpy")
def partial_raises(code: int, form: int, a: float, b: float, out: float) -> bool:
    """Whether Op.partials in Python floats (reference.libs.FLOAT) raises at these operands,
    which are inside the op's domain, rather than giving a number that is not finite: a pow
    whose a ** (b - 1) overflows (Python's ** raises OverflowError), a sqrt at 0 (0.5 / 0.0 raises
    ZeroDivisionError). tests/fuzz/test_float64_pass.py checks it against the registry."""
    if code == POW and form != CV:
        return not math.isfinite(a ** (b - 1.0))
    return code == SQRT and out == 0.0


@njit(cache=True, error_model="numpy")
def forward_sweep(
    steps: np.ndarray, forms: np.ndarray, arity: np.ndarray, values: np.ndarray,
    partials: np.ndarray, n_nodes: int,
) -> tuple[np.ndarray, np.ndarray, bool]:  # fmt: skip
    """reference.compare._forward_sweep: every node's spread and every step's partial sizes, and
    whether they are compare()'s. A probe that leaves the domain or overflows (compare() retries
    smaller steps) is not followed: the spread is then NaN, the answer False, and the graph goes
    to compare()."""
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
            if not constant_slot(form, slot):
                magnitudes[slot] = max(abs(partials[t, slot]), op_partial_floor(code, slot, out))
        for k in range(n_args):
            arg = left if k == 0 else right
            operand_spread = spread[arg]
            if operand_spread == 0.0 or constant_slot(form, k):
                continue
            x = operands[k]
            step = max(abs(x) * PROBE, EPS * operand_spread)
            if not math.isfinite(step):  # (compare()'s retries and NaNs take their own course)
                spread[dest] = math.nan
                return spread, sizes, False
            a2 = x + step if k == 0 else operands[0]
            b2 = x + step if k == 1 else operands[1]
            if n_args == 1:
                b2 = a2
            out2 = op_value(code, a2, b2)
            for slot in range(n_args):
                if constant_slot(form, slot):
                    continue
                shifted = op_partial(code, slot, a2, b2, out2)
                if not (math.isfinite(out2) and math.isfinite(shifted)):
                    spread[dest] = math.nan
                    return spread, sizes, False
                moves[slot] += abs(shifted - partials[t, slot]) * (operand_spread / step)
        carried = 0.0  # (summed first, then added: the same rounding as compare()'s sum())
        for slot in range(n_args):
            sizes[t, slot] = magnitudes[slot] + moves[slot]
            arg = left if slot == 0 else right
            if spread[arg] != 0.0:
                carried += (magnitudes[slot] + EPS * moves[slot]) * spread[arg]
        spread[dest] = max(abs(out), TINY) + carried
        if spread[dest] != spread[dest] or sizes[t, 0] != sizes[t, 0] or sizes[t, 1] != sizes[t, 1]:
            return spread, sizes, False
    return spread, sizes, True


@njit(cache=True, error_model="numpy")
def constant_slot(form: int, slot: int) -> bool:
    return (slot == 0 and form == CV) or (slot == 1 and form == VC)


@njit(cache=True, error_model="numpy")
def error_scales(
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
                if constant_slot(forms[t], slot)
                else max(sizes[t, slot], SCALE_FLOOR)
            )
            sens[steps[4 * t + 1 + slot]] += size * sens[dest]
    scales = np.empty(len(inputs) + 1)
    scales[0] = _at_least(spread[output])
    for q in range(len(inputs)):
        scales[q + 1] = _at_least(sens[inputs[q]])
    return scales


@njit(cache=True, error_model="numpy")
def _at_least(x: float) -> float:
    return x if x != x else max(x, SCALE_FLOOR)


@njit(cache=True, error_model="numpy")
def below_a_kink(
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
        if side < 0 or not reach[dest] or constant_slot(forms[t], side):
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


def gradients(graph: Any) -> tuple[float, tuple[float, ...]] | None:
    """The graph's value and gradients in float64 as reference.float_sweep.float_gradients gives
    them, compiled (the battery's chains of 10^3 steps in 0.5 ms instead of 3), or None where
    the kernel does not evaluate it (an operand outside a domain, a number not finite): then ask
    float_gradients, which says what went wrong."""
    try:
        flat = FlatGraphs.of([compile_graph(graph)])
    except OverflowError:  # an int leaf past float64
        return None
    evaluated, values, _, _, adjoint, _, _, shaky, _ = evaluate(
        flat.steps, flat.leaf_slots, flat.leaf_values, flat.inputs, int(flat.outputs[0]),
        int(flat.n_nodes[0]), ARITY,
    )  # fmt: skip
    if not evaluated or shaky.any():  # (float_gradients' numbers through those mean nothing)
        return None
    return float(values[flat.outputs[0]]), tuple(adjoint[flat.inputs].tolist())
