"""Engines spelled differently: the names a Value class uses for the backward pass, the gradient,
the value and each method op (`backwards()`, `.gradient`, `.value`, `a.ln()`), detected or named
with `--spelling backward=backwards,grad=gradient,log=ln`.

Detection picks by presence and uses behaviour only to choose between present names. Where a role
has one candidate, that one is used whatever it computes: correctness is the oracle's to judge,
and a wrong `Tanh` dropped as "not offered" would be a missed bug. Where several are present, each
is tried on a tiny graph (`a * a + a` at 0.5: value 0.75, gradient 2.0; a method op at 0.5 against
its float value): micrograd's name wins if it works, else the only one that works; several that
work, or several present and none working, is a usage error naming them and the flag. So a
micrograd-spelled class runs no engine code here beyond its constructor.

The parent detects once and sends the result to its workers (fuzz.isolation), which never detect
again: parent and worker build with the same names. `Spellings.methods` is the one map from op
name to an engine's method name for an adapter: building (reference.graph, through
ops.Op.call_as) and every snippet (ops.Op.spell, fuzz.snippets, the battery's loops) read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS

# Candidates for each role, micrograd's name first. `item` only as an attribute holding a number:
# tensor libraries' `.item()` is a method, and a method is never taken for the value.
BACKWARD_NAMES = ("backward", "backwards", "backprop", "back_prop", "backpropagate")
GRAD_NAMES = ("grad", "gradient", "g", "grad_value")
DATA_NAMES = ("data", "value", "val", "item")
METHOD_OPS = tuple(op.name for op in OPS.values() if op.method_names)
KEYS = ("backward", "grad", "data", *METHOD_OPS)  # what --spelling names
# The probe graphs, in the order tried (the first that builds is used): name, builder, and at
# a = 0.5 the value and d/da. Python operators only: they need no spelling.
_PROBES: tuple[tuple[str, Callable[[Any], Any], float, float], ...] = (
    ("a * a + a", lambda a: a * a + a, 0.75, 2.0),
    ("a + a", lambda a: a + a, 1.0, 2.0),
    ("a * a", lambda a: a * a, 0.25, 1.0),
    ("a", lambda a: a, 0.5, 1.0),
)
AT = 0.5  # the leaf of every probe graph
LEAF = 1.5  # a lone leaf's value, for the data attribute
TOLERANCE = 1e-6  # loose: behaviour only chooses a name here, the oracle judges correctness


class SpellingError(Exception):
    """A spelling that cannot be detected or is badly named: a usage error (exit 2), one line."""


@dataclass(frozen=True)
class Spellings:
    """The names one engine uses. `methods` holds only the method ops spelled differently from
    micrograd (op -> name); `method` answers for every op."""

    backward: str = "backward"
    grad: str = "grad"
    data: str = "data"
    methods: Mapping[str, str] = field(default_factory=dict)

    def method(self, op: str) -> str:
        return self.methods.get(op, op)

    def as_dict(self) -> dict[str, str]:
        """Every role and method op -> the name used (the JSON report's `spellings_used`)."""
        names = {"backward": self.backward, "grad": self.grad, "data": self.data}
        return names | {op: self.method(op) for op in METHOD_OPS}

    def differences(self) -> list[str]:
        """What differs from micrograd, as source: 'backwards() for backward', '.gradient for
        grad', 'ln() for log'."""
        shown = []
        for key, name in self.as_dict().items():
            if name != key:
                shown.append(
                    f".{name} for {key}" if key in ("grad", "data") else f"{name}() for {key}"
                )
        return shown


MICROGRAD = Spellings()


def parse_pairs(text: str) -> dict[str, str]:
    """`backward=backwards,log=ln` -> {'backward': 'backwards', 'log': 'ln'}; SpellingError names
    an unknown key, a name that is not an identifier, or a pair without '='."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, name = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise SpellingError(f"expected KEY=NAME, got {item.strip()!r}")
        if key not in KEYS:
            raise SpellingError(f"unknown key {key!r} (known: {', '.join(KEYS)})")
        if not name.isidentifier():
            raise SpellingError(f"{key}={name!r}: not an attribute name")
        if pairs.get(key, name) != name:
            raise SpellingError(f"{key} named twice: {pairs[key]!r} and {name!r}")
        pairs[key] = name
    return pairs


# ---- detection ----------------------------------------------------------------------------------


def _get(obj: Any, name: str) -> tuple[bool, Any]:
    """(present, value): an attribute that raises on access (a property, __getattr__) is absent."""
    try:
        return True, getattr(obj, name)
    except Exception:
        return False, None


def _method(obj: Any, name: str) -> bool:
    present, value = _get(obj, name)
    return present and callable(value)


def _plain(obj: Any, name: str) -> bool:
    """An attribute that is not a method (None allowed: PyTorch-style grads start unset)."""
    present, value = _get(obj, name)
    return present and not callable(value)


def _number(x: Any) -> float | None:
    if isinstance(x, str | bytes | bool) or not hasattr(x, "__float__"):
        return None
    try:
        return float(x)
    except Exception:
        return None


def _close(x: Any, expected: float) -> bool:
    got = _number(x)
    return got is not None and math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _choose(key: str, present: list[str], working: list[str], spec: str, shown: str) -> str:
    """The name for `key` among present candidates; see the module docstring. `shown` formats a
    name as the user writes it ('{}()' for a method, '.{}' for an attribute)."""
    if len(present) == 1:
        return present[0]
    if key in working:  # every key is micrograd's own name for it
        return key
    if len(working) == 1:
        return working[0]
    if not working and key in present:  # micrograd's name, computing wrongly: the oracle says so
        return key
    names = ", ".join(shown.format(n) for n in (working or present))
    why = "all work" if working else "none works"
    raise SpellingError(f"{spec}: {names} {why} as {key}; pick one with --spelling {key}=NAME")


class _Detector:
    """One class's spellings, the user's named ones taken as given (checked to exist)."""

    def __init__(self, cls: type, spec: str, given: Mapping[str, str]) -> None:
        self.cls, self.spec, self.given = cls, spec, given
        self._probe: tuple[Callable[[Any], Any], float, float] | None = None
        self._trials: dict[str, dict[str, Any]] = {}

    def _new(self, x: float) -> Any:
        try:
            return self.cls(x)
        except Exception as e:
            raise SpellingError(f"{self.spec}({x}) failed: {type(e).__name__}: {e}") from None

    def _missing(self, key: str, tried: tuple[str, ...] | list[str], what: str) -> SpellingError:
        if key in self.given:
            return SpellingError(
                f"--spelling {key}={self.given[key]}: {self.spec} instances have no {what} "
                f"{self.given[key]!r}"
            )
        return SpellingError(
            f"{self.spec} instances have no {what} (tried {', '.join(tried)}); name it with "
            f"--spelling {key}=NAME"
        )

    def probe(self) -> tuple[Callable[[Any], Any], float, float]:
        """The first probe graph that builds: (builder, value, gradient at AT)."""
        if self._probe is None:
            for _, build, value, grad in _PROBES:
                try:
                    build(self._new(AT))
                except Exception:
                    continue
                self._probe = (build, value, grad)
                break
            else:  # unreachable: the leaf alone always builds
                raise SpellingError(f"{self.spec}: no probe graph builds")
        return self._probe

    def trial(self, backward: str) -> dict[str, Any]:
        """The probe graph's leaf attributes (not methods) after calling `backward` on its
        output, by name; {} if building or backward raised."""
        if backward not in self._trials:
            build = self.probe()[0]
            found: dict[str, Any] = {}
            try:
                a = self._new(AT)
                getattr(build(a), backward)()
                found = {n: _get(a, n)[1] for n in GRAD_NAMES if _plain(a, n)}
            except Exception:
                pass  # no name works with this backward
            self._trials[backward] = found
        return self._trials[backward]

    def data(self) -> str:
        leaf = self._new(LEAF)
        if "data" in self.given:
            if not _get(leaf, self.given["data"])[0]:
                raise self._missing("data", [], "attribute")
            return self.given["data"]
        present = [
            n for n in DATA_NAMES if _plain(leaf, n) and _number(_get(leaf, n)[1]) is not None
        ]
        if not present:
            raise self._missing("data", DATA_NAMES, "data attribute holding a number")
        working = []
        if len(present) > 1:  # the ones holding the leaf's value and the probe graph's output's
            build, value, _ = self.probe()
            try:
                out = build(self._new(AT))
            except Exception:  # it built once (probe() chose it so); an engine may be erratic
                out = None
            working = [
                n for n in present
                if _close(_get(leaf, n)[1], LEAF) and _close(_get(out, n)[1], value)
            ]  # fmt: skip
        return _choose("data", present, working, self.spec, ".{}")

    def backward(self) -> str:
        leaf = self._new(AT)
        if "backward" in self.given:
            if not _method(leaf, self.given["backward"]):
                raise self._missing("backward", [], "method")
            return self.given["backward"]
        present = [n for n in BACKWARD_NAMES if _method(leaf, n)]
        if not present:
            raise self._missing("backward", BACKWARD_NAMES, "backward method")
        working = []
        if len(present) > 1:  # the ones after which some gradient name reads the right gradient
            grad = self.probe()[2]
            names = [self.given["grad"]] if "grad" in self.given else GRAD_NAMES
            working = [b for b in present if any(_close(self.trial(b).get(g), grad) for g in names)]
        return _choose("backward", present, working, self.spec, "{}()")

    def grad(self, backward: str) -> str:
        leaf = self._new(AT)
        if "grad" in self.given:
            name = self.given["grad"]
            if not (_plain(leaf, name) or name in self.trial(backward)):
                raise self._missing("grad", [], "attribute")
            return name
        present = [n for n in GRAD_NAMES if _plain(leaf, n)]
        if not present:  # some engines make the attribute in backward()
            present = [n for n in GRAD_NAMES if n in self.trial(backward)]
        if not present:
            raise self._missing("grad", GRAD_NAMES, "gradient attribute")
        grad = self.probe()[2]
        working = []
        if len(present) > 1:
            working = [g for g in present if _close(self.trial(backward).get(g), grad)]
        return _choose("grad", present, working, self.spec, ".{}")

    def method(self, op: str, data: str) -> str | None:
        """The engine's name for a method op, None where it has none of the candidates (the
        probe then reports the op as not offered)."""
        leaf = self._new(AT)
        if op in self.given:
            if not _method(leaf, self.given[op]):
                raise self._missing(op, [], "method")
            return self.given[op]
        present = [n for n in OPS[op].method_names if _method(leaf, n)]
        if not present:
            return None
        expected = OPS[op].forward(FLOAT, AT)
        working = []
        if len(present) > 1:
            for name in present:
                try:
                    ok = _close(getattr(getattr(self._new(AT), name)(), data), expected)
                except Exception:
                    ok = False
                if ok:
                    working.append(name)
        return _choose(op, present, working, self.spec, "{}()")


def detect(cls: type, spec: str, given: Mapping[str, str] | None = None) -> Spellings:
    """The spellings of a Value class (see the module docstring); `given` (from --spelling) names
    some or all of them. Raises SpellingError with one line."""
    detector = _Detector(cls, spec, given or {})
    data = detector.data()
    backward = detector.backward()
    grad = detector.grad(backward)
    methods = {}
    for op in METHOD_OPS:
        name = detector.method(op, data)
        if name is not None and name != op:
            methods[op] = name
    return Spellings(backward, grad, data, methods)
