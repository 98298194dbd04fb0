"""The campaign's fast paths give the verdicts of the plain ones: the vectorised quick pass
(`JaxBatch.quick_pass`) accepts exactly what `compare` accepts at once, `Oracle` judges the same
with or without it, and overlapping the reference with the worker changes no result."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from fuzz.adapters import ImplResult, Outcome, load_adapter
from fuzz.check import InProcess, Oracle
from fuzz.isolation import IsolatedImpl
from fuzz.sampler import SamplerConfig, sample_graphs
from reference.compare import QUICK_PASS, compare
from reference.graph import Graph, Node
from reference.jax_ref import JaxBatch, JaxReference, JaxResult


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


def graphs() -> list[Graph]:
    out = sample_graphs(5, 2500) + sample_graphs(6, 300, SamplerConfig(min_ops=30, max_ops=70))
    x, op, c = Node.input, Node.apply, Node.const
    out += [
        Graph((x(0.0), op("relu", 0))),  # at the kink: not comparable
        Graph((x(1e-300), x(1e300), op("mul", 0, 1), op("exp", 2))),
        Graph((x(800.0), op("exp", 0))),  # overflows: not comparable
        Graph((x(2.0), c(0.5), op("pow", 0, 1))),
    ]
    return out


def spoiled(ref: JaxResult, rng: random.Random) -> ImplResult:
    """An implementation result near, at or far from the reference, or no result at all."""
    quantities = [ref.value, *ref.grads]
    r = rng.random()
    if r < 0.05:
        return ImplResult("exception", None, "ZeroDivisionError: boom", 0.0)
    if r < 0.08:
        return ImplResult("ok", Outcome(ref.value, (*ref.grads, 1.0)), "", 0.0)
    if r < 0.5:
        k = rng.randrange(len(quantities))
        factor = rng.choice((1 + 1e-12, 1 + 1e-9, 1 + 1e-3, -1.0, 0.0, math.nan, math.inf))
        quantities[k] = quantities[k] * factor if factor == factor else math.nan
    return ImplResult("ok", Outcome(quantities[0], tuple(quantities[1:])), "", 0.0)


def one_by_one(graph: Graph, result: ImplResult, ref: JaxResult) -> Any:
    outcome = result.outcome
    return compare(
        graph,
        outcome.value if outcome else None,
        outcome.grads if outcome else None,
        ref.value,
        ref.grads,
        result.error,
        ref.kink_distance,
        ref.magnitude,
    )


def test_quick_pass_is_the_quick_path_of_compare(ref: JaxReference) -> None:
    gs = graphs()
    batch = ref.evaluate_batch(gs)
    assert isinstance(batch, JaxBatch) and len(batch) == len(gs)
    refs = ref.evaluate(gs)
    assert list(batch) == refs and batch[-1] == refs[-1] and batch[3:5] == refs[3:5]
    rng = random.Random(0)
    results = [spoiled(r, rng) for r in refs]
    quick = batch.quick_pass(results)
    verdicts = [one_by_one(g, res, r) for g, res, r in zip(gs, results, refs, strict=True)]
    assert [v is QUICK_PASS for v in verdicts] == quick
    assert 0.3 < sum(quick) / len(quick) < 0.8  # both kinds, plenty of each


class ListReference:
    """The JAX reference without its columns: the Oracle then compares one graph at a time."""

    def __init__(self, ref: JaxReference) -> None:
        self.ref = ref

    def evaluate(self, graphs: Sequence[Graph]) -> list[JaxResult]:
        return self.ref.evaluate(graphs)


def test_oracle_verdicts_equal_with_and_without_columns(ref: JaxReference) -> None:
    gs = graphs()
    rng = random.Random(1)
    results = [spoiled(r, rng) for r in ref.evaluate(gs)]
    adapter = load_adapter("engine:Value")
    fast = Oracle(adapter, ref).verdicts(gs, results)
    slow = Oracle(adapter, ListReference(ref)).verdicts(gs, results)
    assert fast == slow


def test_overlapped_judging_equals_in_process(ref: JaxReference) -> None:
    gs = sample_graphs(8, 600)
    adapter = load_adapter("engine:Value")
    with IsolatedImpl("engine:Value") as impl:
        isolated = Oracle(adapter, ref, impl)
        judged, extra = isolated._judge(gs, None, lambda: "sampled meanwhile")
    in_process = Oracle(adapter, ref, InProcess(adapter)).judge(gs)
    assert extra == "sampled meanwhile"
    assert [(g, v.status) for g, v in judged] == [(g, v.status) for g, v in in_process]
    assert isolated.stats.impl_seconds > 0
