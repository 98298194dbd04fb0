"""The suite's short fixture names, for its files only: the plugin's `gradoracle_*` fixtures are
what every test of a host project sees; these names would clash with a host's own."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def adapter(gradoracle_adapter: Any) -> Any:
    return gradoracle_adapter


@pytest.fixture(scope="session")
def oracle(gradoracle_oracle: Any) -> Any:
    return gradoracle_oracle


@pytest.fixture(scope="session")
def supported(gradoracle_supported: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return gradoracle_supported
