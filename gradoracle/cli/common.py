"""What the commands share: the parser class and its one-line usage errors, exit codes, the flag
types, the flags `check` and `fuzz` both take, the progress line, and stdout kept for `--json`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

from gradoracle.fuzz.adapters import UsageError
from gradoracle.fuzz.spellings import KEYS, SpellingError, parse_pairs

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming the problem, exit 2 (argparse's default prints the usage too)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def usage_error(e: UsageError) -> int:
    """The usage-error path of every command: one line on stderr, exit 2."""
    print(f"gradoracle: error: {e}", file=sys.stderr)
    return EXIT_USAGE


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer seed: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def spelling_pairs(text: str) -> dict[str, str]:
    try:
        return parse_pairs(text)
    except SpellingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def spellings(args: argparse.Namespace) -> dict[str, str]:
    """The --spelling flags as one mapping; a key named twice with two names is a usage error."""
    merged: dict[str, str] = {}
    for pairs in args.spelling:
        for key, name in pairs.items():
            if merged.get(key, name) != name:
                raise UsageError(f"--spelling: {key} named twice: {merged[key]!r} and {name!r}")
            merged[key] = name
    return merged


def whole(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= minimum ('not {what}: ...' otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text!r}")
        return value

    return parse


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one command (`check`): its options, for passing them on to child processes."""
    for action in parser._actions:  # argparse keeps subparsers in a private list only
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def add_common(parser: argparse.ArgumentParser, budget: float) -> None:
    parser.add_argument(
        "--budget", type=positive_seconds, default=budget, help=f"seconds ({budget:g})"
    )
    parser.add_argument("--seed", type=seed, default=0, help="same seed, same graphs (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write DIR/report.html, .json")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
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
        type=spelling_pairs,
        action="append",
        default=[],
        metavar="KEY=NAME[,...]",
        help=f"the class's names where detection cannot tell (keys: {', '.join(KEYS)})",
    )


class Progress:
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


def report_error(directory: Path, e: Exception) -> str:
    """One line: why DIR's report could not be written."""
    lines = str(e).strip().splitlines() or [""]
    return f"cannot write the report in {directory}: {type(e).__name__}: {lines[0]}".rstrip(": ")


@contextlib.contextmanager
def stdout_kept_for_json(keep: bool) -> Iterator[None]:
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
