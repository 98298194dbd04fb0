"""`gradoracle check TARGET [TARGET ...]` and `--each DIR`: many engines, one child process each.

Each target is checked by `python -P -m gradoracle check TARGET --json [--report DIR/NAME]` in
its own folder, `--jobs` at a time, so that one target's import-time hang, crash, or a module named
like another target's cannot touch the others. Every other option on the command line passes
through to each child as it was written (`passthrough`), so options added to `check` later need
nothing here. A child that gives no report within its allowance is killed with its whole process
group (it has a worker process, and multiprocessing's resource tracker, of its own). The rows,
the table and the reports are gradoracle.cli.many_report's.

On SIGINT or SIGTERM the running children get the signal (each is in a group of its own, out of
the terminal's reach) and STOP_WAIT seconds to report; the table shows what they found, and the
command exits 130 or 143.

`run_child` and `Children` also run bench/sensitivity.py's checks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradoracle
from gradoracle.cli import many_report
from gradoracle.cli.check import write_junit_file
from gradoracle.cli.common import report_error, subparser
from gradoracle.cli.many_report import CHECKED, ChildRun
from gradoracle.fuzz import interrupt
from gradoracle.fuzz.discover import Target, discover

if TYPE_CHECKING:
    from gradoracle.fuzz.junit import Suite

# A child gets 2 * budget + ALLOWANCE_MARGIN seconds of wall time. Past the budget come starting
# JAX and the user's import (up to adapters.LOAD_TIMEOUT = 60 s), the probe and battery (which
# may run past their share on a slow engine), confirming each finding in a new worker (a hang
# needs its --timeout again), shrinking, and writing the report; and the children share the cores.
ALLOWANCE_MARGIN = 120.0
POLL = 0.05  # seconds between two looks at a running child
# What is left of a finished child's process group (multiprocessing's resource tracker, cleaning
# up) may take this long to exit by itself before it is killed.
GROUP_GRACE = 2.0
# On SIGINT or SIGTERM each running child gets the signal and this long to stop, shrink what it
# found (fuzz.interrupt.SHRINK_SECONDS), confirm it in a new worker, and write its report.
STOP_WAIT = 30.0
# The options the parent decides for each child: they never pass through as the user wrote them.
OWN_OPTIONS = frozenset(
    {"--each", "--jobs", "--json", "--junit-xml", "--report", "--snippets-run-in", "--target-name"}
)


def allowance(budget: float) -> float:
    """Wall seconds a child checking with `budget` may take before it counts as hung."""
    return 2 * budget + ALLOWANCE_MARGIN


def parse_json(stdout: str) -> dict[str, Any] | None:
    """The check's one JSON object (the whole stdout, or failing that its last line)."""
    for text in (stdout.strip(), stdout.strip().rsplit("\n", 1)[-1]):
        try:
            result = json.loads(text)
        except ValueError:
            continue
        if isinstance(result, dict):
            return result
    return None


def _one_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("gradoracle: error: ")]
    if errors:
        return errors[-1].removeprefix("gradoracle: error: ")
    return lines[-1] if lines else ""


def child_env() -> dict[str, str]:
    """This environment, with the folder this gradoracle came from first on PYTHONPATH when it
    is a checkout: a child runs in another folder and must run the same oracle."""
    env = dict(os.environ)
    root = Path(gradoracle.__file__).resolve().parent.parent
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not root.name.endswith("-packages") and root not in {Path(p).resolve() for p in paths}:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *paths])
    return env


def _others_in_group(leader: int) -> bool:
    """Whether a live process other than `leader` is in the process group `leader` (Linux's
    /proc; elsewhere False, and the group is killed without waiting)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == leader:
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                state, _, pgrp = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[:3]
                if int(pgrp) == leader and state not in "ZX":  # a zombie is dead already
                    return True
    return False


def _wait_group(leader: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while _others_in_group(leader) and time.monotonic() < end:
        time.sleep(POLL)


def _exited(pid: int, deadline: float, stop: threading.Event | None) -> bool:
    """Wait until the child exits (True) or the deadline or `stop` comes (False). The child is
    not reaped (WNOWAIT): while it is a zombie its process group id stays its own, so killing
    the group later cannot hit anybody else's."""
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            return False
        time.sleep(POLL)


def run_child(
    argv: Sequence[str],
    cwd: Path,
    seconds: float,
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    live: set[int] | None = None,
) -> ChildRun:
    """Run `argv` (a `gradoracle ... --json` command) in `cwd`, in a process group of its own;
    after `seconds`, or when `stop` is set, kill the group. Nothing it started outlives this.
    While it runs its pid (its group's) is in `live`."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # no pipe to fill
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            process_group=0,
        )  # fmt: skip
        finished = False
        if live is not None:
            live.add(proc.pid)
        try:
            finished = _exited(proc.pid, start + seconds, stop)
            if finished:  # a resource tracker cleaning up: let it finish
                _wait_group(proc.pid, GROUP_GRACE)
        finally:  # whatever is left of the group, the child itself if it hung
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            _wait_group(proc.pid, GROUP_GRACE)  # a signal lands a moment after it is sent
            if live is not None:
                live.discard(proc.pid)  # before it is reaped: a pid is not reused until then
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    code = proc.returncode if finished else None
    report = parse_json(stdout)
    return ChildRun(code, report, _one_line(stderr), time.monotonic() - start, seconds)


class Children:
    """Children run `jobs` at a time (`submit` returns a Future of a ChildRun). `forward(signum)`
    passes a signal on to the running ones and starts no more; leaving the `with` kills what is
    left of them, with their groups."""

    def __init__(self, jobs: int) -> None:
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        self.live: set[int] = set()  # the running children's pids (each its group's)
        interrupt.before_ending(self.kill)

    def submit(
        self, argv: Sequence[str], cwd: Path, seconds: float, env: dict[str, str] | None = None
    ) -> Future[ChildRun]:
        return self.pool.submit(run_child, argv, cwd, seconds, env, self.stop, self.live)

    def forward(self, signum: int) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for pid in list(self.live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill(self) -> None:
        """Kill every running child's group at once (a second signal: no time to wait)."""
        for pid in list(self.live):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _action(parser: argparse.ArgumentParser, option: str) -> argparse.Action | None:
    """The action of an option as written: exact, or a unique prefix as argparse allows."""
    actions = parser._option_string_actions  # argparse's own table of option strings
    if option in actions:
        return actions[option]
    matches = {a for name, a in actions.items() if name.startswith(option)}
    return matches.pop() if len(matches) == 1 else None


def passthrough(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """The options of `argv` (after `check`) that every child gets as the user wrote them: all but
    the targets and OWN_OPTIONS. Values of path options (type=Path) become absolute: children run
    in other folders."""
    kept: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":  # the rest are targets
            break
        if not token.startswith("-") or token == "-":  # a target
            i += 1
            continue
        name, eq, value = token.partition("=")
        action = _action(parser, name)
        group = [token]
        if action is not None and not eq and action.nargs != 0:
            count = action.nargs if isinstance(action.nargs, int) else 1
            if action.nargs in ("?", "*", "+"):  # as many values as follow, up to an option
                count = next(
                    (k for k, t in enumerate(argv[i + 1 :]) if t.startswith("-")),
                    len(argv) - i - 1,
                )
                count = min(count, 1) if action.nargs == "?" else count
            group = list(argv[i : i + 1 + count])
        i += len(group)
        if action is not None and set(action.option_strings) & OWN_OPTIONS:
            continue
        if action is not None and action.type is Path:
            if eq:
                group = [f"{name}={Path(value).resolve()}"]
            else:
                group = [group[0], *(str(Path(v).resolve()) for v in group[1:])]
        kept += group
    return kept


def _targets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Target]:
    """The explicit targets (run from here), then what --each finds. Exits 2 on a usage error."""
    here = Path.cwd().resolve()
    targets: list[Target] = []
    for written in dict.fromkeys(args.targets):
        # FOLDER:MODULE:CLASS is MODULE:CLASS imported from FOLDER (run there, like a student's).
        folder, spec = written.split(":", 1) if written.count(":") == 2 else ("", written)
        module, sep, cls = spec.partition(":")
        if not (sep and module and cls):
            parser.error(f"expected MODULE:CLASS or FOLDER:MODULE:CLASS, got {written!r}")
        if folder and not Path(folder).is_dir():
            parser.error(f"{written}: no directory {folder!r}")
        where = Path(folder).resolve() if folder else here
        targets.append(Target(written, spec, where))
    if args.each is not None:
        if len(args.each) > 1:
            parser.error("--each may be given once")
        root = args.each[0]
        if not root.is_dir():
            parser.error(f"--each: no directory {str(root)!r}")
        found = discover(root)
        if not found:
            parser.error(
                f"--each: no micrograd-shaped class in {str(root)!r} (one that defines __add__ "
                "or __mul__ and backward, or subclasses an Adapter)"
            )
        targets += found
    return targets


def check_many(
    args: argparse.Namespace, argv: Sequence[str], parser: argparse.ArgumentParser
) -> int:
    """The many-target command: the children, a progress line after each, the table (or the JSON),
    the reports. Exit 0 every target clean, 1 any finding or target not checked, 2 usage."""
    check = subparser(parser, "check")
    targets = _targets(args, check)
    rest = passthrough(argv[argv.index("check") + 1 :], check)
    jobs = args.jobs or os.cpu_count() or 1
    reports = args.report.resolve() if args.report else None
    problems: list[str] = []  # what went wrong writing reports: results are printed anyway
    pages = many_report.report_dirs(targets, reports)
    if reports is not None:
        try:
            reports.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # the children run without reports; their results still count
            problems.append(report_error(reports, e))
            pages = {}
    seconds = allowance(args.budget)
    start = time.monotonic()
    runnable = [t for t in targets if not t.problem]
    unrunnable = len(targets) - len(runnable)
    print(
        f"gradoracle: checking {len(runnable)} targets, {min(jobs, len(runnable))} at a time, "
        f"budget {args.budget:g} s each" + (f"; {unrunnable} cannot be run" if unrunnable else ""),
        file=sys.stderr,
        flush=True,
    )
    runs: dict[Target, ChildRun] = {}
    with interrupt.stopping_on():
        with Children(jobs) as children:  # leaving it kills whatever is left of them
            stopped_by = _run_all(children, runnable, rest, pages, seconds, runs, start)
        rows = [
            many_report.row_of(t, runs.get(t), pages.get(t), stopped_by is not None)
            for t in targets
        ]
        data = many_report.many_json(rows, time.monotonic() - start)
        if stopped_by is not None:
            data["interrupted"] = interrupt.name(stopped_by)
        code = _print_and_save(args, rows, data, reports, problems)
    late = stopped_by or interrupt.received()
    return code if late is None else interrupt.exit_code(late)


def _run_all(
    children: Children,
    runnable: list[Target],
    rest: list[str],
    pages: dict[Target, Path],
    seconds: float,
    runs: dict[Target, ChildRun],
    start: float,
) -> int | None:
    """Every target's child, its run put in `runs` as it ends. On SIGINT or SIGTERM the running
    children get the signal and STOP_WAIT seconds to report; the signal is returned."""
    env = child_env()
    futures: dict[Future[ChildRun], Target] = {}
    try:
        for target in runnable:
            command = [sys.executable, "-P", "-m", "gradoracle", "check", target.spec, *rest]
            command += ["--json", "--target-name", target.name]  # what `--accept ...@NAME` names
            if target in pages:
                command += ["--report", str(pages[target])]
            if where := target.run_in(Path.cwd()):
                command += ["--snippets-run-in", where]
            futures[children.submit(command, target.folder, seconds, env)] = target
        _gather(futures, runs, len(futures), start, None)
    except interrupt.Interrupted as e:  # the children stop and report: their rows are kept
        interrupt.begin_saving()  # a second signal ends it all at once
        children.forward(e.signum)
        waiting = {f: t for f, t in futures.items() if t not in runs and not f.cancelled()}
        with contextlib.suppress(FuturesTimeout):
            _gather(waiting, runs, len(futures), start, STOP_WAIT)
        return e.signum
    interrupt.begin_saving()
    return None


def _gather(
    futures: dict[Future[ChildRun], Target],
    runs: dict[Target, ChildRun],
    total: int,
    start: float,
    timeout: float | None,
) -> None:
    """Each child's run as it ends, with a progress line; `timeout` seconds at most."""
    for future in as_completed(futures, timeout):
        target = futures[future]
        runs[target] = run = future.result()
        row = many_report.row_of(target, run)
        print(
            f"[{len(runs)}/{total} {time.monotonic() - start:4.0f} s] {target.name}: "
            f"{row.verdict} ({run.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )


def _print_and_save(
    args: argparse.Namespace,
    rows: list[many_report.Row],
    data: dict[str, Any],
    reports: Path | None,
    problems: list[str],
) -> int:
    """The table (or the JSON), DIR's index; exit 0 if every target is clean, else 1."""
    if args.json:
        print(json.dumps(data))
    else:
        print(many_report.table(rows))
        print(many_report.footer(rows, reports))
    if reports is not None and not problems:
        try:
            index = many_report.write_index(rows, data, reports)
            print(f"report: {index}", file=sys.stderr)
        except Exception as e:  # the results are printed above; the index is extra
            problems.append(report_error(reports, e))
    for problem in problems:
        print(f"gradoracle: error: {problem}", file=sys.stderr)
    # The children's reports gathered in one file, a suite per target (none writes one itself).
    junit_written = args.junit_xml is None or write_junit_file(args.junit_xml, _suites(rows))
    return 1 if problems or not junit_written or not all(row.clean for row in rows) else 0


def _suites(rows: Sequence[many_report.Row]) -> list[Suite]:
    """A JUnit suite per row: its child's report, and its verdict where it was not checked."""
    from gradoracle.fuzz.junit import Suite

    return [
        Suite(r.target.name, r.report, None if r.status == CHECKED else r.verdict) for r in rows
    ]
