"""Deep chains and wide fan-out: backward() must not recurse.

micrograd 0.1.0's recursive topological sort raises RecursionError at a chain of ~1,000 nodes;
ours must handle 1,000,000 under the default recursion limit (which these tests never raise).
"""

import math
import sys

import pytest

from engine import Value

pytestmark = pytest.mark.slow

DEEP = 1_000_000
WIDE = 100_000

# x * (1 + 1e-7) repeated n times: each multiplication rounds once, so the product drifts by at
# most ~n * eps ~ 2e-11 relative from (1 + 1e-7)**n (itself computed with one pow).
PRODUCT_CHAIN_RTOL = 1e-9

# log(exp(2y)) - y loses up to a few ulp of y per step (and the gradient a few ulp of 1), and the
# engine may round differently from the float loop: n * few * eps ~ 1e-10 relative for n = 5e4.
MIXED_CHAIN_RTOL = 1e-8


def test_recursion_limit_is_far_below_the_chain_depth() -> None:
    # The point of the tests below: a recursive walk could not get through them.
    assert sys.getrecursionlimit() * 100 <= DEEP


def test_million_node_addition_chain() -> None:
    x = Value(1.0)
    y = x
    for _ in range(DEEP):
        y = y + 1.0
    assert y.data == DEEP + 1.0
    y.backward()
    assert x.grad == 1.0


def test_long_multiplication_chain_multiplies_local_gradients() -> None:
    n = 100_000
    factor = 1.0000001
    x = Value(1.0)
    y = x
    for _ in range(n):
        y = y * factor
    y.backward()
    expected = factor**n  # d/dx of x * factor**n; ~ e**0.01
    assert y.data == pytest.approx(expected, rel=PRODUCT_CHAIN_RTOL)
    assert x.grad == pytest.approx(expected, rel=PRODUCT_CHAIN_RTOL)


def test_deep_chain_of_value_operands_and_two_backward_calls() -> None:
    n = 100_000
    x = Value(0.5)
    one = Value(1.0)
    y = x
    for _ in range(n):
        y = y + one
    y.backward()
    y.backward()
    assert x.grad == 2.0
    assert one.grad == 2.0 * n


def test_deep_chain_of_mixed_ops() -> None:
    # Each step y -> log(exp(2y)) - y is the identity built from exp, log, a constant mul and a
    # diamond (y used twice): the local derivative 2 * exp(2y) / exp(2y) - 1 is 1 up to rounding,
    # so after n steps value and gradient are still ~x and ~1, not under- or overflowed.
    n = 50_000
    x = Value(0.3)
    y = x
    value, grad = 0.3, 1.0
    for _ in range(n):
        y = (y * 2.0).exp().log() - y
        e = math.exp(value * 2.0)
        grad *= 2.0 * (1.0 / e) * e - 1.0
        value = math.log(e) - value
    y.backward()
    assert y.data == pytest.approx(value, rel=MIXED_CHAIN_RTOL)
    assert x.grad == pytest.approx(grad, rel=MIXED_CHAIN_RTOL)
    assert x.grad == pytest.approx(1.0, rel=MIXED_CHAIN_RTOL)


def test_wide_fan_out_of_one_leaf() -> None:
    x = Value(2.0)
    total = x
    for _ in range(WIDE):
        total = total + x
    total.backward()
    assert total.data == 2.0 * (WIDE + 1)
    assert x.grad == float(WIDE + 1)


def test_wide_fan_out_into_one_sum() -> None:
    x = Value(0.5)
    terms = [x * float(k) for k in range(WIDE)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    total.backward()
    assert x.grad == float(WIDE * (WIDE - 1) // 2)  # exact: an integer below 2**53


def test_ladder_of_diamonds_is_walked_once_per_node() -> None:
    # 2**1000 paths from the root to x: only a walk that visits each node once terminates.
    x = Value(1.0)
    y = x
    for _ in range(1000):
        y = y * 0.5 + y * 0.5
    y.backward()
    assert y.data == 1.0
    assert x.grad == 1.0
