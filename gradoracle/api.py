"""`gradoracle.check`: what `gradoracle check MODULE:CLASS --json` does, from Python.

    from gradoracle import check

    report = check(MyValue, budget=20, seed=0)
    assert report.verdict == "clean", report.text

The report holds the same fields as the command's JSON report (`report.graphs_checked`,
`report.findings`, `report.ops_skipped`, ...; `report.to_json()` is that JSON, byte for byte the
keys and values `--json` prints), plus `verdict` and `exit_code` as the command decides them and
`text`, the console summary with every finding's snippet and table.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from gradoracle.fuzz.adapters import Adapter, UsageError

if TYPE_CHECKING:
    from gradoracle.fuzz.check import CheckResult
    from gradoracle.fuzz.runner import Runner

CLEAN, FINDINGS, NOTHING_CHECKED = "clean", "findings", "nothing checked"
EXIT_CODES = {CLEAN: 0, FINDINGS: 1, NOTHING_CHECKED: 2}  # as `gradoracle check` exits


@dataclass(frozen=True)
class Report:
    """One check's result. Every field but `verdict`, `exit_code`, `text` and `json_object` is a
    key of the JSON report (`gradoracle check --json`), with the same value; `findings` holds one
    dict per finding: category, reason, error, count, graph, snippet, quantities. A key of the
    JSON report that has no field here (a newer one) is an attribute all the same, and
    `as_dict()` and `to_json()` always give the whole report."""

    verdict: str  # "clean", "findings", or "nothing checked" (no op offered, no graph checked)
    exit_code: int  # 0, 1, 2: what `gradoracle check` exits with for this result
    text: str  # the console summary, every finding with its snippet and per-leaf table
    impl: str
    seed: int
    budget: float
    graphs_checked: int
    not_comparable: int
    findings: list[dict[str, Any]]
    bugs: int
    ops_covered: dict[str, list[str]]
    ops_skipped: list[str]
    seconds: float
    cpu_seconds: float
    impl_seconds: float
    reference_seconds: float
    sample_seconds: float
    compare_seconds: float
    shrink_seconds: float
    battery_seconds: float
    first_finding_seconds: float | None
    not_comparable_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    replayed: int = 0
    replayed_failing: int = 0
    conventions: dict[str, Any] = field(default_factory=dict)
    spellings_refused: dict[str, str] = field(default_factory=dict)
    spellings_used: dict[str, str] | None = None
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    json_object: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole report

    @classmethod
    def from_json(cls, verdict: str, text: str, report: Mapping[str, Any]) -> Report:
        """The Report of a JSON report's object (fuzz.report.result_json)."""
        named = {f.name for f in fields(cls)} - {"verdict", "exit_code", "text", "json_object"}
        return cls(
            verdict=verdict,
            exit_code=EXIT_CODES[verdict],
            text=text,
            json_object=dict(report),
            **{k: v for k, v in report.items() if k in named},
        )

    def __getattr__(self, name: str) -> Any:
        """A key of the JSON report that has no field of its own."""
        if name != "json_object" and name in self.json_object:
            return self.json_object[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's object, every key in the command's order."""
        return dict(self.json_object)

    def to_json(self) -> str:
        return json.dumps(self.json_object)


def verdict_of(result: CheckResult) -> str:
    """As `gradoracle check` decides its exit code: nothing offered or no random graph checked
    (and nothing found) is never a pass."""
    if result.checked_nothing:
        return NOTHING_CHECKED
    if result.findings:
        return FINDINGS
    return CLEAN if result.stats.graphs_checked else NOTHING_CHECKED


def worker_spec(target: Any) -> str | None:
    """'MODULE:CLASS' under which a worker process can import the target by itself, or None (a
    class defined in a function or in __main__, an adapter instance)."""
    if isinstance(target, str):
        return target
    if not isinstance(target, type):
        return None
    module, name = target.__module__, target.__qualname__
    if module in ("__main__", "builtins") or "<locals>" in name:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except Exception:  # the module is gone from sys.path, or fails when imported again
        return None
    return f"{module}:{name}" if found is target else None


def _adapter(target: Any, spelling: Mapping[str, str] | None) -> Adapter:
    from gradoracle.fuzz.adapters import ValueClassAdapter, load_adapter
    from gradoracle.fuzz.spellings import SpellingError, detect

    if isinstance(target, Adapter):
        return target
    if isinstance(target, str):
        return load_adapter(target, spelling)
    if isinstance(target, type) and issubclass(target, Adapter):
        adapter = target()
        adapter.name = f"{target.__module__}:{target.__qualname__}"
        return adapter
    if isinstance(target, type):
        name = f"{target.__module__}:{target.__qualname__}"
        try:
            return ValueClassAdapter(target, name, detect(target, name, spelling))
        except SpellingError as e:
            raise UsageError(str(e)) from None
    raise TypeError(
        f"check() takes a Value class, an Adapter, or 'MODULE:CLASS', not {type(target).__name__}"
    )


def check(
    target: Any,
    budget: float = 10.0,
    seed: int = 0,
    *,
    isolate: bool | None = None,
    timeout: float = 5.0,
    max_graphs: int | None = None,
    accept: Iterable[str] = (),
    spelling: Mapping[str, str] | None = None,
) -> Report:
    """Check an implementation as `gradoracle check` does: probe its ops, run the semantics
    battery, then random graphs through it and the references for `budget` seconds (wall), and
    shrink every failure. The same `seed` samples the same graphs.

    - `target`: a micrograd-shaped Value class, an `Adapter` (class or instance; see
      gradoracle.fuzz.adapters), or a 'MODULE:CLASS' string imported as the command does.
    - `isolate`: run it in a worker process, so that a hang or a crash becomes a finding rather
      than the end of the run. None (default): whenever the worker can import the target by name
      (a string, or a class defined at the top level of an importable module); False: in this
      process; True: a worker or UsageError.
    - `timeout`: seconds one graph may take before it counts as a hang (in a worker only).
    - `max_graphs`: stop after this many random graphs, even with budget left.
    - `accept`: conventions the class chose, as `--accept` takes them: "relu-kink=1".
    - `spelling`: the class's names that differ from micrograd's, as `--spelling` takes them:
      {"backward": "backwards", "log": "ln"}; the others are detected.

    Raises UsageError (gradoracle.UsageError) for what the command reports as a usage error.
    """
    if not (isinstance(budget, int | float) and 0 < budget < math.inf):
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    from gradoracle.fuzz.check import run_check
    from gradoracle.fuzz.conventions import parse_accept
    from gradoracle.fuzz.oracle import Oracle
    from gradoracle.fuzz.report import result_json, summary_text
    from gradoracle.fuzz.runner import InProcess
    from gradoracle.reference.jax_ref import JaxReference, default_cache_dir, use_compilation_cache

    adapter = _adapter(target, spelling)
    accepted = parse_accept(list(accept), (adapter.name,))
    spec = worker_spec(target)
    if isolate and spec is None:
        raise UsageError(
            f"{adapter.name}: a worker process cannot import it by name (define it at the top "
            "level of a module, or pass isolate=False)"
        )
    use_compilation_cache(default_cache_dir())
    runner: Runner
    if spec is not None and isolate is not False:
        from gradoracle.fuzz.isolation import IsolatedImpl

        runner = IsolatedImpl(spec, timeout, spellings=adapter.spellings)
    else:
        runner = InProcess(adapter)
    try:
        oracle = Oracle(adapter, JaxReference(), runner)
        result = run_check(
            oracle, budget, seed, max_graphs=max_graphs, timeout=timeout, accepted=accepted
        )
    finally:
        runner.close()
    return Report.from_json(
        verdict_of(result), summary_text(result, adapter), result_json(result, adapter)
    )
