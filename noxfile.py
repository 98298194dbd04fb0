"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``check``, ``fuzz``,
``mutants``, ``bench``, ``demo``.

uv creates and fills the virtualenvs when it is installed; otherwise virtualenv and pip do. Sessions
use the interpreter that runs nox (the project needs Python >= 3.11).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = sys.executable
# The project engine, and the oracle under one package name of its own: a user's folder full of
# modules called `engine`, `fuzz` or `reference` cannot shadow the oracle.
PACKAGES = ["engine", "gradoracle"]
BENCHMARKS = [
    "bench/moons_step.py",  # engine vs micrograd 0.1.0: a training step
    "bench/memory.py",  # ... memory per node
    "bench/chain_backward.py",  # ... deep chains
    "bench/sampler_speed.py",  # the campaign sampler vs hypothesis draws
    "bench/reference_speed.py",  # JAX reference time per graph vs the engine's own
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
    given, e.g. ``nox -s fuzz -- --impl mymodule:MyValue --budget 600 --json``."""
    session.install("-e", ".[fuzz,viz]")
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
    session.install("-e", ".[fuzz]")
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
