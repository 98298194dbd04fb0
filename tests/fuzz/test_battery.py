"""The semantics battery: built from what an engine offers, it finds what only behaviour shows
(repeated backward, two roots, changed inputs, leaks, deep graphs in any spelling, damaged
workers) and nothing on correct engines."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import gradoracle_json

from gradoracle.fuzz import battery_graphs as graphs
from gradoracle.fuzz.battery import CASES, RAN, run_battery, run_battery_cases
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.probe import INT, Spelling, all_spellings, run_probe, spellings_of
from gradoracle.reference.float_sweep import agrees, float_gradients
from gradoracle.reference.graph import Graph

TESTS = Path(__file__).resolve().parents[1]


def battery_of(spec: str, jax_reference: Any, seconds: float = 30.0) -> list[Any]:
    from gradoracle.fuzz.adapters import load_adapter

    with IsolatedImpl(spec, timeout=3.0) as runner:
        oracle = Oracle(load_adapter(spec), jax_reference, runner)
        offered = run_probe(oracle).offered
        return run_battery(oracle, offered, 3.0, time.monotonic() + seconds)


def categories(findings: list[Any]) -> set[str]:
    return {f.category for f in findings}


@pytest.mark.parametrize("spelling", [s for s in all_spellings() if s.op != "leaf"], ids=str)
def test_chains_are_valid_and_their_expected_answers_exact(spelling: Spelling) -> None:
    chain = graphs.chain(spelling, 6)
    assert Graph(chain.nodes, chain.output) == chain  # what Graph.trusted promised
    assert spellings_of(chain) - {Spelling("log", "v"), Spelling("exp", "v")} <= {spelling} or (
        spelling.const == INT  # (until ints are kept in the IR, int constants read as floats)
    )
    value, grads = float_gradients(chain)
    assert all(map(agrees, grads, grads)) and agrees(value, value)


def test_the_float_sweep_agrees_with_the_engine_on_deep_and_wide_graphs() -> None:
    from engine import Value
    from gradoracle.reference.graph import build

    for graph in (
        graphs.chain(Spelling("tanh", "v"), 3000),
        graphs.fan_out("add", 1024),
        graphs.stacked_diamonds("mul", 40),
    ):
        inputs, out = build(graph, Value)
        out.backward()
        value, grads = float_gradients(graph)
        assert agrees(out.data, value)
        assert all(agrees(x.grad, g) for x, g in zip(inputs, grads, strict=True))


def test_none_counts_as_zero_only_where_the_gradient_is_zero() -> None:
    assert agrees(None, 0.0) and not agrees(None, 3.0)


def test_a_correct_engine_passes_every_case(jax_reference: Any) -> None:
    findings = battery_of("engine:Value", jax_reference)
    assert findings == [], [f.verdict.reason for f in findings]


def test_a_correct_closure_engine_passes_every_case(jax_reference: Any) -> None:
    findings = battery_of("planted_engines:ClosureValue", jax_reference)
    assert findings == [], [f.verdict.reason for f in findings]


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("VisitedNeverReset", {"two roots", "double backward"}),
        ("StepsInBackward", {"input changed"}),
        ("KeepsEveryNode", {"memory"}),
        ("ThirdCallWrong", {"double backward"}),
        ("OnlyValuesRecursive", {"deep graph"}),
    ],
)
def test_behaviour_bugs_are_found(engine: str, expected: set[str], jax_reference: Any) -> None:
    found = categories(battery_of(f"behaviour_engines:{engine}", jax_reference))
    assert expected <= found, found


def test_a_third_backward_is_checked(jax_reference: Any) -> None:
    (finding,) = battery_of("behaviour_engines:ThirdCallWrong", jax_reference)
    assert finding.verdict.reason.startswith("backward() call 3 ")


def test_a_path_by_path_backward_hangs_on_stacked_diamonds(jax_reference: Any) -> None:
    found = battery_of("behaviour_engines:EveryPath", jax_reference)
    (diamonds,) = [f for f in found if f.category == "diamonds"]
    assert diamonds.verdict.error.startswith("hang"), diamonds.verdict


@pytest.mark.slow
def test_a_worker_damaged_by_the_engine_is_not_blamed_on_a_graph() -> None:
    # Each freed leaf decrements None's refcount: the worker aborts after some thousands of
    # graphs, on a graph that passes alone in a new worker.
    code, report = gradoracle_json(
        "check", "behaviour_engines:DamagesNone", "--budget", "10", "--json", cwd=TESTS
    )
    assert code == 1
    found = {f["category"] for f in report["findings"]}
    assert "damaged worker" in found, report["findings"]
    # No graph is blamed for it: no wrong numbers, no exception pinned on a graph. (A battery case
    # that frees enough leaves kills even a new worker: that case is reported as the crash it is.)
    assert not found & {"wrong gradient", "wrong value", "exception", "crash", "hang"}, found
    for f in report["findings"]:
        if f["category"] == "damaged worker":
            assert "alone in a new worker passes" in f["reason"]
        else:
            assert "crash" in f["reason"], f


def test_a_leaks_snippet_shows_the_growth_in_a_fresh_process(jax_reference: Any) -> None:
    (finding,) = [
        f
        for f in battery_of("behaviour_engines:KeepsEveryNode", jax_reference)
        if f.category == "memory"
    ]
    out = subprocess.run(
        [sys.executable, "-c", finding.snippet], cwd=TESTS, capture_output=True, text=True,
        timeout=120, env={"PYTHONPATH": str(TESTS.parent), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("resident bytes after round") == 4
    assert out.stdout.rstrip().endswith("<-- wrong"), out.stdout


def test_an_adapter_without_a_leaf_factory_skips_two_roots_and_says_so(
    jax_reference: Any,
) -> None:
    from gradoracle.fuzz.adapters import load_adapter

    spec = "leafless_adapter:LeaflessAdapter"
    with IsolatedImpl(spec, timeout=3.0) as runner:
        oracle = Oracle(load_adapter(spec), jax_reference, runner)
        offered = run_probe(oracle).offered
        findings, cases = run_battery_cases(oracle, offered, 3.0, time.monotonic() + 30)
    assert findings == [], [f.verdict.reason for f in findings]
    assert any(n.startswith("two roots: not run (LeaflessAdapter") for n in oracle.stats.notes)
    assert list(cases) == list(CASES)  # what --json and --junit-xml report
    assert cases["two roots"] == (
        "not run: LeaflessAdapter has no `leaf(x)` method to build interior nodes with"
    )


def test_cases_that_never_ran_say_so_and_why(jax_reference: Any) -> None:
    """A case with no time left, or that the spellings cannot build, is recorded as not run
    (a JUnit skip), never as run and passed."""
    from gradoracle.fuzz.adapters import load_adapter
    from gradoracle.fuzz.probe import Spelling

    spec = "engine:Value"
    with IsolatedImpl(spec, timeout=3.0) as runner:
        oracle = Oracle(load_adapter(spec), jax_reference, runner)
        offered = run_probe(oracle).offered
        findings, late = run_battery_cases(oracle, offered, 3.0, time.monotonic() - 1)
        assert findings == [] and set(late.values()) == {"not run: time"}
        only_neg = [Spelling("neg", "v")]  # no `+` or `*`: no fan-out, no diamonds
        findings, battery = run_battery_cases(oracle, only_neg, 3.0, time.monotonic() + 30)
        assert findings == []
    assert (
        battery["fan-out"]
        == battery["diamonds"]
        == ("not run: cannot be built from the spellings offered")
    )
    assert battery["double backward"] == battery["deep graph"] == RAN
