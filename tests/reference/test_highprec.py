"""The high-precision reference: exact values and gradients, precision handling, conventions."""

from __future__ import annotations

import math

import mpmath
import pytest

from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.highprec import DEFAULT_DPS, MAX_DPS, highprec


def _x_times_y_plus_tanh_x(x: float, y: float) -> Graph:
    return Graph(
        (
            Node.input(x),
            Node.input(y),
            Node.apply("mul", 0, 1),
            Node.apply("tanh", 0),
            Node.apply("add", 2, 3),
        )
    )


def test_value_and_gradient_against_closed_forms_to_45_digits() -> None:
    r = highprec(_x_times_y_plus_tanh_x(0.5, -1.25))
    with mpmath.workdps(60):
        x, y = mpmath.mpf(0.5), mpmath.mpf(-1.25)
        value = x * y + mpmath.tanh(x)
        dx = y + 1 - mpmath.tanh(x) ** 2
        tolerance = mpmath.mpf(10) ** -45
        assert abs(r.value_mp - value) <= tolerance
        assert abs(r.grads_mp[0] - dx) <= tolerance
        assert abs(r.grads_mp[1] - x) <= tolerance
    assert r.value == float(value)
    assert r.grads == (float(dx), 0.5)
    assert r.dps >= DEFAULT_DPS
    assert r.converged
    assert r.rounded() == (r.value, *r.grads)


def test_reused_node_accumulates() -> None:
    # x*x (both operands one node) + x: d/dx = 2x + 1
    g = Graph((Node.input(3.0), Node.apply("mul", 0, 0), Node.apply("add", 1, 0)))
    r = highprec(g)
    assert (r.value, r.grads) == (12.0, (7.0,))


@pytest.mark.parametrize(
    ("nodes", "value", "grad"),
    [
        # k**x: d/dx = log(k) * k**x
        ((Node.const(2.0), Node.input(3.0), Node.apply("pow", 0, 1)), 8.0, 8.0 * math.log(2.0)),
        # x**k with a negative base and an integer exponent: k * x**(k-1)
        ((Node.input(-2.0), Node.const(3.0), Node.apply("pow", 0, 1)), -8.0, 12.0),
        # x**x: d/dx = x**x * (log(x) + 1)
        ((Node.input(2.0), Node.apply("pow", 0, 0)), 4.0, 4.0 * (math.log(2.0) + 1.0)),
        # relu at its kink: the convention relu'(0) = 0
        ((Node.input(0.0), Node.apply("relu", 0)), 0.0, 0.0),
        ((Node.input(-0.0), Node.apply("relu", 0)), 0.0, 0.0),
        # 1/x, log, exp, sigmoid, neg
        ((Node.const(1.0), Node.input(4.0), Node.apply("div", 0, 1)), 0.25, -1.0 / 16.0),
        ((Node.input(math.e), Node.apply("log", 0)), 1.0, 1.0 / math.e),
        ((Node.input(0.0), Node.apply("exp", 0), Node.apply("neg", 1)), -1.0, -1.0),
        ((Node.input(0.0), Node.apply("sigmoid", 0)), 0.5, 0.25),
    ],
)
def test_hand_values(nodes: tuple[Node, ...], value: float, grad: float) -> None:
    r = highprec(Graph(nodes))
    assert r.value == pytest.approx(value, rel=1e-15, abs=1e-300)
    assert len(r.grads) == 1
    assert r.grads[0] == pytest.approx(grad, rel=1e-15, abs=1e-300)


def test_cancellation_needs_more_digits_and_verify_finds_them() -> None:
    # (x + 1e150) - 1e150 = x exactly, but neither 50 nor 100 digits can hold 1e150 + 1.5.
    g = Graph(
        (
            Node.input(1.5),
            Node.const(1e150),
            Node.apply("add", 0, 1),
            Node.apply("sub", 2, 1),
            Node.apply("mul", 3, 3),
        )
    )
    rough = highprec(g, verify=False)
    assert rough.dps == DEFAULT_DPS
    assert rough.value != 2.25
    r = highprec(g)
    assert r.converged
    assert r.dps >= 4 * DEFAULT_DPS  # 50 and 100 digits agree on 0.0: 200 is right, 400 agrees
    assert (r.value, r.grads) == (2.25, (3.0,))
    assert highprec(g, dps=200).dps == 400  # verified by a second, finer evaluation
    assert (r.value, r.grads) == (2.25, (3.0,))


def test_total_cancellation_of_distinct_nodes_escalates() -> None:
    # tanh(300) - 1 = -2e-260.6..: 0 at 50 and 100 digits, but representable in float64.
    g = Graph((Node.input(300.0), Node.apply("tanh", 0), Node.const(1.0), Node.apply("sub", 1, 2)))
    r = highprec(g)
    with mpmath.workdps(400):
        exact = mpmath.tanh(300) - 1
        slope = 1 / mpmath.cosh(300) ** 2
    assert r.converged
    assert r.value == float(exact) != 0.0
    assert r.grads[0] == float(slope) != 0.0
    assert highprec(g, verify=False).value == 0.0


def test_same_node_cancellation_is_exact_and_cheap() -> None:
    g = Graph((Node.input(0.1), Node.apply("exp", 0), Node.apply("sub", 1, 1)))
    r = highprec(g)
    assert (r.value, r.grads, r.converged, r.dps) == (0.0, (0.0,), True, 2 * DEFAULT_DPS)
    assert r.bits_at_risk == 0.0


def test_exact_zero_of_distinct_nodes_survives_max_precision() -> None:
    # x*2 - (x + x) is exactly 0, but no finite precision can prove it: checked up to MAX_DPS.
    g = Graph(
        (
            Node.input(0.1),
            Node.const(2.0),
            Node.apply("mul", 0, 1),
            Node.apply("add", 0, 0),
            Node.apply("sub", 2, 3),
        )
    )
    r = highprec(g)
    assert (r.value, r.grads, r.converged, r.dps) == (0.0, (0.0,), True, MAX_DPS)
    assert r.bits_at_risk == math.inf


def test_absorbed_operand_raises_the_precision() -> None:
    # log(1 + x) with x = 1e-200: at 50 and at 100 digits 1 + x == 1 and log gives 0 (agreeing);
    # the true value is ~x.
    g = Graph((Node.input(1e-200), Node.const(1.0), Node.apply("add", 0, 1), Node.apply("log", 2)))
    r = highprec(g)
    assert r.converged
    assert r.value == pytest.approx(1e-200, rel=1e-15, abs=0.0)
    assert r.grads[0] == pytest.approx(1.0, rel=1e-15)
    assert highprec(g, verify=False).value == 0.0


def test_unused_input_has_zero_gradient() -> None:
    g = Graph((Node.input(1.0), Node.input(2.0), Node.apply("exp", 1)))
    r = highprec(g)
    assert r.grads[0] == 0.0
    assert r.grads[1] == pytest.approx(math.exp(2.0), rel=1e-15)


def test_overflowing_float_value_is_inf_not_an_error() -> None:
    # exp(709.5)**2 overflows float64 but not mpmath: the rounded value is inf.
    g = Graph((Node.input(709.5), Node.apply("exp", 0), Node.apply("mul", 1, 1)))
    r = highprec(g)
    assert r.value == math.inf
    assert r.value_mp > mpmath.mpf(10) ** 308


def test_precision_is_restored_after_calls_and_errors() -> None:
    saved = mpmath.mp.prec
    try:
        mpmath.mp.dps = 30
        before = mpmath.mp.prec
        highprec(_x_times_y_plus_tanh_x(0.1, 0.2), dps=120)
        assert mpmath.mp.prec == before
        bad = Graph((Node.input(0.5), Node.apply("sub", 0, 0), Node.apply("log", 1)))
        with pytest.raises(ValueError, match=r"^node 2: log"):
            highprec(bad)
        assert mpmath.mp.prec == before
        with pytest.raises(ValueError, match="dps"):
            highprec(bad, dps=20)
        assert mpmath.mp.prec == before
    finally:
        mpmath.mp.prec = saved
    assert mpmath.mp.prec == saved


def test_domain_errors_name_the_node() -> None:
    g = Graph((Node.input(0.0), Node.const(1.0), Node.apply("div", 1, 0)))
    with pytest.raises(ZeroDivisionError, match=r"^node 2: div"):
        highprec(g)
    g = Graph((Node.input(-8.0), Node.const(0.5), Node.apply("pow", 0, 1)))
    with pytest.raises(ValueError, match=r"^node 2: pow"):
        highprec(g)
