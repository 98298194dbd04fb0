"""`pytest --impl MODULE:CLASS`: this checkout's older spelling of the package plugin's
`--gradoracle-impl` (gradoracle.pytest_plugin), kept as its alias. Here at the root, so that it
works whatever paths a run names (`pytest gradoracle/suite --impl mymodule:Value` too)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        dest="gradoracle_impl",  # the plugin's option: one setting, two spellings
        default=None,
        metavar="MODULE:CLASS",
        help="the Value class the property suite checks: the alias of --gradoracle-impl",
    )
