"""The corpus file format: constants, the data model, rendering and validation (see fuzz.corpus).

The file is JSON (schema: corpus.schema.json beside this module, JSON Schema draft 2020-12). Its
structure is validated by `check_schema`, a small interpreter of the schema keywords the file uses,
so that the hand-written validator and the schema cannot drift apart; graphs are validated by
`Graph.from_json`; what a schema cannot say (unique ids, one gradient per input node, known flags,
the vector count) is checked after. Every error is a CorpusError whose one-line message names the
entry: `vectors[3].graph: node 2: unknown op 'foo'`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from gradoracle.reference.compare import EPS, JAX_ERROR_FACTOR, QUICK_RTOL, ULPS_PER_OP
from gradoracle.reference.graph import Graph, GraphError, unique_keys
from gradoracle.reference.ops import OPS

FORMAT = "gradoracle-corpus"
SPEC_VERSION = 1
SCHEMA = "corpus.schema.json"  # beside this module, shipped in the package
TOLERANCE_RULE = (
    "max(QUICK_RTOL * |expected|, JAX_ERROR_FACTOR * |jax - expected|, "
    "ULPS_PER_OP * EPS * (n_ops + 1) * error_scale)"
)
HEADER = (
    "Test vectors for scalar reverse-mode autodiff engines (gradoracle corpus, like Project "
    "Wycheproof's vectors for crypto libraries).",
    "Each vector: a graph (nodes: inputs, constants and ops on earlier nodes; see 'ops' and "
    "'conventions'), the output value and d output / d input for every input node, in node order.",
    "expected: the exact answer (mpmath, >= 50 digits, verified) rounded to the nearest float64; "
    "jax: what JAX float64 computes (reverse mode).",
    "A float64 implementation passes a vector when the value and every gradient are finite and "
    "|got - expected| <= tolerance (absolute, per quantity).",
    "tolerance = " + TOLERANCE_RULE + ", with the constants in 'tolerance_rule'; n_ops counts the "
    "graph's op nodes.",
    "error_scale: the magnitude float64 rounding is relative to. For a gradient: the sum over all "
    "paths from the input to the output of |product of local derivatives| (no cancellation); for "
    "the value: the sum over op nodes of |node value| * that sum for the node, at least |value|.",
    "This is gradoracle's comparator judging against the exact answer: an implementation may err "
    f"{JAX_ERROR_FACTOR:g} times more than JAX does, {ULPS_PER_OP:g} ulps of the error scale per "
    f"op, or {QUICK_RTOL:g} relative.",
    "Graphs whose references are not finite, with an operand outside its op's domain, with an "
    "operand within its forward error (a few ulps per op of the magnitudes it was computed from; "
    "inputs are exact) of a kink, or whose exact answer does not converge are not exported.",
    "Replay: gradoracle corpus replay FILE --impl MODULE:CLASS (exit 0 clean, 1 findings, 2 "
    "malformed file). JSON Schema: corpus.schema.json in gradoracle's fuzz package.",
)
CONVENTIONS = (
    'graph.nodes: {"input": x} a variable, {"const": k} a plain number, {"op": name, '
    '"args": [i, j]} an op on earlier nodes (left operand first); graph.output: the output node.',
    "Gradients are of the output with respect to each input node, in node order (snippet name "
    "x<node index>). A node used several times (by several ops, or as both operands of one op: "
    "x * x) receives the sum of all contributions.",
    "Constants are plain numbers with no gradient: form 'vc' has the constant on the right "
    "(a + k), 'cv' on the left (k - a), 'vv' takes two nodes (see 'ops': spellings).",
    "pow: 'vc' is a**k, d/da = k*a**(k-1); 'cv' is k**a, d/da = log(k)*k**a; 'vv' is a**b (a > 0).",
    'Numbers keep their type (graph version 2): {"const": 2} is the int 2 (a ** 2) and '
    '{"input": 2} an input built from the int (Value(2)), where 2.0 is a float; build each '
    "as the type given. An int's value is its nearest float64: the expected numbers are the same.",
    "relu'(0) = 0 (micrograd, PyTorch, jax.nn.relu); no vector sits near a kink, so conventions at "
    "kinks are tested by explicit cases, not by these vectors.",
    "tanh and sigmoid are computed stably for every finite input (tanh(1000) == 1.0).",
)
NOTES = {
    "NodeReuse": "a node feeds more than one operand: an engine that overwrites gradients "
    "instead of accumulating them fails",
    "SameOperand": "an op takes one node as both operands (x + x, x * x)",
    "ConstOperand": "an op takes a plain-number constant on one side (2 - a, a ** 3.0)",
}


class CorpusError(ValueError):
    """A malformed corpus (or a corpus that cannot be made): one line naming the entry."""


@dataclass(frozen=True)
class Vector:
    """One test vector. Quantities are (value, grad of each input in node order)."""

    id: int
    comment: str
    flags: tuple[str, ...]
    graph: Graph
    expected: tuple[float, ...]
    jax: tuple[float, ...]
    error_scale: tuple[float, ...]
    tolerance: tuple[float, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return ("value", *(f"x{i}" for i in self.graph.inputs))


@dataclass
class Corpus:
    generator: dict[str, Any]
    vectors: list[Vector]


def tolerance(expected: float, jax: float, error_scale: float, n_ops: int) -> float:
    """The absolute tolerance of one quantity: TOLERANCE_RULE, the comparator's rule when it judges
    against the exact answer (reference.compare._adjudicate), with n_ops op nodes in the graph."""
    return tolerance_for(expected, abs(jax - expected), error_scale, n_ops)


def tolerance_for(expected: float, float64_error: float, error_scale: float, n_ops: int) -> float:
    """TOLERANCE_RULE with float64's own error given (|jax - expected| in the file)."""
    budget = ULPS_PER_OP * EPS * (n_ops + 1)
    return max(QUICK_RTOL * abs(expected), JAX_ERROR_FACTOR * float64_error, budget * error_scale)


def _operands(form: str) -> list[str]:
    names = iter(("a", "b"))
    return ["k" if f == "c" else next(names) for f in form]


def ops_doc() -> dict[str, Any]:
    """The op registry as the file documents it."""
    return {
        op.name: {
            "arity": op.arity,
            "forms": list(op.forms),
            "spellings": {form: op.spell(form, *_operands(form)) for form in op.forms},
            "meaning": op.doc,
            "domain": op.domain_doc,
            "derivative": op.derivative_doc,
            "kinks": [
                {"operand": k.operand, "at": k.at, "derivative": k.derivative, "note": k.note}
                for k in op.kinks
            ],
        }
        for op in OPS.values()
    }


def _pair(xs: tuple[float, ...]) -> dict[str, Any]:
    return {"value": xs[0], "grads": list(xs[1:])}


def to_document(corpus: Corpus) -> dict[str, Any]:
    constants = {"QUICK_RTOL": QUICK_RTOL, "JAX_ERROR_FACTOR": JAX_ERROR_FACTOR}
    constants |= {"ULPS_PER_OP": ULPS_PER_OP, "EPS": EPS}
    return {
        "format": FORMAT,
        "spec_version": SPEC_VERSION,
        "schema": SCHEMA,
        "header": list(HEADER),
        "tolerance_rule": {"formula": TOLERANCE_RULE, **constants},
        "conventions": list(CONVENTIONS),
        "notes": dict(NOTES),
        "ops": ops_doc(),
        "generator": corpus.generator,
        "number_of_vectors": len(corpus.vectors),
        "vectors": [
            {
                "id": v.id,
                "comment": v.comment,
                "flags": list(v.flags),
                "graph": json.loads(v.graph.to_json()),
                "expected": _pair(v.expected),
                "jax": _pair(v.jax),
                "error_scale": _pair(v.error_scale),
                "tolerance": _pair(v.tolerance),
                "snippet": v.graph.to_snippet().splitlines(),
            }
            for v in corpus.vectors
        ],
    }


# Containers written one item per line; everything else is written on one line.
_EXPANDED = {"", ".header", ".tolerance_rule", ".conventions", ".notes", ".ops", ".generator"}
_EXPANDED |= {".vectors", ".vectors[]", ".vectors[].snippet"}


def _pretty(x: Any, path: str = "", pad: str = "") -> str:
    if isinstance(x, dict | list) and x and path in _EXPANDED:
        inner = pad + "  "
        if isinstance(x, dict):
            items = [
                f"{inner}{json.dumps(k)}: {_pretty(v, f'{path}.{k}', inner)}" for k, v in x.items()
            ]
        else:
            items = [inner + _pretty(v, path + "[]", inner) for v in x]
        brackets = "{}" if isinstance(x, dict) else "[]"
        return brackets[0] + "\n" + ",\n".join(items) + "\n" + pad + brackets[1]
    return json.dumps(x, allow_nan=False, separators=(", ", ": "))


def render(corpus: Corpus) -> str:
    """The file's text: deterministic, ASCII, floats written exactly (repr)."""
    return _pretty(to_document(corpus)) + "\n"


def _fail(where: str, message: str) -> NoReturn:
    raise CorpusError(f"{where or 'top level'}: {message}")


def _kind(x: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}  # fmt: skip
    shown = "" if isinstance(x, dict | list) or x is None else f" {x!r:.40}"
    return names.get(type(x), type(x).__name__) + shown


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
}
_ARTICLES = {"object": "an object", "array": "an array", "integer": "an integer"}
# The JSON Schema keywords `check_schema` understands (the rest of corpus.schema.json describes
# graphs, which Graph.from_json checks; tests/fuzz/test_corpus.py keeps the two in step).
KEYWORDS = {"$ref", "type", "const", "enum", "minimum", "required", "properties", "items"}
KEYWORDS |= {"additionalProperties", "description", "title", "$comment"}


def check_schema(where: str, x: Any, rule: dict[str, Any], defs: dict[str, Any]) -> None:
    """Validate `x` against a rule of corpus.schema.json: the hand-written validator, for the
    keywords in KEYWORDS. A reference to the graph definition is left to Graph.from_json."""
    if "$ref" in rule:
        name = rule["$ref"].removeprefix("#/$defs/")
        if name != "graph":
            check_schema(where, x, defs[name], defs)
        return
    if "const" in rule and (x != rule["const"] or type(x) is not type(rule["const"])):
        _fail(where, f"expected {json.dumps(rule['const'])}, got {_kind(x)}")
    if "enum" in rule and x not in rule["enum"]:
        _fail(where, f"expected one of {', '.join(map(json.dumps, rule['enum']))}, got {_kind(x)}")
    types = rule.get("type", ())
    types = [types] if isinstance(types, str) else types
    if types and not any(
        isinstance(x, _TYPES[t]) and not (isinstance(x, bool) and t in ("integer", "number"))
        for t in types
    ):
        wanted = " or ".join(_ARTICLES.get(t, f"a {t}") for t in types)
        _fail(where, f"expected {wanted}, got {_kind(x)}")
    if isinstance(x, float) and not math.isfinite(x):
        _fail(where, f"expected a finite number, got {x!r}")
    if "minimum" in rule and isinstance(x, int | float) and x < rule["minimum"]:
        _fail(where, f"must be >= {rule['minimum']}, got {x!r}")
    if isinstance(x, dict):
        for key in rule.get("required", ()):
            if key not in x:
                _fail(where, f"missing key {key!r}")
        properties, extra = rule.get("properties", {}), rule.get("additionalProperties", True)
        for key, value in x.items():
            sub = properties.get(key, extra)
            if sub is False:
                _fail(where, f"unknown key {key!r:.40}")
            if isinstance(sub, dict):
                check_schema(f"{where}.{key}" if where else key, value, sub, defs)
    if isinstance(x, list) and "items" in rule:
        for i, item in enumerate(x):
            check_schema(f"{where}[{i}]", item, rule["items"], defs)


_unique_keys = unique_keys(lambda message: CorpusError(f"not valid corpus JSON: {message}"))


def _vector(where: str, raw: dict[str, Any], notes: dict[str, Any]) -> Vector:
    """A vector whose structure check_schema has checked: its graph and what a schema cannot say."""
    try:
        graph = Graph.from_json(json.dumps(raw["graph"]))
    except GraphError as e:
        _fail(f"{where}.graph", str(e))
    for i, flag in enumerate(raw["flags"]):
        if flag not in notes:
            _fail(f"{where}.flags[{i}]", f"unknown flag {flag!r:.40} (not in notes)")
    columns = []
    for key in ("expected", "jax", "error_scale", "tolerance"):
        grads = raw[key]["grads"]
        if len(grads) != len(graph.inputs):
            message = f"expected {len(graph.inputs)} (one per input node), got {len(grads)}"
            _fail(f"{where}.{key}.grads", message)
        columns.append((float(raw[key]["value"]), *map(float, grads)))
    return Vector(raw["id"], raw["comment"], tuple(raw["flags"]), graph, *columns)


def parse(text: str) -> Corpus:
    """Validate a corpus file's text: its structure against corpus.schema.json (check_schema),
    graphs as Graph.from_json does, and what a schema cannot say (unique ids, one gradient per
    input, known flags, the vector count)."""
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys)
    except CorpusError:
        raise
    except (ValueError, RecursionError) as e:
        raise CorpusError(f"not JSON: {str(e).splitlines()[0] if str(e) else repr(e)}") from None
    if not isinstance(doc, dict):
        _fail("", f"expected an object, got {_kind(doc)}")
    if doc.get("format") != FORMAT:
        shown = f"got {_kind(doc['format'])}" if "format" in doc else "the key is missing"
        _fail("format", f"expected {FORMAT!r} (a gradoracle corpus), {shown}")
    version = doc.get("spec_version")
    if isinstance(version, bool) or version != SPEC_VERSION:
        _fail(
            "spec_version",
            f"this gradoracle reads spec_version {SPEC_VERSION}, got {version!r:.40}",
        )
    rules = schema()
    check_schema("", doc, rules, rules["$defs"])
    raws = doc["vectors"]
    if doc["number_of_vectors"] != len(raws):
        _fail(
            "number_of_vectors", f"is {doc['number_of_vectors']}, but there are {len(raws)} vectors"
        )
    vectors: list[Vector] = []
    seen: dict[int, int] = {}
    for i, raw in enumerate(raws):
        vector = _vector(f"vectors[{i}]", raw, doc["notes"])
        if vector.id in seen:
            _fail(f"vectors[{i}].id", f"duplicate id {vector.id} (also vectors[{seen[vector.id]}])")
        seen[vector.id] = i
        vectors.append(vector)
    return Corpus(doc["generator"], vectors)


@cache
def _schema_text() -> str:
    from importlib.resources import files

    return files("gradoracle.fuzz").joinpath(SCHEMA).read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of corpus files, shipped beside this module."""
    loaded: dict[str, Any] = json.loads(_schema_text())
    return loaded
