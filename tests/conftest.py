"""Shared test configuration: the implementation under test and this project's hypothesis profiles.

The property suite and its implementation under test come from the package's pytest plugin
(gradoracle.pytest_plugin, loaded by pyproject's addopts): a plain `pytest` runs the suite on the
project engine (pyproject's `gradoracle_impl`), and `pytest --impl MODULE:CLASS` (the alias of
`--gradoracle-impl`, in the root conftest.py) runs it, and the tests here that take `adapter` or
`oracle`, against another micrograd-shaped class, as array-api-tests does with its module variable.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# This project's own profiles, for its own hypothesis tests (the property suite has its own:
# gradoracle-dev, gradoracle-ci, gradoracle-fuzz). Registered explicitly: with CI=true hypothesis
# would load its built-in `ci` profile otherwise. deadline=None everywhere: the JAX reference's
# first call per shape compiles.
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def adapter(gradoracle_adapter: Any) -> Any:
    return gradoracle_adapter


@pytest.fixture(scope="session")
def jax_reference(gradoracle_jax_reference: Any) -> Any:
    return gradoracle_jax_reference


@pytest.fixture(scope="session")
def oracle(gradoracle_oracle: Any) -> Any:
    return gradoracle_oracle


@pytest.fixture(scope="session")
def supported(gradoracle_supported: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Op -> forms the implementation under test offers (probed once per session)."""
    return gradoracle_supported
