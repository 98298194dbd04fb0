"""Every leaf gradient and the forward value of random graphs, through the comparator."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from gradoracle.fuzz.strategies import graphs, target_graph
from gradoracle.reference.compare import FAIL
from gradoracle.reference.finite_diff import finite_diff
from gradoracle.reference.ops import OPS
from gradoracle.suite.explain import explain
from gradoracle.suite.profiles import suite_settings

# A finite difference is only as good as its own error estimate; the implementation may sit this
# many estimated errors away from it (FD is a sanity net under JAX, which the comparator judges
# against).
FD_ERROR_FACTOR = 10.0
# Gradients this much smaller than their FD error are indistinguishable from 0 for FD.
FD_ABS_FLOOR = 1e-8


def fully_supported(supported: dict[str, tuple[str, ...]]) -> list[str]:
    """Ops the implementation supports in every form; the others are skipped with a reason."""
    return [name for name, op in OPS.items() if supported.get(name) == op.forms]


@pytest.fixture(scope="module")
def ops(supported: dict[str, tuple[str, ...]]) -> list[str]:
    names = fully_supported(supported)
    if not names:
        pytest.skip("the implementation supports no op in every form")
    return names


@suite_settings()
@given(data=st.data())
def test_gradients_match_the_references(oracle: Any, ops: list[str], data: st.DataObject) -> None:
    graph = data.draw(graphs(ops=ops, max_ops=12), label="graph")
    result = oracle.run_impl([graph])[0]
    verdict = oracle.verdicts([graph], [result])[0]
    target_graph(graph, result.outcome.grads if result.outcome else None)
    assert verdict.status != FAIL, explain(graph, verdict, oracle.adapter)


@suite_settings()
@given(data=st.data())
def test_gradients_match_finite_differences(
    oracle: Any, ops: list[str], data: st.DataObject
) -> None:
    graph = data.draw(graphs(ops=ops, max_ops=8, wide=False), label="graph")
    result = oracle.run_impl([graph])[0]
    assert result.outcome is not None, f"{result.error}\n{graph.to_snippet()}"
    fd = finite_diff(graph)
    for index, grad, estimate in zip(graph.inputs, result.outcome.grads, fd.estimates, strict=True):
        if not estimate.usable:
            note(f"x{index}: finite difference not usable ({estimate.reason})")
            continue
        tolerance = FD_ERROR_FACTOR * estimate.error + FD_ABS_FLOOR * (1 + abs(estimate.grad))
        assert math.isfinite(grad) and abs(grad - estimate.grad) <= tolerance, (
            f"x{index}: implementation {grad!r}, finite difference {estimate.grad!r} "
            f"+- {estimate.error:.3g}\n{graph.to_snippet(oracle.adapter.import_line)}"
        )


def test_ops_the_implementation_lacks_are_skipped(
    adapter: Any, supported: dict[str, tuple[str, ...]]
) -> None:
    missing = [name for name in OPS if name not in fully_supported(supported)]
    if missing:
        pytest.skip(f"{adapter.name} lacks: {', '.join(missing)}")
