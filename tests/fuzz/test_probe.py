"""fuzz.probe: a spelling is left out only when building it refuses every probe input; anything
raised later, or for some inputs only, is a finding; nothing checked is never exit 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_runner import gradoracle_json
from planted_engines import FloorsInts

from gradoracle.cli.common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from gradoracle.fuzz.adapters import BACKWARD, BUILD, ValueClassAdapter, load_adapter
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.probe import (
    FLOAT,
    INT,
    INT_LEAF,
    PROBES,
    Spelling,
    all_spellings,
    int_leaf_graphs,
    probe_graphs,
    run_probe,
    spellings_of,
)
from gradoracle.fuzz.runner import InProcess
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.jax_ref import JaxReference
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parents[1]


def probe_of(cls: type) -> Any:
    adapter = ValueClassAdapter(cls)
    return run_probe(Oracle(adapter, reference=None, runner=InProcess(adapter)))  # type: ignore[arg-type]


def engine(name: str) -> type:
    module = __import__("behaviour_engines")
    return getattr(module, name)  # type: ignore[no-any-return]


def test_every_spelling_has_its_probes_inside_the_domain() -> None:
    spellings = all_spellings()
    assert INT_LEAF in spellings
    assert Spelling("pow", "vc", INT) in spellings and Spelling("pow", "vc", "float") in spellings
    for spelling in spellings:
        graphs = probe_graphs(spelling)
        assert len(graphs) == PROBES, spelling
        assert len({g.to_json() for g in graphs}) == PROBES, spelling  # several inputs, not one
        for graph in graphs:
            assert spelling in spellings_of(graph) or spelling == INT_LEAF
            node = graph.nodes[-1]
            if node.op is not None:
                operands = [graph.nodes[a].value for a in node.args]
                assert OPS[node.op].float_ok(graph.forms[-1], *operands), (spelling, operands)


def test_the_probe_mixes_kinds_of_input() -> None:
    values = {g.nodes[0].value for g in probe_graphs(Spelling("tanh", "v"))}
    assert any(v < 0 for v in values) and any(v > 0 for v in values)  # type: ignore[operator]


def test_a_correct_engine_offers_every_spelling() -> None:
    from engine import Value

    probed = probe_of(Value)
    assert not probed.refused
    assert set(probed.offered) == set(all_spellings())


def test_a_spelling_refused_on_every_input_is_not_offered_and_says_why() -> None:
    probed = probe_of(engine("NoPowerOfValues"))
    assert set(probed.refused) == {Spelling("pow", "vv")} | {
        Spelling("pow", "cv", c) for c in ("int", "float")
    }  # k ** a goes through a ** b in this engine
    assert all("Only int/float exponents" in e for e in probed.refused.values())


def test_an_error_on_some_inputs_only_is_judged_not_skipped() -> None:
    probed = probe_of(engine("TanhRefusesNegatives"))
    tanh = Spelling("tanh", "v")
    assert tanh in probed.offered and tanh not in probed.refused
    failed = [r for g, r in probed.judged if g.nodes[-1].op == "tanh" and r.status == "exception"]
    assert failed and all(r.phase == BUILD for r in failed)


def test_an_error_inside_backward_is_never_a_missing_op() -> None:
    probed = probe_of(engine("SigmoidBackwardRaises"))
    assert Spelling("sigmoid", "v") in probed.offered
    raised = [r for g, r in probed.judged if g.nodes[-1].op == "sigmoid"]
    assert raised and all(r.status == "exception" and r.phase == BACKWARD for r in raised)


def test_the_phase_of_an_exception_is_recorded_in_the_worker_too() -> None:
    from gradoracle.fuzz.isolation import IsolatedImpl

    graph = Graph((Node.input(0.5), Node.apply("sigmoid", 0)))
    with IsolatedImpl("behaviour_engines:SigmoidBackwardRaises") as impl:
        (result,) = impl.run([graph])
    assert (result.status, result.phase) == ("exception", BACKWARD)


def run(spec: str, budget: str = "6") -> tuple[int, dict[str, Any]]:
    return gradoracle_json("check", spec, "--budget", budget, "--json", cwd=TESTS)


@pytest.mark.slow
def test_a_backward_that_always_raises_is_exit_1_not_a_clean_pass() -> None:
    # __eq__ without __hash__: every op builds, every backward() raises TypeError.
    code, report = run("behaviour_engines:Unhashable")
    assert code == EXIT_FINDINGS
    assert report["ops_skipped"] == []
    # One finding says it (the smallest graph that raises it), the others are counted.
    (raised,) = [f for f in report["findings"] if "unhashable" in (f["error"] or "")]
    assert raised["count"] > 1


@pytest.mark.slow
def test_a_class_that_offers_no_op_is_a_usage_error() -> None:
    code, report = run("behaviour_engines:Bare", "4")
    assert code == EXIT_USAGE
    assert report["graphs_checked"] == 0 and report["findings"] == []
    assert "a + b" in report["spellings_refused"]


@pytest.mark.slow
def test_an_unsupported_spelling_that_raises_everywhere_is_not_a_finding() -> None:
    code, report = run("behaviour_engines:NoPowerOfValues")
    assert code == EXIT_CLEAN, report["findings"]
    assert set(report["ops_skipped"]) == {"a ** b", "2 ** a", "2.5 ** a"}
    assert "Only int/float exponents" in report["spellings_refused"]["a ** b"]


def test_snippets_import_what_the_user_named() -> None:
    adapter = load_adapter("behaviour_engines:Unhashable")
    assert adapter.import_line == "from behaviour_engines import Unhashable"

    class Compiled:  # what a C extension's class reports
        __module__ = "builtins"

    named = ValueClassAdapter(Compiled, "fastgrad._core:Value")
    assert (named.import_line, named.class_name) == ("from fastgrad._core import Value", "Value")


def test_an_int_constant_and_a_float_constant_are_separate_spellings() -> None:
    probed = probe_of(engine("IntExponentsOnly"))
    assert Spelling("pow", "vc", INT) in probed.offered
    assert Spelling("pow", "vc", "float") in probed.refused


@pytest.mark.slow
def test_graphs_never_use_a_refused_kind_of_constant() -> None:
    # `a ** 2` offered, `a ** 2.5` refused: the sampler draws both, check keeps the first only.
    code, report = run("behaviour_engines:IntExponentsOnly", "8")
    assert code == EXIT_CLEAN, report["findings"]
    assert report["graphs_checked"] >= 64  # (a batch, on a loaded machine)
    assert "a ** 2.5" in report["ops_skipped"] and "a ** 2" not in report["ops_skipped"]


class _DamagedThenFresh:
    """A runner standing in for a worker a native engine damaged: in the first batch a probe
    crashes and `a.tanh()` (missing) fails with no phase recorded; in a new worker, tanh is
    refused while building, as it is."""

    worker_graphs = 0

    def __init__(self) -> None:
        self.batches = 0

    def fresh(self) -> bool:
        return True

    def run(self, graphs: list[Graph], deadline: float | None = None) -> list[Any]:
        from gradoracle.fuzz.adapters import ImplResult, Outcome

        self.batches += 1
        results = []
        for graph in graphs:
            op = graph.nodes[graph.output].op
            if op == "tanh":
                phase = "" if self.batches == 1 else BUILD
                error = "AttributeError: 'Value' object has no attribute 'tanh'"
                results.append(ImplResult("exception", None, error, 0.0, phase))
            elif op == "add" and self.batches == 1:
                results.append(ImplResult("crash", None, "worker died (signal SIGSEGV)", 0.0))
            else:
                results.append(ImplResult("ok", Outcome(1.0, (1.0,) * len(graph.inputs)), "", 0.0))
        return results


def test_a_damaged_worker_does_not_make_a_missing_op_offered() -> None:
    adapter = load_adapter("engine:Value")
    oracle = Oracle(adapter, None, _DamagedThenFresh())  # type: ignore[arg-type]
    probed = run_probe(oracle)
    assert Spelling("tanh", "v") in probed.refused
    assert not any(s.op == "tanh" for s in probed.offered)


def test_ints_as_people_write_them_are_probed_where_the_engine_takes_them() -> None:
    (floor,) = int_leaf_graphs(Spelling("div", "vc", INT))
    assert [n.value for n in floor.nodes[:2]] == [7, 2]
    assert [type(n.value) for n in floor.nodes[:2]] == [int, int]
    assert int_leaf_graphs(Spelling("div", "vc", FLOAT)) == []
    (tanh,) = int_leaf_graphs(Spelling("tanh", "v"))
    assert tanh.nodes[0].value == 7 and type(tanh.nodes[0].value) is int


def test_an_engine_that_floors_int_division_is_caught_by_the_probe() -> None:
    adapter = ValueClassAdapter(FloorsInts, "planted_engines:FloorsInts")
    oracle = Oracle(adapter, JaxReference(), InProcess(adapter))
    probed = run_probe(oracle)
    graphs = [g for g, _ in probed.judged]
    verdicts = oracle.verdicts(graphs, [r for _, r in probed.judged])
    failing = [g for g, v in zip(graphs, verdicts, strict=True) if v.status == "fail"]
    assert failing and all(any(n.op == "div" for n in g.nodes) for g in failing)
