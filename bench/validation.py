"""Validation of the oracle on the project engine: many random graphs, zero false findings.

    python bench/validation.py [--graphs 100000] [--seed 0] [--max-ops 30]

Samples graphs with the campaign sampler, runs the engine and the JAX reference on each, and judges
them with the comparator (adjudicating against mpmath where they disagree). Prints the verdict
counts, the not-comparable share and the reasons, and where the time went: the reference's time
per graph against the engine's own forward + backward time per graph.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import _harness as h

from engine import Value
from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.check import BATCH
from gradoracle.fuzz.findings import Stats
from gradoracle.fuzz.oracle import Oracle
from gradoracle.fuzz.sampler import GraphStream, SamplerConfig
from gradoracle.reference.compare import FAIL, NOT_COMPARABLE
from gradoracle.reference.jax_ref import JaxReference


def reason_key(reason: str) -> str:
    """A not-comparable reason without its numbers: one line per kind of reason."""
    key = reason.split("(")[0].strip()
    distance = re.fullmatch(r"an operand is within (\S+) of a kink", key)
    if distance:
        at = float(distance.group(1)) == 0.0
        return "an operand is at a kink" if at else "an operand is within the kink margin"
    return key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-ops", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2,000 graphs")
    args = parser.parse_args()
    total = 2_000 if args.quick else args.graphs
    config = SamplerConfig(max_ops=args.max_ops)
    oracle = Oracle(ValueClassAdapter(Value), JaxReference())
    oracle.judge(GraphStream(args.seed, config).take(BATCH))  # compile outside the timing
    oracle.stats = Stats()
    stream = GraphStream(args.seed, config)
    counts = {"pass": 0, "fail": 0, "not comparable": 0}
    reasons: dict[str, int] = {}
    failures = []
    ops = 0
    start = time.perf_counter()
    done = 0
    while done < total:
        graphs = stream.take(min(BATCH, total - done))
        for graph, verdict in oracle.judge(graphs):
            counts[verdict.status] += 1
            ops += graph.n_ops
            if verdict.status == NOT_COMPARABLE:
                key = reason_key(verdict.reason)
                reasons[key] = reasons.get(key, 0) + 1
            elif verdict.status == FAIL:
                failures.append((graph, verdict))
        done += len(graphs)
    wall = time.perf_counter() - start
    s = oracle.stats
    print(
        f"validation on {h.machine()}: {total} graphs (seed {args.seed}, <= {args.max_ops} "
        f"sampled ops, {ops / total:.1f} ops per graph on average), {wall:.1f} s"
    )
    print()
    print(
        h.table(
            ["verdict", "graphs", "share"],
            [[k, str(v), f"{v / total:.3%}"] for k, v in counts.items()],
        )
    )
    print()
    per = 1e6 / total
    print(
        h.table(
            ["time per graph", "us"],
            [
                ["engine forward + backward", f"{s.impl_seconds * per:.1f}"],
                ["JAX reference (batched)", f"{s.reference_seconds * per:.1f}"],
                ["comparator (incl. mpmath adjudication)", f"{s.compare_seconds * per:.1f}"],
                ["reference / engine", f"{s.reference_seconds / s.impl_seconds:.2f}x"],
            ],
        )
    )
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"not comparable: {n} x {reason}")
    for graph, verdict in failures[:5]:
        print(f"\nFALSE FINDING: {verdict.reason}\n{graph.to_snippet()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
