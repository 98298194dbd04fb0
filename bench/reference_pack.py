"""The JAX reference's CPU per graph: packing graphs into tapes, XLA, unpacking the results.

    python bench/reference_pack.py [--batches 60] [--runs 3] [--against OTHER_CHECKOUT] [--quick]

Samples batches of 256 graphs (the default sampler, as `check` does) and evaluates each with
`JaxReference.evaluate_batch` after a few untimed batches (JAX's shapes compiled, numba's kernels
loaded): CPU microseconds per graph in `cpu['pack']` (compiling, grouping, placing and padding the
graphs, scheduling the interpreter's lanes), `cpu['xla']` (the jitted interpreter) and
`cpu['unpack']` (results to columns), median over the batches, per run. Each run is a
fresh process; with `--against`, runs from another checkout (PYTHONPATH) alternate with these. CPU
time, not wall (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, emit, machine, table

BATCH = 256
WARM_UP = 5


def worker(batches: int, seed: int, checkout: Path) -> None:
    sys.path.insert(0, str(checkout))  # before this checkout, which _harness put first
    from gradoracle.fuzz.sampler import GraphStream
    from gradoracle.reference.jax_ref import JaxReference

    stream = GraphStream(seed)
    graphs = [stream.take(BATCH) for _ in range(WARM_UP + batches)]
    ref = JaxReference()
    for batch in graphs[:WARM_UP]:
        ref.evaluate_batch(batch)
    per_graph: dict[str, list[float]] = {"pack": [], "xla": [], "unpack": []}
    for batch in graphs[WARM_UP:]:
        before = dict(ref.cpu)
        ref.evaluate_batch(batch)
        for part, values in per_graph.items():
            values.append((ref.cpu[part] - before[part]) / BATCH * 1e6)
    import gradoracle

    result: dict[str, object] = {p: statistics.median(v) for p, v in per_graph.items()}
    emit(result | {"from": str(Path(gradoracle.__file__).resolve().parent.parent)})


def run(checkout: Path, batches: int, seed: int) -> dict[str, float]:
    import json
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, __file__, "--worker", "--batches", str(batches), "--seed", str(seed),
               "--checkout", str(checkout)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    if Path(str(result.pop("from"))) != checkout.resolve():
        raise RuntimeError(f"the worker for {checkout} imported gradoracle from elsewhere")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout, run alternately")
    parser.add_argument("--quick", action="store_true", help="one run of 10 batches (a smoke run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.batches, args.runs = 10, 1
    if args.worker:
        worker(args.batches, args.seed, args.checkout)
        return
    checkouts = {"this": ROOT} | ({"against": args.against.resolve()} if args.against else {})
    load = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.runs):
        for name, checkout in checkouts.items():
            results[name].append(run(checkout, args.batches, args.seed))
    rows = []
    for name, runs in results.items():
        pack, xla, unpack = ([r[part] for r in runs] for part in ("pack", "xla", "unpack"))
        each = " / ".join(f"{p:.2f}+{x:.2f}+{u:.2f}" for p, x, u in zip(pack, xla, unpack))
        rows.append([name, *(f"{statistics.median(v):.2f}" for v in (pack, xla, unpack)), each])
    print(f"## JAX reference CPU per graph, batches of {BATCH} sampled graphs\n")
    print(table(["checkout", "pack us", "xla us", "unpack us", "runs (pack+xla+unpack)"], rows))
    after = os.getloadavg()
    print(f"\nload average {load[0]:.1f} at the start, {after[0]:.1f} at the end "
          f"({os.cpu_count()} cores); {machine()}")  # fmt: skip


if __name__ == "__main__":
    main()
