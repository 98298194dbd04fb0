"""`gradoracle corpus export | replay | add`: the test-vector corpus on the command line.

Wired into `gradoracle.cli.main` by `register(commands)` (adds the `corpus` subparser) and
`run(args)` (called inside the CLI's `except UsageError`): a malformed corpus file is a usage error,
exit 2, one line. `python -m gradoracle.cli.corpus corpus ...` runs the same commands alone.

    gradoracle corpus export --n 200 --seed 1 vectors.json
    gradoracle corpus replay vectors.json --impl mymodule:Value [--json]
    gradoracle corpus add tests/corpus/regressions.json --report report/report.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradoracle.cli.common import EXIT_CLEAN, EXIT_FINDINGS, Parser, usage_error, whole
from gradoracle.fuzz.adapters import UsageError

if TYPE_CHECKING:  # fuzz.corpus is imported when a command runs: `gradoracle --help` stays quick
    from gradoracle.fuzz.corpus import ReplayResult

DEFAULT_IMPL = "engine:Value"


def register(commands: Any) -> None:
    """Add `corpus` (with `export`, `replay`, `add`) to the CLI's subparsers object."""
    corpus = commands.add_parser(
        "corpus", help="JSON test vectors: export them, replay them on an implementation"
    )
    sub = corpus.add_subparsers(dest="corpus_command", required=True, parser_class=type(corpus))
    export = sub.add_parser("export", help="write N vectors from the sampler (needs JAX)")
    export.add_argument("--n", type=whole(1, "a whole number"), default=100, help="vectors (100)")
    export.add_argument("--seed", type=whole(0, "an integer seed"), default=0, help="(0)")
    export.add_argument("file", metavar="FILE", type=Path, help="the corpus file to write")
    replay = sub.add_parser("replay", help="check an implementation against a corpus file")
    replay.add_argument("file", metavar="FILE", type=Path, help="a corpus file")
    replay.add_argument(
        "--impl", metavar="MODULE:CLASS", default=DEFAULT_IMPL, help=f"({DEFAULT_IMPL})"
    )
    replay.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add = sub.add_parser("add", help="append graphs (e.g. campaign findings) to a corpus file")
    add.add_argument("file", metavar="FILE", type=Path, help="the corpus file (created if missing)")
    add.add_argument(
        "--graph-json", action="append", default=[], metavar="JSON", help="a graph (repeatable)"
    )
    add.add_argument(
        "--report", action="append", default=[], type=Path, metavar="REPORT.json",
        help="a `check --json` / `--report` result: adds each finding's graph (repeatable)",
    )  # fmt: skip
    add.add_argument("--comment", default="", help="comment for the new vectors")


def run(args: argparse.Namespace) -> int:
    """Run a `corpus` command; bad input raises UsageError (one line, exit 2)."""
    from gradoracle.fuzz.corpus import CorpusError

    try:
        if args.corpus_command == "export":
            return _export(args)
        if args.corpus_command == "replay":
            return _replay(args)
        return _add(args)
    except CorpusError as e:
        raise UsageError(str(e)) from None


def _export(args: argparse.Namespace) -> int:
    from gradoracle.fuzz.corpus import export, save

    if not args.file.parent.is_dir():
        raise UsageError(f"{args.file}: no such directory {str(args.file.parent)!r}")
    if args.file.is_dir():
        raise UsageError(f"{args.file}: is a directory")
    corpus, stats = export(args.n, args.seed)
    save(corpus, args.file)
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(stats.not_comparable.items()))
    print(
        f"wrote {stats.vectors} vectors to {args.file} from {stats.graphs_sampled} graphs "
        f"(seed {args.seed}; not comparable: {skipped or 'none'}) in {stats.seconds:.1f} s",
        file=sys.stderr,
    )
    return EXIT_CLEAN


def _replay(args: argparse.Namespace) -> int:
    from gradoracle.fuzz.adapters import load_adapter
    from gradoracle.fuzz.corpus import load, replay

    corpus = load(args.file)
    result = replay(corpus, load_adapter(args.impl))
    if args.json:
        print(json.dumps(replay_json(result, str(args.file))))
    else:
        print(replay_text(result, str(args.file)))
    return EXIT_FINDINGS if result.failures else EXIT_CLEAN


def _graphs_from_report(path: Path) -> tuple[list[Any], list[str]]:
    from gradoracle.reference.graph import Graph, GraphError

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        findings = report["findings"]
        graphs, comments = [], []
        for k, finding in enumerate(findings):
            if finding.get("graph") is None:  # behaviour findings (deep graph, ...) have none
                continue
            graphs.append(Graph.from_json(json.dumps(finding["graph"])))
            comments.append(f"finding {k} of {path.name}: {finding['category']}: "
                            f"{finding['reason']}")  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError, GraphError) as e:
        message = f"{path}: not a gradoracle check report ({type(e).__name__}: {e})"
        raise UsageError(message) from None
    return graphs, comments


def _add(args: argparse.Namespace) -> int:
    from gradoracle.fuzz.corpus import add_vectors
    from gradoracle.reference.graph import Graph, GraphError

    graphs, comments = [], []
    for k, text in enumerate(args.graph_json):
        try:
            graphs.append(Graph.from_json(text))
        except GraphError as e:
            raise UsageError(f"--graph-json #{k + 1}: {e}") from None
        comments.append(args.comment or "added with --graph-json")
    for path in args.report:
        found, notes = _graphs_from_report(path)
        graphs += found
        comments += [f"{args.comment}: {note}" if args.comment else note for note in notes]
    if not graphs:
        raise UsageError("nothing to add: give --graph-json or --report")
    added = add_vectors(args.file, graphs, comments)
    for k, why in added.skipped:
        print(f"graph {k + 1} skipped: {why}", file=sys.stderr)
    ids = ", ".join(map(str, added.ids)) or "none"
    print(f"added {len(added.ids)} vectors to {args.file} (ids {ids})", file=sys.stderr)
    return EXIT_CLEAN


def _num(x: float | None) -> str:
    return "no number" if x is None else repr(x)


def replay_text(result: ReplayResult, file: str) -> str:
    lines = [f"gradoracle corpus replay {file} --impl {result.impl}"]
    for c in result.failures:
        head = f"FAIL vector {c.vector.id} ({c.vector.comment})"
        if c.error:
            lines.append(f"{head}: {c.error}")
            continue
        lines.append(head + ":")
        for m in c.mismatches:
            what = "value" if m.name == "value" else f"d out/d {m.name}"
            lines.append(
                f"  {what}: expected {_num(m.expected)}, got {_num(m.got)} "
                f"(tolerance {m.tolerance:.3g})"
            )
    n, failed, skipped = len(result.checked), len(result.failures), len(result.skipped)
    lacking = sorted({c.unsupported for c in result.skipped})
    not_judged = f", {skipped} skipped (not supported: {', '.join(lacking)})" if skipped else ""
    lines.append(
        f"{n} vectors: {n - failed - skipped} passed, {failed} failed{not_judged} "
        f"({result.seconds:.2f} s, implementation {result.impl_seconds:.2f} s)"
    )
    return "\n".join(lines)


def _json_number(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else repr(x)


def replay_json(result: ReplayResult, file: str) -> dict[str, Any]:
    """The `--json` object: the keys every gradoracle command reports, and the failing vectors."""
    findings = [
        {
            "id": c.vector.id,
            "comment": c.vector.comment,
            "error": c.error or None,
            "graph": json.loads(c.vector.graph.to_json()),
            "mismatches": [
                {
                    "name": m.name,
                    "expected": m.expected,
                    "got": _json_number(m.got),
                    "tolerance": m.tolerance,
                }
                for m in c.mismatches
            ],
        }
        for c in result.failures
    ]
    return {
        "file": file,
        "impl": result.impl,
        "vectors": len(result.checked),
        "passed": len(result.checked) - len(findings) - len(result.skipped),
        "skipped": len(result.skipped),
        "ops_skipped": sorted({c.unsupported for c in result.skipped}),
        "graphs_checked": len(result.checked) - len(result.skipped),
        "not_comparable": 0,
        "findings": findings,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "impl_seconds": result.impl_seconds,
        "reference_seconds": 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gradoracle.cli.corpus corpus ...`: the commands without the rest of the CLI."""
    parser = Parser(prog="gradoracle")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    register(commands)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as e:
        return usage_error(e)


if __name__ == "__main__":
    sys.exit(main())
