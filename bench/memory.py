"""Traced memory per graph node, micrograd 0.1.0 vs engine, each in its own fresh process.

    python bench/memory.py [--nodes 300000] [--rounds 1] [--quick]

The graph is a chain ``x = (x * w + c).relu()`` whose operands are all Values (three leaves shared
by every step), so neither engine can fold a constant away: each step adds three op nodes. The
figure is tracemalloc's traced memory after building the graph, minus before, divided by the
number of nodes (the leaves included); it covers everything a node keeps alive (the node, its
float, its links to its operands and whatever backward needs).
"""

from __future__ import annotations

import argparse
import tracemalloc

import _harness as h

OPS_PER_STEP = 3
LEAVES = 3


def worker(engine: str, nodes: int) -> None:
    value_cls, _ = h.load_engine(engine)
    steps = (nodes - LEAVES) // OPS_PER_STEP
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    x, w, c = value_cls(0.5), value_cls(0.75), value_cls(0.25)
    for _ in range(steps):
        x = (x * w + c).relu()
    after = tracemalloc.get_traced_memory()[0]
    built = LEAVES + OPS_PER_STEP * steps
    h.emit({"engine": engine, "nodes": built, "bytes_per_node": (after - before) / built})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=1, help="workers per engine (alternated)")
    parser.add_argument("--quick", action="store_true", help="a 30,000-node graph (a smoke test)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=h.ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.engine, args.nodes)
        return
    if args.quick:
        args.nodes = 30_000

    per_node: dict[str, list[float]] = {name: [] for name in h.ENGINES}
    nodes = 0
    for _ in range(args.rounds):
        for name in h.ENGINES:
            result = h.run_worker(__file__, "--engine", name, "--nodes", str(args.nodes))
            per_node[name].append(result["bytes_per_node"])
            nodes = result["nodes"]
    bytes_per_node = {name: h.median(values) for name, values in per_node.items()}

    print(f"## Traced memory per node: a {nodes:,}-node chain x = (x * w + c).relu()\n")
    rows = [
        [
            h.LABELS[name],
            f"{bytes_per_node[name]:.0f}",
            f"{bytes_per_node[name] * nodes / 2**20:.1f}",
        ]
        for name in h.ENGINES
    ]
    print(h.table(["engine", "bytes/node", "MiB for the graph"], rows))
    ratio = bytes_per_node["micrograd"] / bytes_per_node["engine"]
    print(f"\nengine uses {ratio:.1f}x less memory per node than micrograd 0.1.0 (tracemalloc)")
    print(f"{h.machine()}\n")


if __name__ == "__main__":
    main()
