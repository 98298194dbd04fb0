"""reference.jax_ref starts XLA's CPU client with one intra-op thread (POOL_THREADS), unless the
user set PJRT_NPROC, and leaves the environment of processes started later as it found it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.jax,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
# XLA's intra-op pool threads are named tf_XLAEigen (jaxlib's thread pool prefix).
SCRIPT = """
import json, os
from pathlib import Path
from gradoracle.fuzz.sampler import sample_graphs
from gradoracle.reference.jax_ref import JaxReference
ref = JaxReference()
ref.evaluate(sample_graphs(1, 50))
tasks = Path("/proc/self/task")
names = [(tasks / t / "comm").read_text().strip() for t in os.listdir(tasks)]
print(json.dumps({"pool": names.count("tf_XLAEigen"), "env": os.environ.get("PJRT_NPROC")}))
"""


def run(**env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if k != "PJRT_NPROC"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_reference_runs_xla_on_one_pool_thread_and_leaves_the_environment_alone() -> None:
    assert run() == {"pool": 1, "env": None}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: one thread either way")
def test_a_pjrt_nproc_the_user_set_is_kept() -> None:
    assert run(PJRT_NPROC="2") == {"pool": 2, "env": "2"}
