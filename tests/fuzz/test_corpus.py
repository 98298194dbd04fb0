"""`gradoracle corpus`: export (deterministic, schema-valid), replay (clean on the engine, exit 1 on
a planted bug, no JAX), malformed files (exit 2, one line naming the entry), add_vectors."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_usage

from gradoracle.cli import corpus as corpus_cli
from gradoracle.fuzz.adapters import ValueClassAdapter, load_adapter
from gradoracle.fuzz.corpus import (
    CorpusError,
    add_vectors,
    check_vector,
    export,
    load,
    replay,
    save,
    schema,
    tolerance,
)
from gradoracle.fuzz.corpus_format import KEYWORDS, render, to_document
from gradoracle.reference.compare import FAIL, PASS, compare
from gradoracle.reference.graph import FORMAT as GRAPH_FORMAT
from gradoracle.reference.graph import VERSIONS as GRAPH_VERSIONS
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
N, SEED = 40, 3

pytestmark = pytest.mark.jax


def gradoracle(*argv: str) -> int:
    """The CLI: gradoracle.cli.main.main (or gradoracle.cli.corpus.main had it no `corpus`)."""
    from gradoracle.cli import main as cli

    commands = next(
        a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    main = cli.main if "corpus" in commands.choices else corpus_cli.main
    return main(list(argv))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "vectors.json"
    assert gradoracle("corpus", "export", "--n", str(N), "--seed", str(SEED), str(path)) == 0
    return path


@pytest.fixture
def doc(exported: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(exported.read_text())
    return loaded


# ---- export --------------------------------------------------------------------------------------


def test_export_is_byte_identical_for_a_seed(exported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.json"
    assert gradoracle("corpus", "export", "--n", str(N), "--seed", str(SEED), str(again)) == 0
    assert again.read_bytes() == exported.read_bytes()
    other = tmp_path / "other.json"
    assert gradoracle("corpus", "export", "--n", str(N), "--seed", str(SEED + 1), str(other)) == 0
    assert other.read_bytes() != exported.read_bytes()


def test_a_smaller_export_is_a_prefix(exported: Path) -> None:
    small, _ = export(7, SEED)
    assert to_document(small)["vectors"] == json.loads(exported.read_text())["vectors"][:7]


def test_exported_vectors(exported: Path, doc: dict[str, Any]) -> None:
    corpus = load(exported)
    assert len(corpus.vectors) == N == doc["number_of_vectors"]
    assert [v.id for v in corpus.vectors] == list(range(1, N + 1))
    assert doc["format"] == "gradoracle-corpus" and doc["spec_version"] == 1
    assert set(doc["ops"]) == set(OPS)
    assert doc["ops"]["relu"]["kinks"][0]["derivative"] == 0.0
    assert any("relu'(0) = 0" in line for line in doc["conventions"])
    assert any("tolerance = max(" in line for line in doc["header"])
    for v, raw in zip(corpus.vectors, doc["vectors"], strict=True):
        assert v.comment.startswith(f"seed {SEED}, graph ")
        assert raw["snippet"] == v.graph.to_snippet().splitlines()
        for e, j, s, t in zip(v.expected, v.jax, v.error_scale, v.tolerance, strict=True):
            assert t == tolerance(e, j, s, v.graph.n_ops)
            assert abs(j - e) <= t  # JAX itself passes
            assert t <= 1e-9 * max(abs(e), s, 1.0)  # and the tolerances are tight
    assert render(corpus) == exported.read_text()  # load + render round-trips byte for byte


def test_exported_files_match_the_json_schema(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.Draft202012Validator(schema()).validate(doc)


def test_the_schema_and_the_validator_agree_on_keywords() -> None:
    rules = schema()
    graph_defs = {"graph", "node"}  # described for readers, checked by Graph.from_json

    def walk(rule: Any, top: bool = False) -> None:
        if isinstance(rule, dict):
            unknown = set(rule) - KEYWORDS - ({"$schema", "$id", "$defs"} if top else set())
            assert not unknown, unknown
            for key, value in rule.items():
                if key == "$defs":
                    for name, sub in value.items():
                        if name not in graph_defs:
                            walk(sub)
                elif key in ("properties",):
                    for sub in value.values():
                        walk(sub)
                elif key in ("items", "additionalProperties"):
                    walk(value)

    walk(rules, top=True)
    node_op = rules["$defs"]["node"]["oneOf"][2]["properties"]["op"]
    assert node_op["enum"] == list(OPS)
    graph = rules["$defs"]["graph"]["properties"]
    assert graph["format"]["const"] == GRAPH_FORMAT and graph["version"]["enum"] == list(
        GRAPH_VERSIONS
    )


def test_within_tolerance_passes_the_comparator(exported: Path) -> None:
    """The stated tolerance is the comparator's: a result inside it passes `compare`."""
    for v in load(exported).vectors[:15]:
        for sign in (1.0, -1.0):
            got = [e + sign * 0.99 * t for e, t in zip(v.expected, v.tolerance, strict=True)]
            assert check_vector(v, got).passed
            verdict = compare(v.graph, got[0], got[1:], v.jax[0], v.jax[1:])
            assert verdict.status == PASS, (v.id, verdict)
        wrong = [e + 3 * t + 1e-300 for e, t in zip(v.expected, v.tolerance, strict=True)]
        assert not check_vector(v, wrong).passed
        assert not check_vector(v, [math.nan, *v.expected[1:]]).passed
        if v.jax == v.expected:  # then the comparator's quick accept cannot pass it either
            verdict = compare(v.graph, wrong[0], wrong[1:], v.jax[0], v.jax[1:])
            assert verdict.status == FAIL, (v.id, verdict)


# ---- replay --------------------------------------------------------------------------------------


def test_replay_is_clean_on_the_engine(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gradoracle("corpus", "replay", str(exported)) == 0
    out = capsys.readouterr().out
    assert f"{N} vectors: {N} passed, 0 failed" in out
    assert gradoracle("corpus", "replay", str(exported), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == [] and report["graphs_checked"] == N
    for key in ("not_comparable", "seconds", "cpu_seconds", "impl_seconds", "reference_seconds"):
        assert key in report


def test_replay_finds_a_planted_bug(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        gradoracle("corpus", "replay", str(exported), "--impl", "planted_engines:OverwriteMul") == 1
    )
    out = capsys.readouterr().out
    assert "FAIL vector" in out and "expected" in out and "got" in out
    assert gradoracle(
        "corpus", "replay", str(exported), "--impl", "planted_engines:OverwriteMul", "--json"
    ) == 1  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    first = report["findings"][0]
    assert first["mismatches"] and {"name", "expected", "got", "tolerance"} <= set(
        first["mismatches"][0]
    )
    # A correct engine with other formulas (a / b as a * b**-1) raises no false alarm.
    assert (
        gradoracle("corpus", "replay", str(exported), "--impl", "planted_engines:ClosureValue") == 0
    )


def test_an_exception_is_a_finding(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        gradoracle("corpus", "replay", str(exported), "--impl", "hostile_engines:RaisingBackward")
        == 1
    )
    assert "FAIL vector" in capsys.readouterr().out


def test_vectors_with_ops_an_engine_lacks_are_skipped(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `check` skips what an engine does not spell: NoTanh has no tanh, micrograd 0.1.0 has no
    tanh, exp, log or sigmoid and only constant exponents. None of that is a finding."""
    assert gradoracle("corpus", "replay", str(exported), "--impl", "planted_engines:NoTanh") == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "skipped (not supported: a.tanh())" in out
    regressions = Path(__file__).resolve().parents[1] / "corpus" / "regressions.json"
    args = ("corpus", "replay", str(regressions), "--impl", "micrograd.engine:Value", "--json")
    assert gradoracle(*args) == 0
    report = json.loads(capsys.readouterr().out)
    lacking = {"a.tanh()", "a.exp()", "a.log()", "a.sigmoid()", "a ** b"}
    assert lacking <= set(report["ops_skipped"])
    assert report["skipped"] + report["passed"] == report["vectors"]
    assert report["graphs_checked"] == report["passed"] >= 20  # measured: 22 of 217


def test_replay_needs_no_jax(exported: Path) -> None:
    code = (
        "import sys; from gradoracle.cli.corpus import main; "
        "rc = main(['corpus', 'replay', sys.argv[1]]); "
        "assert 'jax' not in sys.modules, 'replay imported jax'; sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(exported)],
        cwd=TESTS,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# ---- malformed files: exit 2, one line naming the entry ------------------------------------------

Doc = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Doc], Any]:
    """A mutation: set doc[path] (dotted, with [i] indices) to value; `...` deletes the key."""

    def mutate(doc: Doc) -> Doc:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is ...:
            del node[key]
        else:
            node[key] = value
        return doc

    return mutate


def _first_op_node(doc: Doc) -> Doc:
    nodes = doc["vectors"][3]["graph"]["nodes"]
    k = next(i for i, n in enumerate(nodes) if "op" in n)
    nodes[k]["op"] = "foo"
    return doc


def _extra_grad(doc: Doc) -> Doc:
    doc["vectors"][0]["expected"]["grads"].append(1.0)
    return doc


# (case, mutation of a valid document or raw text, message, does the JSON Schema reject it too)
MALFORMED: list[tuple[str, Callable[[Doc], Any] | str, str, bool]] = [
    ("not JSON", "{not json", "not JSON: Expecting property name", False),
    ("empty", "", "not JSON", False),
    ("duplicate key", '{"format": 1, "format": 2}', "duplicate key 'format'", False),
    ("array", "[]", "top level: expected an object, got an array", True),
    ("format", _set("format", "wycheproof"), "format: expected 'gradoracle-corpus'", True),
    ("no format", _set("format", ...), "format: expected 'gradoracle-corpus'", True),
    ("version", _set("spec_version", 2), "spec_version: this gradoracle reads spec_version 1",
     True),
    ("missing key", _set("vectors", ...), "top level: missing key 'vectors'", True),
    ("unknown key", _set("extra", 1), "top level: unknown key 'extra'", True),
    ("vectors type", _set("vectors", {}), "vectors: expected an array, got an object", True),
    ("vector type", _set("vectors[2]", 5), "vectors[2]: expected an object, got an integer 5",
     True),
    ("vector key", _set("vectors[1].expected", ...), "vectors[1]: missing key 'expected'", True),
    ("vector extra", _set("vectors[1].result", "valid"), "vectors[1]: unknown key 'result'", True),
    ("id type", _set("vectors[1].id", "2"), "vectors[1].id: expected an integer, got a string",
     True),
    ("id zero", _set("vectors[1].id", 0), "vectors[1].id: must be >= 1, got 0", True),
    ("grad type", _set("vectors[2].expected.grads[0]", "1.5"),
     "vectors[2].expected.grads[0]: expected a number, got a string '1.5'", True),
    ("value null", _set("vectors[0].jax.value", None),
     "vectors[0].jax.value: expected a number, got null", True),
    ("negative tolerance", _set("vectors[0].tolerance.value", -1e-9),
     "vectors[0].tolerance.value: must be >= 0", True),
    ("snippet", _set("vectors[0].snippet", "print()"),
     "vectors[0].snippet: expected an array, got a string", True),
    ("generator", _set("generator.seed", "one"), "generator.seed: expected an integer or a null",
     True),
    ("ops", _set("ops.relu.kinks[0].at", "zero"), "ops.relu.kinks[0].at: expected a number", True),
    ("unknown op", _first_op_node, "vectors[3].graph: node ", True),
    ("graph format", _set("vectors[0].graph.format", "dot"),
     "vectors[0].graph: graph JSON format must be 'gradoracle-graph'", True),
    ("graph node", _set("vectors[0].graph.nodes[0]", {"variable": 1.0}),
     "vectors[0].graph: node 0: expected", True),
    ("graph forward arg", _set("vectors[0].graph.nodes[1]", {"op": "neg", "args": [5]}),
     "vectors[0].graph: node 1: arg 0 refers to node 5, not an earlier node", False),
    ("graph type", _set("vectors[0].graph", []), "vectors[0].graph: graph JSON must be an object",
     True),
    ("grads count", _extra_grad, "vectors[0].expected.grads: expected", False),
    ("duplicate id", _set("vectors[1].id", 1), "vectors[1].id: duplicate id 1 (also vectors[0])",
     False),
    ("flag", _set("vectors[0].flags", ["Fast"]), "vectors[0].flags[0]: unknown flag 'Fast'", False),
    ("count", _set("number_of_vectors", 3), f"number_of_vectors: is 3, but there are {N}", False),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "message", "schema_rejects"), MALFORMED)
def test_malformed_files_exit_2_with_one_line(
    case: str,
    mutate: Callable[[Doc], Any] | str,
    message: str,
    schema_rejects: bool,
    doc: Doc,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bad.json"
    if isinstance(mutate, str):
        path.write_text(mutate)
    else:
        doc = mutate(doc)
        path.write_text(json.dumps(doc))
    assert gradoracle("corpus", "replay", str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"gradoracle: error: {path}: ")
    assert message in lines[0], lines[0]
    with pytest.raises(CorpusError, match="^" + str(path)):
        load(path)
    if schema_rejects and not isinstance(mutate, str):
        jsonschema = pytest.importorskip("jsonschema")
        assert not jsonschema.Draft202012Validator(schema()).is_valid(doc), case


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["corpus", "replay", "no/such/file.json"], "no/such/file.json: no such file"),
        (["corpus", "replay", "."], ".: cannot read"),
        (["corpus", "replay", "corpus/regressions.json", "--impl", "nope_xyz:V"], "cannot import"),
        (["corpus", "export", "--n", "3", "no/such/dir/x.json"], "no such directory"),
        (["corpus", "export", "--n", "3", "corpus"], "corpus: is a directory"),
        (["corpus", "add", "x.json"], "nothing to add"),
        (["corpus", "add", "x.json", "--graph-json", "{}"], "--graph-json #1: graph JSON format"),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], message: str) -> None:
    proc = run_usage("gradoracle.cli.corpus", *argv, cwd=TESTS)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv", [["corpus"], ["corpus", "export", "--n", "0", "x"], ["corpus", "replay"]]
)
def test_argument_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gradoracle(*argv)
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_invalid_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"format": "caf\xe9"}')
    assert gradoracle("corpus", "replay", str(path)) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


# ---- adding vectors ------------------------------------------------------------------------------


def test_add_vectors_appends_with_unique_ids(exported: Path, tmp_path: Path) -> None:
    path = tmp_path / "corpus.json"
    path.write_bytes(exported.read_bytes())
    x, op = Node.input, Node.apply
    square = Graph((x(1.25), op("mul", 0, 0)))
    at_kink = Graph((x(0.0), op("relu", 0)))  # not comparable: on the kink
    existing = load(path).vectors[4].graph
    added = add_vectors(
        path, [square, at_kink, existing, square], ["x * x", "kink", "dup", "again"]
    )
    assert added.ids == (N + 1,)
    assert [k for k, _ in added.skipped] == [1, 2, 3]
    assert (
        "kink" in added.skipped[0][1] and "already in the corpus as vector 5" in added.skipped[1][1]
    )
    corpus = load(path)
    assert [v.id for v in corpus.vectors] == list(range(1, N + 2))
    assert corpus.vectors[-1].comment == "x * x" and corpus.vectors[-1].expected == (1.5625, 2.5)
    assert replay(corpus, load_adapter("engine:Value")).failures == []
    fresh = tmp_path / "new.json"  # a missing file is created
    assert add_vectors(fresh, [square]).ids == (1,)
    assert load(fresh).generator["seed"] is None


def test_corpus_add_takes_check_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "regressions.json"
    graph = Graph((Node.input(2.0), Node.input(-0.5), Node.apply("mul", 0, 1)))
    report = tmp_path / "report.json"
    findings = [
        {"category": "wrong gradient", "reason": "wrong x0", "graph": json.loads(graph.to_json())},
        {"category": "deep graph", "reason": "RecursionError", "graph": None},
    ]
    report.write_text(json.dumps({"findings": findings}))
    assert gradoracle("corpus", "add", str(path), "--report", str(report), "--comment", "#7") == 0
    assert gradoracle("corpus", "add", str(path), "--graph-json", graph.to_json()) == 0
    assert "already in the corpus as vector 1" in capsys.readouterr().err
    (vector,) = load(path).vectors
    assert vector.comment == "#7: finding 0 of report.json: wrong gradient: wrong x0"
    assert vector.expected == (-1.0, -0.5, 2.0)
    report.write_text("{}")
    assert gradoracle("corpus", "add", str(path), "--report", str(report)) == 2


def test_save_refuses_a_missing_directory(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such directory"):
        save(load(exported), tmp_path / "missing" / "x.json")


def test_an_op_whose_backward_raises_is_a_finding_not_a_skip(exported: Path) -> None:
    """Only an op the implementation cannot build is unsupported: a TypeError in tanh's backward
    pass is a bug."""
    from planted_engines import ClosureValue

    class BrokenTanhBackward(ClosureValue):
        def tanh(self) -> Any:
            out = super().tanh()
            out._backward = lambda: (_ for _ in ()).throw(TypeError("tanh's backward"))
            return out

    result = replay(load(exported), ValueClassAdapter(BrokenTanhBackward))
    assert not result.skipped and result.failures
    assert all("TypeError" in c.error for c in result.failures)
