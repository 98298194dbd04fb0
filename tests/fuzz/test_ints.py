"""Ints in graphs, end to end: engines that mishandle a plain int (`x + 2`, `2 * x`, `Value(-2)`)
are caught by `run_check`, and the shrunk counterexample keeps the int the bug needs, while a
correct engine given the same ints passes."""

from __future__ import annotations

from typing import Any

import planted_engines
import pytest

from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.check import run_check
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.sampler import GraphStream, SamplerConfig

GRAPHS = 3000  # a few seconds in process; the first int of each spelling comes within ~100 graphs


def check(cls: type, jax_reference: Any, config: SamplerConfig | None = None) -> Any:
    oracle = Oracle(ValueClassAdapter(cls, f"planted_engines:{cls.__name__}"), jax_reference)
    return run_check(oracle, budget=60.0, seed=3, max_graphs=GRAPHS, battery=False, config=config)


def test_a_correct_engine_given_ints_passes(jax_reference: Any) -> None:
    result = check(planted_engines.ClosureValue, jax_reference)
    assert result.findings == []
    assert result.stats.graphs_checked == GRAPHS


@pytest.mark.parametrize(
    ("name", "needle"),
    [("IntAddIgnored", " + 1"), ("IntMulBits", " * 1"), ("UnsignedIntLeaves", "Value(-1)")],
)
def test_engines_that_mishandle_ints_are_caught(jax_reference: Any, name: str, needle: str) -> None:
    result = check(getattr(planted_engines, name), jax_reference)
    assert result.findings, name
    snippet = result.findings[0].graph.to_snippet()
    assert result.findings[0].graph.n_ops <= 1, snippet
    symbol = needle.strip()[0]
    reflected = symbol in "+*" and f"= 1 {symbol} " in snippet  # 1 + x0 shows it as well
    assert needle in snippet or reflected, snippet


def test_without_ints_the_int_bugs_are_not_seen(jax_reference: Any) -> None:
    # The sampled graphs themselves, judged without the probe (which tries int constants too).
    graphs = GraphStream(3, SamplerConfig(int_constants=0.0, int_leaves=0.0)).take(GRAPHS)
    for name in ("IntAddIgnored", "IntMulBits", "UnsignedIntLeaves"):
        oracle = Oracle(ValueClassAdapter(getattr(planted_engines, name)), jax_reference)
        verdicts = [v.status for _, v in oracle.judge(graphs)]
        assert verdicts.count("fail") == 0, name
