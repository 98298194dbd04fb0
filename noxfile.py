"""Development sessions: ``nox -s tests``, ``tests_compiled``, ``lint``, ``typecheck``, ``check``,
``fuzz``, ``mutants``, ``bench``, ``demo``.

``python3 noxfile.py -s SESSION`` runs them with nothing installed but Python: where this python3
has no nox (or one too old), it makes ``.venv`` in this checkout once, installs nox there with pip
and runs this file again with that virtualenv's python. A system python3 that refuses
``pip install`` (PEP 668: Debian, Ubuntu) is never installed into.

uv creates and fills the sessions' virtualenvs when it is installed; otherwise virtualenv and pip
do. Sessions use the interpreter that runs nox (the project needs Python >= 3.11).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
NOX = ("nox", 2025, 2, 9)  # nox.main() and nox.project.dependency_groups
BOOTSTRAP_VENV = ROOT / ".venv"


def _nox_usable() -> bool:
    """Whether this interpreter imports a nox that can run this file."""
    if importlib.util.find_spec("nox") is None:
        return False
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = tuple(int(part) for part in version("nox").split(".")[:3])
    except (PackageNotFoundError, ValueError):
        return False
    return release >= NOX[1:]


def _runs(python: Path, code: str) -> bool:
    """Whether `python` exists and runs `code` without an error."""
    found = python.exists()
    return found and not subprocess.run([python, "-c", code], capture_output=True).returncode


def _stop(message: str) -> NoReturn:
    print(f"noxfile.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _run_in_own_virtualenv() -> NoReturn:
    """Make BOOTSTRAP_VENV with nox in it (once), then run this file again with its python."""
    if sys.version_info < (3, 11):  # noqa: UP036  (an older distribution's python3 runs this)
        _stop(f"the project needs Python >= 3.11; this is {sys.version.split()[0]}")
    python = BOOTSTRAP_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if Path(sys.prefix).resolve() == BOOTSTRAP_VENV.resolve():
        _stop(
            f"{BOOTSTRAP_VENV} has no {NOX[0]} >= {NOX[1]}.{NOX[2]}.{NOX[3]}: delete it, run again"
        )
    requirement = f"{NOX[0]}>={NOX[1]}.{NOX[2]}.{NOX[3]}"
    if not _runs(python, "import nox"):
        # Debian and Ubuntu ship ensurepip in python3-venv and pip in python3-pip: with either,
        # nox can be installed in the virtualenv; with neither there is nothing to install it with.
        ensurepip = importlib.util.find_spec("ensurepip") is not None
        pip = importlib.util.find_spec("pip") is not None
        if not (ensurepip or pip or _runs(python, "import pip")):
            _stop(
                f"{sys.executable} has neither ensurepip nor pip to install nox with: install "
                "python3-venv (Debian, Ubuntu: apt-get install python3-venv)"
            )
        print(f"noxfile.py: installing nox in {BOOTSTRAP_VENV} (once)", file=sys.stderr)
        if not python.exists():
            venv = [sys.executable, "-m", "venv", str(BOOTSTRAP_VENV)]
            made = subprocess.run(
                venv if ensurepip else [*venv, "--without-pip"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            if made.returncode:
                lines = made.stdout.decode(errors="replace").strip().splitlines()
                _stop(f"cannot make {BOOTSTRAP_VENV}: {lines[0] if lines else 'venv failed'}")
        # A virtualenv without pip of its own is installed into by this python's pip (`--python`).
        pip_of = (
            [python, "-m", "pip"]
            if _runs(python, "import pip")
            else [sys.executable, "-m", "pip", "--python", python]
        )
        command = [*pip_of, "install", "--quiet", "--disable-pip-version-check", requirement]
        if subprocess.run(command).returncode:
            _stop(f"pip could not install {requirement} in {BOOTSTRAP_VENV} (see above)")
    os.execv(python, [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__" and not _nox_usable():
    _run_in_own_virtualenv()

import nox  # noqa: E402  (after the bootstrap above, which runs where nox is not installed)

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = sys.executable
# The project engine, and the oracle under one package name of its own: a user's folder full of
# modules called `engine`, `fuzz` or `reference` cannot shadow the oracle.
PACKAGES = ["engine", "gradoracle"]
BENCHMARKS = [
    "bench/moons_step.py",  # engine, pure and compiled, vs micrograd and C peers: a training step
    "bench/memory.py",  # ... memory per node
    "bench/chain_backward.py",  # ... deep chains
    "bench/sampler_speed.py",  # the campaign sampler vs hypothesis draws
    "bench/reference_speed.py",  # JAX reference time per graph vs the engine's own
    "bench/reference_pack.py",  # the JAX reference's host side: packing and unpacking per graph
    "bench/isolation_overhead.py",  # the worker process vs in-process
    "bench/validation.py",  # 10^5 random graphs on the engine: zero false findings
    "bench/campaign_split.py",  # where a campaign's CPU goes, engine and micrograd
    "bench/oracle_split.py",  # check and fuzz: the oracle's CPU split, reference/impl, impl/cpu
    "bench/sensitivity.py",  # planted-bug catalogue: caught at every seed, no false alarm
]


def install_group(session: nox.Session, group: str) -> None:
    """Install a PEP 735 dependency group from pyproject.toml (works with uv and with old pip)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite, in parallel: ``nox -s tests -- -k neuron`` passes arguments to pytest."""
    session.install("-e", ".[tests]")
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session(python=PYTHON, venv_backend="virtualenv")
def tests_compiled(session: nox.Session) -> None:
    """The engine's tests and the property suite on the mypyc-compiled engine (setup.py).

    virtualenv, so that pip builds the checkout afresh with GRADORACLE_MYPYC=1 (uv would reuse a
    cached pure build). The project is installed, not editable, and pytest's `pythonpath = ["."]`
    is switched off: the checkout's engine/*.py must not shadow the compiled modules, and
    tests/engine/test_build.py fails unless engine.engine and engine.nn are extension modules.
    """
    session.install(".[tests]", env={"GRADORACLE_MYPYC": "1"})
    env = {"GRADORACLE_EXPECT_ENGINE": "compiled"}
    # --confcutdir: the checkout's root conftest.py (the --impl alias) would put the root, and so
    # its engine/*.py, first on sys.path.
    pytest_args = [
        "-o",
        "pythonpath=",
        "--confcutdir",
        "tests",
        "-p",
        "no:cacheprovider",
        "-n",
        "auto",
    ]
    session.run("pytest", *pytest_args, "tests/engine", *session.posargs, env=env)
    # The property suite (the installed plugin's) beside the build check, on the compiled engine.
    suite = ["--gradoracle-impl", "engine:Value", "tests/engine/test_build.py"]
    session.run("pytest", *pytest_args, *suite, *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (pinned): lint rules and formatting, checked, never rewritten."""
    install_group(session, "lint")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", "--diff", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy (pinned): --strict on engine and on the oracle's attack and command line; the project's
    configuration on everything else."""
    session.install("-e", ".[tests]")
    install_group(session, "typecheck")
    session.run("mypy", "--strict", "-p", "engine")
    # gradoracle.fuzz and gradoracle.cli get --strict's flags from pyproject's per-module overrides
    # in the run below: a global --strict would hold the reference (JAX, mpmath) to them too.
    others = [name for name in PACKAGES if name != "engine"]
    session.run("mypy", *others, "bench", "examples", "ecosystem")


@nox.session(python=PYTHON)
def check(session: nox.Session) -> None:
    """The main job: ``gradoracle check`` on the project engine, or on ``-- MODULE:CLASS ...``."""
    session.install("-e", ".[fuzz,viz]")
    args = session.posargs or ["engine:Value", "--budget", "20"]
    session.run("gradoracle", "check", *args)


@nox.session(python=PYTHON)
def ecosystem(session: nox.Session) -> None:
    """Scalar autograd engines from PyPI (ecosystem/packages.toml), each installed alone under
    .ecosystem/, checked by one `gradoracle check`, every finding's snippet run again; writes
    ecosystem/results.md. ``nox -s ecosystem -- --only micrograd,torch --budget 20``."""
    session.install("-e", ".[fuzz,viz]", "pip")
    session.run("python", "ecosystem/run.py", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """A campaign: ``gradoracle fuzz`` (the project engine, 60 s, every core), or with the arguments
    given, e.g. ``nox -s fuzz -- --impl mymodule:MyValue --budget 600 --json`` (or
    ``--database redis://HOST:PORT``: the redis extra is installed for it)."""
    session.install("-e", ".[fuzz,viz,redis]")
    session.run("gradoracle", "fuzz", *session.posargs)


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """The property suite against each mutant in tests/mutants/catalogue.py; last line `killed K/N`.

    ``nox -s mutants -- -k overwrite`` runs some, ``-- --list`` lists them; exits non-zero if any
    mutant survives.
    """
    session.install(".[tests]")
    session.run("python", "tests/mutants/run.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmarks (bench/); ``nox -s bench -- --quick`` for a smoke run."""
    # pip: bench/_peers.py builds the compiled engine and the C-extension peers with it (a uv venv
    # has no pip of its own).
    session.install("-e", ".[fuzz]", "pip")
    install_group(session, "bench")
    for script in BENCHMARKS:
        session.run("python", script, *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Train an MLP on two moons (examples/moons.py); ``-- --plot moons.png`` needs matplotlib."""
    session.install("-e", ".")
    if any(arg.startswith("--plot") for arg in session.posargs):
        session.install("matplotlib")
    session.run("python", "examples/moons.py", *session.posargs)


@nox.session(python=PYTHON, venv_backend="virtualenv")
def peers(session: nox.Session) -> None:
    """The oracle on real engines (tests/peers): micrograd 0.1.0, PyTorch float64, the notebook's.

    Not a default session. virtualenv, so that `session.install` goes through pip, which finds the
    CPU wheel of torch in its local configuration; uv would download a multi-GB CUDA build.
    """
    session.install(".[tests]", "torch==2.13.0")
    session.run("pytest", "tests/peers", *session.posargs)


if __name__ == "__main__":  # `python3 noxfile.py -s tests`: nox, with this file as the noxfile
    nox.main()
