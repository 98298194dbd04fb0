"""The comparator's error scales on cancellation: a correct engine that computes a / b as
a * b**-1 is never failed for rounding the JAX reference does not do."""

from __future__ import annotations

import math

import pytest

from reference.compare import FAIL, _partial_sizes, compare, error_scales
from reference.graph import Graph, node_values
from reference.jax_ref import JaxReference
from reference.libs import FLOAT
from reference.ops import OPS

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
        sizes = _partial_sizes(OPS["pow"], "vv", (a, 0.0), 1.0, [0.0, spread])
        assert 0.5 * spread / a < sizes[0] < 2 * spread / a


def test_a_probe_that_overflows_is_retried_with_a_smaller_step() -> None:
    sizes = _partial_sizes(OPS["pow"], "vv", (2.0, 0.0), 1.0, [0.0, 1e26])  # first step: 2 ** 2e4
    assert math.isfinite(sizes[0]) and sizes[0] > 1e25


def test_a_partial_with_no_finite_probe_has_an_infinite_size() -> None:
    sizes = _partial_sizes(OPS["exp"], "v", (700.0, None), math.exp(700.0), [1e308])
    assert sizes == [math.inf]


def test_rounding_through_a_cancellation_is_no_finding() -> None:
    _, scales = error_scales(CANCELLED, node_values(CANCELLED, FLOAT))
    assert scales[2] > 1e-3
    (ref,) = JaxReference().evaluate([CANCELLED])
    impl_grads = (0.0, 0.0, -5.551115123125783e-17)
    verdict = compare(CANCELLED, 0.9999999999999999, impl_grads, ref.value, ref.grads)
    assert verdict.status != FAIL, verdict.reason
    wrong = compare(CANCELLED, 1.0, (0.0, 0.0, 0.5), ref.value, ref.grads)
    assert wrong.status == FAIL  # (a real error is still one)
