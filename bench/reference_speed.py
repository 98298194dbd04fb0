"""The JAX reference's speed: compilation per bucket, steady-state time per graph, vs the engine.

    python bench/reference_speed.py [--ops 30] [--repeats 5] [--seed 0] [--quick]

Graphs come from the campaign sampler (`fuzz.sampler`) with `--ops` sampled op nodes over up to six
inputs, plus the adds that connect loose ends into the output. The reference is timed end to end
(`JaxReference.evaluate`: compile to tapes, pad, run, unpack); "first call" includes tracing and
XLA compilation of each new (bucket, batch size) shape. The engine's time is its own forward
(building the graph from Values, from the sampled graph's tape as a campaign does) plus backward()
of the same graphs. Steady-state figures are the
best of `--repeats` timings: other processes on the machine only ever add time (the load average
is printed; on this 2-core machine a load of 2 or more inflates every figure).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import _harness as h
import numpy as np

from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.reference.graph import Graph
from gradoracle.reference.jax_ref import JaxReference, trace_count
from gradoracle.reference.tape import ROW, compile_graph, pack, place, row_shape

BATCHES = (1, 64, 256, 1024)


def random_graphs(seed: int, count: int, n_ops: int) -> list[Graph]:
    """Graphs from the campaign sampler with `n_ops` sampled ops (connecting adds come on top)."""
    return sample_graphs(seed, count, SamplerConfig(min_ops=n_ops, max_ops=n_ops, max_inputs=6))


def best_seconds(fn: Callable[[], Any], repeats: int, min_seconds: float = 0.2) -> float:
    """Best over `repeats` rounds of the mean time per call (each round runs >= min_seconds)."""
    best = math.inf
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def engine_seconds(graphs: Sequence[Graph], repeats: int) -> float:
    """The engine's forward (building the graph, as a campaign does) + backward, per graph."""
    from engine import Value
    from gradoracle.fuzz.adapters import ValueClassAdapter

    adapter = ValueClassAdapter(Value)

    def run() -> None:
        for graph in graphs:
            _, out = adapter.build(graph)
            out.backward()

    return best_seconds(run, repeats) / len(graphs)


def phases(ref: JaxReference, graphs: Sequence[Graph], repeats: int) -> list[list[str]]:
    """Where the reference's time goes for one batch: host compile + pad, interpreter, unpack."""
    import jax

    # The graphs that share ROW's rows (the sampler's deep chains run in rows of their own).
    compiled = [c for c in map(compile_graph, graphs) if row_shape(c.bucket) == ROW]
    rows = place(compiled, ROW)
    size = max(rows) + 1
    tape = pack(compiled, ROW, size, rows)
    n = len(compiled)

    def host() -> Any:
        again = [compile_graph(g) for g in graphs]
        again = [c for c in again if row_shape(c.bucket) == ROW]
        return pack(again, ROW, size, place(again, ROW))

    host_seconds = best_seconds(host, repeats)
    device = best_seconds(lambda: jax.block_until_ready(ref._run(*tape.arrays())), repeats)
    total = best_seconds(lambda: ref._run_arrays(tape), repeats)
    return [
        ["compile graphs to a tape (host)", f"{host_seconds / n * 1e6:.1f}"],
        ["jitted interpreter (value, grads, JVP)", f"{device / n * 1e6:.1f}"],
        ["unpack results (host)", f"{max(0.0, total - device) / n * 1e6:.1f}"],
    ]


def first_calls(ref: JaxReference, seed: int, n_ops: Sequence[int]) -> list[list[str]]:
    """First call (trace + compile + run) of 64 graphs of each size: one new bucket each."""
    rows = []
    for ops in n_ops:
        graphs = random_graphs(seed + ops, 64, ops)
        bucket = compile_graph(graphs[0]).bucket
        start = time.perf_counter()
        ref.evaluate(graphs)
        rows.append(
            [str(ops), f"{bucket.steps} x {bucket.slots}", f"{time.perf_counter() - start:.2f}"]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=30, help="op nodes per graph")
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 rounds, batches up to 256")
    args = parser.parse_args()
    batches = BATCHES[:3] if args.quick else BATCHES
    if args.quick:
        args.repeats = 2
    load = os.getloadavg()[0]

    graphs = random_graphs(args.seed, max(batches), args.ops)
    ref = JaxReference()
    engine = engine_seconds(graphs[:256], args.repeats)
    rows = []
    for batch in batches:
        chosen = graphs[:batch]
        traces, start = trace_count(), time.perf_counter()
        ref.evaluate(chosen)
        first = time.perf_counter() - start
        compiled = trace_count() - traces
        steady = best_seconds(partial(ref.evaluate, chosen), args.repeats) / batch
        rows.append(
            [
                f"{batch:,}",
                f"{first:.2f}",
                str(compiled),
                f"{steady * 1e6:.1f}",
                f"{steady / engine:.2f}",
            ]
        )

    finite = sum(
        math.isfinite(r.value) and all(map(math.isfinite, r.grads)) for r in ref.evaluate(graphs)
    )
    nodes = np.mean([len(g.nodes) for g in graphs])
    print(
        f"## JAX reference, {args.ops}-op graphs (~{nodes:.0f} nodes; "
        f"{finite}/{len(graphs)} finite)\n"
    )
    headers = ["batch", "first call s", "new compilations", "us/graph", "vs engine"]
    print(h.table(headers, rows))
    print(
        f"\nengine forward + backward: {engine * 1e6:.1f} us/graph (goal: reference <= 0.5x). "
        f"Batch sizes compiled: {ref.batch_sizes}; larger batches run in chunks of the largest; "
        f"a batch of one runs unvmapped.\n\n### where the time goes, batch of "
        f"{min(256, max(batches))}\n"
    )
    print(h.table(["phase", "us/graph"], phases(ref, graphs[:256], args.repeats)))
    if not args.quick:
        print("\n### first call per bucket (batch of 64: trace, compile, run)\n")
        rows = first_calls(ref, args.seed, (10, 60, 120))
        print(h.table(["ops", "bucket (steps x slots)", "first call s"], rows))
    print(f"\nbest of {args.repeats} rounds; load average {load:.1f} at the start; {h.machine()}\n")


if __name__ == "__main__":
    main()
