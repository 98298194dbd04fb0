"""Engines spelled differently (fuzz.spellings): names detected by presence and behaviour, named
with --spelling, and carried through building, the worker, the probe, snippets and reports. The
engines are in tests/spelled_engines.py."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import gradoracle_json, run_snippet, run_usage
from planted_engines import ClosureValue
from spelled_engines import (
    Ambiguous,
    DeadBackward,
    GradMethod,
    Nameless,
    Num,
    StaleData,
    TwoBackwards,
    TwoTanhs,
    WrongTanh,
)

from gradoracle.cli.common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from gradoracle.fuzz.adapters import UsageError, ValueClassAdapter, load_adapter
from gradoracle.fuzz.battery import run_battery
from gradoracle.fuzz.battery_graphs import chain_snippet
from gradoracle.fuzz.check import CheckResult
from gradoracle.fuzz.findings import Stats
from gradoracle.fuzz.html_report import write_report
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.probe import Spelling, run_probe
from gradoracle.fuzz.report import result_json, summary_text
from gradoracle.fuzz.runner import InProcess
from gradoracle.fuzz.snippets import graph_snippet
from gradoracle.fuzz.spellings import (
    METHOD_OPS,
    MICROGRAD,
    SpellingError,
    Spellings,
    detect,
    parse_pairs,
)
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parents[1]
NUM = "spelled_engines:Num"
SPELLED = {
    "backward": "backwards",
    "grad": "gradient",
    "data": "value",
    "tanh": "Tanh",
    "exp": "exponential",
    "log": "ln",
    "relu": "reLU",
    "sigmoid": "sigmod",
    "sin": "sine",
    "cos": "cosine",
    "sqrt": "square_root",
}
MICROGRAD_NAMES = {key: key for key in SPELLED}
# A micrograd-spelled name anywhere in a snippet: `.backward(`, `.grad`, `.data`, `.log(`, ...
MICROGRAD_CALL = re.compile(r"\.(backward\(|grad\b|data\b|(" + "|".join(METHOD_OPS) + r")\()")
# What --json printed before engines could be spelled differently (with the conventions' `bugs`
# and `conventions`); `spellings_used`, `interrupted` (null for a run not interrupted) and
# `cpu_split` (fuzz.cpu_split) are new.
KEYS_BEFORE = {"bugs", "conventions",
    "impl", "seed", "budget", "graphs_checked", "not_comparable", "not_comparable_reasons",
    "notes", "replayed", "replayed_failing", "findings", "ops_covered", "ops_skipped", "seconds",
    "cpu_seconds", "impl_seconds", "reference_seconds", "sample_seconds", "compare_seconds",
    "shrink_seconds", "battery_seconds", "first_finding_seconds", "spellings_refused", "coverage",
}  # fmt: skip
# Added later: the names used, and what `check --junit-xml` reads (spellings fuzzed, battery cases).
KEYS_SINCE = {"spellings_used", "spellings_offered", "battery", "interrupted", "cpu_split"}
# log, a product reusing x0, then tanh: a method op renamed in two places.
GRAPH = Graph(
    (Node.input(2.0), Node.apply("log", 0), Node.apply("mul", 1, 0), Node.apply("tanh", 2))
)


# ---- detection ----------------------------------------------------------------------------------


def test_an_engine_spelled_otherwise_is_detected() -> None:
    assert detect(Num, NUM).as_dict() == SPELLED


def test_an_engine_spelled_like_micrograd_keeps_micrograd_names() -> None:
    assert detect(ClosureValue, "planted_engines:ClosureValue") == MICROGRAD


@pytest.mark.parametrize(
    ("cls", "key", "name"),
    [
        (GradMethod, "grad", "gradient"),  # `.grad` is a method: never the gradient
        (TwoBackwards, "backward", "backward"),  # both work: micrograd's name wins
        (DeadBackward, "backward", "backwards"),  # micrograd's does nothing: the one that works
        (StaleData, "data", "value"),  # both read 1.5 on a leaf; only one is right on an output
        (TwoTanhs, "tanh", "TANH"),  # two present: the one with tanh's value
        (WrongTanh, "tanh", "Tanh"),  # the only one, wrong: used, and the oracle judges it
    ],
)
def test_behaviour_chooses_between_present_names(cls: type, key: str, name: str) -> None:
    assert detect(cls, f"spelled_engines:{cls.__name__}").as_dict()[key] == name


def test_several_working_names_ask_for_the_flag() -> None:
    with pytest.raises(SpellingError) as raised:
        detect(Ambiguous, "spelled_engines:Ambiguous")
    message = str(raised.value)
    assert "backwards(), backprop()" in message and "--spelling backward=NAME" in message
    assert "\n" not in message


def test_no_name_at_all_says_what_was_tried() -> None:
    with pytest.raises(SpellingError, match=r"tried backward, backwards, backprop, back_prop, "):
        detect(Nameless, "spelled_engines:Nameless")


def test_given_names_win_and_must_exist() -> None:
    chosen = detect(Ambiguous, "spelled_engines:Ambiguous", {"backward": "backprop"})
    assert chosen.backward == "backprop" and chosen.method("log") == "ln"
    assert detect(Num, NUM, {"data": "value", "tanh": "sigmod"}).method("tanh") == "sigmod"
    with pytest.raises(SpellingError, match=r"--spelling log=logarithm: .* no method 'logarithm'"):
        detect(Num, NUM, {"log": "logarithm"})
    with pytest.raises(SpellingError, match="no attribute 'grad'"):
        detect(Num, NUM, {"grad": "grad"})


def test_flag_values_are_parsed_and_checked() -> None:
    assert parse_pairs("backward=backwards, log=ln") == {"backward": "backwards", "log": "ln"}
    for text, message in [
        ("colour=red", "unknown key 'colour'"),
        ("log", "expected KEY=NAME"),
        ("data=a.b", "not an attribute name"),
        ("log=ln,log=Ln", "log named twice"),
    ]:
        with pytest.raises(SpellingError, match=message):
            parse_pairs(text)


def test_the_candidate_names_are_the_registrys() -> None:
    assert METHOD_OPS == ("tanh", "exp", "log", "relu", "sigmoid", "sin", "cos", "sqrt")
    for name in METHOD_OPS:
        assert OPS[name].method_names[0] == name  # micrograd's own name first
    assert {"ln", "Log"} <= set(OPS["log"].method_names)
    assert OPS["neg"].method_names == ()  # an operator: no name to detect
    with pytest.raises(ValueError, match="operator"):
        OPS["add"].call_as("plus")


def test_the_readme_lists_the_registrys_names() -> None:
    readme = (TESTS.parent / "README.md").read_text()
    for name in METHOD_OPS:
        shown = ", ".join(f"`{n}()`" for n in OPS[name].method_names)
        assert f"\n| {name} | {shown} |\n" in readme, name


# ---- building with the names: probe, worker ------------------------------------------------------


def test_the_probe_offers_renamed_methods_under_the_engines_names() -> None:
    def unary(adapter: ValueClassAdapter) -> tuple[set[str], set[str]]:
        result = run_probe(Oracle(adapter, reference=None, runner=InProcess(adapter)))  # type: ignore[arg-type]
        return {s.op for s in result.offered if s.form == "v"}, {s.op for s in result.refused}

    operators = {op.name for op in OPS.values() if op.arity == 1 and not op.method_names}
    assert operators == {"neg", "abs"}  # -a, abs(a): no name to detect
    assert unary(ValueClassAdapter(Num, NUM, detect(Num, NUM))) == (
        {*operators, *METHOD_OPS},
        set(),
    )
    # The same class under micrograd's names lacks them all: not offered, so never checked.
    assert unary(ValueClassAdapter(Num, NUM)) == (operators, set(METHOD_OPS))


def test_the_worker_builds_with_the_parents_spellings() -> None:
    sent = Spellings("backprop", "gradient", "value", {"log": "ln", "tanh": "Tanh"})
    with IsolatedImpl("spelled_engines:Ambiguous", spellings=sent) as impl:
        (result,) = impl.run([GRAPH])
    assert result.status == "ok", result.error
    assert result.outcome is not None
    assert math.isclose(result.outcome.value, math.tanh(2.0 * math.log(2.0)), rel_tol=1e-12)
    # Left to itself the worker would detect, and find the class ambiguous.
    with pytest.raises(UsageError, match="backprop"):
        IsolatedImpl("spelled_engines:Ambiguous")


# ---- snippets and reports ------------------------------------------------------------------------


def test_snippets_are_written_in_the_engines_names() -> None:
    adapter = load_adapter(NUM)
    assert graph_snippet(GRAPH, adapter) == (
        "from spelled_engines import Num\n\nx0 = Num(2.0)\nv1 = x0.ln()\nv2 = v1 * x0\n"
        "v3 = v2.Tanh()\nout = v3\nout.backwards()\nprint('out.value =', float(out.value))\n"
        "print('x0.gradient =', float(x0.gradient))\n"
    )
    loop = chain_snippet(Spelling("log", "v"), 3, adapter)
    assert "    v1 = y.ln()\n    v2 = v1.exponential()\n" in loop and "y.backwards()" in loop
    assert not MICROGRAD_CALL.search(loop)
    ran = run_snippet(loop, TESTS)  # it runs as printed and shows the right answers
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "y.value = 0.5   expected 0.5\nx0.gradient = 1.0   expected 1.0\n"


def test_micrograd_spelled_snippets_are_as_before() -> None:
    adapter = load_adapter("planted_engines:ClosureValue")
    # Printed by the oracle before engines could be spelled differently.
    assert graph_snippet(GRAPH, adapter) == (
        "from planted_engines import ClosureValue\n\nx0 = ClosureValue(2.0)\nv1 = x0.log()\n"
        "v2 = v1 * x0\nv3 = v2.tanh()\nout = v3\nout.backward()\n"
        "print('out.data =', float(out.data))\nprint('x0.grad =', float(x0.grad))\n"
    )
    assert chain_snippet(Spelling("log", "v"), 3, adapter) == (
        "from planted_engines import ClosureValue\n\nx0 = ClosureValue(0.5)\ny = x0\n"
        "for _ in range(3):\n    v1 = y.log()\n    v2 = v1.exp()\n    y = v2\ny.backward()\n"
        "print('y.data =', y.data, '  expected 0.5')\n"
        "print('x0.grad =', x0.grad, '  expected 1.0')\n"
    )


def test_battery_snippets_call_the_engines_backward(jax_reference: Any) -> None:
    # The two-roots snippet adds a first backward call in front of the last one: found by the
    # engine's name, not by micrograd's (`backprop` does not start with `backward`).
    spec = "spelled_engines:OverwriteBackprop"
    adapter = load_adapter(spec)
    assert adapter.spellings.backward == "backprop"
    oracle = Oracle(adapter, jax_reference, InProcess(adapter))
    findings = run_battery(oracle, run_probe(oracle).offered, 3.0, time.monotonic() + 30.0)
    (two_roots,) = [f for f in findings if f.category == "two roots"]
    assert "v2.backprop()  # first root\nout.backprop()\n" in two_roots.snippet
    ran = run_snippet(two_roots.snippet, TESTS)
    assert ran.returncode == 0 and "<-- wrong" in ran.stdout, (ran.stdout, ran.stderr)
    for finding in findings:
        assert not MICROGRAD_CALL.search(finding.snippet), finding.snippet


def _result(spec: str) -> CheckResult:
    return CheckResult(spec, 0, 1.0, Stats(), [], {"add": ("vv",)})


def test_reports_say_which_spellings_were_used(tmp_path: Path) -> None:
    spelled, plain = load_adapter(NUM), load_adapter("planted_engines:ClosureValue")
    summary = summary_text(_result(NUM), spelled)
    assert (
        "\nspellings: backwards() for backward, .gradient for grad, .value for data, Tanh() for "
        "tanh, exponential() for exp, ln() for log, reLU() for relu, sigmod() for sigmoid, "
        "sine() for sin, cosine() for cos, square_root() for sqrt\n"
    ) in summary
    assert "spellings:" not in summary_text(_result("planted_engines:ClosureValue"), plain)
    assert result_json(_result(NUM), spelled)["spellings_used"] == SPELLED
    report = result_json(_result("planted_engines:ClosureValue"), plain)
    assert set(report) == KEYS_BEFORE | KEYS_SINCE
    assert report["spellings_used"] == MICROGRAD_NAMES
    page = write_report(_result(NUM), spelled, tmp_path).read_text()
    assert "Spellings used: <code>backward: backwards, grad: gradient, data: value" in page


# ---- end to end: `gradoracle check` in a fresh process -------------------------------------------


def test_a_correct_engine_spelled_otherwise_passes() -> None:
    code, report = gradoracle_json("check", NUM, "--budget", "6", "--json", cwd=TESTS)
    assert code == EXIT_CLEAN, report["findings"]
    assert report["spellings_used"] == SPELLED
    assert report["ops_skipped"] == []  # every renamed method op was found and checked
    assert report["graphs_checked"] > 0


def snippets_run_as_printed(spec: str) -> list[dict[str, Any]]:
    """`check SPEC`'s findings, each snippet in the engine's own spellings and run as printed
    (a graph's snippet marking what is wrong)."""
    code, report = gradoracle_json("check", spec, "--budget", "6", "--json", cwd=TESTS)
    assert code == EXIT_FINDINGS
    findings: list[dict[str, Any]] = report["findings"]
    assert findings
    for finding in findings:
        snippet = finding["snippet"]
        assert not MICROGRAD_CALL.search(snippet), snippet
        assert "backwards()" in snippet and ".gradient" in snippet
        ran = run_snippet(snippet, TESTS)
        if finding["category"] == "exception":  # it raises as the check saw it raise
            assert finding["error"] and finding["error"] in ran.stderr, (snippet, ran.stderr)
            continue
        assert ran.returncode == 0, (snippet, ran.stderr)
        if finding["graph"] is not None:
            assert "<-- wrong" in ran.stdout, (snippet, ran.stdout)
    return findings


def test_its_overwriting_twin_fails_with_snippets_that_run_as_printed() -> None:
    snippets_run_as_printed("spelled_engines:OverwriteNum")


def test_a_renamed_method_is_called_by_its_name_in_the_snippets() -> None:
    """Every finding of an engine whose only tanh, `Tanh()`, is wrong has a graph with that op:
    its snippet calls `.Tanh()`. (The overwriting twin's findings shrink to graphs of `+` and `*`
    mostly, with a method op in them or not depending on the run.)"""
    findings = snippets_run_as_printed("spelled_engines:WrongTanh")
    with_graph = [f["snippet"] for f in findings if f["graph"] is not None]
    assert with_graph and all(".Tanh()" in snippet for snippet in with_graph), with_graph


def test_a_micrograd_spelled_engine_reports_as_before() -> None:
    code, report = gradoracle_json(
        "check", "planted_engines:ClosureValue", "--budget", "4", "--json", cwd=TESTS
    )
    assert code == EXIT_CLEAN, report["findings"]
    assert set(report) == KEYS_BEFORE | KEYS_SINCE
    assert report["spellings_used"] == MICROGRAD_NAMES


def test_an_ambiguous_engine_asks_for_the_flag_then_runs_with_it() -> None:
    proc = run_usage("gradoracle", "check", "spelled_engines:Ambiguous", cwd=TESTS)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "backwards(), backprop()" in proc.stderr
    assert "--spelling backward=NAME" in proc.stderr
    code, report = gradoracle_json(
        "check", "spelled_engines:Ambiguous", "--spelling", "backward=backprop", "--budget", "4",
        "--json", cwd=TESTS,
    )  # fmt: skip
    assert code == EXIT_CLEAN, report["findings"]
    assert report["spellings_used"] == SPELLED | {"backward": "backprop"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([NUM, "--spelling", "colour=red"], "unknown key 'colour'"),
        ([NUM, "--spelling", "log=logarithm"], "have no method 'logarithm'"),
        ([NUM, "--spelling", "backward"], "expected KEY=NAME"),
        ([NUM, "--spelling", "data=a.b"], "not an attribute name"),
        ([NUM, "--spelling", "grad=gradient", "--spelling", "grad=g"], "grad named twice"),
        # An adapter drives its engine its own way: there is nothing to name.
        (["gradoracle.fuzz.torch_adapter:TorchAdapter", "--spelling", "log=ln"], "Adapter"),
    ],
)
def test_bad_spelling_flags_are_one_line_usage_errors(argv: list[str], message: str) -> None:
    proc = run_usage("gradoracle", "check", *argv, cwd=TESTS)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
