"""Shared test configuration: the implementation under test (`--impl`) and hypothesis profiles.

`pytest --impl MODULE:CLASS` runs the property suite against another micrograd-shaped class instead
of the project engine, as array-api-tests does with its module variable.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

DEFAULT_IMPL = "engine:Value"

# Profiles are registered explicitly: with CI=true hypothesis would load its own built-in `ci`
# profile otherwise. deadline=None everywhere: the JAX reference's first call per shape compiles.
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        default=DEFAULT_IMPL,
        metavar="MODULE:CLASS",
        help=f"the Value class the property suite checks (default {DEFAULT_IMPL})",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"implementation under test: {config.getoption('--impl')}"


@pytest.fixture(scope="session")
def adapter(request: pytest.FixtureRequest) -> Any:
    from gradoracle.fuzz.adapters import UsageError, load_adapter

    try:
        return load_adapter(request.config.getoption("--impl"))
    except UsageError as e:
        pytest.exit(f"--impl: {e}", returncode=4)


@pytest.fixture(scope="session")
def jax_reference() -> Any:
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    use_compilation_cache(default_cache_dir())  # xdist workers and later runs share compilations
    return JaxReference()


@pytest.fixture(scope="session")
def oracle(adapter: Any, jax_reference: Any) -> Any:
    from gradoracle.fuzz.oracle import Oracle

    return Oracle(adapter, jax_reference)


@pytest.fixture(scope="session")
def supported(oracle: Any) -> dict[str, tuple[str, ...]]:
    """Op -> forms the implementation under test offers (probed once per session)."""
    from gradoracle.fuzz.probe import forms_offered, run_probe

    return dict(forms_offered(run_probe(oracle).offered))
