"""reference.jax_cache: the interpreter exported to disk per shape, loaded by a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.reference import jax_cache
from gradoracle.reference.jax_ref import JaxReference, trace_count, use_compilation_cache
use_compilation_cache(sys.argv[1])
ref = JaxReference()
results = ref.evaluate(sample_graphs(3, 300))
print(json.dumps({
    "loaded": jax_cache.loaded_count(), "shapes": trace_count(), "compile": ref.cpu["compile"],
    "results": [[r.value, *r.grads, *r.sweeps, r.jvp, r.kink_distance, r.magnitude, r.in_domain]
                for r in results],
}))
"""


def run(cache: Path) -> dict:
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cache)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_a_new_process_loads_the_exported_shapes_and_gets_the_same_bits(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert first["loaded"] == 0 and first["shapes"] >= 2
    files = list((tmp_path / "exported").glob("interpreter-*.jaxexp"))
    assert len(files) == first["shapes"]
    second = run(tmp_path)
    assert second["loaded"] == second["shapes"] == first["shapes"]  # nothing traced again
    assert second["compile"] < first["compile"] / 2
    # NaN != NaN in JSON's floats: compare their text
    assert repr(second["results"]) == repr(first["results"])


def test_a_damaged_file_is_exported_again(tmp_path: Path) -> None:
    first = run(tmp_path)
    for path in (tmp_path / "exported").glob("interpreter-*.jaxexp"):
        path.write_bytes(b"not an export")
    again = run(tmp_path)
    assert again["loaded"] == 0
    assert repr(again["results"]) == repr(first["results"])


SHAPES_SCRIPT = """
import json
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.jax_ref import JaxReference, trace_count
ref = JaxReference()
ref.evaluate([Graph((Node.input(2.0), Node.apply("exp", 0)))])  # a battery's graph, alone
ref.evaluate(sample_graphs(4, 40))  # a probe's few rows
for seed in range(3):  # a check's batches (1 % deep chains: rows of them alone)
    ref.evaluate(sample_graphs(seed, 256))
print(json.dumps(trace_count()))
"""


def test_a_check_s_graphs_need_two_shapes_one_batched_one_alone() -> None:
    """Each shape costs a process ~45 ms to load (~1 s to compile afresh): a row alone runs in
    one shape whatever its bucket, a few rows pad to the batch size of many."""
    proc = subprocess.run(
        [sys.executable, "-c", SHAPES_SCRIPT],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == 2
