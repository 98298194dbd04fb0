"""The comparator's error scales and its sweep shortcut: a correct engine that computes a / b as
a * b**-1 is never failed for rounding the JAX reference does not do, scales stay first-order, and
an infinite sweep passes nothing."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import pytest
from planted_engines import ClosureValue, LogClamped, PowRuleOverBase, ReluSlopeAboveMargin

from engine import Value
from gradoracle.fuzz.adapters import ImplResult, Outcome, ValueClassAdapter, _as_float
from gradoracle.fuzz.findings import category
from gradoracle.fuzz.oracle import Oracle, quick_outcomes
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.fuzz.shrink import shrink
from gradoracle.reference.compare import (
    FAIL,
    FORWARD_ULPS_PER_OP,
    NOT_COMPARABLE,
    PASS,
    QUICK_PASS,
    SCALE_FLOOR,
    Verdict,
    _partial_sizes,
    compare,
    error_scales,
    float_evaluation,
    forward_errors,
    reference_problem,
    within_sweeps,
)
from gradoracle.reference.graph import Graph, Node, build, node_values
from gradoracle.reference.jax_ref import JaxReference
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS

pytestmark = pytest.mark.jax

# Found by a campaign on tests/planted_engines.py:ClosureValue: v3 / v3 is 0.9999999999999999 there,
# so v5 = log(v4) is -1.1e-16 instead of 0 and d(x6 ** v5)/d x6 = v5 * x6 ** (v5 - 1) is -5.6e-17.
CANCELLED = Graph.from_json(
    '{"format": "gradoracle-graph", "version": 1, "output": 7, "nodes": ['
    '{"input": 0.7150755507310169}, {"input": 3.0}, {"args": [0], "op": "log"},'
    '{"args": [1, 2], "op": "div"}, {"args": [3, 3], "op": "div"}, {"args": [4], "op": "log"},'
    '{"input": 2.0}, {"args": [6, 5], "op": "pow"}]}'
)


def test_partials_are_probed_within_their_operands_forward_error() -> None:
    # The exponent 0 is known only within 6e9 ulps: d/da = b * a ** (b - 1) moves by ~a ** -1 per
    # unit of b. (A step of 1e-6 * 6e9 overflows 2 ** b; one of 1e-6 * 4.9e13 underflows 0.5 ** b.)
    for a, spread in ((2.0, 6e9), (0.5, 4.9e13)):
        magnitudes, moves = _partial_sizes(OPS["pow"], "vv", (a, 0.0), 1.0, [0.0, spread])
        assert magnitudes[0] == 0.0 and 0.5 * spread / a < moves[0] < 2 * spread / a


def test_a_probe_that_overflows_is_retried_with_a_smaller_step() -> None:
    _, moves = _partial_sizes(OPS["pow"], "vv", (2.0, 0.0), 1.0, [0.0, 1e26])  # first: 2 ** 2e4
    assert math.isfinite(moves[0]) and moves[0] > 1e25


def test_a_partial_with_no_finite_probe_has_an_infinite_size() -> None:
    _, moves = _partial_sizes(OPS["exp"], "v", (700.0, None), math.exp(700.0), [1e308])
    assert moves == [math.inf]


# Found by a campaign on micrograd: x / x is 0.9999999999999999 there (x * x**-1), x - x * (x / x)
# is 4.4e-16, and its square 2e-31, where the exact value (and JAX's) is 0. First-order error
# propagation gives the square a spread of 0 (d(v*v)/dv = 2v = 0): the second-order term counts.
SQUARED_CANCELLATION = Graph.from_json(
    '{"format": "gradoracle-graph", "version": 1, "output": 6, "nodes": ['
    '{"input": 2.8507305002428716}, {"args": [0, 0], "op": "div"}, {"args": [0, 1], "op": "mul"},'
    '{"args": [0, 2], "op": "sub"}, {"args": [3, 3], "op": "mul"}, {"input": 1.0},'
    '{"args": [4, 5], "op": "div"}]}'
)


def test_a_squared_cancellation_is_no_finding() -> None:
    (ref,) = JaxReference().evaluate([SQUARED_CANCELLATION])
    tiny = 1.9721522630525295e-31
    verdict = compare(SQUARED_CANCELLATION, tiny, (tiny, -tiny), ref.value, ref.grads)
    assert verdict.status != FAIL, verdict.reason
    assert compare(SQUARED_CANCELLATION, 1e-20, (tiny, -tiny), ref.value, ref.grads).status == FAIL


def test_rounding_through_a_cancellation_is_no_finding() -> None:
    _, scales = error_scales(CANCELLED, node_values(CANCELLED, FLOAT))
    assert scales[2] > 1e-3
    (ref,) = JaxReference().evaluate([CANCELLED])
    impl_grads = (0.0, 0.0, -5.551115123125783e-17)
    verdict = compare(CANCELLED, 0.9999999999999999, impl_grads, ref.value, ref.grads)
    assert verdict.status != FAIL, verdict.reason
    wrong = compare(CANCELLED, 1.0, (0.0, 0.0, 0.5), ref.value, ref.grads)
    assert wrong.status == FAIL  # (a real error is still one)


def test_an_infinite_sweep_passes_nothing() -> None:
    x, op = Node.input, Node.apply
    v = (x(709.0), op("exp", 0), op("add", 1, 1), op("add", 1, 1), op("sub", 2, 3))
    graph = Graph(v)  # (e^709 + e^709) - (e^709 + e^709): the sweep overflows, the gradient is 0
    ref = JaxReference()
    (r,) = ref.evaluate([graph])
    assert r.grads == (0.0,) and r.sweeps == (math.inf,)
    for wrong in (5.0, 1e300, math.inf):
        verdict = compare(graph, r.value, (wrong,), r.value, r.grads, "", 1.0, 1.0, r.sweeps)
        value, grad = verdict.quantities
        assert value.status == PASS and grad.status == NOT_COMPARABLE  # judged alone
        assert "an intermediate derivative is not finite (x0)" in verdict.reason
    results = [ImplResult("ok", Outcome(r.value, (g,)), "", 0.0) for g in (0.0, 5.0, math.inf)]
    assert ref.evaluate_batch([graph] * 3).quick_pass(quick_outcomes(results)) == [
        True,
        False,
        False,
    ]


def test_error_scales_stay_first_order() -> None:
    """Spreads are carried forward through |partials| only; carrying the probed sizes forward
    too made them grow like their squares: scales of 1e20 on ordinary graphs, and infinite ones
    on 14% of the gradients of 30-70-op graphs, which hid wrong gradients. (Moderate graphs:
    without the sampling regions, whose huge, tiny and subnormal values are another matter.)"""
    for config, most_ratio in (
        (SamplerConfig(regions=0.0), 300.0),
        (SamplerConfig(min_ops=30, max_ops=70, regions=0.0), 1e5),
    ):
        graphs = sample_graphs(21, 600, config)
        ratios, infinite = [], 0
        for graph, r in zip(graphs, JaxReference().evaluate(graphs), strict=True):
            _, scales = error_scales(graph, node_values(graph, FLOAT))
            infinite += sum(not math.isfinite(s) for s in scales)
            ratios += [s / w for s, w in zip(scales, r.sweeps, strict=True) if w > 0]
        assert infinite <= 0.01 * len(ratios)
        assert statistics.median(ratios) < most_ratio  # measured: 29 and 5,200


# Found by a review on a correct engine whose sigmoid' is s - s*s: d out / d x1 came out 1.85e-316
# (a subnormal) where the exact gradient and JAX's are 0, and its scale was 1e-310.
SUBNORMAL = Graph.from_json(
    '{"format": "gradoracle-graph", "version": 1, "output": 9, "nodes": ['
    '{"input": -2.1354802524670715}, {"input": -381.5741246797728}, {"args": [1], "op": "sigmoid"},'
    '{"args": [2, 2], "op": "mul"}, {"const": 2.0}, {"args": [2, 4], "op": "pow"},'
    '{"args": [3, 5], "op": "sub"}, {"const": 1e+16}, {"args": [6, 7], "op": "mul"},'
    '{"args": [8], "op": "sigmoid"}]}'
)


def test_a_subnormal_where_the_answer_is_zero_is_no_finding() -> None:
    (ref,) = JaxReference().evaluate([SUBNORMAL])
    assert ref.grads == (0.0, 0.0)
    _, scales = error_scales(SUBNORMAL, node_values(SUBNORMAL, FLOAT))
    assert min(scales) >= SCALE_FLOOR
    got = (0.0, 1.85e-316)
    assert compare(SUBNORMAL, ref.value, got, ref.value, ref.grads).status == PASS
    assert compare(SUBNORMAL, ref.value, (0.0, 1e-300), ref.value, ref.grads).status == FAIL


# ---- the edges: every quantity judged on its own, margins sized by forward errors, domains -------

x, c, op = Node.input, Node.const, Node.apply


def judge(graph: Graph, engine: type, ref: Any) -> Verdict:
    """The verdict on `engine` for one graph, as a campaign reaches it (JAX's columns and all)."""
    ((_, verdict),) = Oracle(ValueClassAdapter(engine), ref).judge([graph])
    return verdict


def statuses(verdict: Verdict) -> dict[str, str]:
    return {q.name: q.status for q in verdict.quantities}


# Graphs at the edges of ops' domains, of float64's range and of relu's kink: the regions where
# bugs live. A correct engine passes every one (some quantities not comparable, none failed).
EDGE_GRAPHS = {
    "relu(1e-12)": Graph((x(1e-12), op("relu", 0))),
    "relu(-1e-300)": Graph((x(-1e-300), op("relu", 0))),
    "x0 ** 2 at 0": Graph((x(0.0), c(2), op("pow", 0, 1))),
    "(-2.0) ** 3": Graph((x(-2.0), c(3.0), op("pow", 0, 1))),
    "exp(709)": Graph((x(709.0), op("exp", 0))),
    "exp(709.7)": Graph((x(709.7), op("exp", 0))),
    "tanh(800)": Graph((x(800.0), op("tanh", 0))),
    "sigmoid(-800)": Graph((x(-800.0), op("sigmoid", 0))),
    "log(1e-300)": Graph((x(1e-300), op("log", 0))),
    "log(5e-324)": Graph((x(5e-324), op("log", 0))),  # its slope, 2e323, overflows
    "x - x": Graph((x(1e300), op("sub", 0, 0))),
    "x / x": Graph((x(1e-300), op("div", 0, 0))),
    "1e300 + 1e-300": Graph((x(1e300), x(1e-300), op("add", 0, 1))),
    "1e300 * 1e-300": Graph((x(1e300), x(1e-300), op("mul", 0, 1))),
    "1e300 * 1e300": Graph((x(1e300), x(-1e300), op("mul", 0, 1))),  # the value overflows
    "(1e-300 * 1e-300) * 1e300": Graph(
        (x(1e-300), x(1e-300), op("mul", 0, 1), x(1e300), op("mul", 2, 3))
    ),
    "(1e300 + 1e300) * 1e-300": Graph((x(1e300), op("add", 0, 0), c(1e-300), op("mul", 1, 2))),
}


@pytest.mark.parametrize("name", list(EDGE_GRAPHS))
def test_a_correct_engine_passes_at_the_edges(name: str, jax_reference: Any) -> None:
    verdict = judge(EDGE_GRAPHS[name], Value, jax_reference)
    assert verdict.status == PASS, verdict.reason


def test_at_the_edges_quantities_are_judged_not_the_whole_graph(jax_reference: Any) -> None:
    # The value overflows, the gradients (x1 and x0) are finite and right.
    product = judge(EDGE_GRAPHS["1e300 * 1e300"], Value, jax_reference)
    assert statuses(product) == {"value": NOT_COMPARABLE, "x0": PASS, "x1": PASS}
    assert product.reason == "not comparable: the reference is not finite (value)"
    # log(5e-324): JAX on CPU flushes the subnormal to 0 (its value is NaN, its domain flag says
    # outside); Python's floats say inside, and the float64 evaluation here judges the value
    # (no exact answer needed). The slope overflows.
    log = judge(EDGE_GRAPHS["log(5e-324)"], Value, jax_reference)
    assert statuses(log) == {"value": PASS, "x0": NOT_COMPARABLE}
    assert log.quantities[0].float64 == math.log(5e-324) and log.quantities[0].truth is None
    assert not log.adjudicated
    assert "float64 overflows on its path (x0: node 1)" in log.reason


def test_a_wrong_quantity_fails_beside_one_that_is_not_comparable(jax_reference: Any) -> None:
    graph = EDGE_GRAPHS["1e300 * 1e300"]
    (r,) = jax_reference.evaluate([graph])
    verdict = compare(graph, math.inf, (-1e300, 1e299), r.value, r.grads, "", *_columns(r))
    assert verdict.status == FAIL and statuses(verdict)["x1"] == FAIL
    assert verdict.reason == "wrong x1; not comparable: the reference is not finite (value)"
    log = EDGE_GRAPHS["log(5e-324)"]
    (r,) = jax_reference.evaluate([log])
    clamped = compare(log, math.log(1e-10), (1e10,), r.value, r.grads, "", *_columns(r))
    assert clamped.status == FAIL and statuses(clamped) == {"value": FAIL, "x0": NOT_COMPARABLE}


def _columns(r: Any) -> tuple[Any, ...]:
    """compare()'s arguments after `error`, from a JaxResult, as fuzz.check passes them."""
    return r.kink_distance, r.magnitude, r.sweeps, r.in_domain


def test_nothing_judged_is_not_comparable(jax_reference: Any) -> None:
    """exp(710) overflows: JAX's value is inf and its gradient 0 (where nothing flows through an
    overflow); an engine answering inf and inf is not judged on either."""
    graph = Graph((x(710.0), op("exp", 0)))
    (r,) = jax_reference.evaluate([graph])
    assert r.value == math.inf and r.grads == (0.0,)
    verdict = compare(graph, math.inf, (math.inf,), r.value, r.grads, "", *_columns(r))
    assert verdict.status == NOT_COMPARABLE
    assert statuses(verdict) == {"value": NOT_COMPARABLE, "x0": NOT_COMPARABLE}
    assert "the reference is not finite (value)" in verdict.reason
    assert "float64 overflows on its path (x0: node 1)" in verdict.reason


def test_an_overflowing_power_sets_its_gradients_aside(jax_reference: Any) -> None:
    """1e200 ** 2 overflows; JAX's gradient there is 0 (the true one is 2e200): no gradient through
    the overflow is judged. 1e-200 ** -1 is finite but its slope is not: JAX's value is inf, the
    float64 evaluation's 1e200, and the exact answer judges the value."""
    square = Graph((x(1e200), c(2.0), op("pow", 0, 1)))
    inverse = Graph((x(1e-200), c(-1.0), op("pow", 0, 1)))
    r_square, r_inverse = jax_reference.evaluate([square, inverse])
    assert r_square.grads == (0.0,) and r_inverse.value == math.inf
    for wrong in (0.0, 2e200, 5.0):
        verdict = compare(square, math.inf, (wrong,), r_square.value, r_square.grads)
        assert verdict.status == NOT_COMPARABLE, verdict.reason
    inverse_verdict = compare(inverse, 1e200, (-math.inf,), r_inverse.value, r_inverse.grads)
    assert statuses(inverse_verdict) == {"value": PASS, "x0": NOT_COMPARABLE}
    wrong_value = compare(inverse, 1e199, (-math.inf,), r_inverse.value, r_inverse.grads)
    assert wrong_value.status == FAIL


def test_a_negative_base_with_a_huge_exponent_loses_the_slopes_sign(jax_reference: Any) -> None:
    """(-1.0) ** -1e300 is 1; its slope k * a ** (k - 1) is +1e300, but k - 1 rounds to the even
    k in float64, so a correct engine computing that formula gets -1e300 (one computing
    k * out / a gets +1e300): not comparable."""
    graph = Graph((x(-1.0), c(-1e300), op("pow", 0, 1), x(2.0), op("mul", 2, 3)))
    (r,) = jax_reference.evaluate([graph])
    verdict = judge(graph, Value, jax_reference)
    assert statuses(verdict) == {"value": PASS, "x0": NOT_COMPARABLE, "x3": PASS}
    assert "float64 loses a local derivative on its path (x0: node 2)" in verdict.reason
    assert r.grads[0] == 2e300  # JAX has the true sign; the engine's formula the other one


# ---- kinks: a margin of the operand's own forward error ------------------------------------------


def test_the_kink_margin_is_the_operands_forward_error() -> None:
    import gradoracle.reference.compare as comparator

    # The sampler's distance from a kink (fuzz.sampler.KINK_DISTANCE) is another quantity.
    assert not hasattr(comparator, "KINK_MARGIN") and not hasattr(comparator, "KINK_DISTANCE")
    assert FORWARD_ULPS_PER_OP == 8.0
    # x * y - z: the product rounds (0.1 * 3 = 0.30000000000000004), the difference is 5.6e-17,
    # within its forward error: relu's side there is rounding. An input is exact.
    graph = Graph((x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), op("relu", 4)))
    values = node_values(graph, FLOAT)
    spread = comparator._forward_sweep(graph, values)[0]
    errors = forward_errors(graph, spread)
    assert errors[:2] == [0.0, 0.0] and errors[3] == 0.0
    assert 0.0 < values[4] < errors[4] < 1e-14


def test_a_leaf_near_a_kink_is_exact_and_judged(jax_reference: Any) -> None:
    relu = EDGE_GRAPHS["relu(1e-12)"]
    assert judge(relu, ReluSlopeAboveMargin, jax_reference).status == FAIL
    assert judge(relu, ClosureValue, jax_reference).status == PASS
    (r,) = jax_reference.evaluate([relu])
    verdict = compare(relu, 1e-12, (0.0,), r.value, r.grads, "", *_columns(r))
    assert verdict.status == FAIL and verdict.reason == "wrong x0"


def test_a_leaf_at_the_kink_is_the_convention_and_not_comparable(jax_reference: Any) -> None:
    at_kink = Graph((x(0.0), op("relu", 0)))
    (r,) = jax_reference.evaluate([at_kink])
    other_convention = compare(at_kink, 0.0, (1.0,), r.value, r.grads, "", *_columns(r))
    assert statuses(other_convention) == {"value": PASS, "x0": NOT_COMPARABLE}
    assert "within its forward error of a kink (x0: node 1: relu of 0.0)" in other_convention.reason
    assert "kink" in reference_problem(at_kink, r.value, r.grads)  # never a test vector


def test_only_the_gradients_below_a_kink_are_set_aside(jax_reference: Any) -> None:
    """relu(x0 * x1 - x3) * x6 with the difference within its forward error of 0: another correct
    engine may see it on the other side, so x0's, x1's and x3's gradients (through relu') are not
    comparable; relu is continuous, so the value and x6's gradient are."""
    graph = Graph(
        (x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), op("relu", 4), x(2.0),
         op("mul", 5, 6))
    )  # fmt: skip
    (r,) = jax_reference.evaluate([graph])
    assert r.grads == (6.0, 0.2, -2.0, r.value / 2.0)
    other_side = compare(graph, 0.0, (0.0, 0.0, 0.0, 0.0), r.value, r.grads, "", *_columns(r))
    assert statuses(other_side) == {
        "value": PASS, "x0": NOT_COMPARABLE, "x1": NOT_COMPARABLE, "x3": NOT_COMPARABLE, "x6": PASS
    }  # fmt: skip
    wrong = compare(graph, r.value, (6.0, 0.2, -2.0, 1.0), r.value, r.grads, "", *_columns(r))
    assert wrong.status == FAIL and [q.name for q in wrong.failing] == ["x6"]


# ---- domains: outside is not comparable, an exception at an edge may be right --------------------


# Found by a correct engine computing with exact Fractions: it raised on x0 ** x0 at -1 (outside
# a ** b's domain, a > 0), where JAX's finite answer means nothing. The shrinker ended there.
OUTSIDE = Graph((x(-1.0), op("pow", 0, 0)))


def test_outside_a_domain_is_not_comparable_whatever_jax_says(jax_reference: Any) -> None:
    (r,) = jax_reference.evaluate([OUTSIDE])
    assert math.isfinite(r.value) and all(map(math.isfinite, r.grads)) and not r.in_domain
    for impl, error in (((r.value, r.grads), ""), ((None, None), "ValueError: log of -1")):
        for columns in (_columns(r), ()):  # JAX's domain flag, or Python's floats deciding
            verdict = compare(OUTSIDE, *impl, r.value, r.grads, error, *columns)
            assert verdict.status == NOT_COMPARABLE
            assert verdict.reason == (
                "an operand is outside its op's domain (node 1: pow at (-1.0, -1.0))"
            )


class LogOfEveryBase(ClosureValue):
    """Powers through exp(k * log(a)), as exact arithmetic might: raises at every negative base,
    in a ** k's domain (x ** 3 at -2) and outside a ** b's (x ** x at -1)."""

    def __pow__(self, other: Any) -> Any:
        if self.data < 0:
            raise ValueError(f"log of a negative base {self.data!r}")
        return super().__pow__(other)


def test_the_shrinker_never_ends_outside_a_domain(jax_reference: Any) -> None:
    """Its predicate accepts only failures, and a graph outside a domain never is one: from
    (x0 ** 3) * (x1 ** x1), merging x1 into x0 gives x0 ** x0 at a negative x0, where the engine
    raises too; the shrinker goes on to x0 ** 1 at -1, inside a ** k's domain."""
    oracle = Oracle(ValueClassAdapter(LogOfEveryBase), jax_reference)
    still_fails = oracle.fails_like("exception", time.monotonic() + 60)
    assert not still_fails(OUTSIDE)
    assert oracle.run_impl([OUTSIDE])[0].status == "exception"
    graph = Graph((x(-1.7), c(3.0), op("pow", 0, 1), x(2.5), op("pow", 3, 3), op("mul", 2, 4)))
    assert still_fails(graph)
    small = shrink(graph, still_fails, time.monotonic() + 60)
    assert small == Graph((x(-1.0), c(1.0), op("pow", 0, 1))), small.to_json()  # inside


def test_an_exception_at_overflow_is_right(jax_reference: Any) -> None:
    """exp(709.9) overflows in float64: OverflowError is what Python floats (and the op table)
    say. exp(709.7) does not: raising there is a finding."""
    over = Graph((x(709.9), op("exp", 0)))
    verdict = judge(over, Value, jax_reference)
    assert verdict.status == NOT_COMPARABLE and verdict.error.startswith("OverflowError")
    assert verdict.reason == (
        "raised OverflowError where the float64 evaluation overflows "
        "(node 1: exp: overflow at 709.9; right per the op table)"
    )
    below = EDGE_GRAPHS["exp(709.7)"]
    (r,) = jax_reference.evaluate([below])
    early = compare(below, None, None, r.value, r.grads, "OverflowError: early", *_columns(r))
    assert early.status == FAIL and early.reason.startswith("raised where the reference is finite")


def test_an_exception_within_forward_error_of_a_domain_edge_is_right(jax_reference: Any) -> None:
    """log(x * y - z) with the difference 5.6e-17, within its forward error of 0: another correct
    evaluation may give 0 and raise ValueError, as the op table says. At an exact leaf of 1e-300
    it may not."""
    near = Graph((x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), op("log", 4)))
    divided = Graph((x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), op("div", 3, 4)))
    leaf = EDGE_GRAPHS["log(1e-300)"]
    r_near, r_divided, r_leaf = jax_reference.evaluate([near, divided, leaf])
    log_error = "ValueError: math domain error"
    verdict = compare(near, None, None, r_near.value, r_near.grads, log_error, *_columns(r_near))
    assert verdict.status == NOT_COMPARABLE
    assert verdict.reason.startswith(
        "raised ValueError where an operand is within its forward error of a domain edge "
        "(node 5: log at 5.551115123125783e-17, within "
    ) and verdict.reason.endswith("of 0; right per the op table)")
    odd = compare(near, None, None, r_near.value, r_near.grads, "KeyError: 3", *_columns(r_near))
    assert odd.status == NOT_COMPARABLE and "right per the op table" not in odd.reason
    zero = "ZeroDivisionError: float division by zero"
    by_zero = compare(divided, None, None, r_divided.value, r_divided.grads, zero)
    assert by_zero.status == NOT_COMPARABLE and "right per the op table" in by_zero.reason
    exact = compare(leaf, None, None, r_leaf.value, r_leaf.grads, log_error, *_columns(r_leaf))
    assert exact.status == FAIL


def test_pow_at_base_zero_is_an_edge_only_where_the_domain_ends(jax_reference: Any) -> None:
    """x ** 2 is defined on both sides of 0: an engine whose slope k * out / a is NaN (or raises)
    there is wrong. x ** -1 and x ** 1.5 end at 0."""
    square = EDGE_GRAPHS["x0 ** 2 at 0"]
    assert judge(square, PowRuleOverBase, jax_reference).status == FAIL
    assert judge(square, ClosureValue, jax_reference).status == PASS
    (r,) = jax_reference.evaluate([square])
    raised = compare(square, None, None, r.value, r.grads, "ZeroDivisionError: 0.0 / 0.0")
    assert raised.status == FAIL
    for k, right in ((2.0, False), (-1.0, True), (1.5, True)):
        # The base is x * y - z = 5.6e-17, within its forward error of 0.
        graph = Graph(
            (x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), c(k), op("pow", 4, 5))
        )
        (r,) = jax_reference.evaluate([graph])
        verdict = compare(graph, None, None, r.value, r.grads, "ZeroDivisionError: pow")
        assert (verdict.status == NOT_COMPARABLE) == right, (k, verdict.reason)


def test_planted_bugs_still_fail_at_the_edges(jax_reference: Any) -> None:
    clamped = judge(EDGE_GRAPHS["log(1e-300)"], LogClamped, jax_reference)
    assert clamped.status == FAIL and clamped.reason == "wrong value, x0"
    assert judge(EDGE_GRAPHS["log(1e-300)"], ClosureValue, jax_reference).status == PASS
    assert judge(EDGE_GRAPHS["log(5e-324)"], LogClamped, jax_reference).status == FAIL


# ---- None gradients (a PyTorch-style engine's unset grad) ----------------------------------------


class UnsetWhereUnused(ValueClassAdapter):
    """The project engine read like PyTorch: an input the output does not use has grad None."""

    def __init__(self, wrong: bool = False) -> None:
        super().__init__(Value, "engine:Value")
        self.wrong = wrong  # None for every input instead

    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        inputs, out = super().build(graph)
        used, stack = set(), [out]
        while stack:
            node = stack.pop()
            if id(node) not in used:
                used.add(id(node))
                stack += [n for n in (node._a, node._b) if n is not None]
        self.unused = {id(v) for v in inputs if id(v) not in used or self.wrong}
        return inputs, out

    def grad(self, v: Any) -> Any:
        return None if id(v) in self.unused else v.grad


def test_a_none_gradient_passes_only_where_the_gradient_is_zero(jax_reference: Any) -> None:
    unused = Graph((x(1.5), x(2.0), op("mul", 0, 0)))  # x1 is not used
    adapter = UnsetWhereUnused()
    assert adapter.run(unused).grads == (3.0, None)
    ((_, verdict),) = Oracle(adapter, jax_reference).judge([unused])
    assert verdict.status == PASS and statuses(verdict)["x1"] == PASS
    ((_, wrong),) = Oracle(UnsetWhereUnused(wrong=True), jax_reference).judge([unused])
    assert wrong.status == FAIL and wrong.reason == "x0.grad is None where the gradient is 3.0"
    assert category(wrong) == "wrong gradient"
    # Used, with a gradient of exactly 0: x - x, and x * 0.
    zero = Graph((x(1.5), op("sub", 0, 0), x(2.0), c(0.0), op("mul", 2, 3), op("add", 1, 4)))
    (r,) = jax_reference.evaluate([zero])
    assert compare(zero, 0.0, (None, None), r.value, r.grads).status == PASS
    # JAX's gradient is 0 (it flushes the subnormal constant), the exact one 1e-310.
    tiny = Graph((x(1.5), c(1e-310), op("mul", 0, 1)))
    (r,) = jax_reference.evaluate([tiny])
    assert r.grads == (0.0,)
    none = compare(tiny, 1.5e-310, (None,), r.value, r.grads, "", *_columns(r))
    assert none.status == FAIL and none.reason == "x0.grad is None where the gradient is 1e-310"
    assert compare(tiny, 1.5e-310, (1e-310,), r.value, r.grads, "", *_columns(r)).status == PASS


def test_a_none_value_fails_and_the_adapter_lets_none_through_for_gradients_only() -> None:
    graph = Graph((x(1.5), op("mul", 0, 0)))
    verdict = compare(graph, None, (3.0,), 2.25, (3.0,))
    assert verdict.status == FAIL and verdict.reason == "the value is None"
    assert _as_float(None, "input 0's gradient", none=True) is None
    for bad, none in ((None, False), ("1.0", True), (True, True)):
        with pytest.raises(TypeError):
            _as_float(bad, "x", none=none)


def test_none_is_never_quick(jax_reference: Any) -> None:
    unused = Graph((x(1.5), x(2.0), op("mul", 0, 0)))
    batch = jax_reference.evaluate_batch([unused, unused])
    results = [ImplResult("ok", Outcome(2.25, g), "", 0.0) for g in ((3.0, None), (3.0, 0.0))]
    assert batch.quick_pass(quick_outcomes(results)) == [False, True]
    assert not within_sweeps([2.25, 3.0, None], [2.25, 3.0, 0.0], [3.0, 0.0], 1)


def test_the_corpus_counts_a_none_gradient_as_zero_only() -> None:
    from gradoracle.fuzz.corpus import check_vector
    from gradoracle.fuzz.corpus_format import Vector

    graph = Graph((x(1.5), x(2.0), op("mul", 0, 0)))
    vector = Vector(
        1, "", (), graph, (2.25, 3.0, 0.0), (2.25, 3.0, 0.0), (1.0, 1.0, 1.0), (0.0,) * 3
    )
    assert check_vector(vector, (2.25, 3.0, None)).passed
    assert not check_vector(vector, (2.25, None, 0.0)).passed
    assert not check_vector(vector, (None, 3.0, 0.0)).passed


# ---- reports show what was not judged ------------------------------------------------------------


def test_reports_render_none_and_not_comparable(jax_reference: Any, tmp_path: Any) -> None:
    from gradoracle.fuzz.findings import Finding
    from gradoracle.fuzz.html_report import _table
    from gradoracle.fuzz.report import finding_json, finding_text

    graph = Graph((x(1e300), x(2.0), x(-1e300), op("mul", 0, 2)))  # x1 unused; the value overflows
    (r,) = jax_reference.evaluate([graph])
    verdict = compare(graph, r.value, (-1e300, None, 1.0), r.value, r.grads, "", *_columns(r))
    assert verdict.status == FAIL
    assert statuses(verdict) == {"value": NOT_COMPARABLE, "x0": PASS, "x1": PASS, "x2": FAIL}
    finding = Finding(category(verdict), graph, verdict, graph)
    adapter = UnsetWhereUnused()
    text = finding_text(1, finding, adapter)
    assert "| x1 | None | 0 |" in text and "| value | -inf | -inf |" in text
    assert "| not comparable |" in text
    html = _table(finding)
    assert "<td>None</td>" in html and "not comparable" in html
    quantities = {q["name"]: q for q in finding_json(finding, adapter)["quantities"]}
    assert quantities["x1"]["impl"] is None and quantities["value"]["status"] == NOT_COMPARABLE


def test_an_infinite_reference_is_never_a_quick_pass() -> None:
    # 1e-200 ** -1.0: JAX's value came out inf; an implementation's -inf is not "within 1e-10".
    graph = Graph((Node.input(1e-200), Node.const(-1.0), Node.apply("pow", 0, 1)))
    verdict = compare(graph, -math.inf, [0.0], math.inf, [0.0], in_domain=True)
    assert verdict is not QUICK_PASS and verdict.status == FAIL, verdict


def test_a_partial_that_underflows_under_a_huge_gradient_is_rounding() -> None:
    # x5 / (x0 / x3): the local partial -v4/x3 = -2e-590 underflows to 0 in a micrograd-style
    # division, and the upstream gradient (5e288) would have made it the whole answer, -1e-301.
    # float64 knows that partial only within the smallest normal float: not a wrong gradient.
    x, op = Node.input, Node.apply
    graph = Graph(
        (x(1.0), x(-6.976358390527581e294), op("div", 0, 1), x(-1.01e-301), op("div", 3, 2))
    )
    inputs, out = build(graph, ClosureValue)
    out.backward()
    assert inputs[1].grad == 0.0  # (the underflow)
    ref = JaxReference().evaluate([graph])[0]
    grads = [x.grad for x in inputs]
    verdict = compare(graph, out.data, grads, ref.value, ref.grads, "", None, None, ref.sweeps)
    assert verdict.status != FAIL, verdict


@pytest.mark.parametrize("k", [-1e300, 2.0**53, -(2.0**60)])
def test_a_power_whose_slope_needs_a_lost_parity_is_not_judged(k: float) -> None:
    """d(x ** k)/dx at x = -1 is k * (-1) ** (k - 1): its sign is the parity of k - 1, which
    float64 no longer holds at |k| >= 2**53. Correct engines answer +-k; no gradient through it is
    judged."""
    graph = Graph((Node.input(-1.0), Node.const(k), Node.apply("pow", 0, 1)))
    evaluation = float_evaluation(graph)
    assert "parity" in evaluation.unstable[2]
    assert 2 in evaluation.unreliable
    below = Graph((Node.input(-1.0), Node.const(2.0**52 + 1), Node.apply("pow", 0, 1)))
    assert float_evaluation(below).unstable == {}  # an odd k - 1 that float64 still holds


def test_the_float64_evaluation_judges_through_subnormals_and_still_catches_small_errors(
    jax_reference: Any,
) -> None:
    """exp(-710) is 4.5e-309, a subnormal XLA's CPU build flushes to 0: JAX's exp(-710) * 1e300 is
    0. The float64 evaluation here judges the value instead of the exact answer: a correct engine
    passes without mpmath; a value off by 1e-8 (float32-like) fails. (The gradient goes through
    exp's partial, itself subnormal: no relative precision to judge it by, see SCALE_FLOOR.)"""
    graph = Graph((x(-710.0), op("exp", 0), x(1e300), op("mul", 1, 2)))
    (r,) = jax_reference.evaluate([graph])
    assert r.value == 0.0  # the premise: JAX cannot judge this graph
    right = judge(graph, Value, jax_reference)
    assert right is QUICK_PASS  # every quantity at once, against the float64 evaluation here
    value = math.exp(-710.0) * 1e300
    assert Value(-710.0).exp().data * 1e300 == value
    grads = (value, math.exp(-710.0))
    off = compare(graph, value * (1 + 1e-8), grads, r.value, r.grads, "", *_columns(r))
    assert off.status == FAIL and statuses(off)["value"] == FAIL, off.reason
