"""What a check pays once per run, whatever its budget: the collector's passes over the imports,
the battery's work in this process."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

from gradoracle.fuzz import check
from gradoracle.fuzz.adapters import load_adapter
from gradoracle.fuzz.battery import RAN, run_battery_cases
from gradoracle.fuzz.check import GC_THRESHOLD, run_check
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.probe import run_probe
from gradoracle.reference.graph import Node


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


def test_the_battery_makes_no_node_per_chain_step(
    jax_reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deep chains (10^3 steps of every spelling, then 10^4 and 10^5) go to the engine and to
    the float64 kernel as flat lists: a Node per step, made in both processes, cost more than the
    engine's own pass over them. Fan-out and diamonds (~8,000 nodes each time) still have nodes."""
    made = [0]
    trusted = Node.trusted.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Node], *args: Any, **kwargs: Any) -> Node:
        made[0] += 1
        return trusted(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Node, "trusted", classmethod(counted))
    oracle = Oracle(load_adapter("engine:Value"), jax_reference)  # the worker's calls run here too
    probed = run_probe(oracle, time.monotonic() + 60)
    findings, cases = run_battery_cases(oracle, probed.offered, 5.0, time.monotonic() + 60)
    assert not findings and cases["deep graph"] == RAN
    assert not any("chains of" in note for note in oracle.stats.notes)  # 10^4 and 10^5 ran
    assert made[0] < 40_000, made[0]  # (node by node: 334,346)
