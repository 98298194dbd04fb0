"""`gradoracle check`: one target here; several (or `--each DIR`) one per child process
(gradoracle.cli.many)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradoracle.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    Progress,
    add_common,
    count,
    report_error,
    spellings,
)
from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import LOAD_TIMEOUT, Adapter, load_adapter_within
from gradoracle.fuzz.conventions import CONVENTIONS, parse_accept

if TYPE_CHECKING:
    from gradoracle.fuzz.check import CheckResult
    from gradoracle.fuzz.junit import Suite


def register(commands: Any) -> None:
    """Add `check` to the CLI's subparsers object."""
    check = commands.add_parser(
        "check", help="check implementations: probe, fuzz, shrink (several: a summary table)"
    )
    check.add_argument(
        "targets",
        nargs="*",
        metavar="MODULE:CLASS",
        help="a micrograd-shaped Value class (or an Adapter), imported from the current directory "
        "or, as FOLDER:MODULE:CLASS, from FOLDER; several are checked one per process",
    )
    add_common(check, budget=10.0)
    check.add_argument(
        "--graphs", type=count, metavar="N", help="stop after N random graphs (default: budget)"
    )
    check.add_argument(
        "--accept",
        action="append",
        default=[],
        metavar="NAME=ALTERNATIVE[@TARGET]",
        help="a convention the class chose, e.g. relu-kink=1 or log-domain=ieee (repeatable); "
        "with @TARGET (a glob), only for the targets it names; "
        f"names: {', '.join(CONVENTIONS)}",
    )
    check.add_argument(
        "--each",
        type=Path,
        action="append",  # given twice: a usage error (gradoracle.cli.many), not the last wins
        metavar="DIR",
        help="also check every micrograd-shaped class in DIR's modules and in each subfolder "
        "(one per student)",
    )
    check.add_argument(
        "--junit-xml",
        type=Path,
        metavar="FILE",
        help="also write FILE as JUnit XML: a test case per op spelling, battery case and finding "
        "category (one test suite per target)",
    )
    check.add_argument(
        "--jobs",
        type=count,
        metavar="N",
        help="targets checked at once, when several (default: the number of cores)",
    )
    # Set by a many-target check for a child that runs in another folder: the first comment line
    # of every snippet says where to run it (gradoracle.fuzz.snippets.located).
    check.add_argument("--snippets-run-in", metavar="TEXT", default="", help=argparse.SUPPRESS)
    # ... and the target's name in the table, which `--accept NAME=ALTERNATIVE@TARGET` may name.
    check.add_argument("--target-name", metavar="TEXT", default="", help=argparse.SUPPRESS)


def run(args: argparse.Namespace, out: list[str]) -> int:
    """The check, then `report` (also on SIGINT or SIGTERM: fuzz.interrupt)."""
    with interrupt.stopping_on():
        try:
            result, adapter = _check(args)
        except interrupt.Interrupted as e:  # before the check began: nothing found to keep
            return interrupted_early(e, args.impl)
        interrupt.begin_saving()
        return saved(report(args, result, adapter, out))


def interrupted_early(e: interrupt.Interrupted, impl: str) -> int:
    """A signal before there was anything to report: one line, exit 130 or 143."""
    what = f"interrupted by {interrupt.name(e.signum)} before {impl} was checked: nothing to report"
    print(f"gradoracle: {what}", file=sys.stderr)
    return interrupt.exit_code(e.signum)


def saved(code: int) -> int:
    """The exit code once the results are saved: 130 or 143 if a signal came meanwhile."""
    late = interrupt.received()
    return code if late is None else interrupt.exit_code(late)


def _check(args: argparse.Namespace) -> tuple[CheckResult, Adapter]:
    accepted = parse_accept(args.accept, (args.impl, args.target_name))
    adapter = load_adapter_within(args.impl, LOAD_TIMEOUT, spellings(args))
    adapter.snippet_run_in = args.snippets_run_in
    from gradoracle.fuzz.check import run_check
    from gradoracle.fuzz.isolation import IsolatedImpl
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.fuzz.runner import InProcess, Runner
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    use_compilation_cache(default_cache_dir())  # a later run loads what this one compiles

    runner: Runner = (
        InProcess(adapter)
        if args.in_process
        else IsolatedImpl(args.impl, args.timeout, spellings=adapter.spellings)
    )
    progress = Progress(args.budget)
    try:
        oracle = Oracle(adapter, JaxReference(), runner)
        result = run_check(
            oracle,
            args.budget,
            args.seed,
            progress=progress,
            max_graphs=args.graphs,
            timeout=args.timeout,
            accepted=accepted,
        )
    finally:
        progress.close()
        runner.close()
    return result, adapter


def report(args: argparse.Namespace, result: CheckResult, adapter: Adapter, out: list[str]) -> int:
    """Every way a run's results leave the process (summary or --json, --junit-xml, --report
    files), for a run that ended and for an interrupted one alike: the results first, then the
    report files; a report that cannot be written (a read-only DIR, graphviz failing) costs one
    line on stderr and exit 1, never the results. An interrupted run exits 130 (SIGINT) or 143
    (SIGTERM)."""
    from gradoracle.fuzz.junit import Suite
    from gradoracle.fuzz.report import result_json, summary_text

    data = result_json(result, adapter)
    if args.json:
        out.append(json.dumps(data))  # printed once stdout is back
    else:
        print(summary_text(result, adapter))
    code = EXIT_FINDINGS if result.findings else EXIT_CLEAN
    error = None
    if result.interrupted is not None:  # not a verdict, clean or not: the signal says why
        code = interrupt.exit_code(signal.Signals[result.interrupted])
        print(
            f"gradoracle: interrupted by {result.interrupted}: the run stopped early; "
            f"{len(result.findings)} findings kept",
            file=sys.stderr,
        )
    elif result.checked_nothing:  # nothing checked is never a pass
        error = (
            f"{result.impl} offers none of the ops: every spelling raised while building it, or "
            "none could be probed in time"
        )
    elif not result.findings and not result.stats.graphs_checked:  # the probe and battery alone
        error = (
            f"no random graph was checked within the budget of {result.budget:g} s (the probe "
            "and the battery took it): give a larger --budget"
        )
    if error is not None:
        print(f"gradoracle: error: {error}", file=sys.stderr)
        code = EXIT_USAGE
    junit_xml = getattr(args, "junit_xml", None)  # `fuzz` reports through here too, without it
    stopped = f"interrupted by {result.interrupted}: the run stopped early"
    suite = Suite(result.impl, data, error or (stopped if result.interrupted else None))
    if junit_xml and not write_junit_file(junit_xml, [suite]):
        code = max(code, EXIT_FINDINGS)  # not clean: what was asked for is missing
    if args.report:
        try:
            from gradoracle.fuzz.html_report import write_report

            page = write_report(result, adapter, args.report)
        except Exception as e:  # the report is extra; the verdict above stands
            print(f"gradoracle: error: {report_error(args.report, e)}", file=sys.stderr)
            return (
                code if result.interrupted else max(code, EXIT_FINDINGS)
            )  # not clean: what was asked for is missing
        print(f"report: {page}", file=sys.stderr)
    return code


def write_junit_file(path: Path, suites: list[Suite]) -> bool:
    """Write the JUnit XML file; False, and one line on stderr, when it cannot be written."""
    from gradoracle.fuzz.junit import junit_error, write_junit

    try:
        write_junit(path, suites)
    except Exception as e:  # the results are printed already; the file is extra
        print(f"gradoracle: error: {junit_error(path, e)}", file=sys.stderr)
        return False
    print(f"JUnit XML: {path}", file=sys.stderr)
    return True
