"""The second quick pass: graphs JAX's quick pass left, against a float64 evaluation compiled with
numba, several graphs to a call.

XLA's CPU build flushes subnormal numbers to 0, so JAX cannot judge the 4-5% of random graphs that
go through one (exp(-710) is 0 there, log(1e-310) is -inf). reference.compare judges them against
the registry's formulas in Python floats, which keep subnormals, at ~0.3 ms a graph. This kernel
evaluates the same formulas (the op table fuzz.sampler_kernel generates from the registry) over the
graphs' compiled steps and gives a verdict only where it finds compare()'s without the exact
answer:
- QUICK_PASS: every quantity within QUICK_RTOL of JAX's finite number or of the float64 one, or (a
  gradient) within the rounding budget of either's sweep (compare's _Judge.quick);
- SCALED_PASS: the others within the rounding budget of their error scales (the forward sweep of
  spreads and partial sizes, ported), none of them below an operand within its forward error of a
  kink (which compare() sets aside);
- a verdict with quantities set aside, built as compare()'s _Judge builds it (the same quantities,
  scales and float64 numbers, the same reason word for word): the gradients below a step where a
  local partial is not finite or one float64 cannot compute (log of a subnormal, whose slope
  overflows: ~0.7% of random graphs, the most common graph compare() judged one by one), the
  others passed at once; or the quantities whose error scale is not finite, the others passed by
  their scales.
Only where every operand is inside its op's domain and finite and every value is finite; with a
step where float64 is unreliable, only where the quick tests pass everything not set aside (error
scales through such a step are compare()'s). Everything else goes to compare() as before
(tests/fuzz/test_float64_pass.py checks on sampled graphs, with engine results, spoiled ones and
ones moved around the tolerances, that the verdicts are compare()'s field by field).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from gradoracle.fuzz.float64_kernel import (
    ARITY,
    OVERFLOWS,
    UNSTABLE,
    below_a_kink,
    error_scales,
    evaluate,
    forward_sweep,
)
from gradoracle.reference.compare import (
    EPS,
    NOT_COMPARABLE,
    PASS,
    QUICK_PASS,
    QUICK_RTOL,
    SCALED_PASS,
    ULPS_PER_OP,
    Quantity,
    Verdict,
    sweep_budget,
)
from gradoracle.reference.tape import FlatGraphs, compile_graph


@njit(cache=True, error_model="numpy")
def _near(impl: float, ref: float, sweep: float, budget: float, rtol: float) -> bool:
    """reference.compare._near: within rtol of a finite number, or within budget of its sweep."""
    if not math.isfinite(ref):
        return False
    error = abs(impl - ref)
    return error <= rtol * abs(ref) or (math.isfinite(sweep) and error <= budget * sweep)


# What _accept_one found: compare() must look (REJECT), it passes at once (QUICK_PASS), or after
# its error scales (SCALED_PASS), with nothing set aside; or it set some quantities aside and
# judged the rest without the exact answer (ASIDE: the verdict is built from the marks).
REJECT, QUICK, SCALED, ASIDE = 0, 1, 2, 3
# Per quantity: open, passed (against JAX's number; against the float64 one here), or set aside:
# below a step where float64 overflows or loses a partial (FloatEvaluation.unreliable), or its
# error scale is not finite.
OPEN, PASSED, PASSED_HERE, BELOW_OVERFLOW, BELOW_UNSTABLE, SCALE_NOT_FINITE = 0, 1, 2, 3, 4, 5


@njit(cache=True, error_model="numpy")
def _ancestors_of(steps: np.ndarray, roots: np.ndarray, n_nodes: int) -> np.ndarray:
    """reference.compare._ancestors over compiled steps: roots and their operands at any depth."""
    marked = np.zeros(n_nodes, dtype=np.bool_)
    for r in roots:
        marked[r] = True
    for t in range(len(steps) // 4 - 1, -1, -1):
        if marked[steps[4 * t + 3]]:
            marked[steps[4 * t + 1]] = True
            marked[steps[4 * t + 2]] = True
    return marked


@njit(cache=True, error_model="numpy")
def _set_aside_below_unreliable(
    steps: np.ndarray, shaky: np.ndarray, inputs: np.ndarray, output: int, n_nodes: int,
    marks: np.ndarray, at: np.ndarray,
) -> None:  # fmt: skip
    """compare()'s _Judge.run: each gradient below a step where float64 is unreliable is set aside,
    naming the first such step above it (overflowing steps first, then unstable ones, each in
    node order: FloatEvaluation.unreliable's order)."""
    reach = _ancestors_of(steps, np.array([output]), n_nodes)
    for first in (True, False):
        kind, mark = (OVERFLOWS, BELOW_OVERFLOW) if first else (UNSTABLE, BELOW_UNSTABLE)
        for t in range(len(steps) // 4):
            dest = steps[4 * t + 3]
            if shaky[t] != kind or not reach[dest]:
                continue
            below = _ancestors_of(steps, np.array([dest]), n_nodes)
            for q in range(len(inputs)):
                if marks[q + 1] == OPEN and below[inputs[q]]:
                    marks[q + 1] = mark
                    at[q + 1] = dest


@njit(cache=True, error_model="numpy")
def _within_jax(
    impl: np.ndarray, jax: np.ndarray, jax_sweeps: np.ndarray, budget: float, rtol: float
) -> bool:
    """reference.compare.within_sweeps."""
    for q in range(len(impl)):
        got, theirs = impl[q], jax[q]
        if not (math.isfinite(theirs) and math.isfinite(got)):
            return False
        error = abs(got - theirs)
        s = jax_sweeps[q]
        if not (error <= rtol * abs(theirs) or (q and math.isfinite(s) and error <= budget * s)):
            return False
    return True


@njit(cache=True, error_model="numpy")
def _accept_one(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, inputs: np.ndarray,
    output: int, n_nodes: int, arity: np.ndarray, impl: np.ndarray, jax: np.ndarray,
    jax_sweeps: np.ndarray, in_domain: bool, budget: float, rtol: float, marks: np.ndarray,
    at: np.ndarray, scales_out: np.ndarray, here: np.ndarray,
) -> int:  # fmt: skip
    """compare() on one graph, as far as it goes without the exact answer; `marks`, `at`,
    `scales_out` and `here` (the float64 numbers) say per quantity what it found."""
    if in_domain and _within_jax(impl, jax, jax_sweeps, budget, rtol):
        return QUICK  # (compare()'s first test: JaxBatch.quick_pass takes these in a campaign)
    evaluated, values, forms, partials, adjoint, sweep, leaf, shaky, adjoints_exist = evaluate(
        steps, leaf_slots, leaf_values, inputs, output, n_nodes, arity
    )
    if not evaluated:
        return REJECT
    n_ops = len(steps) // 4
    n_q = len(inputs) + 1
    unreliable = shaky.any()
    if unreliable:
        _set_aside_below_unreliable(steps, shaky, inputs, output, n_nodes, marks, at)
    set_aside = (marks != OPEN).any()
    # compare()'s quick tests (_Judge.quick), quantity by quantity. (Where JAX's number is not
    # finite, only the float64 one here can pass it: _near refuses a number that is not finite.)
    my_sweeps = np.empty(n_q)
    for q in range(n_q):
        if q == 0:
            here[q], my_sweeps[q], their_sweep = values[output], math.inf, math.inf
        else:
            node = inputs[q - 1]
            here[q], my_sweeps[q], their_sweep = adjoint[node], sweep[node], jax_sweeps[q]
        got = impl[q]
        if marks[q] != OPEN or not math.isfinite(got):
            continue
        if _near(got, jax[q], their_sweep, budget, rtol):
            marks[q] = PASSED
        elif adjoints_exist and _near(got, here[q], my_sweeps[q], budget, rtol):
            marks[q] = PASSED_HERE
    if not (marks == OPEN).any():
        return ASIDE if set_aside else QUICK
    if unreliable:
        return REJECT  # (spreads through a step that overflows: compare() finds them)
    # The rest as compare() goes on: nothing within its forward error of a kink, then every
    # quantity within the rounding budget of its error scale of JAX's number or the float64 one;
    # a quantity whose scale is not finite is set aside.
    spread, sizes, swept = forward_sweep(steps, forms, arity, values, partials, n_nodes)
    if not swept:
        return REJECT
    scales = error_scales(steps, forms, arity, sizes, spread, inputs, output, n_nodes)
    passed = marks != OPEN
    if below_a_kink(steps, forms, leaf, values, spread, inputs, output, passed, n_nodes):
        return REJECT
    scale_budget = ULPS_PER_OP * EPS * (n_ops + 1)
    for q in range(n_q):  # _Judge.scaled
        scales_out[q] = scales[q]
        got, theirs, s = impl[q], jax[q], scales[q]
        if marks[q] != OPEN:
            continue
        if not math.isfinite(s):
            marks[q] = SCALE_NOT_FINITE
        elif (
            math.isfinite(got)
            and math.isfinite(theirs)
            and abs(got - theirs) <= max(rtol * abs(theirs), scale_budget * s)
        ):
            marks[q] = PASSED
    for q in range(n_q):  # _Judge.float64
        got, mine, s = impl[q], here[q], scales[q]
        if marks[q] != OPEN or not (math.isfinite(mine) and math.isfinite(s)):
            continue
        if math.isfinite(got) and abs(got - mine) <= max(rtol * abs(mine), scale_budget * s):
            marks[q] = PASSED_HERE
    if (marks == OPEN).any():
        return REJECT  # the exact answer judges
    return ASIDE if (marks == SCALE_NOT_FINITE).any() else SCALED


@njit(cache=True, error_model="numpy")
def _accept_all(
    steps: np.ndarray, step_starts: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray,
    leaf_starts: np.ndarray, inputs: np.ndarray, input_starts: np.ndarray, outputs: np.ndarray,
    n_nodes: np.ndarray, arity: np.ndarray, chosen: np.ndarray, impl: np.ndarray,
    jax: np.ndarray, jax_sweeps: np.ndarray, plain: np.ndarray, in_domain: np.ndarray,
    budgets: np.ndarray, rtol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    accepted = np.zeros(len(chosen), dtype=np.int64)
    marks = np.zeros(len(impl), dtype=np.int64)
    at = np.zeros(len(impl), dtype=np.int64)
    scales = np.zeros(len(impl))
    here = np.zeros(len(impl))
    for c in range(len(chosen)):
        g = chosen[c]
        if not plain[g]:
            continue  # compare() says what is wrong
        q0, q1 = input_starts[g] + g, input_starts[g + 1] + g + 1  # value, then the gradients
        accepted[c] = _accept_one(
            steps[step_starts[g] : step_starts[g + 1]],
            leaf_slots[leaf_starts[g] : leaf_starts[g + 1]],
            leaf_values[leaf_starts[g] : leaf_starts[g + 1]],
            inputs[input_starts[g] : input_starts[g + 1]],
            outputs[g], n_nodes[g], arity, impl[q0:q1], jax[q0:q1], jax_sweeps[q0:q1],
            in_domain[g], budgets[g], rtol, marks[q0:q1], at[q0:q1], scales[q0:q1], here[q0:q1],
        )  # fmt: skip
    return accepted, marks, at, scales, here


def accept(
    graphs: Sequence[Any], outcomes: Sequence[tuple[Any, Any] | None], refs: Sequence[Any]
) -> list[Verdict | None]:
    """Per graph (a reference.graph.Graph), with the implementation's (value, gradients) and JAX's
    result (`.value`, `.grads`, `.sweeps`, `.in_domain`): the verdict compare() gives where the
    kernel finds it without the exact answer (see the module docstring), None where compare()
    has to look."""
    if not graphs:
        return []
    try:
        flat = FlatGraphs.of([compile_graph(g) for g in graphs])
    except OverflowError:  # an int leaf past float64
        return [None] * len(graphs)
    jax: list[float] = []
    jax_sweeps: list[float] = []
    fits: list[bool] = []
    for graph, ref in zip(graphs, refs, strict=True):
        n = len(graph.inputs)
        # (JAX's result as JaxResult gives it, or compare() judges: without in_domain it looks
        # at the domains before its first test)
        fits.append(
            len(ref.grads) == n and len(ref.sweeps) == n and isinstance(ref.in_domain, bool)
        )
        jax.append(ref.value)
        jax += ref.grads if fits[-1] else [math.nan] * n
        jax_sweeps.append(math.inf)  # (the value has no sweep)
        jax_sweeps += ref.sweeps if fits[-1] else [math.inf] * n
    in_domain = [fit and ref.in_domain for fit, ref in zip(fits, refs, strict=True)]
    columns = (
        np.array(jax, dtype=np.float64),
        np.array(jax_sweeps, dtype=np.float64),
        np.array(in_domain, dtype=np.bool_),
    )
    verdicts = _judge(flat, outcomes, range(len(graphs)), *columns)
    return [v if fit else None for v, fit in zip(verdicts, fits, strict=True)]


def accept_batch(
    outcomes: Sequence[tuple[Any, Any] | None], batch: Any, chosen: Sequence[int]
) -> list[Verdict | None]:
    """accept() for graphs `chosen` of a reference.jax_ref.JaxBatch (`outcomes` per graph of the
    batch), from its columns and the batch's compiled graphs (`batch.graphs`, a FlatGraphs):
    no JaxResult, no second flattening of the graphs."""
    if batch.graphs is None:  # (a batch made without them: compare() judges)
        return [None] * len(chosen)
    columns = (batch.quantities, batch.sweeps, batch.in_domain)
    return _judge(batch.graphs, outcomes, chosen, *columns)


def accept_columns(
    impl: np.ndarray, plain: np.ndarray, batch: Any, chosen: Sequence[int]
) -> list[Verdict | None]:
    """accept_batch from the outcomes' numbers laid out as the batch's quantities (`impl`: each
    graph's value, then its gradients) and per graph whether its outcome is plain (a value and
    one gradient per input, every one a float: the others are compare()'s to judge)."""
    if batch.graphs is None:
        return [None] * len(chosen)
    columns = (batch.quantities, batch.sweeps, batch.in_domain)
    return _judge(batch.graphs, (impl, plain), chosen, *columns)


def _judge(
    flat: FlatGraphs,
    outcomes: Sequence[tuple[Any, Any] | None] | tuple[np.ndarray, np.ndarray],
    chosen: Sequence[int],
    jax: np.ndarray,
    jax_sweeps: np.ndarray,
    in_domain: np.ndarray,
) -> list[Verdict | None]:
    """The kernel's verdicts on graphs `chosen` of `flat`; `jax`, `jax_sweeps` hold every graph's
    value and then its gradients (a value's sweep is not read), `in_domain` is per graph of
    `flat`, `outcomes` per graph of `flat` or laid out already (accept_columns)."""
    if not chosen:
        return []
    offsets = flat.input_offsets + np.arange(len(flat.input_offsets))  # value, then gradients
    if len(jax) != offsets[-1] or len(jax_sweeps) != offsets[-1]:
        return [None] * len(chosen)  # (JAX's results do not fit the graphs: compare() says so)
    starts = offsets.tolist()
    if isinstance(outcomes, tuple):
        impl, plain = outcomes
        if len(impl) != offsets[-1] or len(plain) != len(flat.outputs):
            return [None] * len(chosen)
    else:
        impl, plain = _laid_out(outcomes, chosen, starts)
    arrays = (
        flat.steps, flat.step_offsets, flat.leaf_slots, flat.leaf_values, flat.leaf_offsets,
        flat.inputs, flat.input_offsets, flat.outputs, flat.n_nodes, ARITY,
        np.asarray(chosen, dtype=np.int64), impl, jax, jax_sweeps, plain, in_domain,
        sweep_budget(flat.n_ops.astype(np.float64)), QUICK_RTOL,
    )  # fmt: skip
    try:
        accepted, marks, at, scales, here = _accept_all(*arrays)
    except Exception:  # a corner the kernel gets wrong must not stop a campaign: compare() judges
        return [None] * len(chosen)
    verdicts: list[Verdict | None] = []
    for k, kind in zip(chosen, accepted.tolist(), strict=True):
        if kind == ASIDE:
            start, end = starts[k], starts[k + 1]
            inputs = flat.inputs[flat.input_offsets[k] : flat.input_offsets[k + 1]].tolist()
            verdicts.append(
                set_aside_verdict(
                    inputs, impl[start:end].tolist(), jax[start:end].tolist(), marks[start:end],
                    at[start:end], scales[start:end], here[start:end],
                )
            )  # fmt: skip
        else:
            verdicts.append(_CONSTANT[kind])
    return verdicts


def _laid_out(
    outcomes: Sequence[tuple[Any, Any] | None], chosen: Sequence[int], starts: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The chosen outcomes' numbers laid out as the quantities (`starts`: where each graph's
    begin), and per graph whether its outcome is plain (see accept_columns)."""
    impl = np.full(starts[-1], math.nan)
    plain = np.zeros(len(starts) - 1, dtype=np.bool_)
    for k in chosen:
        outcome = outcomes[k]
        value, grads = outcome if outcome is not None else (None, None)
        numbers = [value, *grads] if grads is not None else []
        if len(numbers) == starts[k + 1] - starts[k] and all(type(x) is float for x in numbers):
            impl[starts[k] : starts[k + 1]] = numbers
            plain[k] = True
    return impl, plain


_CONSTANT = {REJECT: None, QUICK: QUICK_PASS, SCALED: SCALED_PASS}
_WHY = {
    BELOW_OVERFLOW: "float64 overflows on its path",
    BELOW_UNSTABLE: "float64 loses a local derivative on its path",
    SCALE_NOT_FINITE: "an intermediate derivative is not finite",
}


def set_aside_verdict(
    inputs: Sequence[int], impl: Sequence[float], jax: Sequence[float], marks: np.ndarray,
    at: np.ndarray, scales: np.ndarray, here: np.ndarray,
) -> Verdict:  # fmt: skip
    """The verdict compare()'s _Judge gives when it set quantities aside and passed the rest
    without the exact answer: its quantities (scales only where it computed them) and reason."""
    names = ["value", *(f"x{i}" for i in inputs)]
    marked = marks.tolist()
    where: dict[str, list[str]] = {}  # why -> where, in the order _Judge sets them aside
    for k, mark in enumerate(marked):
        if mark in (BELOW_OVERFLOW, BELOW_UNSTABLE):
            where.setdefault(_WHY[mark], []).append(f"{names[k]}: node {int(at[k])}")
    for k, mark in enumerate(marked):
        if mark == SCALE_NOT_FINITE:
            where.setdefault(_WHY[mark], []).append(names[k])
    quantities = tuple(
        Quantity(
            name, i, j, s, PASS if mark in (PASSED, PASSED_HERE) else NOT_COMPARABLE,
            float64=f if mark == PASSED_HERE else None,
        )
        for name, i, j, s, f, mark in zip(
            names, impl, jax, scales.tolist(), here.tolist(), marked, strict=True
        )
    )  # fmt: skip
    set_aside = "; ".join(f"{why} ({', '.join(w)})" for why, w in where.items())
    if any(q.status == PASS for q in quantities):
        return Verdict(PASS, quantities, f"not comparable: {set_aside}")
    return Verdict(NOT_COMPARABLE, quantities, set_aside)
