"""The engines the moons step and memory benchmarks compare, and where each one comes from.

- ``engine``: the checkout's pure-Python package (the default build).
- ``compiled``: the same source compiled with mypyc (``GRADORACLE_MYPYC=1 pip install``), built
  once per version of the engine's source into ``build/bench/``.
- ``micrograd``: micrograd 0.1.0 as installed (the ``bench`` dependency group).
- ``minigrad``, ``kiwigrad``: C-extension engines from PyPI, built from their sdists. Several
  peers install modules with clashing names, so each lives in its own folder (the ecosystem's
  ``.ecosystem/pkgs/NAME`` when ``nox -s ecosystem`` made it, else ``build/bench/peers/NAME``).

A worker puts the engine's folder first on ``sys.path`` before importing it and reports the file
its ``Value`` came from, so a table never shows one build under the other's name.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _harness as h

BUILD = h.ROOT / "build" / "bench"


@dataclass(frozen=True)
class Peer:
    """A PyPI engine installed alone: ``pip install --no-deps --target DIR package==version``."""

    package: str
    version: str
    also: tuple[str, ...] = ()  # what its import needs, installed beside it


PEERS = {
    "minigrad": Peer("minigrad", "0.0.6"),
    "kiwigrad": Peer("kiwigrad", "0.28", also=("graphviz",)),
}
ENGINES = ("engine", "compiled", "micrograd", *PEERS)
LABELS = {
    "engine": "engine (pure Python)",
    "compiled": "engine compiled (mypyc)",
    "micrograd": "micrograd 0.1.0",
    "minigrad": "minigrad 0.0.6 (C extension)",
    "kiwigrad": "kiwigrad 0.28 (C extension)",
}


class NotBuilt(RuntimeError):
    """An engine that could not be installed here; the message is one line saying why."""


def _pip_install(target: Path, *requirements: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--target", str(target), *requirements]
    proc = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        raise NotBuilt((errors or proc.stderr.splitlines() or ["pip failed"])[-1].strip())


def _engine_source_digest() -> str:
    """Changes whenever the compiled build would: the engine's modules and the build script."""
    digest = hashlib.sha256()
    for path in [*sorted((h.ROOT / "engine").glob("*.py")), h.ROOT / "setup.py"]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def compiled_engine_dir() -> Path:
    """The mypyc build of this checkout's engine, made on first use (~40 s)."""
    target = BUILD / f"compiled-{_engine_source_digest()}"
    if not (target / "engine").is_dir():
        _pip_install(target, str(h.ROOT), env={"GRADORACLE_MYPYC": "1"})
    return target


def peer_dir(name: str) -> Path:
    peer = PEERS[name]
    ecosystem = h.ROOT / ".ecosystem" / "pkgs" / peer.package
    if (ecosystem / f"{peer.package}-{peer.version}.dist-info").is_dir():
        return ecosystem
    target = BUILD / "peers" / f"{peer.package}-{peer.version}"
    if not (target / f"{peer.package}-{peer.version}.dist-info").is_dir():
        _pip_install(target, f"{peer.package}=={peer.version}", *peer.also)
    return target


def engine_dir(name: str) -> Path | None:
    """The folder to put first on sys.path for this engine (None: import it as installed)."""
    if name == "compiled":
        return compiled_engine_dir()
    if name in PEERS:
        return peer_dir(name)
    return None


def engine_folders(names: str) -> tuple[dict[str, str], dict[str, str]]:
    """For "engine,compiled,...": ({name: folder, "" for as installed}, {name: why not built}).

    Builds what needs building, before any timing starts; ValueError names unknown engines.
    """
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(ENGINES))
    if unknown:
        raise ValueError(
            f"unknown engine(s) {', '.join(unknown)}; expected some of {','.join(ENGINES)}"
        )
    folders: dict[str, str] = {}
    not_built: dict[str, str] = {}
    for name in wanted:
        try:
            folder = engine_dir(name)
        except NotBuilt as error:
            not_built[name] = str(error)
            continue
        folders[name] = str(folder) if folder else ""
    return folders, not_built


def load(name: str, folder: str | None) -> tuple[Any, Any, str]:
    """In a worker: ``(Value, MLP, file Value came from)``; MLP(nin, nouts) as micrograd's."""
    if folder:
        sys.path.insert(0, folder)
    if name in ("engine", "compiled"):
        import engine.engine
        from engine import Value
        from engine.nn import MLP

        source = engine.engine.__file__ or ""
        compiled = not source.endswith(".py")
        if compiled != (name == "compiled"):
            raise RuntimeError(f"{name} asked for, but engine.engine came from {source}")
        return Value, MLP, source
    if name == "micrograd":
        value_cls, mlp_cls = h.load_engine("micrograd")
        return value_cls, mlp_cls, sys.modules[value_cls.__module__].__file__ or ""
    if name == "minigrad":
        minigrad = importlib.import_module("minigrad")
        minigrad_nn = importlib.import_module("minigrad.nn")
        return minigrad.Value, minigrad_nn.MLP, minigrad.engine.__file__ or ""
    if name == "kiwigrad":
        kiwigrad = importlib.import_module("kiwigrad")

        def kiwigrad_mlp(nin: int, nouts: list[int]) -> Any:
            # kiwigrad's MLP takes its layers; these are micrograd's: relu but the last.
            sizes = [nin, *nouts]
            activations = ["relu"] * (len(nouts) - 1) + ["linear"]
            layers = [
                kiwigrad.Layer(sizes[i], sizes[i + 1], activation=activation)
                for i, activation in enumerate(activations)
            ]
            return kiwigrad.MLP(layers)

        return kiwigrad.Value, kiwigrad_mlp, kiwigrad.engine.__file__ or ""
    raise ValueError(f"unknown engine {name!r}; expected one of {ENGINES}")
