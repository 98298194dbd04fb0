"""Traced memory per graph node, engine (pure and compiled) vs its peers, each in its own process.

    python bench/memory.py [--nodes 300000] [--rounds 1] [--engines engine,compiled,...] [--quick]

The graph is a chain ``x = (x * w + c).relu()`` whose operands are all Values (three leaves shared
by every step), so neither engine can fold a constant away: each step adds three op nodes. The
figure is tracemalloc's traced memory after building the graph, minus before, divided by the
number of nodes (the leaves included); it covers everything a node keeps alive (the node, its
float, its links to its operands and whatever backward needs). The engines and where they come
from: bench/_peers.py.
"""

from __future__ import annotations

import argparse
import tracemalloc

import _harness as h
import _peers as p

OPS_PER_STEP = 3
LEAVES = 3


def worker(engine: str, folder: str | None, nodes: int) -> None:
    value_cls, _, _ = p.load(engine, folder)
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
    parser.add_argument("--engines", default=",".join(p.ENGINES), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="a 30,000-node graph (a smoke test)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=p.ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.engine, args.folder, args.nodes)
        return
    if args.quick:
        args.nodes = 30_000
    try:
        folders, not_built = p.engine_folders(args.engines)
    except ValueError as error:
        parser.error(str(error))

    per_node: dict[str, list[float]] = {name: [] for name in folders}
    nodes = 0
    for _ in range(args.rounds):
        for name, folder in folders.items():
            worker_args = ["--engine", name, "--nodes", str(args.nodes)]
            result = h.run_worker(__file__, *worker_args, *(["--folder", folder] if folder else []))
            per_node[name].append(result["bytes_per_node"])
            nodes = result["nodes"]
    bytes_per_node = {name: h.median(values) for name, values in per_node.items()}

    print(f"## Traced memory per node: a {nodes:,}-node chain x = (x * w + c).relu()\n")
    rows = [
        [
            p.LABELS[name],
            f"{bytes_per_node[name]:.0f}",
            f"{bytes_per_node[name] * nodes / 2**20:.1f}",
        ]
        for name in folders
    ]
    print(h.table(["engine", "bytes/node", "MiB for the graph"], rows))
    for name, reason in not_built.items():
        print(f"\n{p.LABELS[name]}: not built here ({reason})")
    for name in ("engine", "compiled"):
        if name in bytes_per_node and "micrograd" in bytes_per_node:
            ratio = bytes_per_node["micrograd"] / bytes_per_node[name]
            print(f"\n{p.LABELS[name]} uses {ratio:.1f}x less memory per node than micrograd 0.1.0")
    print(f"{h.machine()}\n")


if __name__ == "__main__":
    main()
