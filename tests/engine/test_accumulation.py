"""Gradient accumulation: reuse of a node, and repeated backward() calls.

The notebook the project grew from overwrites (`self.grad = out.grad`); these cases are where
that bug shows. All inputs are small dyadic numbers, so every expected gradient is exact in
floating point and compared with ==.
"""

import math

import pytest

from engine import Value

# Only for the one case that goes through tanh/exp (not exact in floats): a few ulp.
TRANSCENDENTAL_RTOL = 1e-14


def test_x_plus_x() -> None:
    x = Value(3.0)
    y = x + x
    y.backward()
    assert y.data == 6.0
    assert x.grad == 2.0


def test_x_times_x() -> None:
    x = Value(3.0)
    y = x * x
    y.backward()
    assert y.data == 9.0
    assert x.grad == 6.0


def test_x_minus_x_and_x_over_x_have_zero_grad() -> None:
    x = Value(3.0)
    (x - x).backward()
    assert x.grad == 0.0
    x = Value(4.0)
    (x / x).backward()  # 1/x - x/x**2 == 0.25 - 0.25
    assert x.grad == 0.0


def test_interior_node_feeding_both_operands() -> None:
    x = Value(1.5)
    y = x * 2.0  # interior, used twice by one op
    z = y * y  # z = 4 x**2, dz/dx = 8x
    z.backward()
    assert z.data == 9.0
    assert y.grad == 6.0
    assert x.grad == 12.0


def test_interior_node_feeding_both_operands_of_pow() -> None:
    x = Value(1.0)
    y = x + 1.0  # 2
    z = y**y  # d(y**y)/dy = y**y * (log y + 1)
    z.backward()
    assert z.data == 4.0
    assert x.grad == pytest.approx(4.0 * (math.log(2.0) + 1.0), rel=TRANSCENDENTAL_RTOL)


def test_diamond() -> None:
    x = Value(2.0)
    left = x + 1.0  # 3
    right = x * 3.0  # 6
    top = left * right  # 3x**2 + 3x, d/dx = 6x + 3
    top.backward()
    assert top.data == 18.0
    assert left.grad == 6.0
    assert right.grad == 3.0
    assert x.grad == 15.0


def test_diamond_through_transcendental_ops() -> None:
    x = Value(0.5)
    top = x.tanh() * x.exp()  # d/dx = (1 - tanh**2) e**x + tanh e**x
    top.backward()
    t, e = math.tanh(0.5), math.exp(0.5)
    assert x.grad == pytest.approx((1 - t * t) * e + t * e, rel=TRANSCENDENTAL_RTOL)


def test_nested_diamonds() -> None:
    # Each level doubles the number of paths; every path contributes: dz/dx = 2**levels.
    x = Value(1.0)
    y = x
    levels = 20
    for _ in range(levels):
        y = y + y
    y.backward()
    assert y.data == 2.0**levels
    assert x.grad == 2.0**levels


def test_reuse_across_many_consumers() -> None:
    x = Value(1.5)
    terms = [x * float(k) for k in range(1, 101)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    total.backward()
    assert x.grad == 5050.0  # sum of 1..100


def test_reuse_in_different_ops() -> None:
    x = Value(2.0)
    y = x * x + x**3 - 4.0 / x + x  # d/dx = 2x + 3x**2 + 4/x**2 + 1
    y.backward()
    assert x.grad == 4.0 + 12.0 + 1.0 + 1.0


def test_leaf_used_by_two_roots_accumulates_both() -> None:
    x = Value(3.0)
    (x * 2.0).backward()
    (x * 5.0).backward()
    assert x.grad == 7.0


def test_unreachable_leaf_keeps_zero_grad() -> None:
    x, unused = Value(1.0), Value(2.0)
    _ = unused * 3.0  # built, but not part of the graph below
    (x * 2.0).backward()
    assert unused.grad == 0.0


def test_backward_on_a_leaf_accumulates_like_any_leaf() -> None:
    x = Value(3.0)
    x.backward()
    assert x.grad == 1.0
    x.backward()
    assert x.grad == 2.0
    (x * 4.0).backward()
    x.backward()  # the seed adds to what other graphs left in the leaf
    assert x.grad == 7.0


# --- two backward() calls -------------------------------------------------------------------
# y = x*x (interior), z = y*x at x = 3: dz/dx = 3x**2 = 27. Leaf grads accumulate across calls,
# interior grads are recomputed: after two calls x.grad == 54.0 exactly, y.grad is still 3.0.
# micrograd accumulates the interior y.grad too (3 -> 6), so its second call adds 9 + 6*3*2 = 45
# and it reports 72.


def cube_twice(cls: type) -> tuple[float, float, float, float]:
    """Returns x.grad after one and after two backward calls, and y.grad, z.grad after two."""
    x = cls(3.0)
    y = x * x
    z = y * x
    z.backward()
    after_one = x.grad
    z.backward()
    return after_one, x.grad, y.grad, z.grad


def test_two_backward_calls_give_exactly_twice_the_leaf_grads() -> None:
    after_one, after_two, _, _ = cube_twice(Value)
    assert after_one == 27.0
    assert after_two == 54.0


def test_interior_grads_are_recomputed_not_accumulated() -> None:
    _, _, interior, root = cube_twice(Value)
    assert interior == 3.0  # dz/dy = x, as after a single call
    assert root == 1.0


def test_micrograd_gets_the_two_call_case_wrong() -> None:
    # Shows the case above can tell a correct engine from micrograd's accumulation bug.
    micrograd_engine = pytest.importorskip("micrograd.engine")
    after_one, after_two, _, _ = cube_twice(micrograd_engine.Value)
    assert (after_one, after_two) == (27.0, 72.0)


def test_three_backward_calls_on_a_diamond() -> None:
    x = Value(2.0)
    top = (x + 1.0) * (x * 3.0)  # d/dx = 6x + 3 = 15
    for calls in range(1, 4):
        top.backward()
        assert x.grad == 15.0 * calls


def test_resetting_leaf_grad_between_calls_repeats_the_first_result() -> None:
    x = Value(3.0)
    z = (x * x) * x
    z.backward()
    first = x.grad
    x.grad = 0.0
    z.backward()
    assert x.grad == first == 27.0


def test_backward_of_interior_node_after_root() -> None:
    # A later backward() from an interior node must not reuse the root's stale contributions.
    x = Value(2.0)
    y = x * x  # dy/dx = 4
    z = y * 3.0  # dz/dx = 12
    z.backward()
    assert x.grad == 12.0
    x.grad = 0.0
    y.backward()
    assert y.grad == 1.0
    assert x.grad == 4.0
