"""A few catalogue mutants, checked in the default test run: a change that blinds the property suite
(trees instead of DAGs, a looser comparator, a weaker semantics check) fails CI at once, without
waiting for `nox -s mutants`.

Each mutant is applied to a copy of engine/engine.py in a temporary directory and loaded as a module
of its own; the real property tests' bodies then run against it through the oracle, with fixed
settings (derandomized, so the result does not depend on the hypothesis profile). The same checks on
the unmutated engine must pass, so a kill is the mutant's doing and not the harness's.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.reference.compare import FAIL
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parent
ENGINE = TESTS.parent / "engine"

SMOKE_SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalogue() -> ModuleType:
    return _load("gradoracle_mutant_catalogue", TESTS / "mutants" / "catalogue.py")


@pytest.fixture(scope="module")
def properties() -> Callable[[str, str], Any]:
    """The property suite's own test functions (the undecorated bodies of the hypothesis tests)."""

    def body(module: str, name: str) -> Any:
        suite_module = importlib.import_module(f"gradoracle.suite.{module}")
        return getattr(suite_module, name).hypothesis.inner_test

    return body


def _engine_digest() -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(ENGINE.glob("*.py")))).hexdigest()


def _mutant_oracle(
    catalogue: ModuleType, name: str | None, jax_reference: Any, tmp_path: Path
) -> Oracle:
    """An oracle over a copy of engine.py with mutant `name` applied (None: unmutated)."""
    mutant = None if name is None else catalogue.BY_NAME[name]
    package = catalogue.mutated_package(mutant, tmp_path)
    module = _load(
        f"gradoracle_mutant_{(name or 'control').replace('-', '_')}", package / "engine.py"
    )
    assert Path(module.__file__).resolve().is_relative_to(tmp_path.resolve())
    return Oracle(ValueClassAdapter(module.Value, f"mutant:{name}"), jax_reference)


def _check(body: Any, oracle: Oracle) -> None:
    """Run a property's body under SMOKE_SETTINGS on `oracle`'s implementation."""
    ops = list(OPS)

    @SMOKE_SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        kwargs = {"data": data}
        names = body.__code__.co_varnames[: body.__code__.co_argcount]
        for arg, value in (("oracle", oracle), ("adapter", oracle.adapter), ("ops", ops)):
            if arg in names:
                kwargs[arg] = value
        body(**kwargs)

    check()


# -- the catalogue itself --------------------------------------------------------------------------


def test_the_catalogue_has_at_least_25_named_mutants_that_apply_to_the_engine(
    catalogue: ModuleType,
) -> None:
    names = [m.name for m in catalogue.MUTANTS]
    assert len(names) >= 25
    assert len(set(names)) == len(names)
    for mutant in catalogue.MUTANTS:
        assert mutant.description and "\n" not in mutant.description, mutant.name
        source = (ENGINE / mutant.file).read_text()
        mutated = mutant.apply(source)  # raises CatalogueError unless each snippet occurs once
        assert mutated != source, mutant.name
        compile(mutated, f"{mutant.name}:{mutant.file}", "exec")


def test_a_snippet_that_does_not_occur_exactly_once_is_refused(catalogue: ModuleType) -> None:
    mutant = catalogue.Mutant("x", "test", "a test", (catalogue.Edit("    out.grad = 0.0\n", ""),))
    with pytest.raises(catalogue.CatalogueError, match="exactly once"):
        mutant.apply("no such snippet")
    with pytest.raises(catalogue.CatalogueError, match="2 times"):
        mutant.apply("    out.grad = 0.0\n" * 2)


def test_mutants_are_written_to_a_copy_never_to_the_engine(
    catalogue: ModuleType, tmp_path: Path
) -> None:
    before = _engine_digest()
    package = catalogue.mutated_package(catalogue.BY_NAME["overwrite-all"], tmp_path)
    assert "a.grad = node._da * g\n" in (package / "engine.py").read_text()
    assert _engine_digest() == before
    with pytest.raises(catalogue.CatalogueError, match="refusing"):
        catalogue.mutated_package(None, ENGINE.parent)


# -- mutants the property suite must kill ----------------------------------------------------------

KILLS = [
    pytest.param(
        "overwrite-all",
        "test_gradients",
        "test_gradients_match_the_references",
        id="overwrite-vs-references",
    ),
    pytest.param(
        "overwrite-all",
        "test_semantics",
        "test_two_backward_calls_give_twice_the_leaf_gradients",
        id="overwrite-vs-twice",
    ),
    pytest.param(
        "forward-order",
        "test_gradients",
        "test_gradients_match_the_references",
        id="forward-order-vs-references",
    ),
]


@pytest.mark.parametrize(("mutant", "module", "test"), KILLS)
def test_the_property_suite_kills_the_mutant(
    catalogue: ModuleType,
    properties: Callable[[str, str], Any],
    jax_reference: Any,
    tmp_path: Path,
    mutant: str,
    module: str,
    test: str,
) -> None:
    body = properties(module, test)
    _check(body, _mutant_oracle(catalogue, None, jax_reference, tmp_path / "control"))
    with pytest.raises(AssertionError):
        _check(body, _mutant_oracle(catalogue, mutant, jax_reference, tmp_path / "mutant"))


def test_the_comparator_kills_a_derivative_rounded_through_float32(
    catalogue: ModuleType, jax_reference: Any, tmp_path: Path
) -> None:
    """The property suite's judge on fixed sampled graphs: a relative error of ~1e-8 in one local
    derivative must fail, where torch.autograd.gradcheck's rtol 1e-3 would pass it. (On fixed
    graphs: late in a long test session a nested hypothesis run of the property did not surface the
    failures it raised; `nox -s mutants` runs the property itself in a fresh process.)"""
    graphs = sample_graphs(3, 400, SamplerConfig(ops=("tanh", "add", "mul", "sub"), max_ops=8))
    control = _mutant_oracle(catalogue, None, jax_reference, tmp_path / "control")
    mutant = _mutant_oracle(catalogue, "float32-tanh-derivative", jax_reference, tmp_path / "m")
    assert [v.status for _, v in control.judge(graphs)].count(FAIL) == 0
    assert [v.status for _, v in mutant.judge(graphs)].count(FAIL) >= 10
