"""examples/downstream as its users run it: the folder copied outside this checkout, its own
noxfile run there by nox, which installs a wheel built from this checkout (not an editable install)
into a fresh virtualenv, so that nothing unpackaged is found by accident: the pytest plugin comes
from the wheel's entry point, the property suite from the installed package, and `engine` is the
example's own engine.py, not the wheel's reference engine of the same name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "downstream"

pytestmark = pytest.mark.slow  # a wheel, two virtualenvs, JAX installed from pip's cache

# The example's engine accumulates a product's gradients; the planted bug overwrites them.
ACCUMULATES = "            self.grad += other.data * out.grad\n"
OVERWRITES = "            self.grad = other.data * out.grad\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a wheel built from this checkout, a nox executable in a virtualenv of its own)."""
    where = tmp_path_factory.mktemp("downstream-tools")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(where), str(ROOT)],
        check=True, timeout=600, env=_clean_env(),
    )  # fmt: skip
    (wheel,) = where.glob("gradoracle-*.whl")
    venv.create(where / "nox-venv", with_pip=True)
    pip = where / "nox-venv" / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", "nox"], check=True, timeout=600)
    return wheel, where / "nox-venv" / "bin" / "nox"


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would find the checkout: PYTHONPATH, pytest's
    and nox's variables, a virtualenv's activation."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_", "NOX_", "GRADORACLE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


def _run_example(project: Path, nox: Path, wheel: Path, *nox_args: str) -> str:
    proc = subprocess.run(
        [str(nox), "-f", "noxfile.py", *nox_args],
        cwd=project, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL,
        env=_clean_env(GRADORACLE=str(wheel), GRADORACLE_BUDGET="5"),
    )  # fmt: skip
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_the_downstream_example_checks_its_own_engine_from_a_wheel(
    tmp_path: Path, installed: tuple[Path, Path]
) -> None:
    import junitparser

    wheel, nox = installed
    project = tmp_path / "downstream"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".nox", "__pycache__"))
    assert ROOT not in project.parents

    clean = _run_example(project, nox, wheel)
    assert clean.startswith("exit 0\n"), clean[-4000:]
    assert "gradoracle-0.1.0" in clean  # pytest's header: the plugin, loaded by its entry point
    assert "test_a_reused_node_accumulates_its_gradient PASSED" in clean or " passed" in clean
    xml = junitparser.JUnitXml.fromfile(str(project / "oracle.xml"))
    suites = list(xml)
    assert suites and all(s.failures == 0 and s.errors == 0 for s in suites), clean[-4000:]
    # The engine checked is the example's: it has no log, so the probe skips log's spelling
    # (the wheel's own engine, of the same module name, has log).
    probe = {c.name: c for s in suites for c in s if c.classname.endswith(".probe")}
    assert probe["a.log()"].is_skipped and not probe["a.tanh()"].is_skipped, clean[-4000:]

    engine = project / "engine.py"
    source = engine.read_text()
    assert source.count(ACCUMULATES) == 1
    engine.write_text(source.replace(ACCUMULATES, OVERWRITES))
    buggy = _run_example(project, nox, wheel, "-R")  # the same virtualenv, nothing reinstalled
    assert buggy.startswith("exit 1\n"), buggy[-4000:]
    assert "FAILED" in buggy and "from engine import Value" in buggy, buggy[-4000:]
    # The property suite's failure: the shrunk graph as a runnable snippet, and the table.
    assert (
        "FAILED" in buggy
        and "suite/test_gradients.py::test_gradients_match_the_references" in buggy
    )
    assert "| quantity | implementation | JAX |" in buggy, buggy[-4000:]
