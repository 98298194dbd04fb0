"""One two-moons training step, micrograd 0.1.0 vs engine, each in its own fresh process.

    python bench/moons_step.py [--rounds 5] [--steps 5] [--quick]

A step is micrograd's demo loop body: forward of MLP(2, [16, 16, 1]) on 100 points, hinge loss + L2,
zero_grad, backward, SGD update (examples/two_moons.py, the same code for both engines). Each round
runs one worker per engine, alternating A B A B; a worker times ``--steps`` steps after one warm-up
step and reports their median. The speedup is the median over rounds of micrograd/engine.

The same pairs run a second time with the cyclic garbage collector disabled in both workers, to
show how much of micrograd's time goes to collecting the reference cycles its closures create
(each node's ``_backward`` closure refers to the node itself).
"""

from __future__ import annotations

import argparse
import gc
import time

import _harness as h


def worker(engine: str, steps: int, gc_off: bool) -> None:
    import two_moons

    if gc_off:
        gc.disable()
    value_cls, mlp_cls = h.load_engine(engine)
    X, y = two_moons.make_moons()
    model = two_moons.make_model(mlp_cls)
    two_moons.train_step(model, X, y, value_cls, 0)  # warm-up: imports, allocator, caches
    seconds = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        two_moons.train_step(model, X, y, value_cls, step)
        seconds.append(time.perf_counter() - start)
    h.emit({"engine": engine, "median_seconds": h.median(seconds), "seconds": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per worker")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 steps (a smoke test)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=h.ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--gc-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.engine, args.steps, args.gc_off)
        return
    if args.quick:
        args.rounds, args.steps = 2, 2

    # per_round[gc_off][engine]: each worker's median seconds per step, one entry per round
    per_round: dict[bool, dict[str, list[float]]] = {
        gc_off: {name: [] for name in h.ENGINES} for gc_off in (False, True)
    }
    for _ in range(args.rounds):
        for gc_off in (False, True):
            for name in h.ENGINES:
                worker_args = ["--engine", name, "--steps", str(args.steps)]
                result = h.run_worker(__file__, *worker_args, *(["--gc-off"] if gc_off else []))
                per_round[gc_off][name].append(result["median_seconds"])
    ratios = {
        gc_off: [m / e for m, e in zip(times["micrograd"], times["engine"])]
        for gc_off, times in per_round.items()
    }

    print("## Moons training step: MLP(2, [16, 16, 1]), 100 points, hinge + L2, SGD\n")
    rows = [
        [
            h.LABELS[name],
            f"{h.median(per_round[False][name]) * 1e3:.1f}",
            f"{min(per_round[False][name]) * 1e3:.1f}",
            f"{h.median(per_round[True][name]) * 1e3:.1f}",
        ]
        for name in h.ENGINES
    ]
    rows.append(
        [
            "speedup (median of per-round ratios)",
            f"{h.median(ratios[False]):.1f}x",
            f"{min(ratios[False]):.1f}x-{max(ratios[False]):.1f}x",
            f"{h.median(ratios[True]):.1f}x",
        ]
    )
    headers = ["engine", "median ms/step", "best ms/step (range)", "median ms/step, gc off"]
    print(h.table(headers, rows))
    print(
        f"\nengine is {h.median(ratios[False]):.1f}x faster than micrograd 0.1.0 per training step "
        f"({args.rounds} rounds alternating fresh processes, {args.steps} timed steps each after "
        f"one warm-up; with the garbage collector off in both: {h.median(ratios[True]):.1f}x)"
    )
    print(f"{h.machine()}\n")


if __name__ == "__main__":
    main()
