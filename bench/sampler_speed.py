"""Speed of the campaign sampler (fuzz.sampler.GraphStream), with hypothesis draws for comparison.

    python bench/sampler_speed.py [--graphs 2000] [--repeats 7] [--hypothesis 200] [--quick]

Each row samples `--graphs` graphs from a fresh seed per repeat and reports the best repeat (CPU
time: other processes on the machine only ever add time), in microseconds per graph and graphs per
second, with the mean number of op nodes per graph. Rows: the default config (min_ops=1,
max_ops=30: ~19 ops a graph) and exactly 30 sampled ops (plus the adds that fold loose ends into
the output). The last row draws `graphs(min_ops=30, max_ops=30)` from fuzz.strategies through
hypothesis (`--hypothesis 0` skips it). Issue 7's budget: sampling + reference + comparison at
most twice the engine's own work (~17 us per ~19-op graph), for a campaign to spend >= 1/3 of its
CPU in the engine. The first use of the sampler compiles its loop (numba, cached on disk).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import _harness as h

from gradoracle.fuzz.sampler import GraphStream, SamplerConfig
from gradoracle.reference.graph import Graph


def best_cpu(run: Callable[[int], list[Graph]], repeats: int) -> tuple[float, list[Graph]]:
    """The smallest CPU time of `run(seed)` over `repeats` seeds, and the last run's graphs."""
    best, graphs = float("inf"), []
    for seed in range(repeats):
        start = time.process_time()
        graphs = run(seed)
        best = min(best, time.process_time() - start)
    return best, graphs


def sampler_row(label: str, config: SamplerConfig, n: int, repeats: int) -> list[str]:
    def run(seed: int) -> list[Graph]:
        return GraphStream(seed, config).take(n)

    run(repeats)  # warm up (the sampler digests a config once)
    seconds, graphs = best_cpu(run, repeats)
    return row(label, seconds, graphs)


def hypothesis_row(n: int, repeats: int) -> list[str]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from gradoracle.fuzz.strategies import graphs as graph_strategy

    def run(seed: int) -> list[Graph]:
        drawn: list[Graph] = []

        @hypothesis_seed(seed)
        @settings(
            max_examples=n,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(graph_strategy(min_ops=30, max_ops=30))
        def draw(graph: Graph) -> None:
            drawn.append(graph)

        draw()
        return drawn

    seconds, graphs = best_cpu(run, max(1, repeats // 2))
    return row("hypothesis graphs(min_ops=30, max_ops=30)", seconds, graphs)


def row(label: str, seconds: float, graphs: list[Graph]) -> list[str]:
    per_graph = seconds / len(graphs)
    ops = sum(g.n_ops for g in graphs) / len(graphs)
    return [label, f"{per_graph * 1e6:.1f}", f"{1 / per_graph:,.0f}", f"{ops:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--hypothesis", type=int, default=200, help="examples; 0 skips the row")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few graphs, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.graphs, args.repeats, args.hypothesis = 200, 2, min(args.hypothesis, 20)
    rows = [
        sampler_row("GraphStream, default config", SamplerConfig(), args.graphs, args.repeats),
        sampler_row(
            "GraphStream, 30 ops (min_ops=max_ops=30)",
            SamplerConfig(min_ops=30, max_ops=30),
            args.graphs,
            args.repeats,
        ),
    ]
    if args.hypothesis > 0:
        rows.append(hypothesis_row(args.hypothesis, args.repeats))
    print(f"{args.graphs} graphs per repeat, best of {args.repeats} (CPU time); {h.machine()}\n")
    print(h.table(["sampler", "us/graph", "graphs/s", "ops/graph"], rows))


if __name__ == "__main__":
    main()
