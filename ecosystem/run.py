"""The ecosystem table: scalar autograd engines from PyPI, each installed alone, all checked by one
`gradoracle check` command, every finding's snippet run again in a fresh process, and each
finding joined with what a person concluded on reading it (ecosystem/verdicts.toml).

    python ecosystem/run.py [--budget 10] [--jobs 2] [--only NAME,...] [--dir .ecosystem]

Writes ecosystem/results.md (the table the README shows, then every finding) and DIR/report/ (the
check's HTML report). Exits 1 when a finding's snippet does not show it, a finding has not been
read (no verdict for its package and category), or a verdict calls it a false alarm: the oracle
is then what needs fixing, for every engine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SNIPPET_TIMEOUT = 60.0  # seconds; a snippet of a hang is expected to run into it
# What a snippet's output shows when it reproduces its finding (fuzz.snippets marks them).
MARKS = ("<-- wrong", "<-- differs")
# A graph that failed only after others in the same worker: the engine damaged its own process,
# which a run shows and a single snippet, by definition, does not.
DAMAGED = "damaged worker"
# A verdict that says why a finding's snippet cannot show it (a native engine's memory corruption
# that a plain interpreter happens to survive): read, and counted as not shown in the table.
NOT_SHOWN = "not shown by its snippet"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    target: str
    kind: str
    with_: tuple[str, ...] = ()
    dependencies: bool = False

    def folder(self, root: Path) -> Path:
        return root / "pkgs" / self.name


def packages(only: set[str] | None = None) -> list[Package]:
    raw = tomllib.loads((HERE / "packages.toml").read_text())["package"]
    found = [
        Package(
            p["name"],
            p["version"],
            p["target"],
            p["kind"],
            tuple(p.get("with", ())),
            p.get("dependencies", False),
        )
        for p in raw
    ]
    return [p for p in found if only is None or p.name in only]


def install(package: Package, root: Path) -> str:
    """Install into the package's own folder (once per version); '' or the error's last line."""
    folder = package.folder(root)
    stamp = folder / ".installed"
    wanted = f"{package.name}=={package.version} {' '.join(package.with_)}"
    if stamp.exists() and stamp.read_text() == wanted:
        return ""
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[*pip, *([] if package.dependencies else ["--no-deps"]), "--target", str(folder),
              f"{package.name}=={package.version}"]]  # fmt: skip
    if package.with_:
        steps.append([*pip, "--target", str(folder), *package.with_])
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["pip failed"]
            return lines[-1]
    stamp.write_text(wanted)
    return ""


def check(targets: list[str], budget: float, jobs: int, report: Path) -> dict[str, Any]:
    """One `gradoracle check` of every target, each in its own folder; its JSON."""
    command = [
        sys.executable, "-P", "-m", "gradoracle", "check", *targets, "--budget", str(budget),
        "--jobs", str(jobs), "--json", "--report", str(report),
    ]  # fmt: skip
    # Adapters for engines no Value class drives (ecosystem/adapters/) import from there.
    paths = [str(HERE / "adapters"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
    )
    if proc.returncode == 2 or not proc.stdout.strip():
        raise SystemExit(f"gradoracle check failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


@dataclass
class Replay:
    """A finding's snippet, run as printed in a fresh process in the engine's folder."""

    shown: bool
    how: str  # what showed it: a marked line, the exception, a crash, a hang


def replay(snippet: str, folder: Path) -> Replay:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", snippet], cwd=folder, env=env, capture_output=True,
            text=True, timeout=SNIPPET_TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Replay(True, f"no answer within {SNIPPET_TIMEOUT:g} s")
    marked = [line for line in proc.stdout.splitlines() if any(m in line for m in MARKS)]
    if marked:
        return Replay(True, marked[0].strip())
    if proc.returncode < 0:
        return Replay(True, f"killed by signal {-proc.returncode}")
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return Replay(True, last)
    return Replay(False, "ran clean: " + " | ".join(proc.stdout.strip().splitlines()[-3:]))


@dataclass
class Row:
    package: Package
    status: str
    error: str | None
    report: dict[str, Any] | None
    findings: list[dict[str, Any]] = field(default_factory=list)  # with replay and verdict


def verdicts() -> dict[str, dict[str, str]]:
    return tomllib.loads((HERE / "verdicts.toml").read_text())


def verdict_key(finding: dict[str, Any]) -> str:
    """What verdicts.toml names a finding by: its category, and a convention's name."""
    if finding["category"] == "convention":
        return "convention " + finding["reason"].partition(":")[0]
    return str(finding["category"])


def kind_of(verdict: str) -> str:
    """'bug', 'convention' or 'false alarm': the verdict's first words."""
    for kind in ("false alarm", "convention", "bug"):
        if verdict.startswith(kind):
            return kind
    return "unread"


def table(rows: list[Row]) -> str:
    lines = [
        "| package | version | kind | ops covered | found | verified verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        p = row.package
        if row.report is None:
            problem = f"not checked: {row.status}: {row.error}"
            lines.append(f"| {p.name} | {p.version} | {p.kind} | - | - | {problem} |")
            continue
        covered = ", ".join(row.report["ops_covered"]) or "none"
        lines.append(f"| {p.name} | {p.version} | {p.kind} | {covered} | {found(row)} | "
                     f"{verified(row)} |")  # fmt: skip
    return "\n".join(lines)


def found(row: Row) -> str:
    """'tanh ... : reuse x2, deep graph; conventions: pow-domain' from the findings."""
    counts: dict[str, int] = {}
    conventions = []
    for f in row.findings:
        if f["category"] == "convention":
            conventions.append(verdict_key(f).removeprefix("convention "))
        else:
            counts[f["category"]] = counts.get(f["category"], 0) + 1
    parts = [f"{c} x{n}" if n > 1 else c for c, n in counts.items()]
    if conventions:
        parts.append("conventions: " + ", ".join(conventions))
    return "; ".join(parts) or "nothing"


def verified(row: Row) -> str:
    kinds: dict[str, int] = {}
    for f in row.findings:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in kinds.items()) or "clean"
    shown = sum(f["replay"].shown for f in row.findings)
    return f"{summary}; {shown}/{len(row.findings)} snippets show it"


def details(rows: list[Row]) -> str:
    out = []
    for row in rows:
        if not row.findings:
            continue
        out.append(f"### {row.package.name} {row.package.version}\n")
        for f in row.findings:
            shown = "shown" if f["replay"].shown else "NOT SHOWN"
            out.append(
                f"- **{f['category']}** ({f['kind']}): {f['verdict']}  \n"
                f"  check: {f['reason'][:300]}  \n"
                f"  snippet {shown}: `{f['replay'].how[:200]}`"
            )
        out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", help="comma-separated package names")
    parser.add_argument("--dir", type=Path, default=Path(".ecosystem"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="join the last run's DIR/report/report.json with verdicts.toml again (no install, "
        "no check)",
    )
    args = parser.parse_args()
    root = args.dir.resolve()
    chosen = packages(set(args.only.split(",")) if args.only else None)
    rows: dict[str, Row] = {}
    targets = []
    for package in [] if args.reuse else chosen:
        problem = install(package, root)
        print(f"{package.name} {package.version}: {problem or 'installed'}", file=sys.stderr)
        if problem:
            rows[package.name] = Row(package, "does not install", problem, None)
        else:
            targets.append(f"{package.folder(root)}:{package.target}")
    if args.reuse:
        result = json.loads((root / "report" / "report.json").read_text())
    else:
        result = check(targets, args.budget, args.jobs, root / "report")
    by_folder = {Path(t["folder"]).resolve(): t for t in result["targets"]}
    read = verdicts()
    for package in chosen:
        if package.name in rows:
            continue
        entry = by_folder[package.folder(root).resolve()]
        row = rows[package.name] = Row(package, entry["status"], entry["error"], entry["report"])
        for finding in (entry["report"] or {}).get("findings", []):
            verdict = read.get(package.name, {}).get(verdict_key(finding), "unread")
            finding = {**finding, "verdict": verdict, "kind": kind_of(verdict)}
            if finding["category"] == DAMAGED:
                finding["replay"] = Replay(False, "no snippet can: its graph passes alone")
            else:
                finding["replay"] = replay(finding["snippet"], package.folder(root))
            row.findings.append(finding)
    ordered = [rows[p.name] for p in chosen]
    text = (
        f"Produced by `nox -s ecosystem` (budget {args.budget:g} s per engine).\n\n"
        f"{table(ordered)}\n\n## Every finding\n\n{details(ordered)}"
    )
    (HERE / "results.md").write_text(text)
    print(table(ordered))
    bad = [
        f"{row.package.name}: {f['category']} ({f['kind']}, snippet "
        f"{'shown' if f['replay'].shown else 'not shown'})"
        for row in ordered
        for f in row.findings
        if f["kind"] in ("unread", "false alarm")
        or not (f["replay"].shown or NOT_SHOWN in f["verdict"] or f["category"] == DAMAGED)
    ]
    for line in bad:
        print(f"ecosystem: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
