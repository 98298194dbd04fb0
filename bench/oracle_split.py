"""Does the oracle keep up with the engine it checks? The CPU split of `check` and `fuzz`.

    python bench/oracle_split.py [--budget 20] [--runs 3] [--impl engine:Value]
                                 [--against OTHER_CHECKOUT] [--quick]

Runs `gradoracle check IMPL --budget B --json` and `gradoracle fuzz --impl IMPL --budget B --json`
(its own example database), each in a fresh process, `--runs` times, alternated; with `--against`,
the same commands from another checkout (PYTHONPATH) alternate with these, for a before/after on one
machine at one load. Each checkout first runs one short, untimed check (numba compiles the sampler
for a new checkout, JAX compiles new shapes into its disk cache). Prints medians over the runs: CPU
microseconds per checked graph, split by part (the report's `cpu_split`, defined in
gradoracle/fuzz/cpu_split.py: the implementation, the rest of the worker, messaging, sampling, the
JAX reference's packing, compiling, XLA and unpacking, quick and one-by-one comparisons, probe,
battery, shrinking, other), and the two ratios the oracle is held to: reference_seconds /
impl_seconds <= 0.5 and impl_seconds / cpu_seconds >= 0.5. A checkout without `cpu_split` shows
totals only. CPU time, not wall: other processes on the machine slow wall time down far more than
CPU time (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, machine, table

PARTS = (
    "impl", "worker other", "messaging", "sampling", "reference pack", "reference compile",
    "reference xla", "reference unpack", "compare quick", "adjudicate", "probe", "battery",
    "shrink", "other",
)  # fmt: skip


def run(command: str, spec: str, budget: float, checkout: Path) -> dict[str, Any]:
    """One `gradoracle check` or `fuzz` run in a fresh interpreter, from `checkout`; its report."""
    with tempfile.TemporaryDirectory(prefix="gradoracle-split-") as database:
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        args = [spec] if command == "check" else ["--impl", spec, "--database", database]
        line = [sys.executable, "-m", "gradoracle", command, *args, "--budget", str(budget)]
        proc = subprocess.run(
            [*line, "--json"], cwd=checkout, env=env, capture_output=True, text=True,
            timeout=budget + 180, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    if not proc.stdout.strip():
        raise RuntimeError(f"{' '.join(line)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def figures(report: dict[str, Any]) -> dict[str, float]:
    """Per checked graph (CPU us) and the two ratios, from one report."""
    n = max(1, int(report["graphs_checked"]))
    cpu, impl = float(report["cpu_seconds"]), float(report["impl_seconds"])
    ref = float(report["reference_seconds"])
    out = {
        "graphs": float(n),
        "cpu us/graph": cpu / n * 1e6,
        "reference/impl": ref / impl if impl else float("inf"),
        "impl/cpu": impl / cpu if cpu else 0.0,
    }
    for part, seconds in report.get("cpu_split", {}).items():
        out[part] = float(seconds) / n * 1e6
    return out


def median_row(label: str, runs: list[dict[str, float]], columns: list[str]) -> list[str]:
    cells = [label]
    for column in columns:
        values = [r[column] for r in runs if column in r]
        if not values:
            cells.append("-")
            continue
        value = statistics.median(values)
        cells.append(f"{value:.0f}" if column == "graphs" or value >= 100 else f"{value:.2f}"
                     if column in ("reference/impl", "impl/cpu") else f"{value:.1f}")  # fmt: skip
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--impl", default="engine:Value")
    parser.add_argument("--against", type=Path, help="another checkout, run alternately")
    parser.add_argument("--quick", action="store_true", help="one run of 8 s each (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the raw reports here")
    args = parser.parse_args()
    if args.quick:
        args.budget, args.runs = 8.0, 1
    checkouts = {"this": ROOT} | ({"against": args.against.resolve()} if args.against else {})
    load = os.getloadavg()
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    raw = []
    for checkout in checkouts.values():  # numba's sampler and JAX's shapes compiled, not timed
        run("check", args.impl, 4.0, checkout)
    for k in range(args.runs):
        for command in ("check", "fuzz"):
            for name, checkout in checkouts.items():
                report = run(command, args.impl, args.budget, checkout)
                results.setdefault((command, name), []).append(figures(report))
                raw.append({"command": command, "checkout": str(checkout), "report": report})
                print(f"  run {k + 1}: {command} ({name}) done", file=sys.stderr, flush=True)
    ratios = ["graphs", "cpu us/graph", "reference/impl", "impl/cpu"]
    rows = [
        median_row(f"{command} ({name})" if args.against else command, runs, ratios)
        for (command, name), runs in results.items()
    ]
    print(f"## The oracle against {args.impl}: `check` and `fuzz`, {args.budget:g} s each\n")
    print(f"Medians of {args.runs} runs per row, alternated; goal: reference/impl <= 0.5, "
          "impl/cpu >= 0.5.\n")  # fmt: skip
    print(table(["run", *ratios], rows))
    split = [
        median_row(f"{command} ({name})" if args.against else command, runs, list(PARTS))
        for (command, name), runs in results.items()
        if any(part in r for r in runs for part in PARTS)
    ]
    if split:
        print("\n### CPU microseconds per checked graph, by part (gradoracle/fuzz/cpu_split.py)\n")
        print(table(["run", *PARTS], split))
    after = os.getloadavg()
    print(f"\nload average {load[0]:.1f} at the start, {after[0]:.1f} at the end "
          f"({os.cpu_count()} cores); {machine()}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
