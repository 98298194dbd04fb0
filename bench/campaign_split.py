"""Where a `gradoracle fuzz` campaign's CPU time goes, on the project engine and on micrograd.

Each campaign runs in a fresh process (`python -m gradoracle fuzz --json`, its own example database)
for BUDGET seconds with 1 and 2 shards. The goal (issue 7): at least a third of the CPU time inside
the implementation under test, `impl_seconds / cpu_seconds` in the report. Per checked graph, in
CPU microseconds: the implementation (measured in the worker around adapter.run), sampling, the JAX
reference (tape packing and the interpreter, JAX's threads included), comparing, and the rest
(the worker's and the parent's batch handling and messages, start-up, probe and battery).

    python bench/campaign_split.py [--budget SECONDS] [--workers 1 2] [--impl engine:Value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, machine, table

IMPLS = ("engine:Value", "micrograd.engine:Value")
BUDGET = 30.0


def campaign(spec: str, workers: int, budget: float) -> dict[str, Any]:
    """One campaign in a fresh interpreter; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="gradoracle-split-") as database:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        command = [
            sys.executable, "-m", "gradoracle", "fuzz", "--impl", spec, "--budget", str(budget),
            "--workers", str(workers), "--json", "--database", database,
        ]  # fmt: skip
        proc = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=budget + 120
        )
    if not proc.stdout.strip():
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def row(spec: str, workers: int, r: dict[str, Any]) -> list[str]:
    n = max(1, int(r["graphs_checked"]))
    us = 1e6 / n
    cpu, impl = float(r["cpu_seconds"]), float(r["impl_seconds"])
    sample, ref, comp = (float(r[f"{k}_seconds"]) for k in ("sample", "reference", "compare"))
    rest = cpu - impl - sample - ref - comp
    return [
        spec,
        str(workers),
        f"{n}",
        f"{n / float(r['seconds']):.0f}",
        f"{impl / cpu:.3f}",
        f"{cpu * us:.1f}",
        f"{impl * us:.1f}",
        f"{sample * us:.1f}",
        f"{ref * us:.1f}",
        f"{comp * us:.1f}",
        f"{rest * us:.1f}",
        str(len(r.get("findings", []))),
    ]


HEADERS = [
    "implementation",
    "workers",
    "graphs",
    "graphs/s",
    "impl/cpu",
    "cpu us/graph",
    "impl",
    "sampling",
    "JAX reference",
    "compare",
    "rest",
    "findings",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=BUDGET)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--impl", nargs="+", default=list(IMPLS))
    parser.add_argument("--json", type=Path, help="also write the raw reports here")
    parser.add_argument("--quick", action="store_true", help="8 s, one worker (a smoke run)")
    args = parser.parse_args()
    rows, raw = [], []
    for spec in args.impl:
        for workers in [1] if args.quick else args.workers:
            report = campaign(spec, workers, 8.0 if args.quick else args.budget)
            raw.append({"impl": spec, "workers": workers, "report": report})
            rows.append(row(spec, workers, report))
            print(f"  {spec}, {workers} worker(s): done", file=sys.stderr, flush=True)
    cores = os.cpu_count()
    print(f"Campaign time split, {args.budget:g} s per campaign ({machine()}, {cores} cores).")
    print("Per checked graph, CPU microseconds (all shards and workers; rest = cpu - the others).")
    print()
    print(table(HEADERS, rows))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
