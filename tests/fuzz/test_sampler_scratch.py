"""The compiled sampling loop gets its scratch arrays from fuzz.sampler (it runs without numba's
reference counting, so it allocates nothing): sized by nodes_most, the most nodes a graph of the
config can have, and refused, with nothing drawn, when shorter."""

from __future__ import annotations

import numpy as np
import pytest

from gradoracle.fuzz import sampler_kernel as kernel
from gradoracle.fuzz.sampler import GraphStream, SamplerConfig, _plan
from gradoracle.reference.ops import DEEP_GRAPHS


def _draw(stream: GraphStream, count: int, nodes: int) -> tuple[bool, np.ndarray]:
    plan = _plan(stream.config)
    steps_most, leaves_most, inputs_most = plan.most
    layout = np.zeros((kernel.LAYOUT_ROWS, count), dtype=np.int64)
    drawn = kernel.sample_batch(
        stream._state, count, *plan.args, np.zeros(count * steps_most, dtype=np.int64),
        np.zeros(count * leaves_most, dtype=np.int64), np.zeros(count * leaves_most),
        np.zeros(count * leaves_most, dtype=np.int8), np.zeros(count * inputs_most, np.int64),
        layout, stream._region_counts, np.zeros(nodes), np.zeros(nodes, dtype=np.int64),
        np.zeros(nodes, dtype=np.int64),
    )  # fmt: skip
    return drawn, layout


@pytest.mark.parametrize(
    "config", [SamplerConfig(), SamplerConfig(deep=0.0, max_ops=7), SamplerConfig(regions=0.0)]
)
def test_scratch_shorter_than_nodes_most_is_refused_and_nothing_is_drawn(
    config: SamplerConfig,
) -> None:
    stream = GraphStream(3, config)
    nodes = _plan(config).nodes_most
    before = stream._state.copy()
    drawn, layout = _draw(stream, 5, nodes - 1)
    assert not drawn
    assert np.array_equal(stream._state, before) and not layout.any()
    drawn, layout = _draw(stream, 5, nodes)
    assert drawn and layout[7].min() >= 1  # five graphs, each with its nodes
    assert not np.array_equal(stream._state, before)


def test_nodes_most_bounds_the_largest_graphs_drawn() -> None:
    """Deep chains and region inputs included: every graph's node count stays within it."""
    config = SamplerConfig(deep=1.0, max_inputs=6)
    graphs = GraphStream(11, config).take(40)
    most = _plan(config).nodes_most
    assert most == kernel.nodes_most(6, DEEP_GRAPHS.max_ops, _plan(config).args[0][6])
    assert max(len(g.nodes) for g in graphs) <= most
    assert max(len(g.nodes) for g in graphs) > DEEP_GRAPHS.min_ops
