"""Run the default property suite against every mutant in the catalogue: are they all killed?

    python tests/mutants/run.py                  # every mutant, 2 at a time; last line `killed K/N`
    python tests/mutants/run.py -k overwrite     # mutants whose name contains 'overwrite'
    python tests/mutants/run.py --json out.json  # also write the results as JSON
    python tests/mutants/catalogue.py NAME       # the source diff of one mutant

The suite (gradoracle/suite inside gradoracle/, and pyproject.toml) is snapshotted
once, so every mutant meets the same suite even while the tree is being edited. For each mutant the
engine package is copied into a fresh temporary directory and mutated there (never in place), and
the suite runs in its own process with its gradoracle-ci hypothesis profile and PYTHONPATH so that
`import engine` finds the copy; the run checks that it did. A control run on an unmutated copy goes
first: it must pass. A mutant whose run outlives the timeout (an endless loop) counts as killed by
'timeout'.

Columns: the test that killed the mutant (among the failing property tests, the one that failed
after the fewest examples, then with the smallest counterexample; an explicit case only when no
property test failed), how many tests failed, the examples hypothesis ran until the first failure
(1 for an explicit case), the ops in the shrunk counterexample ('-' for an explicit case), and the
run's seconds.

Exit status: 0 when every mutant is killed, 1 when any survives, 2 when a run is unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from catalogue import MUTANTS, ROOT, Mutant, mutated_package  # noqa: E402
from mutant_probe import REPORT_ENV  # noqa: E402

# What the property suite needs besides the engine, relative to the project root.
SUITE_FILES = ("pyproject.toml", "gradoracle")
SUITE = "gradoracle/suite"
PYTEST_ARGS = ("-p", "no:cacheprovider", "--gradoracle-profile", "gradoracle-ci")
PYTEST_ARGS += ("-p", "mutant_probe")
PYTEST_ARGS += ("-q", "--no-header", "-p", "no:randomly")
# Default timeout per mutant: this many times the control run's duration, at least MIN_TIMEOUT s.
# Killing a mutant takes longer than passing (hypothesis shrinks every failing property).
TIMEOUT_FACTOR = 20.0
MIN_TIMEOUT = 300.0


@dataclass
class Result:
    name: str
    group: str
    status: str  # 'killed', 'survived', 'error'
    killer: str = ""  # see the module docstring; 'timeout' for a run that never ended
    first_in_order: str = ""  # the first failing test in the suite's run order
    failing_tests: int = 0
    examples: int | None = None  # examples until the first failure
    shrunk_ops: int | None = None  # ops in the shrunk counterexample
    seconds: float = 0.0
    detail: str = ""


def snapshot_suite(dest: Path) -> Path:
    """Copy what the property suite needs (not the engine) to `dest`; return `dest`."""
    for relative in SUITE_FILES:
        source, target = ROOT / relative, dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    return dest


def _short(nodeid: str) -> str:
    return nodeid.rsplit("/", 1)[-1].replace(".py::", "::")


def _killer(failed: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """The property test that failed after the fewest examples (then: smallest counterexample,
    run order); the first explicit case if no property test failed."""
    properties = [(i, f) for i, f in enumerate(failed) if "examples" in f[1]]
    if not properties:
        return failed[0]
    inf = float("inf")
    return min(
        properties,
        key=lambda p: (p[1][1].get("first_failure") or inf, p[1][1].get("shrunk_ops") or inf, p[0]),
    )[1]


def run_suite(mutant: Mutant | None, suite: Path, timeout: float | None) -> Result:
    """Run the property suite on a mutated copy of the engine (None: the unmutated control)."""
    name = mutant.name if mutant else "(control)"
    group = mutant.group if mutant else "-"
    with tempfile.TemporaryDirectory(prefix="gradoracle-mutant-") as tmp:
        work = Path(tmp)
        package = mutated_package(mutant, work)
        report_path = work / "report.json"
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env.update(
            {
                # The mutant first, then the probe plugin, then the suite's gradoracle/.
                "PYTHONPATH": os.pathsep.join([str(work), str(HERE), str(suite)]),
                REPORT_ENV: str(report_path),
                "GRADORACLE_PICTURES": str(work / "pictures"),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        # -P and cwd=work: neither the current directory nor the project root precede the mutant.
        cmd = [sys.executable, "-P", "-m", "pytest", str(suite / SUITE), "--rootdir", str(suite)]
        start = time.monotonic()
        proc = subprocess.Popen(
            [*cmd, *PYTEST_ARGS],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the run started above, with its children
            proc.communicate()
            seconds = time.monotonic() - start
            current = Path(f"{report_path}.current")
            where = _short(current.read_text()) if current.exists() else "collection"
            detail = f"no result after {timeout:.0f} s; running {where}"
            return Result(name, group, "killed", "timeout", seconds=seconds, detail=detail)
        seconds = time.monotonic() - start
        if not report_path.exists():
            detail = f"pytest exited {proc.returncode} without a report:\n{output[-3000:]}"
            return Result(name, group, "error", seconds=seconds, detail=detail)
        report = json.loads(report_path.read_text())
    engine_file = report.get("engine_file") or ""
    if not engine_file.startswith(str(package)):
        detail = f"the suite imported engine from {engine_file!r}, not the copy in {package}"
        return Result(name, group, "error", seconds=seconds, detail=detail)
    tests: dict[str, dict[str, Any]] = report["tests"]
    failed = [(n, t) for n, t in tests.items() if t["outcome"] not in ("passed", "skipped")]
    status = report["exitstatus"]
    if status == 0 and not failed:
        return Result(name, group, "survived", seconds=seconds)
    if status != 1 or not failed or any("collection" in t["outcome"] for _, t in failed):
        detail = f"pytest exit status {status}:\n{output[-3000:]}"
        return Result(name, group, "error", seconds=seconds, detail=detail)
    nodeid, best = _killer(failed)
    explicit = "examples" not in best  # an explicit case: one example, nothing shrunk
    examples = 1 if explicit else best.get("first_failure")
    shrunk_ops = None if explicit else best.get("shrunk_ops")
    return Result(
        name,
        group,
        "killed",
        _short(nodeid),
        _short(failed[0][0]),
        len(failed),
        examples,
        shrunk_ops,
        seconds,
        best.get("message", ""),
    )


def _fmt(x: object) -> str:
    return "-" if x is None else str(x)


def print_table(results: Sequence[Result], out: TextIO = sys.stdout) -> None:
    header = ("mutant", "result", "killed by", "fails", "examples", "shrunk ops", "seconds")
    rows = [
        (
            r.name,
            r.status,
            r.killer,
            _fmt(r.failing_tests or None),
            _fmt(r.examples),
            _fmt(r.shrunk_ops),
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line.format(*row).rstrip(), file=out)


def summary(results: Sequence[Result]) -> list[str]:
    lines = []
    for label, chosen in (
        ("overwrite mutants", [r for r in results if r.group == "overwrite"]),
        ("all mutants", list(results)),
    ):
        killed = [r for r in chosen if r.status == "killed" and r.examples is not None]
        if not killed:
            continue
        examples = [r.examples for r in killed if r.examples is not None]
        one_op = sum(1 for r in killed if r.shrunk_ops == 1)
        lines.append(
            f"{label}: median {statistics.median(examples):g} examples until the first failure "
            f"(max {max(examples)}); {one_op}/{len(chosen)} shrunk to one op"
        )
    by_timeout = [r.name for r in results if r.killer == "timeout"]
    if by_timeout:
        lines.append(f"killed by timeout: {', '.join(by_timeout)}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "-k", dest="select", action="append", default=[], help="only mutants whose name has this"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="mutants run at once (default: 2, or 1 on a single core)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds per mutant (default: {TIMEOUT_FACTOR:g} x the control run's, "
        f"at least {MIN_TIMEOUT:g})",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.select or any(s in m.name for s in args.select)]
    if args.list:
        for m in mutants:
            print(f"{m.name:30} {m.group:11} {m.description}")
        return 0
    if not mutants:
        print("no mutant matches", file=sys.stderr)
        return 2
    for m in mutants:  # every snippet applies exactly once, before anything runs
        m.apply((ROOT / "engine" / m.file).read_text())

    with tempfile.TemporaryDirectory(prefix="gradoracle-suite-") as tmp:
        suite = snapshot_suite(Path(tmp))
        control = run_suite(None, suite, timeout=None)
        if control.status != "survived":
            print(f"the control run (unmutated engine) fails: {control.status}", file=sys.stderr)
            print(control.detail, file=sys.stderr)
            return 2
        timeout = args.timeout or max(MIN_TIMEOUT, TIMEOUT_FACTOR * control.seconds)
        print(
            f"control run (unmutated copy of the engine, imported from the copy) passed in "
            f"{control.seconds:.1f} s; {len(mutants)} mutants, {args.jobs} at a time, "
            f"timeout {timeout:.0f} s each",
            flush=True,
        )
        start = time.monotonic()
        done = 0

        def one(mutant: Mutant) -> Result:
            nonlocal done
            result = run_suite(mutant, suite, timeout)
            done += 1
            print(
                f"[{done}/{len(mutants)}] {result.name}: {result.status} "
                f"{result.killer} ({result.seconds:.0f} s)".rstrip(),
                flush=True,
            )
            return result

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one, mutants))
        wall = time.monotonic() - start

    print()
    print_table(results)
    for r in results:
        if r.status == "error":
            print(f"\n{r.name}: unusable run\n{r.detail}")
        elif r.killer == "timeout":
            print(f"{r.name}: {r.detail}")
    print()
    for line in summary(results):
        print(line)
    survivors = [r.name for r in results if r.status == "survived"]
    if survivors:
        print(f"SURVIVED: {', '.join(survivors)}")
    print(f"wall time {wall:.0f} s with {args.jobs} at a time")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    killed = sum(r.status == "killed" for r in results)
    print(f"killed {killed}/{len(results)}")
    if survivors:
        return 1
    return 2 if any(r.status == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
