"""What a check pays once per run, whatever its budget: the collector's passes over the imports,
the battery's work in this process."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from gradoracle.fuzz import check
from gradoracle.fuzz.adapters import load_adapter
from gradoracle.fuzz.check import GC_THRESHOLD, run_check
from gradoracle.fuzz.oracle import Oracle


def test_the_heap_is_frozen_from_the_probe_on_and_given_back_after(
    jax_reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe and the battery run with the imports' objects frozen and young collections
    rare: the battery's ~10^5 chain nodes set off full passes over everything JAX and numba
    made (~0.1 s of CPU each) when only the random graphs' loop ran frozen."""
    seen: dict[str, tuple[int, int]] = {}
    real_probe, real_battery = check.run_probe, check.run_battery_cases

    def state() -> tuple[int, int]:
        return gc.get_freeze_count(), gc.get_threshold()[0]

    def probe(*args: Any, **kwargs: Any) -> Any:
        seen["probe"] = state()
        return real_probe(*args, **kwargs)

    def battery(*args: Any, **kwargs: Any) -> Any:
        seen["battery"] = state()
        return real_battery(*args, **kwargs)

    monkeypatch.setattr(check, "run_probe", probe)
    monkeypatch.setattr(check, "run_battery_cases", battery)
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    oracle = Oracle(load_adapter("engine:Value"), jax_reference)
    result = run_check(oracle, budget=30.0, max_graphs=256)
    assert result.stats.graphs_checked == 256 and not result.findings
    for phase in ("probe", "battery"):
        frozen, threshold = seen[phase]
        assert frozen > 10_000, phase  # (the imports alone: ~10^5 objects)
        assert threshold == GC_THRESHOLD, phase
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before == 0
