"""Per-graph cost of running the implementation in a worker process (fuzz.isolation) vs in-process.

    python bench/isolation_overhead.py [--repeats 30] [--batch 128] [--ops 30] [--impl engine:Value]

Batches of sampled graphs run alternately in-process (`adapter.run` on each graph) and through
`IsolatedImpl.run`. Wall is the time of one batch; CPU is the parent's process time plus what the
worker reports (isolated) or the process time alone (in-process); the last rows split the
isolated CPU between the parent (encoding, results) and the worker (decoding, building, running).
Medians and minimums over the repeats, in microseconds per graph; the ratio is isolated /
in-process. On a loaded machine the CPU rows and the minimums are the steadier figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _harness as h

from gradoracle.fuzz.adapters import load_adapter
from gradoracle.fuzz.isolation import IsolatedImpl
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--ops", type=int, default=30)
    parser.add_argument("--impl", default="engine:Value")
    parser.add_argument("--quick", action="store_true", help="3 repeats (a smoke run)")
    args = parser.parse_args()
    config = SamplerConfig(min_ops=args.ops, max_ops=args.ops)
    repeats = 3 if args.quick else args.repeats
    batches = [sample_graphs(seed, args.batch, config) for seed in range(repeats)]
    adapter = load_adapter(args.impl)
    keys = ("in wall", "in cpu", "iso wall", "iso cpu", "iso parent", "iso worker")
    times: dict[str, list[float]] = {k: [] for k in keys}
    with IsolatedImpl(args.impl) as impl:
        for graphs in batches[:3]:  # warm up both paths
            impl.run(graphs)
            [adapter.run(g) for g in graphs]
        for graphs in batches:
            wall, cpu = time.perf_counter(), time.process_time()
            [adapter.run(g) for g in graphs]
            times["in wall"].append(time.perf_counter() - wall)
            times["in cpu"].append(time.process_time() - cpu)
            wall, cpu, worker = time.perf_counter(), time.process_time(), impl.worker_cpu_seconds
            results = impl.run(graphs)
            times["iso wall"].append(time.perf_counter() - wall)
            times["iso parent"].append(time.process_time() - cpu)
            times["iso worker"].append(impl.worker_cpu_seconds - worker)
            times["iso cpu"].append(times["iso parent"][-1] + times["iso worker"][-1])
            assert all(r.status == "ok" for r in results), [r for r in results if r.status != "ok"]
    per_graph = 1e6 / args.batch
    rows = []
    for what in ("wall", "cpu"):
        for stat, f in (("median", statistics.median), ("min", min)):
            inproc, isolated = f(times[f"in {what}"]), f(times[f"iso {what}"])
            ratio = f"{isolated / inproc:.2f}"
            rows.append(
                [
                    f"{what} ({stat})",
                    f"{inproc * per_graph:.1f}",
                    f"{isolated * per_graph:.1f}",
                    ratio,
                ]
            )
    for part in ("parent", "worker"):
        isolated = statistics.median(times[f"iso {part}"])
        rows.append([f"cpu, {part} (median)", "", f"{isolated * per_graph:.1f}", ""])
    print(
        f"{args.impl}, batches of {args.batch} graphs of {args.ops} ops, "
        f"{repeats} repeats; {h.machine()}\n"
    )
    print(h.table(["per graph", "in-process us", "isolated us", "ratio"], rows))


if __name__ == "__main__":
    main()
