"""The pytest plugin as another project meets it: a project folder outside this checkout, with
its own tests, hypothesis profiles and configuration, and `pytest --gradoracle-impl` run there in
a fresh process.

The plugin is loaded with `-p gradoracle.pytest_plugin`, which the `pytest11` entry point does by
itself once the package is installed (the entry point has the module's name, so both load it
once); PYTHONPATH points at this checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLANTED = Path(__file__).resolve().parent / "planted_engines.py"

pytestmark = pytest.mark.slow  # every test starts pytest in a new process, JAX and numba included

# The host's own profiles: names the plugin must not touch, and a number it must not change.
HOST_CONFTEST = """
from hypothesis import settings

settings.register_profile("dev", max_examples=7)
settings.register_profile("ci", max_examples=7)
settings.load_profile("dev")
"""
HOST_TESTS = """
from hypothesis import given, settings, strategies as st


def test_host_keeps_its_own_profiles():
    assert settings.get_profile("dev").max_examples == 7
    assert settings.get_profile("ci").max_examples == 7
    assert settings.default.max_examples == 7


@given(st.integers())
def test_host_property(n):
    assert isinstance(n, int)
"""


def make_host(root: Path, pyproject: str = "") -> Path:
    """A project folder: planted_engines.py (engines to check), a conftest with its own hypothesis
    profiles, its own tests, and a pyproject.toml (so that pytest's rootdir is here)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLANTED, root / "planted_engines.py")
    (root / "conftest.py").write_text(HOST_CONFTEST)
    (root / "test_host.py").write_text(HOST_TESTS)
    (root / "pyproject.toml").write_text(pyproject or '[project]\nname = "host"\n')
    return root


def pytest_in(
    host: Path, *argv: str, ci: bool = False, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    env["GRADORACLE_PICTURES"] = str(host / "pictures")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gradoracle.pytest_plugin", *argv],
        cwd=host, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def collected(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The node ids `pytest --co -q` listed."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


def suite_ids(ids: list[str]) -> list[str]:
    return [i for i in ids if not i.startswith("test_host.py")]


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """{'passed': 42, 'failed': 1, ...} from pytest's last line."""
    last = proc.stdout.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", last)}


def test_the_suite_fails_on_an_engine_that_overwrites_gradients(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    # As in a project that installed gradoracle[fuzz] without [viz]: no graphviz package.
    with (host / "conftest.py").open("a") as conftest:
        conftest.write("\nimport sys\n\nsys.modules['graphviz'] = None  # import fails\n")
    proc = pytest_in(
        host,
        "--gradoracle-impl", "planted_engines:OverwriteMul",
        "-k", "host or test_gradients_match_the_references", "-rA",
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-2000:]
    assert "FAILED test_gradients.py::test_gradients_match_the_references" in out
    assert "PASSED test_host.py::test_host_keeps_its_own_profiles" in out
    assert "PASSED test_host.py::test_host_property" in out
    # The shrunk graph as a runnable snippet, and the per-leaf table.
    assert "planted_engines:OverwriteMul: wrong x" in out
    assert "from planted_engines import OverwriteMul" in out
    assert "out.backward()" in out
    assert "| quantity | implementation | JAX | finite difference | exact | verdict |" in out
    assert "picture: (the graphviz package is not installed: no picture" in out
    # The failing example is in the host's example database, as hypothesis keeps it by default.
    database = host / ".hypothesis" / "examples"
    assert database.is_dir() and any(database.iterdir())


def test_the_suite_passes_on_a_correct_engine_beside_the_hosts_own_tests(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    (host / "test_host_fixture.py").write_text(
        "def test_host_can_use_the_adapter(gradoracle_adapter):\n"
        "    assert gradoracle_adapter.name == 'planted_engines:ClosureValue'\n"
    )
    proc = pytest_in(
        host,
        "--gradoracle-impl", "planted_engines:ClosureValue",
        "-rA", "--hypothesis-show-statistics",
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    counts = summary(proc)
    assert counts["passed"] >= 40, out[-1000:]
    for name in ("test_host_keeps_its_own_profiles", "test_host_property"):
        assert f"PASSED test_host.py::{name}" in out
    assert "PASSED test_host_fixture.py::test_host_can_use_the_adapter" in out
    assert "PASSED test_gradients.py::test_gradients_match_the_references" in out
    assert "PASSED test_semantics.py::test_two_backward_calls_give_twice_the_leaf_gradients" in out
    # The host's hypothesis test ran under the host's profile, the suite's under gradoracle-dev.
    host_stats = out.split("test_host.py::test_host_property:")[1].split("::")[0]
    assert "settings.max_examples=7" in host_stats
    suite_stats = out.split("::test_gradients_match_the_references:")[1].split("\n::")[0]
    assert "settings.max_examples=25" in suite_stats
    assert "gradoracle: implementation under test planted_engines:ClosureValue" in out


def test_the_ini_option_adds_the_suite_to_a_plain_pytest_run(tmp_path: Path) -> None:
    config = '[tool.pytest.ini_options]\ngradoracle_impl = "planted_engines:ClosureValue"\n'
    host = make_host(tmp_path / "host", config)
    everything = collected(pytest_in(host, "--co", "-q"))
    assert "test_host.py::test_host_property" in everything
    assert "test_gradients.py::test_gradients_match_the_references" in everything
    assert len(suite_ids(everything)) >= 40
    # Naming a file runs that file only: the ini option does not add the suite to every run ...
    assert collected(pytest_in(host, "--co", "-q", "test_host.py")) == [
        "test_host.py::test_host_keeps_its_own_profiles",
        "test_host.py::test_host_property",
    ]
    # ... the command-line option does.
    named = collected(
        pytest_in(host, "--co", "-q", "test_host.py", "--gradoracle-impl", "planted_engines:NoTanh")
    )
    assert sorted(suite_ids(named)) == sorted(suite_ids(everything))


def test_the_ini_option_is_also_spelled_with_a_dash_in_pytest_ini(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    (host / "pytest.ini").write_text("[pytest]\ngradoracle-impl = planted_engines:ClosureValue\n")
    proc = pytest_in(host, "--co", "-q")
    assert "test_semantics.py::test_wide_fan_out_accumulates_every_use" in collected(proc)


def test_without_an_implementation_the_plugin_adds_nothing(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    (host / "test_host_fixture.py").write_text(
        "def test_asks_for_the_adapter(gradoracle_adapter):\n    pass\n"
    )
    assert suite_ids(collected(pytest_in(host, "--co", "-q"))) == [
        "test_host_fixture.py::test_asks_for_the_adapter"
    ]
    proc = pytest_in(host, "-q", "test_host_fixture.py")
    assert proc.returncode == 1
    assert "no implementation under test: give --gradoracle-impl MODULE:CLASS" in proc.stdout


def test_the_suite_is_collected_whatever_the_hosts_file_patterns(tmp_path: Path) -> None:
    config = '[tool.pytest.ini_options]\npython_files = ["check_*.py"]\n'
    host = make_host(tmp_path / "host", config)
    ids = collected(pytest_in(host, "--co", "-q", "--gradoracle-impl", "planted_engines:NoTanh"))
    assert not any(i.startswith("test_host.py") for i in ids)  # the host's patterns, its files
    assert len(ids) == len(set(ids)) >= 40
    assert "test_explicit_cases.py::test_distinct_nodes_with_equal_values_stay_distinct" in ids


def test_the_suites_profile_follows_ci_and_the_option(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    impl = ("--gradoracle-impl", "planted_engines:ClosureValue", "--co")  # -q hides the header

    def header(*argv: str, ci: bool = False) -> str:
        proc = pytest_in(host, *impl, *argv, ci=ci)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        found = re.search(r"gradoracle: implementation under test .*", proc.stdout)
        assert found, proc.stdout[:2000]
        return found.group(0)

    assert header().endswith("(suite profile gradoracle-dev)")
    assert header(ci=True).endswith("(suite profile gradoracle-ci)")
    assert header("--gradoracle-profile", "gradoracle-fuzz").endswith("gradoracle-fuzz)")
    # A host's profile may be named too: the host's conftest registered `dev`.
    assert header("--gradoracle-profile", "dev").endswith("(suite profile dev)")


def test_usage_errors_name_the_problem_and_exit_4(tmp_path: Path) -> None:
    host = make_host(tmp_path / "host")
    proc = pytest_in(host, "-q", "--gradoracle-impl", "nope_xyz:Value", "-k", "test_gradients")
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert "--gradoracle-impl: cannot import module 'nope_xyz'" in proc.stdout + proc.stderr
    proc = pytest_in(
        host, "--co", "-q", "--gradoracle-impl", "planted_engines:NoTanh",
        "--gradoracle-profile", "nope",
    )  # fmt: skip
    assert proc.returncode == 4
    assert "--gradoracle-profile: no hypothesis profile named 'nope'" in proc.stderr
    host_ini = make_host(tmp_path / "both")
    (host_ini / "pytest.ini").write_text(
        "[pytest]\ngradoracle_impl = planted_engines:NoTanh\n"
        "gradoracle-impl = planted_engines:ClosureValue\n"
    )
    proc = pytest_in(host_ini, "--co", "-q")
    assert proc.returncode == 4
    assert "gradoracle_impl and gradoracle-impl name different classes" in proc.stderr


def test_this_checkouts_own_pytest_runs_the_suite_on_the_project_engine() -> None:
    def ids(*argv: str) -> list[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--co", "-q", *argv],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return [line for line in proc.stdout.splitlines() if "::" in line]

    suite = "gradoracle/suite/test_gradients.py::test_gradients_match_the_references"
    assert suite in ids()  # a plain `pytest`: testpaths, and the suite from pyproject's ini
    assert suite not in ids("tests/engine/test_values.py")  # one file: that file
    assert suite in ids("tests/engine/test_values.py", "--impl", "planted_engines:ClosureValue")
