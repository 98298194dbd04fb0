"""`gradoracle fuzz --database redis://...`: campaigns on several machines share their findings
through one Redis server (hypothesis's RedisExampleDatabase), run as users run them, against a real
`redis-server` on the loopback address.

Each "machine" is a working directory of its own holding a copy of the engine under test: nothing
but the Redis server is shared between the two campaigns.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cli_runner import gradoracle_json, run_usage
from hypothesis.database import DirectoryBasedExampleDatabase

from gradoracle.fuzz.database import UNSENT, database_key, saved_graphs
from gradoracle.reference.graph import Graph

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# Long enough for a shard to start (JAX import, compilations) on a loaded 2-core machine; a shard
# replays saved findings after the probe and the battery, within its budget: a campaign that must
# replay gets more (12 s once left a shard that started late no time to replay 10 findings).
BUDGET = "12"
REPLAY_BUDGET = "25"
IMPL = "planted_engines:OverwriteMul"
KEY = database_key(IMPL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server: loopback only, nothing written to disk."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        path = shutil.which("redis-server")
        if path is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is missing: .ci/run installs Debian's redis-server")
            pytest.skip("redis-server is not installed (Debian's redis-server package)")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [path, "--save", "", "--appendonly", "no", "--port", str(self.port),
             "--bind", "127.0.0.1", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                return
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def machine(tmp_path: Path, name: str) -> Path:
    """A working directory with its own copy of the engine under test."""
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(TESTS / "planted_engines.py", directory)
    return directory


def fuzz(cwd: Path, *argv: str, budget: str = BUDGET) -> tuple[int, dict[str, object]]:
    return gradoracle_json(
        "fuzz", "--json", "--impl", IMPL, "--budget", budget, "--workers", "1", *argv, cwd=cwd
    )


def graphs_in_redis(server: RedisServer, key: bytes = KEY) -> list[Graph]:
    return sorted((Graph.from_json(b) for b in server.client.smembers(key)), key=Graph.to_json)


def test_a_campaign_replays_what_one_on_another_machine_saved(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    first, second = machine(tmp_path, "a"), machine(tmp_path, "b")
    code, found = fuzz(first, "--database", redis_server.url)
    assert code == 1, found
    # The key names the implementation as the user wrote it, nothing of the process or the path.
    assert redis_server.client.keys("*") == [KEY]
    saved = graphs_in_redis(redis_server)
    assert saved, "the first campaign saved its shrunk findings in Redis"
    assert not (first / ".gradoracle").exists(), "nothing kept locally when the server took it"

    code, replayed = fuzz(
        second, "--database", redis_server.url, "--seed", "9", budget=REPLAY_BUDGET
    )
    assert code == 1
    assert replayed["replayed"] == len(saved), replayed
    assert replayed["replayed_failing"] == len(saved)
    assert not (second / ".gradoracle").exists()


def test_projects_sharing_a_server_keep_apart_by_prefix(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    code, _ = fuzz(machine(tmp_path, "a"), "--database", redis_server.url)
    assert code == 1
    other = machine(tmp_path, "b")
    code, report = fuzz(other, "--database", redis_server.url, "--database-prefix", "other")
    assert code == 1
    assert report["replayed"] == 0, "another prefix reads none of the first project's findings"
    other_key = database_key(IMPL, "other")
    assert sorted(redis_server.client.keys("*")) == sorted([KEY, other_key])
    assert graphs_in_redis(redis_server, other_key)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://", "no host"),
        ("redis://127.0.0.1:port", "the port must be a number"),
        ("redis://127.0.0.1:99999", "the port must be a number"),
        ("redis://127.0.0.1:6379/first", "the path must be a database number"),
        ("redis://127.0.0.1:6379/1/2", "the path must be a database number"),
        ("http://127.0.0.1:6379", "not a directory nor a redis://"),
    ],
)
def test_a_malformed_url_is_a_usage_error(tmp_path: Path, url: str, says: str) -> None:
    proc = run_usage("gradoracle", "fuzz", "--budget", "5", "--database", url, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"gradoracle: error: --database {url}: {says}"), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def test_a_password_stays_out_of_the_messages(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    proc = run_usage("gradoracle", "fuzz", "--database", url, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "hunter2" not in proc.stderr
    assert proc.stderr.startswith("gradoracle: error: --database redis://:***@127.0.0.1:")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--database-prefix", ""], "--database-prefix: must be a non-empty word, got ''"),
        (["--database-prefix", "my project"], "--database-prefix: must be a non-empty word"),
        (["--database", "README.md"], "--database README.md: not a directory"),
    ],
)
def test_a_prefix_or_directory_that_cannot_be_used_is_a_usage_error(
    tmp_path: Path, argv: list[str], says: str
) -> None:
    (tmp_path / "README.md").write_text("a file, not a database\n")
    proc = run_usage("gradoracle", "fuzz", "--budget", "5", *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"gradoracle: error: {says}"), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def test_a_server_nobody_listens_for_is_a_usage_error_at_the_start(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run_usage("gradoracle", "fuzz", "--budget", "60", "--database", url, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"gradoracle: error: --database {url}: cannot reach the server")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert time.monotonic() - started < 30, "refused before the 60 s campaign ran"
    assert not (tmp_path / ".gradoracle").exists()


def test_a_server_gone_mid_run_costs_no_finding(redis_server: RedisServer, tmp_path: Path) -> None:
    cwd = machine(tmp_path, "a")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    campaign = subprocess.Popen(
        [sys.executable, "-P", "-m", "gradoracle", "fuzz", "--json", "--impl", IMPL,
         "--budget", BUDGET, "--workers", "1", "--database", redis_server.url],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The campaign read the saved findings (its start); it saves its own at the end.
        deadline = time.monotonic() + 120
        while "cmdstat_smembers" not in redis_server.client.info("commandstats"):
            assert campaign.poll() is None and time.monotonic() < deadline, "never read Redis"
            time.sleep(0.05)
        redis_server.stop()
        out, stderr = campaign.communicate(timeout=180)
    finally:
        if campaign.poll() is None:
            campaign.kill()
            campaign.wait()
    assert campaign.returncode == 1, stderr
    report = json.loads(out)
    assert report["findings"]
    warnings = [line for line in stderr.splitlines() if "--database" in line]
    assert len(warnings) == 1, stderr
    assert warnings[0].startswith(f"gradoracle: warning: --database {redis_server.url}: ")
    assert f"kept in {UNSENT}" in warnings[0]
    kept = saved_graphs(DirectoryBasedExampleDatabase(str(cwd / UNSENT)), KEY)
    assert kept, "the findings are kept in the working directory"

    # The server is back (empty: it kept nothing on disk); the next campaign there replays the
    # findings kept locally and sends them.
    server = RedisServer(tmp_path / "redis-again", redis_server.port)
    try:
        code, replayed = fuzz(cwd, "--database", server.url, "--seed", "3", budget=REPLAY_BUDGET)
        assert code == 1
        assert replayed["replayed"] == len(kept), replayed
        assert set(map(Graph.to_json, kept)) <= set(map(Graph.to_json, graphs_in_redis(server)))
        assert not saved_graphs(DirectoryBasedExampleDatabase(str(cwd / UNSENT)), KEY)
    finally:
        server.stop()


def test_findings_neither_the_server_nor_the_directory_takes_cost_a_warning_not_the_run(
    tmp_path: Path,
) -> None:
    from hypothesis.extra.redis import RedisExampleDatabase

    from gradoracle.fuzz.database import FindingsStore

    gone = RedisExampleDatabase(redis.Redis(port=free_port(), socket_connect_timeout=1))
    (tmp_path / "file").write_text("not a directory\n")
    unsent = tmp_path / "file" / "unsent"
    store = FindingsStore(
        "redis://gone", gone, KEY, DirectoryBasedExampleDatabase(str(unsent)), unsent
    )
    finding = Graph.from_json(
        '{"format":"gradoracle-graph","nodes":[{"input":1.5},{"args":[0,0],"op":"mul"}],'
        '"output":1,"version":1}'
    )
    warning = store.save([finding])
    assert warning is not None
    assert warning.startswith("--database redis://gone: cannot save (ConnectionError: ")
    assert warning.endswith(f"; 1 findings not saved ({unsent} is not writable)"), warning
