"""Where campaigns keep their findings: a hypothesis example database (a directory, a Redis server).

Only a campaign's parent process talks to the database: it opens it before any shard starts (a
malformed URL, or a Redis server it cannot reach, is a usage error then), reads what earlier
campaigns saved, and saves the shards' findings when they are done. A Redis server that went away
in between does not cost the campaign its findings: they are kept in a local directory database and
sent on by the next campaign that reaches the server.

Findings are saved under one key, `PREFIX:findings:MODULE:CLASS`, built from the `--impl` text and
the prefix only: the same in every process and on every machine, so that campaigns started anywhere
replay each other's findings (a key with a path or a process id in it would be read by nobody).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gradoracle.fuzz.adapters import UsageError
from gradoracle.reference.graph import Graph, GraphError

DEFAULT_DATABASE = Path(".gradoracle") / "examples"
# Findings a campaign could not send to its Redis server, waiting for the next one to send them.
UNSENT = Path(".gradoracle") / "unsent"
DEFAULT_PREFIX = "gradoracle"
REDIS_SCHEMES = ("redis", "rediss")
# An unreachable host must fail the start in seconds, not hang the campaign on a TCP connect.
CONNECT_SECONDS = 5.0
COMMAND_SECONDS = 30.0


def database_key(spec: str, prefix: str = DEFAULT_PREFIX) -> bytes:
    return f"{prefix}:findings:{spec}".encode()


def graphs_in(blobs: Iterable[bytes]) -> list[Graph]:
    """The graphs among `blobs`, in a stable order; blobs that are not one are skipped (a database
    is a cache: an entry from an older format must not stop a campaign)."""
    graphs = []
    for blob in blobs:
        try:
            graphs.append(Graph.from_json(blob))
        except GraphError:
            continue
    return sorted(graphs, key=Graph.to_json)


def saved_graphs(database: Any, key: bytes) -> list[Graph]:
    """The findings saved under `key` in a hypothesis ExampleDatabase."""
    return graphs_in(database.fetch(key))


def is_url(where: str) -> bool:
    return "://" in where


def shown(url: str) -> str:
    """The URL for messages, its password (if any) masked."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def check_redis_url(url: str) -> None:
    """redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB], or a UsageError naming what is wrong.
    (redis-py itself would take `/x` for database 0 and `/1/2` for database 12.)"""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise UsageError(
            f"--database {shown(url)}: not a directory nor a redis://HOST:PORT[/DB] URL "
            f"(scheme {parts.scheme!r})"
        )
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--database {shown(url)}: the port must be a number 1-65535") from None
    if not parts.hostname:
        raise UsageError(f"--database {shown(url)}: no host (redis://HOST:PORT[/DB])")
    if port == 0:
        raise UsageError(f"--database {shown(url)}: the port must be a number 1-65535")
    if not re.fullmatch(r"/?|/\d+", parts.path):
        raise UsageError(
            f"--database {shown(url)}: the path must be a database number (/0, /1, ...), "
            f"got {parts.path!r}"
        )


def one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines() or [""]
    return f"{type(e).__name__}: {lines[0]}".rstrip(": ")


@dataclass
class FindingsStore:
    """One campaign's findings in its database: read at the start, saved at the end."""

    where: str  # as the user gave it (a URL shown with its password masked)
    database: Any  # a hypothesis ExampleDatabase
    key: bytes
    unsent: Any = None  # for a Redis server: the local directory database of findings not sent
    unsent_dir: Path | None = None

    def load(self) -> tuple[list[Graph], str | None]:
        """Every finding saved before, with those still waiting to be sent; and a warning if the
        server went away since it was opened (the campaign goes on with the local ones)."""
        waiting = list(self.unsent.fetch(self.key)) if self.unsent is not None else []
        try:
            saved = list(self.database.fetch(self.key))
        except database_errors() as e:
            return graphs_in(waiting), f"--database {self.where}: cannot read ({one_line(e)})"
        return graphs_in(saved + waiting), None

    def save(self, graphs: Sequence[Graph]) -> str | None:
        """Save `graphs`, and send the findings an earlier campaign could not; a warning if the
        database could not take them (they are then kept in the local directory, for a server)."""
        blobs = sorted({g.to_json().encode() for g in graphs})
        waiting = list(self.unsent.fetch(self.key)) if self.unsent is not None else []
        try:
            missing = self._put(self.database, blobs + waiting)
        except database_errors() as e:
            problem = f"--database {self.where}: cannot save ({one_line(e)})"
            if not blobs:
                return problem
            if self.unsent is None:
                return f"{problem}; {len(blobs)} findings not saved"
            lost = self._put(self.unsent, blobs)
            if lost:
                return f"{problem}; {lost} findings not saved ({self.unsent_dir} is not writable)"
            return (
                f"{problem}; {len(blobs)} findings kept in {self.unsent_dir}, sent by the next "
                "campaign that reaches the server"
            )
        if missing:
            return f"--database {self.where}: {missing} findings not saved (not writable)"
        for blob in waiting:
            self.unsent.delete(self.key, blob)
        return None

    def _put(self, database: Any, blobs: list[bytes]) -> int:
        """Save `blobs`; how many are not there afterwards. (hypothesis's directory database
        swallows the OSError of a directory it cannot write: only reading back tells.)"""
        for blob in blobs:
            database.save(self.key, blob)
        return len(set(blobs) - set(database.fetch(self.key))) if blobs else 0


def database_errors() -> tuple[type[Exception], ...]:
    """What a database raises when it cannot be read or written: the disk's, or the server's."""
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return (OSError,)
    return (OSError, RedisError)


def open_database(where: str) -> Any:
    """A hypothesis ExampleDatabase: a directory, or a Redis server (checked reachable), or a
    UsageError. Keys in Redis are exactly the findings' keys (no prefix of hypothesis's own)."""
    if not is_url(where):
        from hypothesis.database import DirectoryBasedExampleDatabase

        if Path(where).exists() and not Path(where).is_dir():
            raise UsageError(f"--database {where}: not a directory")
        return DirectoryBasedExampleDatabase(where)
    check_redis_url(where)
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as e:
        raise UsageError(
            f"--database {shown(where)}: a Redis database needs the `redis` package "
            f"(pip install 'gradoracle[redis]'): {one_line(e)}"
        ) from None
    try:
        client = redis.Redis.from_url(
            where, socket_connect_timeout=CONNECT_SECONDS, socket_timeout=COMMAND_SECONDS
        )
        client.ping()
    except ValueError as e:
        raise UsageError(f"--database {shown(where)}: {one_line(e)}") from None
    except redis.exceptions.RedisError as e:
        problem = f"cannot reach the server ({one_line(e)})"
        raise UsageError(f"--database {shown(where)}: {problem}") from None
    return RedisExampleDatabase(client, key_prefix=b"")


def open_store(where: str, spec: str, prefix: str = DEFAULT_PREFIX) -> FindingsStore:
    """The findings store of a campaign on `spec`: UsageError if it cannot be used at the start."""
    if not prefix or any(c.isspace() for c in prefix):
        raise UsageError(f"--database-prefix: must be a non-empty word, got {prefix!r}")
    database = open_database(where)
    key = database_key(spec, prefix)
    if not is_url(where):
        return FindingsStore(where, database, key)
    from hypothesis.database import DirectoryBasedExampleDatabase

    return FindingsStore(
        shown(where), database, key, DirectoryBasedExampleDatabase(str(UNSENT)), UNSENT
    )
