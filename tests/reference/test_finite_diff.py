"""The finite-difference reference: hand derivatives per op, honest error estimates, steps,
and inputs whose stencil leaves a domain or crosses a kink reported as not usable."""

from __future__ import annotations

import math
import random

import pytest

from gradoracle.reference.finite_diff import STEP_FACTOR, finite_diff
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.highprec import highprec
from gradoracle.reference.ops import OPS

LN2 = math.log(2.0)
T = math.tanh(0.5)
S = 1.0 / (1.0 + math.exp(-0.7))

# (op, form, a, b, d/da, d/db): None marks a constant operand.
HAND: list[tuple[str, str, float, float | None, float | None, float | None]] = [
    ("add", "vv", 2.0, 3.0, 1.0, 1.0),
    ("sub", "cv", 2.0, 3.0, None, -1.0),
    ("mul", "vv", 2.0, 3.0, 3.0, 2.0),
    ("div", "vv", 3.0, 2.0, 0.5, -0.75),
    ("div", "cv", 3.0, 2.0, None, -0.75),
    ("neg", "v", 2.0, None, -1.0, None),
    ("pow", "vc", -2.0, 3.0, 12.0, None),
    ("pow", "vc", 4.0, 0.5, 0.25, None),
    ("pow", "cv", 2.0, 3.0, None, 8.0 * LN2),
    ("pow", "vv", 2.0, 3.0, 12.0, 8.0 * LN2),
    ("tanh", "v", 0.5, None, 1.0 - T * T, None),
    ("exp", "v", 1.0, None, math.e, None),
    ("log", "v", 2.0, None, 0.5, None),
    ("relu", "v", 2.0, None, 1.0, None),
    ("relu", "v", -2.0, None, 0.0, None),
    ("sigmoid", "v", 0.7, None, S * (1.0 - S), None),
]


def _one_op_graph(name: str, form: str, a: float, b: float | None) -> Graph:
    nodes = [Node.const(a) if form[0] == "c" else Node.input(a)]
    args = [0]
    if b is not None:
        nodes.append(Node.const(b) if form[1] == "c" else Node.input(b))
        args.append(1)
    nodes.append(Node.apply(name, *args))
    return Graph(tuple(nodes))


@pytest.mark.parametrize(("name", "form", "a", "b", "da", "db"), HAND)
def test_hand_derivatives(
    name: str, form: str, a: float, b: float | None, da: float | None, db: float | None
) -> None:
    result = finite_diff(_one_op_graph(name, form, a, b))
    expected = [d for d in (da, db) if d is not None]
    assert len(result.estimates) == len(expected)
    for est, want in zip(result.estimates, expected):
        assert est.usable
        assert est.reason == ""
        assert abs(est.grad - want) <= est.error  # the estimate is honest
        assert est.grad == pytest.approx(want, rel=1e-8, abs=1e-9)
        assert est.error < 1e-6


def test_value_is_the_float_forward() -> None:
    g = _one_op_graph("tanh", "v", 0.5, None)
    assert finite_diff(g).value == math.tanh(0.5)


def test_error_estimates_are_honest_on_composite_graphs() -> None:
    rng = random.Random(3)
    checked = 0
    for _ in range(40):
        x, y = rng.uniform(-2, 2), rng.uniform(0.2, 2)
        # f = tanh(x*y) * exp(x) / y + log(y) * sigmoid(x) + (x*x)**1.5 * y
        g = Graph(
            (
                Node.input(x),
                Node.input(y),
                Node.apply("mul", 0, 1),
                Node.apply("tanh", 2),
                Node.apply("exp", 0),
                Node.apply("mul", 3, 4),
                Node.apply("div", 5, 1),
                Node.apply("log", 1),
                Node.apply("sigmoid", 0),
                Node.apply("mul", 7, 8),
                Node.apply("add", 6, 9),
                Node.apply("mul", 0, 0),
                Node.const(1.5),
                Node.apply("pow", 11, 12),
                Node.apply("mul", 13, 1),
                Node.apply("add", 10, 14),
            )
        )
        exact = highprec(g)
        fd = finite_diff(g)
        for est, want in zip(fd.estimates, exact.grads):
            assert est.usable
            assert abs(est.grad - want) <= est.error, (x, y, est, want)
            assert est.error <= 1e-5 * max(1.0, abs(want))  # and not uselessly loose
            checked += 1
    assert checked == 80


def test_step_is_scale_aware_and_exact() -> None:
    g = Graph(
        (
            Node.input(1e6),
            Node.input(0.25),
            Node.input(-3e-8),
            Node.apply("mul", 0, 1),
            Node.apply("mul", 3, 2),
        )
    )
    steps = [e.step for e in finite_diff(g).estimates]
    assert steps[0] == pytest.approx(STEP_FACTOR * 1e6, rel=1e-6)
    assert steps[1] == pytest.approx(STEP_FACTOR, rel=1e-6)
    assert steps[2] == pytest.approx(STEP_FACTOR, rel=1e-6)
    assert (1e6 + steps[0]) - 1e6 == steps[0]  # representable: the divisor is the real step


def test_relu_kink_is_not_usable_but_other_inputs_are() -> None:
    # relu(x) + y*y with x exactly at the kink
    g = Graph(
        (
            Node.input(0.0),
            Node.input(1.5),
            Node.apply("relu", 0),
            Node.apply("mul", 1, 1),
            Node.apply("add", 2, 3),
        )
    )
    fd = finite_diff(g)
    assert fd.usable == (False, True)
    assert "kink" in fd.estimates[0].reason
    assert math.isnan(fd.grads[0])
    assert fd.errors[0] == math.inf
    assert fd.grads[1] == pytest.approx(3.0, rel=1e-9)


def test_kink_crossed_by_the_stencil_near_it() -> None:
    x = 1e-7  # closer to the kink than the step: x - h < 0 < x
    g = Graph((Node.input(x), Node.apply("relu", 0)))
    assert finite_diff(g).usable == (False,)
    g = Graph((Node.input(x + 1e-3), Node.apply("relu", 0)))  # far enough: usable
    assert finite_diff(g).usable == (True,)
    assert finite_diff(g).grads[0] == pytest.approx(1.0, rel=1e-9)


def test_kink_on_a_node_independent_of_the_input_does_not_matter() -> None:
    # relu(y) with y = 0 exactly, but we differentiate wrt x: the relu operand does not move.
    g = Graph(
        (
            Node.input(0.7),
            Node.input(0.0),
            Node.apply("relu", 1),
            Node.apply("tanh", 0),
            Node.apply("add", 2, 3),
        )
    )
    fd = finite_diff(g)
    assert fd.usable == (True, False)
    assert fd.grads[0] == pytest.approx(1.0 - math.tanh(0.7) ** 2, rel=1e-9)


def test_stencil_leaving_the_domain_is_not_usable() -> None:
    g = Graph((Node.input(1e-7), Node.apply("log", 0)))
    est = finite_diff(g).estimates[0]
    assert not est.usable
    assert "domain" in est.reason
    assert "log" in est.reason


def test_stencil_crossing_a_pole_is_not_usable() -> None:
    # 1 / (x - 1) just right of the pole: no stencil point hits 0, but the stencil crosses it.
    g = Graph(
        (Node.input(1.0 + 1e-7), Node.const(1.0), Node.apply("sub", 0, 1), Node.apply("div", 1, 2))
    )
    est = finite_diff(g).estimates[0]
    assert not est.usable
    assert "edge" in est.reason


def test_stencil_leaving_pow_domain_without_an_exception_is_not_usable() -> None:
    # x**y with y = 2.0: FLOAT computes (-tiny)**2 fine, but a**b needs a > 0 (d/db = log(a)*a**b).
    g = Graph((Node.input(1e-7), Node.input(2.0), Node.apply("pow", 0, 1)))
    fd = finite_diff(g)
    assert fd.usable == (False, True)


def test_overflowing_stencil_is_not_usable() -> None:
    x = 709.78  # exp(x) is finite, exp(x + h) overflows
    assert OPS["exp"].float_ok("v", x)
    g = Graph((Node.input(x), Node.apply("exp", 0)))
    est = finite_diff(g).estimates[0]
    assert not est.usable
    assert "exp" in est.reason


def test_silent_float_overflow_in_the_stencil_is_not_usable() -> None:
    # x * 1e308 is finite at x = 1.79769 and inf (no exception: Python float mul) at x + h.
    g = Graph((Node.input(1.79769), Node.const(1e308), Node.apply("mul", 0, 1)))
    est = finite_diff(g).estimates[0]
    assert not est.usable
    assert "stencil point x+h gives a non-finite value" in est.reason


def test_huge_but_finite_derivatives_are_usable() -> None:
    g = Graph((Node.input(1.79), Node.const(1e308), Node.apply("mul", 0, 1)))
    est = finite_diff(g).estimates[0]
    assert est.usable
    assert est.grad == pytest.approx(1e308, rel=1e-9)


def test_center_outside_the_domain_raises_naming_the_node() -> None:
    g = Graph((Node.input(-1.0), Node.apply("log", 0)))
    with pytest.raises(ValueError, match=r"^node 1: log"):
        finite_diff(g)


def test_a_step_that_spans_a_period_is_not_usable() -> None:
    """A step scaled to a huge input (6 at 1e6) moves sin's operand across its period: the
    difference quotient there once passed for cos(1e6)'s slope with a tiny error estimate."""
    at_large = Graph(
        (Node.input(0.5), Node.input(1e6), Node.apply("sin", 1), Node.apply("add", 2, 0))
    )
    small, large = finite_diff(at_large).estimates
    assert small.usable and not large.usable
    assert "moves sin's operand by" in large.reason
    (near,) = finite_diff(Graph((Node.input(0.5), Node.apply("cos", 0)))).estimates
    assert near.usable and abs(near.grad + math.sin(0.5)) <= near.error + 1e-12
