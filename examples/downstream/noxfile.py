"""This project's CI: ``nox`` runs its own tests and gradoracle's checks of its engine.

The gradoracle installed is the checkout this example sits in (``../..``); in a project of your
own, install it from its git URL instead (see README.md). ``GRADORACLE`` overrides what is
installed (a wheel, a URL, a path), as ``GRADORACLE=/tmp/gradoracle-0.1.0-py3-none-any.whl nox``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["oracle"]

HERE = Path(__file__).resolve().parent
GRADORACLE = os.environ.get("GRADORACLE", str(HERE.parent.parent))
BUDGET = os.environ.get("GRADORACLE_BUDGET", "20")  # seconds of random graphs


@nox.session
def oracle(session: nox.Session) -> None:
    """The engine's own tests with gradoracle's property suite beside them, then a timed check
    whose findings a CI system shows as failed tests (oracle.xml). The engine is used from this
    folder, not installed: gradoracle's wheel has an `engine` package of its own."""
    where = Path(GRADORACLE)
    source = where.resolve().as_uri() if where.exists() else GRADORACLE
    session.install(f"gradoracle[fuzz] @ {source}", "pytest>=8")
    session.run("pytest", "--gradoracle-impl", "engine:Value", *session.posargs)
    session.run(
        "gradoracle", "check", "engine:Value", "--budget", BUDGET, "--junit-xml", "oracle.xml"
    )
