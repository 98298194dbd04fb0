"""gradoracle: a correctness oracle for scalar autograd engines.

From Python::

    from gradoracle import check            # check(MyValue, budget=20, seed=0) -> Report
    from gradoracle.strategies import graphs  # hypothesis strategies for random graphs

and in a pytest run, `pytest --gradoracle-impl MODULE:CLASS` (gradoracle.pytest_plugin).

`gradoracle.reference` says what the right gradients are (the op registry, the graph IR, JAX,
finite differences, mpmath, the comparator); `gradoracle.fuzz` attacks an implementation (random
graphs, probing, the battery, isolation, campaigns, shrinking, reports, the command line).

The oracle lives under this one name so that a user's folder of modules called `engine`, `fuzz`
or `reference` never shadows it; the project's own engine stays `from engine import Value`.
`import gradoracle` imports nothing third-party: the names below load on first use (JAX only when
a check runs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradoracle.api import Report, check
    from gradoracle.fuzz.adapters import Adapter, UsageError, ValueClassAdapter

__all__ = ["Adapter", "Report", "UsageError", "ValueClassAdapter", "check"]

_HOMES = {
    "check": "gradoracle.api",
    "Report": "gradoracle.api",
    "Adapter": "gradoracle.fuzz.adapters",
    "ValueClassAdapter": "gradoracle.fuzz.adapters",
    "UsageError": "gradoracle.fuzz.adapters",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gradoracle' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
