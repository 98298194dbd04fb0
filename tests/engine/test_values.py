"""Hand-checked exact cases: the notebook's neuron, micrograd's own test expressions.

Every expected number here was worked out by hand or with exact rational arithmetic
(`fractions.Fraction` dual numbers), not copied from the engine under test.
"""

import math

import pytest

from engine import Value

# The expressions below are rational (or tanh at a point where tanh**2 == 1/2 exactly in the
# reals), so the expected numbers are the exact results rounded once. A float engine rounds at
# every step: a few ulp of drift (~1e-15 relative) is honest; 1e-12 leaves room for a different
# but stable formula (e.g. tanh through exp) while any wrong derivative is off by far more.
HAND_RTOL = 1e-12


def close(expected: float) -> object:
    return pytest.approx(expected, rel=HAND_RTOL, abs=0.0)


# --- construction ---------------------------------------------------------------------------


def test_new_value_holds_data_and_zero_grad() -> None:
    v = Value(2.5)
    assert v.data == 2.5
    assert v.grad == 0.0


def test_int_data_is_stored_as_float() -> None:
    v = Value(2)
    assert type(v.data) is float
    assert v.data == 2.0


def test_label_keyword() -> None:
    assert Value(2.0, label="x").label == "x"


def test_leaf_has_empty_op() -> None:
    assert Value(1.0)._op == ""


def test_result_of_an_op_has_an_op_name() -> None:
    out = Value(1.0) + Value(2.0)
    assert isinstance(out._op, str)
    assert out._op != ""


# --- the notebook's neuron ------------------------------------------------------------------
# o = tanh(x1*w1 + x2*w2 + b) with b chosen so that n = atanh(1/sqrt(2)) = asinh(1):
# o = 1/sqrt(2), do/dn = 1 - o**2 = 1/2, so every grad is (the other factor) / 2.

NOTEBOOK_B = 6.8813735870195432


def notebook_leaves() -> tuple[Value, Value, Value, Value, Value]:
    x1 = Value(2.0, label="x1")
    x2 = Value(0.0, label="x2")
    w1 = Value(-3.0, label="w1")
    w2 = Value(1.0, label="w2")
    b = Value(NOTEBOOK_B, label="b")
    return x1, x2, w1, w2, b


def check_notebook_grads(x1: Value, x2: Value, w1: Value, w2: Value, b: Value) -> None:
    assert x1.grad == close(-1.5)  # w1 * 1/2
    assert w1.grad == close(1.0)  # x1 * 1/2
    assert x2.grad == close(0.5)  # w2 * 1/2
    assert w2.grad == 0.0  # x2 * 1/2 with x2 == 0.0: exactly zero
    assert b.grad == close(0.5)


def test_notebook_neuron_with_tanh() -> None:
    x1, x2, w1, w2, b = notebook_leaves()
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    assert n.data == close(math.asinh(1.0))
    assert o.data == close(1 / math.sqrt(2))
    assert o.data == close(0.7071067811865476)
    o.backward()
    assert o.grad == 1.0
    assert n.grad == close(0.5)
    check_notebook_grads(x1, x2, w1, w2, b)


def test_notebook_neuron_with_tanh_spelled_through_exp() -> None:
    # The lecture's second spelling: tanh(n) = (e**2n - 1) / (e**2n + 1). Exercises 2*n, exp,
    # a - 1, a + 1 and a / b together; the gradients must be the same.
    x1, x2, w1, w2, b = notebook_leaves()
    n = x1 * w1 + x2 * w2 + b
    e = (2 * n).exp()
    o = (e - 1) / (e + 1)
    assert o.data == close(1 / math.sqrt(2))
    o.backward()
    check_notebook_grads(x1, x2, w1, w2, b)


# --- micrograd's own tests (micrograd/test/test_engine.py) ----------------------------------


def test_micrograd_test_more_ops() -> None:
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    # Exact values: g = 2421/98, dg/da = 47620/343, dg/db = 221433/343.
    assert g.data == close(2421 / 98)
    assert a.grad == close(47620 / 343)
    assert b.grad == close(221433 / 343)
    # The figures micrograd's test checks (against PyTorch) to 1e-6; we hold them to 1e-12.
    assert g.data == close(24.70408163265306)
    assert a.grad == close(138.83381924198252)
    assert b.grad == close(645.5772594752186)


def test_micrograd_test_sanity_check() -> None:
    x = Value(-4.0)
    z = 2 * x + 2 + x  # -10
    q = z.relu() + z * x  # 0 + 40
    h = (z * z).relu()  # 100
    y = h + q + q * x  # 100 + 40 - 160
    y.backward()
    # dz/dx = 3; dh/dx = 2z*3 = -60; dq/dx = 0 + (3x + z) = -22; d(qx)/dx = -22*x + q = 128.
    assert y.data == -20.0
    assert x.grad == 46.0


def test_sanity_check_intermediate_values() -> None:
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    assert (z.data, q.data, h.data) == (-10.0, 40.0, 100.0)
