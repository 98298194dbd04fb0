"""The `gradoracle` command line. Exit codes: 0 no findings, 1 findings, 2 usage error.

`gradoracle check` with several targets, or `--each DIR`, checks each target in a child process of
its own (gradoracle.cli.many); with one target it runs here, as it always did.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gradoracle.cli import check, corpus, fuzz
from gradoracle.cli.common import Parser, stdout_kept_for_json, subparser, usage_error
from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gradoracle",
        description="A correctness oracle for scalar autograd "
        "engines: random expression graphs, gradients checked against JAX and mpmath.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    corpus.register(commands)
    check.register(commands)
    fuzz.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        in_folder = any(target.count(":") == 2 for target in args.targets)
        if len(args.targets) > 1 or args.each is not None or in_folder:
            from gradoracle.cli.many import check_many

            try:
                return check_many(args, argv, parser)
            finally:
                interrupt.ending_at_once()
        if not args.targets:
            subparser(parser, "check").error(
                "the following arguments are required: MODULE:CLASS (or --each DIR)"
            )
        args.impl = args.targets[0]
    quiet: list[str] = []  # what to print on stdout once the run is over
    try:
        with stdout_kept_for_json(args.command != "corpus" and args.json):
            if args.command == "corpus":
                return corpus.run(args)
            code = fuzz.run(args, quiet) if args.command == "fuzz" else check.run(args, quiet)
    except UsageError as e:
        return usage_error(e)
    finally:
        interrupt.ending_at_once()
    for text in quiet:
        print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
