"""Bad operands, domain errors, overflow, and the stable ends of tanh and sigmoid.

Domain errors follow Python floats and name the op (gradoracle.reference.ops): log(x<=0)
ValueError, x/0 ZeroDivisionError, exp/pow overflow OverflowError, (-8)**0.5 ValueError; tanh
and sigmoid never raise for a finite input; relu'(0) == 0."""

import math
import operator
from collections.abc import Callable

import pytest

from engine import Value

# A float pow is correctly rounded or within an ulp of it: 1e-15 is a few ulp of slack around
# decimal expectations like 1e240 that are themselves rounded once.
POW_RESULT_RTOL = 1e-15

BAD_OPERANDS = [
    pytest.param("2.0", "str", id="str"),
    pytest.param(None, "NoneType", id="None"),
    pytest.param([2.0], "list", id="list"),
]

BINARY = [
    pytest.param(operator.add, id="+"),
    pytest.param(operator.sub, id="-"),
    pytest.param(operator.mul, id="*"),
    pytest.param(operator.truediv, id="/"),
    pytest.param(operator.pow, id="**"),
]

Binary = Callable[[object, object], object]


# --- operands of the wrong type -------------------------------------------------------------


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize(("bad", "type_name"), BAD_OPERANDS)
def test_bad_operand_on_the_right_raises_type_error_naming_it(
    op: Binary, bad: object, type_name: str
) -> None:
    with pytest.raises(TypeError, match=type_name):
        op(Value(2.0), bad)


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize(("bad", "type_name"), BAD_OPERANDS)
def test_bad_operand_on_the_left_raises_type_error_naming_it(
    op: Binary, bad: object, type_name: str
) -> None:
    with pytest.raises(TypeError, match=type_name):
        op(bad, Value(2.0))


# --- domain errors --------------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -1e-300])
def test_log_outside_its_domain_raises_value_error_naming_log(x: float) -> None:
    with pytest.raises(ValueError, match="log"):
        Value(x).log()


@pytest.mark.parametrize(
    "divide",
    [
        pytest.param(lambda: Value(1.0) / Value(0.0), id="a / b"),
        pytest.param(lambda: Value(1.0) / 0, id="a / 0"),
        pytest.param(lambda: Value(1.0) / 0.0, id="a / 0.0"),
        pytest.param(lambda: 1.0 / Value(0.0), id="1 / a"),
        pytest.param(lambda: Value(0.0) / Value(0.0), id="0 / 0"),
    ],
)
def test_division_by_zero_raises_zero_division_error(divide: Callable[[], Value]) -> None:
    with pytest.raises(ZeroDivisionError):
        divide()


def test_zero_to_a_negative_power_raises_zero_division_error() -> None:
    # Python: 0.0 ** -1 raises ZeroDivisionError.
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1


def test_exp_overflow_raises_overflow_error_naming_exp() -> None:
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


@pytest.mark.parametrize(
    "power",
    [
        pytest.param(lambda: Value(1e200) ** 2, id="a ** 2"),
        pytest.param(lambda: Value(1e200) ** 2.0, id="a ** 2.0"),
        pytest.param(lambda: Value(1e200) ** Value(2.0), id="a ** b"),
        pytest.param(lambda: 10.0 ** Value(1000.0), id="10 ** a"),
    ],
)
def test_pow_overflow_raises_overflow_error(power: Callable[[], Value]) -> None:
    with pytest.raises(OverflowError, match=r"pow|\*\*"):
        power()


@pytest.mark.parametrize(
    "power",
    [
        pytest.param(lambda: Value(-8.0) ** 0.5, id="a ** 0.5"),
        pytest.param(lambda: Value(-8.0) ** Value(0.5), id="a ** b"),
        pytest.param(lambda: (-8.0) ** Value(0.5), id="(-8) ** a"),
    ],
)
def test_negative_base_to_a_fractional_power_raises_value_error(
    power: Callable[[], Value],
) -> None:
    # Python floats would give a complex number here; a real-valued engine must refuse.
    with pytest.raises(ValueError, match=r"pow|\*\*"):
        power()


@pytest.mark.parametrize(
    ("base", "power", "value", "grad"),
    [
        # (1e-200)**-1 = 1e200 is a float (Python agrees); only the slope -1e400 overflows.
        pytest.param(1e-200, lambda x: x**-1, 1e200, -math.inf, id="a ** -1"),
        pytest.param(1e-200, lambda x: x ** Value(-1.0), 1e200, -math.inf, id="a ** b"),
        # Negative bases: the infinite slope keeps the sign of k * a**(k-1).
        pytest.param(-1e-200, lambda x: x**-1, -1e200, -math.inf, id="(-a) ** -1"),
        pytest.param(-1e-120, lambda x: x**-2, 1e240, math.inf, id="(-a) ** -2"),
        # Same story through division: 1 / 1e-200.
        pytest.param(1e-200, lambda x: 1.0 / x, 1e200, -math.inf, id="1 / a"),
    ],
)
def test_pow_does_not_overflow_when_only_its_derivative_does(
    base: float, power: Callable[[Value], Value], value: float, grad: float
) -> None:
    # Overflow is an error only when the result itself is out of range (SPEC: errors follow
    # Python floats); an overflowing local derivative is inf, as float mul/div give.
    x = Value(base)
    out = power(x)
    assert out.data == pytest.approx(value, rel=POW_RESULT_RTOL)
    out.backward()
    assert x.grad == grad


def test_mul_and_add_overflow_to_inf_like_python_floats() -> None:
    assert (Value(1e200) * Value(1e200)).data == math.inf
    assert (Value(1e308) + Value(1e308)).data == math.inf
    assert (Value(-1e308) - 1e308).data == -math.inf


# --- tanh and sigmoid: stable for every finite input ----------------------------------------


@pytest.mark.parametrize(
    ("x", "tanh", "sigmoid"),
    [
        (1000.0, 1.0, 1.0),
        (-1000.0, -1.0, 0.0),
        (1e308, 1.0, 1.0),
        (-1e308, -1.0, 0.0),
    ],
)
def test_tanh_and_sigmoid_saturate_without_exceptions(
    x: float, tanh: float, sigmoid: float
) -> None:
    for method, expected in (("tanh", tanh), ("sigmoid", sigmoid)):
        leaf = Value(x)
        out = getattr(leaf, method)()
        assert out.data == expected, method
        out.backward()
        assert math.isfinite(leaf.grad), method
        assert leaf.grad == 0.0, method  # 1 - 1**2 and s*(1-s) at saturation


# sigmoid(x) ~ e**x for x << 0: still a normal float at -700, and a naive 1 / (1 + exp(-x))
# overflows from x = -710 on. Relative accuracy of a few ulp is what a stable formula gives.
TINY_SIGMOID_RTOL = 1e-12
# e**-710 ~ 4.5e-309 is subnormal: only ~40 of 53 bits of precision are left, and fewer after
# further roundings, so a relative tolerance of 1e-4 (~13 bits) is what can fairly be asked.
SUBNORMAL_RTOL = 1e-4


def test_sigmoid_keeps_tiny_values_instead_of_flushing_to_zero() -> None:
    assert Value(-700.0).sigmoid().data == pytest.approx(math.exp(-700.0), rel=TINY_SIGMOID_RTOL)


def test_sigmoid_just_past_the_naive_overflow_point() -> None:
    leaf = Value(-710.0)
    out = leaf.sigmoid()
    assert out.data == pytest.approx(math.exp(-710.0), rel=SUBNORMAL_RTOL)
    out.backward()
    assert leaf.grad == pytest.approx(math.exp(-710.0), rel=SUBNORMAL_RTOL)


# --- relu at its kink -----------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, -0.0])
def test_relu_derivative_at_zero_is_zero(x: float) -> None:
    leaf = Value(x)
    out = leaf.relu()
    out.backward()
    assert out.data == 0.0
    assert leaf.grad == 0.0


def test_relu_derivative_just_above_zero_is_one() -> None:
    leaf = Value(5e-324)
    leaf.relu().backward()
    assert leaf.grad == 1.0
