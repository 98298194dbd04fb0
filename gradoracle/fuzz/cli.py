"""The `gradoracle` command line. Exit codes: 0 no findings, 1 findings, 2 usage error.

`gradoracle check` with several targets, or `--each DIR`, checks each target in a child process of
its own (gradoracle.fuzz.many); with one target it runs here, as it always did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from gradoracle.fuzz import corpus_cli
from gradoracle.fuzz.adapters import LOAD_TIMEOUT, Adapter, UsageError, load_adapter_within
from gradoracle.fuzz.conventions import CONVENTIONS, parse_accept
from gradoracle.fuzz.spellings import KEYS, SpellingError, parse_pairs

if TYPE_CHECKING:
    from gradoracle.fuzz.check import CheckResult

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming the problem, exit 2 (argparse's default prints the usage too)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer seed: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _spelling(text: str) -> dict[str, str]:
    try:
        return parse_pairs(text)
    except SpellingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _spellings(args: argparse.Namespace) -> dict[str, str]:
    """The --spelling flags as one mapping; a key named twice with two names is a usage error."""
    merged: dict[str, str] = {}
    for pairs in args.spelling:
        for key, name in pairs.items():
            if merged.get(key, name) != name:
                raise UsageError(f"--spelling: {key} named twice: {merged[key]!r} and {name!r}")
            merged[key] = name
    return merged


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradoracle",
        description="A correctness oracle for scalar autograd "
        "engines: random expression graphs, gradients checked against JAX and mpmath.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    corpus_cli.register(commands)
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
    _common(check, budget=10.0)
    check.add_argument(
        "--graphs", type=_count, metavar="N", help="stop after N random graphs (default: budget)"
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
        action="append",  # given twice: a usage error (gradoracle.fuzz.many), not the last wins
        metavar="DIR",
        help="also check every micrograd-shaped class in DIR's modules and in each subfolder "
        "(one per student)",
    )
    check.add_argument(
        "--jobs",
        type=_count,
        metavar="N",
        help="targets checked at once, when several (default: the number of cores)",
    )
    # Set by a many-target check for a child that runs in another folder: the first comment line
    # of every snippet says where to run it (gradoracle.fuzz.snippets.located).
    check.add_argument("--snippets-run-in", metavar="TEXT", default="", help=argparse.SUPPRESS)
    # ... and the target's name in the table, which `--accept NAME=ALTERNATIVE@TARGET` may name.
    check.add_argument("--target-name", metavar="TEXT", default="", help=argparse.SUPPRESS)
    campaign = commands.add_parser("fuzz", help="a campaign on all cores, sharing findings")
    campaign.add_argument("--impl", metavar="MODULE:CLASS", default="engine:Value")
    _common(campaign, budget=60.0)
    campaign.add_argument(
        "--workers", type=_count, metavar="N", help="processes (default: all cores)"
    )
    campaign.add_argument(
        "--database",
        metavar="DIR|redis://HOST:PORT",
        default=".gradoracle/examples",
        help="hypothesis example database shared by workers and campaigns (.gradoracle/examples)",
    )
    return parser


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one command (`check`): its options, for passing them on to child processes."""
    for action in parser._actions:  # argparse keeps subparsers in a private list only
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def _common(parser: argparse.ArgumentParser, budget: float) -> None:
    parser.add_argument(
        "--budget", type=_positive_seconds, default=budget, help=f"seconds ({budget:g})"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="same seed, same graphs (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write DIR/report.html, .json")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=5.0,
        help="seconds one graph may take before it counts as a hang (5)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the implementation in this process (faster; a hang or crash ends the run)",
    )
    parser.add_argument(
        "--spelling",
        type=_spelling,
        action="append",
        default=[],
        metavar="KEY=NAME[,...]",
        help=f"the class's names where detection cannot tell (keys: {', '.join(KEYS)})",
    )


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, every few seconds otherwise."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.tty = sys.stderr.isatty()
        self.last = -1e9

    def __call__(self, stats: object, failures: int, elapsed: float) -> None:  # Stats or a count
        if not self.tty and elapsed - self.last < 5.0:
            return
        self.last = elapsed
        checked = stats if isinstance(stats, int) else getattr(stats, "graphs_checked", 0)
        done = min(1.0, elapsed / self.budget)
        bar = "#" * int(done * 20)
        line = (
            f"[{bar:<20}] {elapsed:5.1f}/{self.budget:g} s  {checked} graphs "
            f"({checked / max(elapsed, 1e-9):.0f}/s)  {failures} failing"
        )
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _check(args: argparse.Namespace, out: list[str]) -> int:
    accepted = parse_accept(args.accept, (args.impl, args.target_name))
    adapter = load_adapter_within(args.impl, LOAD_TIMEOUT, _spellings(args))
    adapter.snippet_run_in = args.snippets_run_in
    from gradoracle.fuzz.check import run_check
    from gradoracle.fuzz.isolation import IsolatedImpl
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.fuzz.runner import InProcess
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    use_compilation_cache(default_cache_dir())  # a later run loads what this one compiles

    runner = (
        InProcess(adapter)
        if args.in_process
        else IsolatedImpl(args.impl, args.timeout, spellings=adapter.spellings)
    )
    progress = _Progress(args.budget)
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
        if isinstance(runner, IsolatedImpl):
            runner.close()
    return _report(args, result, adapter, out)


def _report(args: argparse.Namespace, result: CheckResult, adapter: Adapter, out: list[str]) -> int:
    """The results first, then the report files: a report that cannot be written (a read-only
    DIR, graphviz failing) costs one line on stderr and exit 1, never the results."""
    from gradoracle.fuzz.report import result_json, summary_text

    if args.json:
        out.append(json.dumps(result_json(result, adapter)))  # printed once stdout is back
    else:
        print(summary_text(result, adapter))
    code = EXIT_FINDINGS if result.findings else EXIT_CLEAN
    if result.checked_nothing:  # nothing checked is never a pass
        print(
            f"gradoracle: error: {result.impl} offers none of the ops: every spelling raised "
            "while building it, or none could be probed in time",
            file=sys.stderr,
        )
        code = EXIT_USAGE
    elif not result.findings and not result.stats.graphs_checked:  # the probe and battery alone
        print(
            f"gradoracle: error: no random graph was checked within the budget of "
            f"{result.budget:g} s (the probe and the battery took it): give a larger --budget",
            file=sys.stderr,
        )
        code = EXIT_USAGE
    if args.report:
        try:
            from gradoracle.fuzz.html_report import write_report

            page = write_report(result, adapter, args.report)
        except Exception as e:  # the report is extra; the verdict above stands
            print(f"gradoracle: error: {report_error(args.report, e)}", file=sys.stderr)
            return max(code, EXIT_FINDINGS)  # not clean: what was asked for is missing
        print(f"report: {page}", file=sys.stderr)
    return code


def report_error(directory: Path, e: Exception) -> str:
    """One line: why DIR's report could not be written."""
    lines = str(e).strip().splitlines() or [""]
    return f"cannot write the report in {directory}: {type(e).__name__}: {lines[0]}".rstrip(": ")


def _fuzz(args: argparse.Namespace, out: list[str]) -> int:
    from gradoracle.fuzz.campaign import run_campaign

    adapter = load_adapter_within(args.impl, LOAD_TIMEOUT, _spellings(args))
    progress = _Progress(args.budget)
    try:
        result, problems = run_campaign(
            args.impl,
            args.budget,
            args.workers,
            args.seed,
            args.database,
            args.timeout,
            args.in_process,
            progress=lambda checked, failing, elapsed: progress(checked, failing, elapsed),
            spellings=adapter.spellings,
        )
    finally:
        progress.close()
    for problem in problems:
        print(f"gradoracle: warning: {problem}", file=sys.stderr)
    return _report(args, result, adapter, out)


@contextlib.contextmanager
def _stdout_kept_for_json(keep: bool) -> Iterator[None]:
    """While the command runs, stdout (the file descriptor and sys.stdout) goes to stderr, so that
    what the engine, JAX or a logging handler an engine installs print cannot get into the one
    JSON object; the JSON is printed after this. (An engine that replaced the root logger's
    handlers with one writing to stdout once put JAX's log lines in front of it.)"""
    if not keep:
        yield
        return
    sys.stdout.flush()
    saved_fd, saved_stream = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout = saved_stream


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        in_folder = any(target.count(":") == 2 for target in args.targets)
        if len(args.targets) > 1 or args.each is not None or in_folder:
            from gradoracle.fuzz.many import check_many

            return check_many(args, argv, parser)
        if not args.targets:
            subparser(parser, "check").error(
                "the following arguments are required: MODULE:CLASS (or --each DIR)"
            )
        args.impl = args.targets[0]
    quiet: list[str] = []  # what to print on stdout once the run is over
    try:
        with _stdout_kept_for_json(args.command != "corpus" and args.json):
            if args.command == "corpus":
                return corpus_cli.run(args)
            code = _fuzz(args, quiet) if args.command == "fuzz" else _check(args, quiet)
    except UsageError as e:
        print(f"gradoracle: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for text in quiet:
        print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
