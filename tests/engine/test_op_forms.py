"""Every op in every form: forward value vs `math`, gradient vs the closed form and vs a central
finite difference of the engine's own forward.

Forms follow the op registry (gradoracle.reference.ops): a Value with a Value ('vv'), with a
plain-number constant on the right ('vc') or on the left ('cv'); unary ops on one Value. Inputs
are listed per case, inside each op's domain and away from kinks (relu at 0 is checked in
test_errors.py)."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine import Value

# Forward: the engine may use an algebraically equal but differently rounded formula (a stable
# tanh or sigmoid, pow through exp/log); that costs a few ulp. 1e-14 is ~50 ulp: a wrong
# formula is off by far more.
FORWARD_RTOL = 1e-14

# Closed-form derivative: the same story one step further (e.g. log(a) * a**b may reuse the
# rounded forward value), so a little more room than the forward.
GRAD_RTOL = 1e-13

# Central difference f'(x) ~ (f(x+h) - f(x-h)) / 2h with h = FD_STEP * max(1, |x|): truncation
# error ~ h**2 * f'''/6 ~ 1e-11 and rounding error ~ eps * |f| / h ~ 2e-11 relative at the
# points below, so 1e-7 is thousands of times the expected error, yet a wrong factor, sign or
# a missing chain-rule term is off by orders of magnitude more.
FD_STEP = 1e-5
FD_RTOL = 1e-7
FD_ATOL = 1e-9

# Seeds of backward() other than 1 through a final `* UPSTREAM`: catches an op that forgets to
# multiply its local derivative by out.grad (invisible when out.grad == 1).
UPSTREAMS = (1.0, -2.5)

Point = tuple[float, ...]


@dataclass(frozen=True)
class Case:
    spelling: str
    build: Callable[..., Value]  # the engine expression, one Value per input
    forward: Callable[..., float]  # the same function on floats, through `math`
    grads: Callable[..., tuple[float, ...]]  # closed-form partial derivatives, one per input
    points: tuple[Point, ...]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


ANY_1 = ((-1.7,), (0.3,), (2.5,))
POSITIVE_1 = ((0.5,), (1.3,), (4.0,))
NONZERO_1 = ((-1.7,), (0.6,), (3.2,))
ANY_2 = ((1.5, -2.25), (-0.3, 0.7), (2.0, 3.0))
NONZERO_2 = ((1.5, -2.25), (-0.3, 0.7), (2.0, 3.5))
POSITIVE_BASE_2 = ((0.7, 1.3), (2.5, -0.8), (1.2, 3.0))

CASES = (
    # add
    Case("a + b", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: (1.0, 1.0), ANY_2),
    Case("a + 2", lambda a: a + 2, lambda a: a + 2, lambda a: (1.0,), ANY_1),
    Case("2 + a", lambda a: 2 + a, lambda a: 2 + a, lambda a: (1.0,), ANY_1),
    Case("a + 0.25", lambda a: a + 0.25, lambda a: a + 0.25, lambda a: (1.0,), ANY_1),
    # sub
    Case("a - b", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: (1.0, -1.0), ANY_2),
    Case("a - 2", lambda a: a - 2, lambda a: a - 2, lambda a: (1.0,), ANY_1),
    Case("2 - a", lambda a: 2 - a, lambda a: 2 - a, lambda a: (-1.0,), ANY_1),
    # mul
    Case("a * b", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a), ANY_2),
    Case("2 * a", lambda a: 2 * a, lambda a: 2 * a, lambda a: (2.0,), ANY_1),
    Case("a * 2", lambda a: a * 2, lambda a: a * 2, lambda a: (2.0,), ANY_1),
    Case("a * -0.75", lambda a: a * -0.75, lambda a: a * -0.75, lambda a: (-0.75,), ANY_1),
    # div
    Case(
        "a / b",
        lambda a, b: a / b,
        lambda a, b: a / b,
        lambda a, b: (1 / b, -a / b**2),
        NONZERO_2,
    ),
    Case("a / 2", lambda a: a / 2, lambda a: a / 2, lambda a: (0.5,), ANY_1),
    Case("2 / a", lambda a: 2 / a, lambda a: 2 / a, lambda a: (-2 / a**2,), NONZERO_1),
    # neg
    Case("-a", lambda a: -a, lambda a: -a, lambda a: (-1.0,), ANY_1),
    # pow, constant exponent ('vc'): d(a**k)/da = k * a**(k-1)
    Case("a ** 3", lambda a: a**3, lambda a: a**3, lambda a: (3 * a**2,), ANY_1),
    Case("a ** -2", lambda a: a**-2, lambda a: a**-2, lambda a: (-2 * a**-3,), NONZERO_1),
    Case(
        "a ** -1.5",
        lambda a: a**-1.5,
        lambda a: a**-1.5,
        lambda a: (-1.5 * a**-2.5,),
        POSITIVE_1,
    ),
    Case("a ** 0.5", lambda a: a**0.5, math.sqrt, lambda a: (0.5 / math.sqrt(a),), POSITIVE_1),
    # pow, constant base ('cv'): d(k**a)/da = log(k) * k**a
    Case("2 ** a", lambda a: 2**a, lambda a: 2.0**a, lambda a: (math.log(2) * 2.0**a,), ANY_1),
    Case(
        "0.5 ** a",
        lambda a: 0.5**a,
        lambda a: 0.5**a,
        lambda a: (math.log(0.5) * 0.5**a,),
        ANY_1,
    ),
    # pow, both Values ('vv'): (b * a**(b-1), log(a) * a**b), a > 0
    Case(
        "a ** b",
        lambda a, b: a**b,
        lambda a, b: a**b,
        lambda a, b: (b * a ** (b - 1), math.log(a) * a**b),
        POSITIVE_BASE_2,
    ),
    # unary methods
    Case(
        "a.tanh()",
        lambda a: a.tanh(),
        math.tanh,
        lambda a: (1 - math.tanh(a) ** 2,),
        ANY_1,
    ),
    Case("a.exp()", lambda a: a.exp(), math.exp, lambda a: (math.exp(a),), ANY_1),
    Case("a.log()", lambda a: a.log(), math.log, lambda a: (1 / a,), POSITIVE_1),
    Case(
        "a.relu()",
        lambda a: a.relu(),
        lambda a: max(a, 0.0),
        lambda a: (1.0 if a > 0 else 0.0,),
        ((-1.7,), (-1e-3,), (1e-3,), (2.5,)),
    ),
    Case(
        "a.sigmoid()",
        lambda a: a.sigmoid(),
        sigmoid,
        lambda a: (sigmoid(a) * (1 - sigmoid(a)),),
        ANY_1,
    ),
    Case("a.sin()", lambda a: a.sin(), math.sin, lambda a: (math.cos(a),), ANY_1),
    Case("a.cos()", lambda a: a.cos(), math.cos, lambda a: (-math.sin(a),), ANY_1),
    Case(
        "a.sqrt()",
        lambda a: a.sqrt(),
        math.sqrt,
        lambda a: (0.5 / math.sqrt(a),),
        POSITIVE_1,
    ),
    Case(
        "abs(a)",
        lambda a: abs(a),
        abs,
        lambda a: (1.0 if a > 0 else -1.0,),
        ((-1.7,), (-1e-3,), (1e-3,), (2.5,)),
    ),
)

CASE_POINTS = [
    pytest.param(case, point, id=f"{case.spelling} @ {point}")
    for case in CASES
    for point in case.points
]


def test_every_op_of_the_spec_is_covered() -> None:
    # The spec's op list: a missing spelling here would silently drop an op from the suite.
    spellings = {case.spelling for case in CASES}
    required = {
        "a + b", "a + 2", "2 + a", "a - b", "a - 2", "2 - a", "a * b", "2 * a", "a * 2",
        "a / b", "a / 2", "2 / a", "-a", "a ** 3", "a ** -1.5", "a ** 0.5", "2 ** a",
        "a ** b", "a.tanh()", "a.exp()", "a.log()", "a.relu()", "a.sigmoid()",
        "a.sin()", "a.cos()", "a.sqrt()", "abs(a)",
    }  # fmt: skip
    assert required <= spellings


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_forward_matches_math(case: Case, point: Point) -> None:
    out = case.build(*(Value(x) for x in point))
    assert isinstance(out, Value)
    assert out.data == pytest.approx(case.forward(*point), rel=FORWARD_RTOL, abs=0.0)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_inputs_are_not_modified_by_the_forward(case: Case, point: Point) -> None:
    leaves = [Value(x) for x in point]
    case.build(*leaves)
    assert [v.data for v in leaves] == list(point)
    assert [v.grad for v in leaves] == [0.0] * len(point)


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_gradient_matches_closed_form(case: Case, point: Point, upstream: float) -> None:
    leaves = [Value(x) for x in point]
    out = case.build(*leaves) * upstream if upstream != 1.0 else case.build(*leaves)
    out.backward()
    expected = [upstream * g for g in case.grads(*point)]
    for leaf, want in zip(leaves, expected):
        assert leaf.grad == pytest.approx(want, rel=GRAD_RTOL, abs=0.0)


def central_difference(case: Case, point: Point, index: int) -> float:
    h = FD_STEP * max(1.0, abs(point[index]))

    def at(shift: float) -> float:
        moved = [x + shift if i == index else x for i, x in enumerate(point)]
        return case.build(*(Value(x) for x in moved)).data

    return (at(h) - at(-h)) / (2 * h)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_gradient_matches_central_difference(case: Case, point: Point) -> None:
    leaves = [Value(x) for x in point]
    case.build(*leaves).backward()
    for index, leaf in enumerate(leaves):
        want = central_difference(case, point, index)
        assert leaf.grad == pytest.approx(want, rel=FD_RTOL, abs=FD_ATOL)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_output_grad_is_seeded_with_one(case: Case, point: Point) -> None:
    out = case.build(*(Value(x) for x in point))
    out.backward()
    assert out.grad == 1.0


def test_negative_base_with_integer_exponent() -> None:
    # (-2)**3 is real: the constant-exponent form must not go through log(a).
    a = Value(-2.0)
    out = a**3
    out.backward()
    assert out.data == -8.0
    assert a.grad == 12.0


def test_integer_and_float_constants_give_the_same_result() -> None:
    for build in (
        lambda a, k: a + k,
        lambda a, k: k - a,
        lambda a, k: a * k,
        lambda a, k: k / a,
        lambda a, k: a**k,
        lambda a, k: k**a,
    ):
        a_int, a_float = Value(1.5), Value(1.5)
        out_int, out_float = build(a_int, 3), build(a_float, 3.0)
        out_int.backward()
        out_float.backward()
        assert out_int.data == out_float.data
        assert a_int.grad == a_float.grad


def test_sin_and_cos_of_huge_arguments_are_reduced_exactly() -> None:
    # math's range reduction is exact: sin(1e22) = -0.8522008497671888 (a finite difference
    # cannot check this point, its step would be 1e17).
    for x in (1e22, 1e300):
        a = Value(x)
        s, c = a.sin(), a.cos()
        assert (s.data, c.data) == (math.sin(x), math.cos(x))
        s.backward()
        assert a.grad == math.cos(x)
        b = Value(x)
        b.cos().backward()
        assert b.grad == -math.sin(x)


def test_sqrt_of_a_negative_number_raises_and_at_0_its_slope_is_infinite() -> None:
    with pytest.raises(ValueError, match="sqrt"):
        Value(-1.0).sqrt()
    a = Value(0.0)
    r = a.sqrt()
    assert r.data == 0.0
    r.backward()  # the vertical slope is inf, as for a ** 0.5; backward does not raise
    assert a.grad == math.inf
    b = Value(0.0)
    (b**0.5).backward()
    assert b.grad == math.inf
    for x in (1e-300, 1e300):  # (a finite difference's step would leave the domain or vanish)
        c = Value(x)
        c.sqrt().backward()
        assert c.grad == 0.5 / math.sqrt(x)


def test_abs_at_0_takes_pytorchs_convention() -> None:
    for zero in (0.0, -0.0, 0):
        a = Value(zero)
        out = abs(a)
        assert out.data == 0.0
        out.backward()
        assert a.grad == 0.0  # abs'(0) = 0, the registry's kink convention
