"""`gradoracle fuzz`: a campaign on all cores, sharing findings (gradoracle.fuzz.campaign)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gradoracle.cli.check import interrupted_early, report, saved
from gradoracle.cli.common import Progress, add_common, count, spellings
from gradoracle.fuzz import interrupt
from gradoracle.fuzz.adapters import LOAD_TIMEOUT, load_adapter_within


def register(commands: Any) -> None:
    """Add `fuzz` to the CLI's subparsers object."""
    campaign = commands.add_parser("fuzz", help="a campaign on all cores, sharing findings")
    campaign.add_argument("--impl", metavar="MODULE:CLASS", default="engine:Value")
    add_common(campaign, budget=60.0)
    campaign.add_argument(
        "--workers", type=count, metavar="N", help="processes (default: all cores)"
    )
    campaign.add_argument(
        "--database",
        metavar="DIR|redis://HOST:PORT[/DB]",
        default=".gradoracle/examples",
        help="hypothesis example database shared by workers and campaigns, a directory or a Redis "
        "server (.gradoracle/examples)",
    )
    campaign.add_argument(
        "--database-prefix",
        metavar="NAME",
        default="gradoracle",
        help="findings are saved under NAME:findings:MODULE:CLASS; one name per project sharing "
        "a database (gradoracle)",
    )


def run(args: argparse.Namespace, out: list[str]) -> int:
    """The campaign, then `report`; on SIGINT or SIGTERM the shards stop early, save their
    findings to the database and send them here (fuzz.campaign), and the report says so."""
    from gradoracle.fuzz.campaign import run_campaign

    with interrupt.stopping_on():
        progress = Progress(args.budget)
        try:
            adapter = load_adapter_within(args.impl, LOAD_TIMEOUT, spellings(args))
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
                database_prefix=args.database_prefix,
            )
        except interrupt.Interrupted as e:  # before any shard started: nothing found to keep
            return interrupted_early(e, args.impl)
        finally:
            progress.close()
        interrupt.begin_saving()
        for problem in problems:
            print(f"gradoracle: warning: {problem}", file=sys.stderr)
        return saved(report(args, result, adapter, out))
