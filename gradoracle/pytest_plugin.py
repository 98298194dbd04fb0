"""The pytest plugin: gradoracle's property suite in any project's test run.

Installed with the package (a `pytest11` entry point named `gradoracle.pytest_plugin`), it does
nothing until an implementation under test is named:

    pytest --gradoracle-impl mymodule:Value          # on the command line, or
    [tool.pytest.ini_options]
    gradoracle_impl = "mymodule:Value"               # in pyproject.toml (pytest.ini: same key)

Then the suite's test files (`gradoracle/suite/test_*.py`, inside the installed package) join the
run beside the project's own tests, and check that class (or `Adapter`). `MODULE` is imported
with the current directory on `sys.path`. Which runs get the suite: every run that collects the
project's default paths (a plain `pytest`), and any run given `--gradoracle-impl` on its command
line; a run that names files or directories and relies on the ini option collects only those.

Its hypothesis profiles are its own (`gradoracle-dev`, `gradoracle-ci`, `gradoracle-fuzz`; see
`gradoracle.suite.profiles`), chosen with `--gradoracle-profile`, applied to the suite's tests
only: the project's own profiles and the one it loads stay as they are.

Fixtures for the project's own tests too: `gradoracle_adapter` (the adapter around the class),
`gradoracle_oracle` (adapter + JAX reference + comparator), `gradoracle_supported` (op -> forms
the class offers, probed once) and `gradoracle_jax_reference`.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gradoracle.fuzz.adapters import Adapter
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.reference.jax_ref import JaxReference

SUITE = Path(__file__).resolve().parent / "suite"
IMPL_OPTION = "--gradoracle-impl"
IMPL_INI, IMPL_INI_DASHED = "gradoracle_impl", "gradoracle-impl"
PROFILE_OPTION = "--gradoracle-profile"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradoracle", "gradoracle's property suite")
    group.addoption(
        IMPL_OPTION,
        dest="gradoracle_impl",
        default=None,
        metavar="MODULE:CLASS",
        help="run gradoracle's property suite against this micrograd-shaped class (or Adapter)",
    )
    group.addoption(
        PROFILE_OPTION,
        dest="gradoracle_profile",
        default=None,
        metavar="NAME",
        help="the hypothesis profile of the property suite's tests: gradoracle-dev (default), "
        "gradoracle-ci (default when CI is set), gradoracle-fuzz, or any registered profile",
    )
    help_text = "MODULE:CLASS the property suite checks in runs of the default test paths"
    parser.addini(IMPL_INI, help_text, default="")
    parser.addini(IMPL_INI_DASHED, f"the same as {IMPL_INI}", default="")


def configured_impl(config: pytest.Config) -> str:
    """The implementation under test: the command line's, else the ini file's, else ''."""
    given: str | None = config.getoption("gradoracle_impl")
    if given is not None:
        return given
    spellings = {str(config.getini(IMPL_INI)), str(config.getini(IMPL_INI_DASHED))} - {""}
    if len(spellings) > 1:
        raise pytest.UsageError(
            f"{IMPL_INI} and {IMPL_INI_DASHED} name different classes: {' and '.join(spellings)}"
        )
    return spellings.pop() if spellings else ""


def suite_files() -> list[Path]:
    return sorted(SUITE.glob("test_*.py"))


def _wants_suite(config: pytest.Config) -> bool:
    if not configured_impl(config):
        return False
    named_on_command_line = config.getoption("gradoracle_impl") is not None
    default_paths = config.args_source != pytest.Config.ArgsSource.ARGS
    return named_on_command_line or default_paths


def pytest_configure(config: pytest.Config) -> None:
    profile = config.getoption("gradoracle_profile")
    if profile is None and not configured_impl(config):
        return  # idle: a project that merely has gradoracle installed does not import hypothesis
    from gradoracle.suite import profiles

    if profile is not None:
        try:
            profiles.use_profile(profile)
        except ValueError as e:
            raise pytest.UsageError(f"{PROFILE_OPTION}: {e}") from None
    if _wants_suite(config):
        # The folder, not each file: a file given by itself outside the rootdir gets an empty node
        # id ("::test_x"), a folder's files get "test_x.py::test_x". pytest drops the duplicate
        # when a run names the folder too.
        config.args.append(str(SUITE))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """The suite's files, in a project whose `python_files` patterns would skip them."""
    if file_path.parent != SUITE or file_path not in suite_files():
        return None
    patterns = parent.config.getini("python_files")
    if any(_matches(file_path, pattern) for pattern in patterns):
        return None  # pytest's own collector takes it
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def _matches(path: Path, pattern: str) -> bool:
    """As pytest matches `python_files`: a pattern with a separator against the path's end, one
    without against the file name."""
    if "/" in pattern or os.sep in pattern:
        return fnmatch.fnmatch(str(path), f"*{os.sep}{pattern.replace('/', os.sep)}")
    return fnmatch.fnmatch(path.name, pattern)


def pytest_report_header(config: pytest.Config) -> str | None:
    impl = configured_impl(config)
    if not impl:
        return None
    from gradoracle.suite.profiles import chosen_profile

    return f"gradoracle: implementation under test {impl} (suite profile {chosen_profile()})"


@pytest.fixture(scope="session")
def gradoracle_adapter(pytestconfig: pytest.Config) -> Adapter:
    """The adapter around the implementation under test (`--gradoracle-impl`)."""
    from gradoracle.fuzz.adapters import UsageError, load_adapter

    impl = configured_impl(pytestconfig)
    if not impl:
        pytest.fail(
            f"no implementation under test: give {IMPL_OPTION} MODULE:CLASS or set {IMPL_INI}",
            pytrace=False,
        )
    try:
        return load_adapter(impl)
    except UsageError as e:
        pytest.exit(f"{IMPL_OPTION}: {e}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def gradoracle_jax_reference() -> JaxReference:
    """The JAX float64 reference, its compilations cached on disk across runs and xdist workers."""
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    use_compilation_cache(default_cache_dir())
    return JaxReference()


@pytest.fixture(scope="session")
def gradoracle_oracle(gradoracle_adapter: Adapter, gradoracle_jax_reference: Any) -> Oracle:
    """The implementation under test, the references and the comparator, in this process."""
    from gradoracle.fuzz.oracle import Oracle

    return Oracle(gradoracle_adapter, gradoracle_jax_reference)


@pytest.fixture(scope="session")
def gradoracle_supported(gradoracle_oracle: Oracle) -> dict[str, tuple[str, ...]]:
    """Op -> forms the implementation under test offers (probed once per session)."""
    from gradoracle.fuzz.probe import forms_offered, run_probe

    return dict(forms_offered(run_probe(gradoracle_oracle).offered))
