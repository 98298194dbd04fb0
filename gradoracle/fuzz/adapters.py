"""Adapters: how the oracle drives an implementation under test.

An adapter turns a `Graph` into the implementation's own objects, runs its forward and backward
pass, and hands back plain floats. The default adapter takes any micrograd-shaped class:
``Value(x)`` with ``.data``, ``.grad`` and ``.backward()``, spelled with Python operators and
methods, or with the names the class uses instead (``.value``, ``backwards()``, ``a.ln()``:
fuzz.spellings detects them, `load_adapter` passes them on).

Writing your own takes a few lines: subclass `ValueClassAdapter` (or `Adapter`) and override what
differs, e.g. for a class whose gradient lives in ``.g`` and whose backward pass is ``.grad_fn()``::

    class MyAdapter(ValueClassAdapter):
        def grad(self, x):
            return x.g

        def backward(self, out):
            out.grad_fn()

    gradoracle check mymodule:MyValue   # or: Oracle(MyAdapter(MyValue), JaxReference())
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import operator
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gradoracle.fuzz.spellings import MICROGRAD, SpellingError, Spellings, detect
from gradoracle.reference.graph import Graph, build, build_from_steps

# Seconds importing the implementation may take, in the command and in each new worker: generous,
# importing torch takes several.
LOAD_TIMEOUT = 60.0


class UsageError(Exception):
    """A problem with what the user asked for (bad MODULE:CLASS, bad flag): exit code 2."""


@dataclass(frozen=True)
class Outcome:
    """What an implementation computed for one graph: the output value and one grad per input
    (None where a PyTorch-style engine left an input's grad unset: the output does not use it)."""

    value: float
    grads: tuple[float | None, ...]


# Where in a run an exception was raised: building the graph (the forward pass: constructing leaves
# and applying ops), inside backward(), or reading .data and .grad afterwards. Only a refusal while
# building can mean "this spelling is not offered"; anything later is a finding.
BUILD, BACKWARD, READ = "build", "backward", "read"


STATUSES = ("ok", "exception", "hang", "crash", "skipped")  # the values of ImplResult.status


@dataclass(frozen=True)
class ImplResult:
    """How running one graph went: 'ok' (with the outcome), 'exception', 'hang', 'crash', or
    'skipped' (the deadline came first). `seconds` is the time spent inside the implementation."""

    status: str  # one of STATUSES
    outcome: Outcome | None
    error: str  # '' when ok; 'TypeName: message' for an exception; what happened otherwise
    seconds: float  # CPU seconds inside the implementation (fuzz.runner.cpu_seconds)
    phase: str = ""  # for an exception: BUILD, BACKWARD or READ


class Adapter:
    """Runs graphs on one implementation. `name` is shown in reports and snippets.

    Subclasses say how to build a graph, run the backward pass and read numbers back; `run` and the
    semantics checks are written on top of those four.
    """

    name: str = "adapter"
    import_line: str = ""
    class_name: str = "Value"
    # The phase of the run in progress (BUILD, BACKWARD, READ): where an exception came from.
    phase: str = ""
    # The engine's names for method ops (`a.ln()`): graphs are built and snippets written with
    # them. A ValueClassAdapter has its class's; another adapter builds its own way.
    spellings: Spellings = MICROGRAD
    # How counterexample snippets spell a leaf, the backward pass and the reads (fuzz.snippets).
    snippet_leaf: str = "{cls}({value})"
    snippet_backward: str = "{out}.backward()"
    snippet_data: str = "{x}.data"
    snippet_grad: str = "{x}.grad"
    # Where snippets must be run when that is not where `check` ran (a child of a many-target
    # check runs in the target's folder): "students/alice (where engine.py is)". Empty: here.
    snippet_run_in: str = ""

    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        """The implementation's objects for the graph: (inputs in input order, output)."""
        raise NotImplementedError

    def backward(self, out: Any) -> None:
        raise NotImplementedError

    def data(self, x: Any) -> float:
        raise NotImplementedError

    def grad(self, x: Any) -> float:
        raise NotImplementedError

    def zero_grad(self, x: Any) -> None:
        """Reset a leaf's gradient, as Module.zero_grad does (PyTorch: `x.grad = None`)."""
        x.grad = 0.0

    def run(self, graph: Graph) -> Outcome:
        self.phase = BUILD
        inputs, out = self.build(graph)
        self.phase = BACKWARD
        self.backward(out)
        self.phase = READ
        value = _as_float(self.data(out), "the output's value")
        grads = tuple(
            _as_float(self.grad(x), f"input {i}'s gradient", none=True)
            for i, x in enumerate(inputs)
        )
        return Outcome(value, grads)


def _as_float(x: Any, what: str, none: bool = False) -> Any:
    # 0-d numpy and torch scalars convert through __float__; strings and bools are not numbers here.
    # A gradient may be None (`none`): the comparator passes it only where the gradient is 0.
    if none and x is None:
        return None
    if isinstance(x, str | bytes | bool) or not hasattr(x, "__float__"):
        raise TypeError(f"{what} is a {type(x).__name__}, not a number")
    return float(x)


class ValueClassAdapter(Adapter):
    """A micrograd-shaped class: ``cls(float)``, ``.data``, ``.grad``, ``.backward()``, or the
    names `spellings` gives for them and for method ops (see fuzz.spellings)."""

    def __init__(
        self, cls: type, spec: str | None = None, spellings: Spellings = MICROGRAD
    ) -> None:
        self.cls = cls
        self.name = spec or f"{cls.__module__}:{cls.__qualname__}"
        # Snippets import what the user named: a compiled class says its module is `builtins`.
        module, _, attr = self.name.partition(":")
        self.import_line = f"from {module} import {attr.split('.')[0]}"
        self.class_name = attr
        self.spellings = spellings
        self.snippet_backward = "{out}." + spellings.backward + "()"
        self.snippet_data = "{x}." + spellings.data
        self.snippet_grad = "{x}." + spellings.grad
        self._backward = operator.methodcaller(spellings.backward)
        self._data = operator.attrgetter(spellings.data)
        self._grad = operator.attrgetter(spellings.grad)

    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        methods = self.spellings.methods
        flat = graph.flat()  # a sampled graph: its flat lists, no nodes needed
        if flat is not None:
            return build_from_steps(flat, self.cls, methods)
        return build(graph, self.cls, methods)

    def backward(self, out: Any) -> None:
        self._backward(out)

    def data(self, x: Any) -> Any:
        return self._data(x)

    def grad(self, x: Any) -> Any:
        return self._grad(x)

    def zero_grad(self, x: Any) -> None:
        setattr(x, self.spellings.grad, 0.0)


def _cwd_on_path() -> None:
    """MODULE is imported from sys.path with the current directory on it, as `python -m` does."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def load_class(spec: str) -> type:
    """Import ``MODULE:CLASS`` (the current directory on sys.path) and check that it is a class
    that takes a number (what it calls its value and gradient is fuzz.spellings' business).

    Raises UsageError with one line naming the problem.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"expected MODULE:CLASS, got {spec!r}")
    _cwd_on_path()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise UsageError(f"cannot import module {module_name!r}: {e}") from None
    except Exception as e:  # the user's module failed while importing
        raise UsageError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not inspect.isclass(obj):
        raise UsageError(f"{spec} is a {type(obj).__name__}, not a class")
    cls: type = obj
    try:
        cls(1.5)
    except Exception as e:
        raise UsageError(f"{spec}(1.5) failed: {type(e).__name__}: {e}") from None
    return cls


def load_adapter(
    spec: str, spelling: Mapping[str, str] | None = None, resolved: Spellings | None = None
) -> Adapter:
    """The adapter for ``MODULE:CLASS``: the class itself when it is an Adapter (constructed with no
    arguments), else a ValueClassAdapter around a micrograd-shaped class, with the names it uses
    (`spelling`: those the user gave with --spelling; the rest detected). A worker passes the
    parent's `resolved` spellings instead: it never detects again."""
    module_name, _, attr = spec.partition(":")
    _cwd_on_path()
    try:
        obj = getattr(importlib.import_module(module_name), attr, None) if attr else None
    except Exception:
        obj = None  # load_class below says what is wrong, in one line
    if inspect.isclass(obj) and issubclass(obj, Adapter):
        if spelling:
            raise UsageError(f"--spelling names a Value class's methods; {spec} is an Adapter")
        try:
            adapter = obj()
        except Exception as e:
            raise UsageError(f"{spec}() failed: {type(e).__name__}: {e}") from None
        adapter.name = spec
        return adapter
    cls = load_class(spec)
    if resolved is None:
        try:
            resolved = detect(cls, spec, spelling)
        except SpellingError as e:
            raise UsageError(str(e)) from None
    return ValueClassAdapter(cls, spec, resolved)


class LoadDeadline(BaseException):
    """Loading the implementation took too long. A BaseException, so that neither the loaders'
    `except Exception` nor a user module's own can swallow it and go on hanging."""


@contextlib.contextmanager
def _deadline(seconds: float, spec: str) -> Iterator[None]:
    """SIGALRM after `seconds` (in the main thread of a Unix process; elsewhere no deadline)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise LoadDeadline(spec)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_adapter_within(
    spec: str, seconds: float, spelling: Mapping[str, str] | None = None
) -> Adapter:
    """load_adapter(spec), given `seconds` to import the module and build a first value: a module
    that loops at import time (`while True: pass`) must not hang the command. UsageError when
    the time is up, like any other problem loading the target."""
    try:
        with _deadline(seconds, spec):
            return load_adapter(spec, spelling)
    except LoadDeadline:
        module = spec.partition(":")[0]
        raise UsageError(
            f"importing {module!r} and building {spec}(1.5) took longer than {seconds:g} s "
            "(a loop at import time?)"
        ) from None
