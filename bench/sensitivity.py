"""Sensitivity of `gradoracle check` on a catalogue of engines with planted bugs (and correct ones).

    python bench/sensitivity.py [--budget 10] [--seeds 0,1,2] [--jobs 1] [--only NAME[,NAME]]
                                [--markdown FILE] [--json FILE] [--quick]

Each module of bench/sensitivity_engines/ (names starting with `_` are helpers) defines a
micrograd-shaped `Value` and says what it is: `EXPECT` ("bug" or "correct"), `STYLE`,
`MECHANISM` and `BUG` (one line). For every engine and seed the script runs
`python -P -m gradoracle check MODULE:Value --budget B --seed S --json` in a fresh process, from
that folder, with the repository on PYTHONPATH, and a hard timeout of 3 * budget + 60 s, after
which its whole process group (its worker too) is killed: gradoracle.cli.many runs them, as it
runs the targets of a many-target `gradoracle check`.

A bug engine is "caught" at a seed iff the check exits 1; a correct engine is "clean" iff it exits 0
(exit 1 is a FALSE ALARM); exit 2, no JSON or the timeout is an "error". The table shows each
verdict with the seconds to the first finding when the JSON has `first_finding_seconds` (else
`-`). Exits 1 unless every bug engine is caught at every seed and every correct engine is clean at
every seed (an error counts against both).
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import _harness as h

from gradoracle.cli.many import Children, child_env
from gradoracle.cli.many_report import ChildRun

ENGINES_DIR = h.ROOT / "bench" / "sensitivity_engines"
FIELDS = ("EXPECT", "STYLE", "MECHANISM", "BUG")
# --quick: one engine per kind of weakness (and two correct ones), budget 5, seed 0.
QUICK = (
    "overwrite_mul",
    "int_add_fast_path",
    "tanh_negative_tuple",
    "visited_flag_shared_nodes",
    "exact_fractions",
    "pow_vv_valueerror",
)
CAUGHT, MISSED, CLEAN, FALSE_ALARM, ERROR = "caught", "missed", "clean", "FALSE ALARM", "error"


@dataclass(frozen=True)
class Engine:
    name: str
    expect: str  # "bug" or "correct"
    style: str
    mechanism: str
    bug: str


@dataclass
class Run:
    engine: str
    seed: int
    exit_code: int | None  # None: killed at the timeout
    verdict: str
    categories: list[str] = field(default_factory=list)  # one per finding, in report order
    graphs_checked: int | None = None
    ops_skipped: list[str] = field(default_factory=list)  # spellings the probe left out
    first_finding_seconds: float | None = None
    seconds: float = 0.0  # wall time of the whole subprocess
    problem: str = ""  # why the run is an error: the last line of stderr, the timeout, ...


def read_engine(path: Path) -> Engine:
    """The module's constants, read without importing it (some engines damage their process)."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in FIELDS and node.value:
                    found[target.id] = ast.literal_eval(node.value)
    missing = [name for name in FIELDS if not isinstance(found.get(name), str)]
    if missing:
        raise SystemExit(f"{path}: no string constant {', '.join(missing)}")
    if found["EXPECT"] not in ("bug", "correct"):
        raise SystemExit(f"{path}: EXPECT must be 'bug' or 'correct', not {found['EXPECT']!r}")
    return Engine(path.stem, found["EXPECT"], found["STYLE"], found["MECHANISM"], found["BUG"])


def catalogue() -> list[Engine]:
    return [read_engine(p) for p in sorted(ENGINES_DIR.glob("*.py")) if not p.stem.startswith("_")]


def verdict(engine: Engine, exit_code: int | None) -> str:
    if exit_code not in (0, 1):
        return ERROR
    if engine.expect == "bug":
        return CAUGHT if exit_code == 1 else MISSED
    return FALSE_ALARM if exit_code == 1 else CLEAN


def check_command(engine: Engine, seed: int, budget: float) -> list[str]:
    return [
        sys.executable, "-P", "-m", "gradoracle", "check", f"{engine.name}:Value",
        "--budget", f"{budget:g}", "--seed", str(seed), "--json",
    ]  # fmt: skip


def allowance(budget: float) -> float:
    """The hard timeout of one check."""
    return budget * 3 + 60


def to_run(engine: Engine, seed: int, child: ChildRun) -> Run:
    """A check's verdict on the engine, from how its process went."""
    run = Run(engine.name, seed, child.code, verdict(engine, child.code), seconds=child.seconds)
    if child.code is None:
        run.verdict, run.problem = ERROR, "timeout"
        return run
    result = child.report
    if result is None:
        run.verdict = ERROR
        run.problem = f"exit {child.code}, no JSON: " + (child.error or "no stderr")
        return run
    run.categories = [str(f.get("category", "?")) for f in result.get("findings", [])]
    run.graphs_checked = result.get("graphs_checked")
    run.ops_skipped = [str(op) for op in result.get("ops_skipped", [])]
    first = result.get("first_finding_seconds")
    run.first_finding_seconds = float(first) if isinstance(first, int | float) else None
    return run


def cell(run: Run) -> str:
    seconds = "-" if run.first_finding_seconds is None else f"{run.first_finding_seconds:.1f} s"
    return f"{run.verdict} {seconds}" if run.verdict != ERROR else f"error ({run.problem[:40]})"


def found(runs: Sequence[Run]) -> str:
    """Finding categories over all seeds, with how many findings of each."""
    counts: dict[str, int] = {}
    for run in runs:
        for category in run.categories:
            counts[category] = counts.get(category, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def report(
    engines: Sequence[Engine], seeds: Sequence[int], runs: dict[tuple[str, int], Run]
) -> str:
    """The table and the totals, in markdown."""
    rows = []
    for e in engines:
        mine = [runs[e.name, s] for s in seeds]
        graphs = [r.graphs_checked for r in mine if r.graphs_checked is not None]
        rows.append(
            [
                e.name,
                e.style,
                e.mechanism,
                e.expect,
                *(cell(r) for r in mine),
                f"{statistics.median(graphs):.0f}" if graphs else "-",
                found(mine),
            ]
        )
    headers = [
        "engine", "style", "mechanism", "expected", *(f"seed {s}" for s in seeds),
        "graphs (median)", "findings (all seeds)",
    ]  # fmt: skip
    bugs = [e for e in engines if e.expect == "bug"]
    correct = [e for e in engines if e.expect == "correct"]
    always = sum(all(runs[e.name, s].verdict == CAUGHT for s in seeds) for e in bugs)
    flagged = sum(any(runs[e.name, s].verdict == FALSE_ALARM for s in seeds) for e in correct)
    errors = sum(r.verdict == ERROR for r in runs.values())
    per_seed = "; ".join(
        f"seed {s}: {sum(runs[e.name, s].verdict == CAUGHT for e in bugs)}/{len(bugs)}"
        for s in seeds
    )
    lines = [
        table(headers, rows),
        "",
        f"bugs caught at every seed: {always}/{len(bugs)}; "
        f"correct engines flagged: {flagged}/{len(correct)}",
        "",
        f"bugs caught per seed: {per_seed}; runs ending in error: {errors}/{len(runs)}",
    ]
    return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned markdown table (h.table right-aligns every column after the first)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per check (10)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--jobs", type=int, default=1, help="checks run at once (1)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="these engines only")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the table here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every run here")
    parser.add_argument(
        "--quick", action="store_true", help=f"{len(QUICK)} engines, budget 5, seed 0"
    )
    args = parser.parse_args()
    engines = catalogue()
    budget, seeds = args.budget, [int(s) for s in args.seeds.split(",") if s.strip()]
    wanted = args.only.split(",") if args.only else None
    if args.quick:
        budget, seeds, wanted = 5.0, [0], wanted or list(QUICK)
    if wanted:
        unknown = sorted(set(wanted) - {e.name for e in engines})
        if unknown:
            parser.error(f"no engine named {', '.join(unknown)}")
        engines = [e for e in engines if e.name in wanted]
    jobs = [(e, s) for e in engines for s in seeds]
    print(
        f"sensitivity on {h.machine()}: {len(engines)} engines x {len(seeds)} seeds, "
        f"budget {budget:g} s, {args.jobs} at once",
        file=sys.stderr,
    )
    runs: dict[tuple[str, int], Run] = {}
    start = time.monotonic()
    env = child_env()
    with Children(args.jobs) as children:
        futures = {}
        for e, s in jobs:
            command = check_command(e, s, budget)
            futures[children.submit(command, ENGINES_DIR, allowance(budget), env)] = (e, s)
        for n, future in enumerate(as_completed(futures), 1):
            run = to_run(*futures[future], future.result())
            runs[run.engine, run.seed] = run
            print(
                f"[{n}/{len(jobs)} {time.monotonic() - start:6.0f} s] {run.engine} seed "
                f"{run.seed}: {cell(run)} ({run.seconds:.0f} s) {', '.join(run.categories)}",
                file=sys.stderr,
                flush=True,
            )
    text = report(engines, seeds, runs)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        records = {"budget": budget, "seeds": seeds, "engines": [asdict(e) for e in engines]}
        records["runs"] = [asdict(runs[e.name, s]) for e in engines for s in seeds]
        args.json.write_text(json.dumps(records, indent=1) + "\n")
    failed = any(
        r.verdict != (CAUGHT if e.expect == "bug" else CLEAN)
        for e in engines
        for r in (runs[e.name, s] for s in seeds)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
