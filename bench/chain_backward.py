"""Backward through long chains: engine's time grows linearly; micrograd 0.1.0 cannot go deep.

    python bench/chain_backward.py [--repeats 3] [--quick]

The chain cycles through ``x * w``, ``x + c`` and ``x.relu()`` (w, c are Value leaves), one op node
per link. Each (engine, length) runs in a fresh process; the time is that of ``backward()`` alone.
micrograd 0.1.0 sorts the graph recursively, so it raises RecursionError at 1,000 nodes under the
default recursion limit: the table shows it at a length it manages and at 1,000.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import _harness as h

ENGINE_LENGTHS = (10_000, 100_000, 1_000_000)
MICROGRAD_LENGTHS = (500, 1_000)


def build_chain(value_cls: Any, length: int) -> Any:
    x, w, c = value_cls(0.5), value_cls(0.999), value_cls(1e-3)
    for i in range(length):
        step = i % 3
        if step == 0:
            x = x * w
        elif step == 1:
            x = x + c
        else:
            x = x.relu()
    return x


def worker(engine: str, length: int) -> None:
    value_cls, _ = h.load_engine(engine)
    root = build_chain(value_cls, length)
    start = time.perf_counter()
    try:
        root.backward()
    except RecursionError:
        h.emit({"engine": engine, "length": length, "error": "RecursionError"})
        return
    seconds = time.perf_counter() - start
    h.emit({"engine": engine, "length": length, "seconds": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh workers per length")
    parser.add_argument("--quick", action="store_true", help="one repeat, up to 10^5 nodes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=h.ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.engine, args.length)
        return
    lengths: tuple[int, ...] = ENGINE_LENGTHS
    if args.quick:
        args.repeats, lengths = 1, ENGINE_LENGTHS[:2]

    rows = []
    first_per_node = None
    for length in lengths:
        seconds = h.median(
            [
                h.run_worker(__file__, "--engine", "engine", "--length", str(length))["seconds"]
                for _ in range(args.repeats)
            ]
        )
        per_node = seconds / length
        first_per_node = first_per_node or per_node
        rows.append(
            [
                "engine",
                f"{length:,}",
                f"{seconds * 1e3:.1f}",
                f"{per_node * 1e9:.0f}",
                f"{per_node / first_per_node:.2f}",
            ]
        )
    for length in MICROGRAD_LENGTHS:
        result = h.run_worker(__file__, "--engine", "micrograd", "--length", str(length))
        if "error" in result:
            rows.append([h.LABELS["micrograd"], f"{length:,}", result["error"], "-", "-"])
        else:
            per_node = result["seconds"] / length
            rows.append(
                [
                    h.LABELS["micrograd"],
                    f"{length:,}",
                    f"{result['seconds'] * 1e3:.1f}",
                    f"{per_node * 1e9:.0f}",
                    "-",
                ]
            )

    print("## backward() through a chain (x * w, x + c, x.relu(), ...)\n")
    headers = ["engine", "nodes", "backward ms", "ns/node", "ns/node vs first"]
    print(h.table(headers, rows))
    print(
        f"\nmedian of {args.repeats} fresh processes per engine length; "
        f"recursion limit {sys.getrecursionlimit()}; {h.machine()}\n"
    )


if __name__ == "__main__":
    main()
