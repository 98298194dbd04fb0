"""Interrupted runs lose nothing: `check` and `fuzz` stopped by SIGINT (Ctrl-C reaches the whole
process group) or SIGTERM (a batch scheduler's, to the process) print the summary, write --json,
--report and the database, exit 130 or 143, and leave no process behind.

Each test starts the command as a user would, in a process group of its own, in a folder of its
own (so that what it leaves running can be told apart from other tests' processes), with a budget
far longer than the test: only the signal ends it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from many_folder import processes_under

from gradoracle.cli.many_report import ChildRun, row_of
from gradoracle.fuzz.database import database_key, open_database, saved_graphs
from gradoracle.fuzz.discover import Target

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
LONG = "900"  # seconds: the budget a signal cuts short
STARTUP = 240.0  # seconds the command may take to show progress on a loaded machine
# Seconds from the signal to the exit: shrinking (3 s), confirming findings in new workers,
# writing the report; a campaign's shards do the same, and the machine is shared.
STOPPING = 60.0
PLANTED = "planted_engines:OverwriteMul"  # found within the first batch of random graphs


class Run:
    """`python -P -m gradoracle ARGV` in `cwd`, in a process group of its own, stdout and stderr
    to files (read while it runs)."""

    def __init__(self, cwd: Path, *argv: str) -> None:
        cwd.mkdir(exist_ok=True)
        for module in ("planted_engines.py", "slow_import_engine.py"):
            shutil.copy(TESTS / module, cwd)
        self.cwd = cwd
        self.out, self.err = cwd / "stdout.txt", cwd / "stderr.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["PYTHONPATH"] = str(ROOT)
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "gradoracle", *argv],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                process_group=0, preexec_fn=_default_stop_signals,
            )  # fmt: skip

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    def wait_for(self, ready: Any, what: str) -> None:
        """Poll until `ready()`; fail if the command ends first or takes over STARTUP seconds."""
        end = time.monotonic() + STARTUP
        while not ready():
            assert self.proc.poll() is None, f"ended before {what}: {self.stderr[-2000:]}"
            assert time.monotonic() < end, f"no {what} within {STARTUP} s: {self.stderr[-2000:]}"
            time.sleep(0.2)

    def wait_for_progress(self) -> None:
        """The progress line: random graphs are being checked (after the probe and battery)."""
        self.wait_for(lambda: " graphs (" in self.stderr, "progress line")

    def stop(self, signum: int, group: bool = True) -> int:
        """Send `signum` to the group (Ctrl-C) or the process (`kill`); the exit code."""
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=STOPPING)

    def assert_nothing_left(self) -> None:
        """No live process of its group (workers, shards, multiprocessing's resource tracker)
        and none running in its folder, a few seconds after it exited. (/proc, not
        `os.killpg(pgid, 0)`: that also finds zombies a container's init has not reaped.)"""
        end = time.monotonic() + 10.0
        while (
            left := _group(self.proc.pid) + processes_under(self.cwd)
        ) and time.monotonic() < end:
            time.sleep(0.1)
        assert not left, left

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert "Exception ignored" not in self.stderr, self.stderr[-3000:]


def _default_stop_signals() -> None:
    """The child starts with SIGINT handled: a test run from a non-interactive shell's
    background job would otherwise pass SIGINT on ignored, and the command keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group(pgid: int) -> list[str]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state not in "ZX":
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def _report(directory: Path) -> dict[str, Any]:
    """DIR/report.json, read; DIR/report.html must be there too."""
    assert (directory / "report.html").is_file()
    report: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return report


@pytest.mark.slow
def test_ctrl_c_keeps_what_a_check_found(tmp_path: Path) -> None:
    run = Run(tmp_path, "check", PLANTED, "--budget", LONG, "--json", "--report", "report")
    run.wait_for_progress()
    started = time.monotonic()
    assert run.stop(signal.SIGINT) == 130, run.stderr[-3000:]
    assert time.monotonic() - started < STOPPING
    printed = json.loads(run.stdout)
    assert printed["interrupted"] == "SIGINT"
    assert printed["graphs_checked"] > 0
    assert any(f["category"] == "wrong gradient" for f in printed["findings"]), printed
    saved = _report(tmp_path / "report")
    assert saved["interrupted"] == "SIGINT" and saved["findings"] == printed["findings"]
    assert "interrupted by SIGINT" in (tmp_path / "report" / "report.html").read_text()
    assert float(printed["seconds"]) < float(LONG) / 2
    run.assert_no_traceback()
    run.assert_nothing_left()


@pytest.mark.slow
def test_sigterm_to_a_check_of_a_clean_engine_is_no_verdict_of_clean(tmp_path: Path) -> None:
    run = Run(tmp_path, "check", "engine:Value", "--budget", LONG, "--report", "report")
    run.wait_for_progress()
    assert run.stop(signal.SIGTERM, group=False) == 143, run.stderr[-3000:]
    summary = run.stdout
    assert "interrupted by SIGTERM" in summary
    assert "gradoracle: interrupted by SIGTERM" in run.stderr
    saved = _report(tmp_path / "report")
    assert saved["interrupted"] == "SIGTERM" and saved["findings"] == []
    assert "No findings" not in (tmp_path / "report" / "report.html").read_text()
    run.assert_no_traceback()
    run.assert_nothing_left()


@pytest.mark.slow
def test_a_second_signal_while_saving_ends_the_check_at_once(tmp_path: Path) -> None:
    slow = "slow_import_engine:Value"  # its wind-up lasts seconds: see the module
    run = Run(tmp_path, "check", slow, "--budget", LONG, "--json", "--report", "report")
    run.wait_for_progress()
    os.killpg(run.proc.pid, signal.SIGINT)
    time.sleep(0.5)  # within the seconds it shrinks and confirms what it found
    started = time.monotonic()
    assert run.stop(signal.SIGINT) == 130
    assert time.monotonic() - started < 5.0
    assert "stopped at once by a second SIGINT" in run.stderr
    run.assert_no_traceback()
    run.assert_nothing_left()


def _fuzz(cwd: Path, database: Path, workers: int, *argv: str) -> Run:
    return Run(
        cwd, "fuzz", "--impl", PLANTED, "--workers", str(workers), "--database", str(database),
        *argv,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "group", "replay"), [(signal.SIGINT, True, True), (signal.SIGTERM, False, False)]
)
def test_an_interrupted_campaign_saves_its_findings_for_the_next(
    tmp_path: Path, signum: int, group: bool, replay: bool
) -> None:
    database = tmp_path / "db"
    first = _fuzz(tmp_path, database, 2, "--budget", LONG, "--json", "--report", "report")
    first.wait_for_progress()
    assert first.stop(signum, group) == 128 + signum, first.stderr[-3000:]
    name = signal.Signals(signum).name
    printed = json.loads(first.stdout)
    assert printed["interrupted"] == name and printed["findings"], printed
    assert _report(tmp_path / "report")["interrupted"] == name
    first.assert_no_traceback()
    first.assert_nothing_left()
    saved = saved_graphs(open_database(str(database)), database_key(PLANTED))
    assert saved, "the interrupted campaign saved its findings"
    if not replay:
        return
    # A campaign started later replays them: the bug is found again from the saved examples.
    # (Its budget leaves time for the replay after the probe and battery on a loaded machine.)
    second = _fuzz(tmp_path / "later", database, 1, "--budget", "40", "--seed", "9", "--json")
    assert second.proc.wait(timeout=STARTUP) == 1, second.stderr[-3000:]
    replayed = json.loads(second.stdout)
    assert replayed["replayed"] == len(saved)
    assert replayed["replayed_failing"] == len(saved)


@pytest.mark.slow
def test_ctrl_c_to_a_check_of_several_targets_keeps_their_rows(tmp_path: Path) -> None:
    run = Run(tmp_path, "check", PLANTED, "engine:Value", "--jobs", "2", "--budget", LONG)

    def checking() -> bool:  # both children's workers have run graphs for a second or more
        workers = [p for p in processes_under(tmp_path) if "spawn_main" in p]
        return len(workers) >= 2 and all(_cpu(p.split(":")[0]) > 1.0 for p in workers)

    run.wait_for(checking, "the children's workers running graphs")
    assert run.stop(signal.SIGINT) == 130, run.stderr[-3000:]
    table = run.stdout
    planted = next(line for line in table.splitlines() if line.startswith(PLANTED))
    assert re.search(r"interrupted \(SIGINT\): \d+ bugs? \(", planted), table
    correct = next(line for line in table.splitlines() if line.startswith("engine:Value"))
    assert "interrupted (SIGINT): no finding yet" in correct, table
    assert "clean" not in correct
    run.assert_no_traceback()
    run.assert_nothing_left()


def _cpu(pid: str) -> float:
    """CPU seconds process `pid` has used (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_interrupted_childs_row_shows_its_findings_and_is_never_clean(tmp_path: Path) -> None:
    target = Target("a.py:Value", "a:Value", tmp_path)
    finding = {"category": "wrong gradient"}
    report = {"interrupted": "SIGTERM", "findings": [finding, finding]}
    row = row_of(target, ChildRun(143, report, "", 5.0, 60.0), stopped=True)
    assert row.verdict == "interrupted (SIGTERM): 2 bugs (wrong gradient 2)" and not row.clean
    nothing = row_of(
        target, ChildRun(130, {"interrupted": "SIGINT", "findings": []}, "", 5.0, 60.0)
    )
    assert nothing.verdict == "interrupted (SIGINT): no finding yet" and not nothing.clean
    killed = row_of(target, ChildRun(None, None, "", 30.0, 60.0), stopped=True)
    assert killed.verdict == "interrupted (killed before it reported): no finding yet"
    assert row_of(target, None, stopped=True).verdict == "interrupted (not run): no finding yet"
    # Not interrupted, the same runs read as before: a hang, and a child never started.
    assert row_of(target, ChildRun(None, None, "", 60.0, 60.0)).status == "hung"
    assert row_of(target, None).verdict == "crashed: not run"
