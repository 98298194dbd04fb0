"""One two-moons training step, engine (pure and compiled) vs its peers, each in its own process.

    python bench/moons_step.py [--rounds 5] [--steps 7] [--engines engine,compiled,...] [--quick]

A step is micrograd's demo loop body: forward of MLP(2, [16, 16, 1]) on 100 points, hinge loss + L2,
zero_grad, backward, SGD update, with every engine's own micrograd-style MLP. Every operation is
Value with Value (constants are Values too): a C-extension peer gets int constants wrong and
crashes on some. Each round runs one worker per engine, in turn (A B C ... A B C ...); a worker
times ``--steps`` steps after one warm-up step, in CPU time of its own process, and reports their
median. Ratios are taken within a round (same load on the machine), then the median over rounds.

The same rounds run a second time with the cyclic garbage collector off in every worker: most of
a Python engine's time goes to the collector walking the graph's nodes (all tracked, since each
refers to its operands), which C and Rust extension types that do not take part in collection
never pay. Engines that cannot be built here are listed with the reason.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import _harness as h
import _peers as p
import two_moons

REFERENCE = "compiled"  # the ratios column: each engine's time over the compiled engine's


def value_only_step(
    model: Any, X: list[tuple[float, float]], y: list[int], value_cls: Any, step: int
) -> None:
    """two_moons.train_step with every constant a Value: the same graph, for any engine."""
    inputs = [[value_cls(a), value_cls(b)] for a, b in X]
    scores = [model(x) for x in inputs]
    one = value_cls(1.0)
    losses = [(one + value_cls(-float(yi)) * score).relu() for yi, score in zip(y, scores)]
    data_loss = losses[0]
    for term in losses[1:]:
        data_loss = data_loss + term
    data_loss = data_loss * value_cls(1.0 / len(losses))
    params = model.parameters()
    reg = params[0] * params[0]
    for param in params[1:]:
        reg = reg + param * param
    total_loss = data_loss + value_cls(two_moons.L2_ALPHA) * reg
    model.zero_grad()
    total_loss.backward()
    lr = two_moons.learning_rate(step)
    for param in params:
        param.data -= lr * param.grad


def worker(engine: str, folder: str | None, steps: int, gc_off: bool) -> None:
    value_cls, mlp_cls, source = p.load(engine, folder)
    if gc_off:
        gc.disable()
    X, y = two_moons.make_moons()
    model = two_moons.make_model(mlp_cls)
    value_only_step(model, X, y, value_cls, 0)  # warm-up: imports, allocator, caches
    seconds = []
    for step in range(1, steps + 1):
        start = time.process_time()
        value_only_step(model, X, y, value_cls, step)
        seconds.append(time.process_time() - start)
    h.emit({"engine": engine, "median_seconds": h.median(seconds), "source": source})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=7, help="timed steps per worker")
    parser.add_argument("--engines", default=",".join(p.ENGINES), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 steps (a smoke test)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=p.ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--gc-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.engine, args.folder, args.steps, args.gc_off)
        return
    if args.quick:
        args.rounds, args.steps = 2, 2
    try:
        folders, not_built = p.engine_folders(args.engines)
    except ValueError as error:
        parser.error(str(error))
    engines = list(folders)

    # per_round[gc_off][engine]: each worker's median CPU seconds per step, one per round
    per_round: dict[bool, dict[str, list[float]]] = {
        gc_off: {name: [] for name in engines} for gc_off in (False, True)
    }
    sources: dict[str, str] = {}
    for _ in range(args.rounds):
        for gc_off in (False, True):
            for name in engines:
                worker_args = ["--engine", name, "--steps", str(args.steps)]
                if folders[name]:
                    worker_args += ["--folder", folders[name]]
                result = h.run_worker(__file__, *worker_args, *(["--gc-off"] if gc_off else []))
                per_round[gc_off][name].append(result["median_seconds"])
                sources[name] = result["source"]

    def ratio(gc_off: bool, name: str) -> str:
        if REFERENCE not in engines:
            return "-"
        rounds = zip(per_round[gc_off][name], per_round[gc_off][REFERENCE])
        values = [mine / reference for mine, reference in rounds]
        return f"{h.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    print("## Moons training step: MLP(2, [16, 16, 1]), 100 points, hinge + L2, SGD\n")
    rows = [
        [
            p.LABELS[name],
            f"{h.median(per_round[False][name]) * 1e3:.1f}",
            f"{min(per_round[False][name]) * 1e3:.1f}-{max(per_round[False][name]) * 1e3:.1f}",
            ratio(False, name),
            f"{h.median(per_round[True][name]) * 1e3:.1f}",
            ratio(True, name),
        ]
        for name in engines
    ]
    headers = [
        "engine",
        "CPU ms/step (median)",
        "range over rounds",
        f"x {REFERENCE} (median, range)",
        "gc off: ms/step",
        f"gc off: x {REFERENCE}",
    ]
    print(h.table(headers, rows))
    for name, reason in not_built.items():
        print(f"\n{p.LABELS[name]}: not built here ({reason})")
    print(
        f"\n{args.rounds} rounds of one fresh process per engine in turn, {args.steps} timed steps "
        "each after one warm-up; every op Value with Value. Value classes came from:"
    )
    for name in engines:
        print(f"  {name}: {sources[name]}")
    print(f"{h.machine()}\n")


if __name__ == "__main__":
    main()
