"""The JAX interpreter kept on disk per input shape as exported StableHLO (`jax.export`).

JAX's persistent compilation cache (`jax_ref.use_compilation_cache`) skips XLA's compilation in a
new process, but not tracing and lowering the interpreter, ~0.4 s of CPU per (bucket, batch size)
shape: with four or five shapes, ~2 s of every `check` and of every campaign shard. Exported, a
shape loads in ~1 ms and its first call (a compilation the persistent cache then holds) takes
~0.06 s; its results are bit for bit the jitted interpreter's (tests/reference/test_jax_cache.py).

The files live beside the compilation cache (`exported/` in its directory), and only when that
cache is on. Their names carry a fingerprint of every source file of `gradoracle.reference`, of the
JAX and jaxlib versions and of the x64 flag: an edit to the interpreter, the registry or the libs
makes new files, never reuses stale ones. A file that does not load is exported again. Without
the optional `flatbuffers` package (JAX's serializer needs it), shapes are traced as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_loaded = 0  # shapes loaded from disk in this process


def loaded_count() -> int:
    return _loaded


@cache
def fingerprint() -> str:
    """What the interpreter's compiled form depends on: the reference's sources, JAX, x64."""
    import jax
    import jaxlib

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    config: Any = jax.config  # (its flags are attributes the stubs do not declare)
    x64 = config.jax_enable_x64
    versions = f"{jax.__version__}/{jaxlib.__version__}/{x64}"
    digest.update(versions.encode())
    return digest.hexdigest()[:20]


def exported_dir() -> Path | None:
    """Where exported shapes are kept: beside JAX's compilation cache, if it is on."""
    import jax

    config: Any = jax.config
    directory = config.jax_compilation_cache_dir
    return Path(directory) / "exported" if directory else None


class PerShape:
    """`jitted(*arrays)`, each input shape prepared once: loaded from disk when exported there
    before, else traced by `jitted` (and exported for the next process)."""

    def __init__(self, jitted: Any) -> None:  # a jax.jit-wrapped function
        self.jitted = jitted
        self._prepared: dict[tuple[Any, ...], Callable[..., Any]] = {}

    def __call__(self, *arrays: Any) -> Any:
        key = tuple((a.shape, a.dtype.str) for a in arrays)
        run = self._prepared.get(key)
        if run is None:
            run = self._prepared[key] = self._prepare(key, arrays)
        return run(*arrays)

    def _prepare(self, key: tuple[Any, ...], arrays: tuple[Any, ...]) -> Callable[..., Any]:
        global _loaded
        directory = exported_dir()
        if directory is None:
            return self.jitted
        try:
            import jax
            from jax import export
        except ImportError:  # pragma: no cover - jax without export
            return self.jitted
        shape = "-".join("x".join(map(str, s)) + d.replace("<", "") for s, d in key)
        path = directory / f"interpreter-{fingerprint()}-{shape}.jaxexp"
        if path.exists():
            try:
                exported = export.deserialize(bytearray(path.read_bytes()))
            except Exception:  # (flatbuffers missing, a truncated file): export it again
                pass
            else:
                _loaded += 1
                return jax.jit(exported.call)
        try:
            specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arrays]
            exported = export.export(self.jitted)(*specs)  # traces: counted by jax_ref
            data = exported.serialize()
        except ImportError:  # flatbuffers missing: trace and run as before
            return self.jitted
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):  # a read-only cache: run without keeping it
            partial.write_bytes(data)
            os.replace(partial, path)  # shards writing at once: whole files only
        return jax.jit(exported.call)
