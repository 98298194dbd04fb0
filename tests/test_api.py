"""The public Python API: `gradoracle.check` and `gradoracle.strategies`, used as another
project's code would use them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leafless_adapter import LeaflessAdapter
from planted_engines import ClosureValue, OverwriteMul

import gradoracle
from gradoracle import Report, UsageError, check
from gradoracle.api import worker_spec
from gradoracle.reference.finite_diff import finite_diff
from gradoracle.reference.graph import Graph, build
from gradoracle.strategies import OP_NAMES, graphs, input_values, ops_subset, target_graph

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
BUDGET = 5.0


def python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)])
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_importing_gradoracle_and_its_check_imports_nothing_heavy() -> None:
    heavy = "('jax', 'numba', 'hypothesis', 'mpmath', 'engine')"
    seen = f"print(sorted(m for m in {heavy} if m in sys.modules))"
    proc = python(f"import sys, gradoracle; {seen}; from gradoracle import check, Report; {seen}")
    assert proc.returncode == 0, proc.stderr
    # `import gradoracle` imports nothing third-party; `check` brings the registry (mpmath), and
    # JAX, numba and hypothesis only when a check runs.
    assert proc.stdout.split() == ["[]", "['mpmath']"]


def test_a_missing_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'chekc'"):
        gradoracle.chekc  # noqa: B018
    assert {"check", "Report", "UsageError", "Adapter"} <= set(dir(gradoracle))


@pytest.mark.slow
def test_check_finds_the_overwrite_bug_and_reports_what_the_json_report_has(tmp_path: Path) -> None:
    report = check(OverwriteMul, budget=BUDGET, seed=0)
    assert isinstance(report, Report)
    assert (report.verdict, report.exit_code) == ("findings", 1)
    assert report.impl == "planted_engines:OverwriteMul"
    assert report.findings and report.bugs == len(report.findings)
    first = report.findings[0]
    assert set(first) == {"category", "reason", "error", "count", "graph", "snippet", "quantities"}
    assert "from planted_engines import OverwriteMul" in first["snippet"]
    assert "Finding 1:" in report.text and "| quantity | implementation |" in report.text
    # The same keys as the command's --json, and the same values where the run decides them.
    from_api = json.loads(report.to_json())
    proc = subprocess.run(
        [sys.executable, "-m", "gradoracle", "check", "planted_engines:OverwriteMul",
         "--budget", str(BUDGET), "--json"],
        cwd=TESTS, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    from_cli = json.loads(proc.stdout)
    assert set(from_api) == set(from_cli)
    for key in ("impl", "seed", "budget", "ops_covered", "ops_skipped", "spellings_used"):
        assert from_api[key] == from_cli[key], key


@pytest.mark.slow
def test_check_passes_a_correct_engine_in_this_process() -> None:
    report = check(ClosureValue, budget=BUDGET, seed=1, isolate=False)
    assert (report.verdict, report.exit_code) == ("clean", 0), report.text
    assert report.findings == [] and report.graphs_checked > 0
    assert report.seed == 1 and report.budget == BUDGET
    assert set(report.ops_covered) == set(OP_NAMES)
    assert report.as_dict()["graphs_checked"] == report.graphs_checked
    # A key a newer JSON report has and Report has no field for: an attribute, and in the JSON.
    newer = Report.from_json(report.verdict, report.text, {**report.as_dict(), "extra_key": [1]})
    assert newer.extra_key == [1]
    assert json.loads(newer.to_json())["extra_key"] == [1]
    with pytest.raises(AttributeError, match="no attribute 'missing_key'"):
        newer.missing_key  # noqa: B018


@pytest.mark.slow
def test_a_class_no_worker_can_import_runs_in_this_process() -> None:
    class Local(ClosureValue):
        pass

    report = check(Local, budget=2.0, max_graphs=50)
    assert report.verdict == "clean", report.text
    assert report.impl.endswith("Local")
    with pytest.raises(UsageError, match="a worker process cannot import it by name"):
        check(Local, budget=2.0, isolate=True)


def test_a_worker_imports_what_is_importable_by_name() -> None:
    class Local(ClosureValue):
        pass

    assert worker_spec(OverwriteMul) == "planted_engines:OverwriteMul"
    assert worker_spec(LeaflessAdapter) == "leafless_adapter:LeaflessAdapter"
    assert worker_spec("mymodule:Value") == "mymodule:Value"
    assert worker_spec(LeaflessAdapter()) is None  # an instance: only this process has it
    assert worker_spec(Local) is None


@pytest.mark.slow
def test_an_adapter_class_is_checked_in_a_worker() -> None:
    report = check(LeaflessAdapter, budget=BUDGET)
    assert report.verdict == "clean", report.text
    assert report.impl == "leafless_adapter:LeaflessAdapter"


def test_bad_arguments_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="budget must be a positive number of seconds"):
        check(ClosureValue, budget=0)
    with pytest.raises(ValueError, match="budget must be a positive"):
        check(ClosureValue, budget=math.inf)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        check(ClosureValue, seed=-1)
    with pytest.raises(TypeError, match="takes a Value class, an Adapter, or 'MODULE:CLASS'"):
        check(42)
    with pytest.raises(UsageError, match="cannot import module 'nope_xyz'"):
        check("nope_xyz:Value")
    with pytest.raises(UsageError, match="--accept takes NAME=ALTERNATIVE"):
        check(ClosureValue, accept=["relu=2"])


# ---- the strategies, composed in a test of another suite's own ------------------------------

SMALL_OPS = ("add", "mul", "tanh", "sub")
FRESH = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def gradients_agree(graph: Graph, cls: Any) -> None:
    """The engine's gradients against central differences, within their error estimates."""
    inputs, out = build(graph, cls)
    out.backward()
    for x, estimate in zip(inputs, finite_diff(graph).estimates, strict=True):
        if estimate.usable:
            tolerance = 10 * estimate.error + 1e-8 * (1 + abs(estimate.grad))
            assert abs(x.grad - estimate.grad) <= tolerance, graph.to_snippet()


def few_op_graphs() -> st.SearchStrategy[Graph]:
    return ops_subset(SMALL_OPS).flatmap(
        lambda ops: graphs(ops=ops, max_ops=6, max_inputs=2, wide=False)
    )


@FRESH
@given(graph=few_op_graphs(), scale=input_values(min_value=0.5, max_value=2.0))
def test_composed_strategies_draw_graphs_over_the_chosen_ops(graph: Graph, scale: float) -> None:
    used = {node.op for node in graph.nodes if node.op is not None}
    assert used <= set(SMALL_OPS)
    assert 0.5 <= scale <= 2.0
    target_graph(graph)
    gradients_agree(graph, ClosureValue)


def test_composed_strategies_catch_an_overwriting_engine() -> None:
    @FRESH
    @given(graph=few_op_graphs())
    def overwriting(graph: Graph) -> None:
        gradients_agree(graph, OverwriteMul)

    with pytest.raises(AssertionError):
        overwriting()


def test_the_public_strategies_reject_unknown_ops() -> None:
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="unknown op 'softmax'"):
        graphs(ops=["softmax"]).example()
