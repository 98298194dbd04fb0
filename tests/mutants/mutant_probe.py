"""A pytest plugin for the mutant runner (`-p mutant_probe`): what killed the mutant, and how fast.

For each test it records the outcome and duration; for hypothesis tests also the number of
examples run until the first failing one (counted by wrapping `test.hypothesis.inner_test`, the
hook hypothesis provides for wrappers). For a failing test it records the number of ops of the last
graph the adapter built in the failing call: for a hypothesis test that is the shrunk
counterexample, which hypothesis replays last. It also records which `engine` the suite imported,
so that the runner can check it was the mutant. The report is written as JSON to the path in
$GRADORACLE_MUTANT_REPORT at the end of the session; the running test's id goes to that path plus
`.current` as each test starts.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Any

import pytest

REPORT_ENV = "GRADORACLE_MUTANT_REPORT"


class _Probe:
    """Per-test counters, filled by the wrapped inner test."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_failure: int | None = None
        self.failing_ops: int | None = None


_tests: dict[str, dict[str, Any]] = {}
_probes: dict[str, _Probe] = {}
_start = time.monotonic()


def _is_control_flow(error: BaseException) -> bool:
    """Hypothesis's own exceptions (rejections, stops) are not failures of the test."""
    return type(error).__module__.startswith("hypothesis") or not isinstance(error, Exception)


def _ops_of(value: Any) -> int | None:
    n_ops = getattr(value, "n_ops", None)
    return n_ops if isinstance(n_ops, int) else None


# Ops in the last graph the adapter built: in a failing call, the graph that failed (for a
# hypothesis test, the final call replays the shrunk counterexample).
_built: list[int | None] = [None]


def _record_builds() -> None:
    """Wrap the default adapter's `build` so every graph run on the implementation is measured."""
    try:
        from gradoracle.fuzz.adapters import ValueClassAdapter
    except ImportError:
        return
    build = ValueClassAdapter.build
    if getattr(build, "_mutant_probe", False):
        return

    @functools.wraps(build)
    def measured_build(self: Any, graph: Any) -> Any:
        _built[0] = _ops_of(graph)
        return build(self, graph)

    measured_build._mutant_probe = True  # type: ignore[attr-defined]
    ValueClassAdapter.build = measured_build  # type: ignore[method-assign]


def _wrap(inner: Any, probe: _Probe) -> Any:
    @functools.wraps(inner)
    def counted(*args: Any, **kwargs: Any) -> Any:
        probe.calls += 1
        _built[0] = None
        try:
            return inner(*args, **kwargs)
        except BaseException as error:
            if not _is_control_flow(error):
                if probe.first_failure is None:
                    probe.first_failure = probe.calls
                probe.failing_ops = _built[0]
            raise

    return counted


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:  # which test is running, for the runner to name if the run has to be killed
        with open(f"{path}.current", "w") as f:
            f.write(item.nodeid)
    _record_builds()
    _built[0] = None
    function = getattr(item, "obj", None)
    handle = getattr(function, "hypothesis", None)
    if handle is None or not hasattr(handle, "inner_test"):
        return
    probe = _probes[item.nodeid] = _Probe()
    original = handle.inner_test
    handle.inner_test = _wrap(original, probe)
    item.stash[_ORIGINAL] = (handle, original)


_ORIGINAL = pytest.StashKey[tuple[Any, Any]]()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    saved = item.stash.get(_ORIGINAL, None)
    if saved is not None:
        handle, original = saved
        handle.inner_test = original


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _tests.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] += report.duration
    if report.failed:
        entry["outcome"] = "failed" if report.when == "call" else f"error in {report.when}"
        if report.when == "call" and report.nodeid not in _probes:  # an explicit case
            entry["shrunk_ops"] = _built[0]
        if "message" not in entry:
            entry["message"] = str(getattr(report.longrepr, "reprcrash", None) or "")[:300]
    elif report.skipped and report.when in ("setup", "call"):
        entry["outcome"] = "skipped"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _tests[report.nodeid or "<collection>"] = {
            "outcome": "error in collection",
            "seconds": 0.0,
            "message": str(report.longrepr)[:300],
        }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    for nodeid, probe in _probes.items():
        entry = _tests.setdefault(nodeid, {"outcome": "unknown", "seconds": 0.0})
        entry["examples"] = probe.calls
        entry["first_failure"] = probe.first_failure
        entry["shrunk_ops"] = probe.failing_ops
    engine = sys.modules.get("engine")
    report = {
        "exitstatus": int(exitstatus),
        "engine_file": getattr(engine, "__file__", None),
        "seconds": time.monotonic() - _start,
        "tests": _tests,  # in run order
    }
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
