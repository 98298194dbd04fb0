"""Where a check's CPU goes (fuzz.cpu_split), as `--json` reports it, and what the oracle spends
per graph beside the implementation."""

from __future__ import annotations

from pathlib import Path

from cli_runner import ROOT, gradoracle_json

from gradoracle.fuzz.check import offered_partly
from gradoracle.fuzz.probe import FLOAT, INT, INT_LEAF, Spelling, all_spellings
from gradoracle.reference.jax_ref import CPU_PARTS

SPLIT = {
    "impl", "worker other", "messaging", "sampling", *(f"reference {p}" for p in CPU_PARTS),
    "compare quick", "adjudicate", "probe", "battery", "shrink", "other",
}  # fmt: skip
# CPU clocks tick in whole microseconds and are read at different moments around each part.
SLACK = 0.05


def test_the_split_adds_up_to_the_counters_users_read(tmp_path: Path) -> None:
    code, report = gradoracle_json(
        "check", "engine:Value", "--budget", "6", "--json", cwd=ROOT, timeout=240
    )
    assert code == 0, report["findings"]
    split = report["cpu_split"]
    assert set(split) == SPLIT
    assert abs(sum(split.values()) - report["cpu_seconds"]) <= SLACK
    assert split["impl"] == report["impl_seconds"] > 0
    reference = sum(split[f"reference {p}"] for p in CPU_PARTS)
    assert abs(reference - report["reference_seconds"]) <= SLACK
    compare = split["compare quick"] + split["adjudicate"]
    assert abs(compare - report["compare_seconds"]) <= SLACK
    assert split["sampling"] == report["sample_seconds"]
    assert all(seconds >= -SLACK for seconds in split.values()), split
    assert split["worker other"] > 0  # the worker's start-up and messages are not the engine's
    assert split["reference xla"] > 0 and split["reference pack"] > 0


def test_int_leaves_alone_do_not_make_the_check_filter_every_graph() -> None:
    """Value(2) offered (an int 'constant' with no float twin) is not an op form offered with
    one kind of constant: filtering every sampled graph for it cost more than the engine's time."""
    everything = set(all_spellings())
    assert INT_LEAF in everything
    assert not offered_partly(everything)
    assert not offered_partly(everything - {INT_LEAF})
    assert offered_partly(everything - {Spelling("pow", "vc", FLOAT)})
    assert offered_partly(everything - {Spelling("mul", "cv", INT)})
