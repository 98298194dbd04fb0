"""The campaign's fast paths give the verdicts of the plain ones: the vectorised quick pass
(`JaxBatch.quick_pass`) accepts exactly what `compare` accepts at once, the sweep shortcut only
passes what the test after error_scales would, `Oracle` judges the same with or without the
columns, and overlapping the reference with the worker changes no result."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from gradoracle.fuzz.adapters import ImplResult, Outcome, load_adapter
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle, quick_outcomes
from gradoracle.fuzz.runner import InProcess
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.reference.compare import (
    FAIL,
    QUICK_PASS,
    SWEEP_SHARE,
    compare,
    error_scales,
    within_sweeps,
)
from gradoracle.reference.graph import Graph, Node, node_values
from gradoracle.reference.jax_ref import JaxBatch, JaxReference, JaxResult
from gradoracle.reference.libs import FLOAT


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


def graphs() -> list[Graph]:
    out = sample_graphs(5, 2500) + sample_graphs(6, 300, SamplerConfig(min_ops=30, max_ops=70))
    x, op, c = Node.input, Node.apply, Node.const
    out += [
        Graph((x(0.0), op("relu", 0))),  # at the kink: the gradient is not comparable
        Graph((x(1e-300), x(1e300), op("mul", 0, 1), op("exp", 2))),
        Graph((x(800.0), op("exp", 0))),  # overflows: not comparable
        Graph((x(2.0), c(0.5), op("pow", 0, 1))),
    ]
    # The edges: outside a domain (whatever JAX says), subnormals JAX flushes to 0, overflowing
    # values with finite gradients, a relu within its operand's forward error of the kink, a
    # slope whose sign float64 loses, an input the output does not use (grad None is right).
    out += [
        Graph((x(-1.0), op("pow", 0, 0))),
        Graph((x(5e-324), op("log", 0))),
        Graph((x(1e-308), op("log", 0), x(2.0), op("mul", 1, 2))),
        Graph((x(1.5), c(1e-310), op("mul", 0, 1))),
        Graph((x(1e300), x(-1e300), op("mul", 0, 1))),
        Graph((x(1e-200), c(-1.0), op("pow", 0, 1))),
        Graph((x(0.1), x(3.0), op("mul", 0, 1), x(0.3), op("sub", 2, 3), op("relu", 4))),
        Graph((x(-1.0), c(-1e300), op("pow", 0, 1), x(2.0), op("mul", 2, 3))),
        Graph((x(1.5), x(2.0), op("mul", 0, 0))),
        Graph((x(0.0), c(2.0), op("pow", 0, 1))),
        Graph((x(709.7), op("exp", 0))),
    ] * 3
    return out


def spoiled(ref: JaxResult, rng: random.Random) -> ImplResult:
    """An implementation result near, at or far from the reference, or no result at all, or one
    with a gradient left None."""
    quantities = [ref.value, *ref.grads]
    r = rng.random()
    if r < 0.05:
        return ImplResult("exception", None, "ZeroDivisionError: boom", 0.0)
    if r < 0.08:
        return ImplResult("ok", Outcome(ref.value, (*ref.grads, 1.0)), "", 0.0)
    if r < 0.12 and ref.grads:
        grads: list[float | None] = list(ref.grads)
        grads[rng.randrange(len(grads))] = None
        return ImplResult("ok", Outcome(ref.value, tuple(grads)), "", 0.0)
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
        ref.sweeps,
        ref.in_domain,
    )


def test_quick_pass_is_the_quick_path_of_compare(ref: JaxReference) -> None:
    gs = graphs()
    batch = ref.evaluate_batch(gs)
    assert isinstance(batch, JaxBatch) and len(batch) == len(gs)
    refs = ref.evaluate(gs)
    same = repr  # (NaN is not equal to itself: the edges' results hold some)
    assert same(list(batch)) == same(refs) and same(batch[-1]) == same(refs[-1])
    assert same(batch[3:5]) == same(refs[3:5])
    rng = random.Random(0)
    results = [spoiled(r, rng) for r in refs]
    quick = batch.quick_pass(quick_outcomes(results))
    verdicts = [one_by_one(g, res, r) for g, res, r in zip(gs, results, refs, strict=True)]
    # What JAX's quick pass accepts, compare() passes at once; compare() also passes at once what
    # agrees with its float64 evaluation in Python floats (fuzz.float64_pass is that path), and
    # only that: there, JAX's numbers alone do not pass.
    at_once = [v is QUICK_PASS for v in verdicts]
    assert all(a for a, q in zip(at_once, quick, strict=True) if q)
    for g, res, r, a, q in zip(gs, results, refs, at_once, quick, strict=True):
        if a and not q:
            numbers = [res.outcome.value, *res.outcome.grads]
            assert not (
                r.in_domain and within_sweeps(numbers, [r.value, *r.grads], r.sweeps, g.n_ops)
            )
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
    assert repr(fast) == repr(slow)  # (NaN is not equal to itself)


def test_overlapped_judging_equals_in_process(ref: JaxReference) -> None:
    gs = sample_graphs(8, 600)
    adapter = load_adapter("engine:Value")
    with IsolatedImpl("engine:Value") as impl:
        isolated = Oracle(adapter, ref, impl)
        judged, extra = isolated.judge_while(gs, None, lambda: "sampled meanwhile")
    in_process = Oracle(adapter, ref, InProcess(adapter)).judge(gs)
    assert extra == "sampled meanwhile"
    assert [(g, v.status) for g, v in judged] == [(g, v.status) for g, v in in_process]
    assert isolated.stats.impl_seconds > 0


def test_sweeps_never_exceed_the_gradient_scales(ref: JaxReference) -> None:
    """The sweep shortcut is only a shortcut: where it passes a gradient, the test after
    error_scales would too, because no sweep exceeds its gradient's error scale."""
    gs = sample_graphs(11, 3000) + sample_graphs(12, 300, SamplerConfig(min_ops=30, max_ops=70))
    checked = 0
    for graph, r in zip(gs, ref.evaluate(gs), strict=True):
        if not all(map(math.isfinite, (r.value, *r.grads))):
            continue  # not comparable: compare never reaches the sweep shortcut
        try:
            _, scales = error_scales(graph, node_values(graph, FLOAT))
        except (ValueError, ArithmeticError):
            continue
        for sweep, scale in zip(r.sweeps, scales, strict=True):
            if math.isfinite(scale):
                assert sweep * SWEEP_SHARE <= scale, graph.to_json()
                checked += 1
    assert checked > 5000


def test_a_cancelled_gradient_passes_at_once_and_a_wrong_one_does_not(ref: JaxReference) -> None:
    x, op = Node.input, Node.apply
    graph = Graph((x(1.23289338832687), op("div", 0, 0)))  # d(x/x)/dx is 0, JAX says -1.1e-16
    (r,) = ref.evaluate([graph])
    assert r.grads[0] != 0.0 and r.sweeps[0] > 1.0
    assert compare(graph, 1.0, (0.0,), r.value, r.grads, "", 1.0, 1.0, r.sweeps) is QUICK_PASS
    without = compare(graph, 1.0, (0.0,), r.value, r.grads)  # no JAX sweeps: the float64 one
    assert without is QUICK_PASS
    wrong = compare(graph, 1.0, (1e-9,), r.value, r.grads, "", 1.0, 1.0, r.sweeps)
    assert wrong.status == FAIL
    batch = ref.evaluate_batch([graph, graph])
    results = [ImplResult("ok", Outcome(1.0, g), "", 0.0) for g in ((0.0,), (1e-9,))]
    assert batch.quick_pass(quick_outcomes(results)) == [True, False]
