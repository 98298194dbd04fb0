"""setuptools' build backend, plus mypy as a build requirement when GRADORACLE_MYPYC=1.

The compiled engine needs mypyc (it comes with mypy) at build time only; the pure-Python build, the
default, must not download it. PEP 517 lets an in-tree backend add requirements on demand, which a
static ``[build-system] requires`` cannot (setuptools' documentation: "dynamic build dependencies").
"""

from __future__ import annotations

import os

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403  (the backend's other hooks, unchanged)

# The mypy that checks the engine (pyproject's typecheck group) is the one that compiles it.
MYPYC_REQUIREMENT = "mypy==2.4.1"


def _compiled() -> bool:
    return os.environ.get("GRADORACLE_MYPYC", "0") == "1"


# setuptools finds its own requirements by running setup.py, which imports mypyc when compiling:
# that step must not run before mypy is installed. setup.py declares no setup_requires, so
# setuptools would add nothing there anyway.


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    if _compiled():
        return [MYPYC_REQUIREMENT]
    return build_meta.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings: dict[str, object] | None = None) -> list[str]:
    if _compiled():
        return [MYPYC_REQUIREMENT]
    return build_meta.get_requires_for_build_editable(config_settings)
