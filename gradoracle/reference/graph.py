"""The Graph IR: an immutable DAG of inputs, constants and ops, with canonical JSON.

Node kinds:
- input: a leaf variable with a finite value, a Python `float` or `int`;
- const: a finite `float` or `int`, inlined as a plain-number operand of a binary op on an allowed
  side;
- op: an op name and args = indices of EARLIER nodes (an index may repeat: `x * x`).
At least one operand of each op is a non-const node. The output is a non-const node (default: the
last one). Reusing a node (several consumers, or both operands of one op) is what makes gradient
accumulation bugs visible, so the IR is a DAG, not a tree.

Ints and floats. Whether a leaf or constant is an `int` or a `float` is part of the graph: people
write `x ** 2`, `2 * x`, `Value(2)`, and an engine may handle an int differently from the equal
float (wrongly, sometimes). An implementation is built with the numbers as they are (`cls(2)`,
`x ** 2`); `bool` is not a number here, and an int too large for a float is refused as not
finite. Nodes compare equal only if their numbers have the same type (`Node.input(2) !=
Node.input(2.0)`). The references compute with the float nearest each number: the value of an int
is `float(n)` (what Python does wherever an int meets a float), so ints change how a graph is
spelled, never what its right answer is.

JSON versions. Version 1 (every file written before ints existed) holds floats only: a number
written without a fraction (`2`) is read as the float 2.0, as it always was. Version 2 keeps the
type: `2` is an int, `2.0` a float (Python's json writes floats with a fraction or an exponent).
`to_json` writes version 1 when the graph holds no int, so such graphs keep the exact text they had
(the corpus files, every saved finding), and version 2 otherwise: a reader that knows only
version 1 refuses such a file instead of silently turning `x ** 2` into `x ** 2.0`.

Every malformed graph raises GraphError with a one-line message naming the node.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from gradoracle.reference.libs import Lib
from gradoracle.reference.ops import OPS, apply, calls_by_code

FORMAT = "gradoracle-graph"
VERSION = 2  # the newest JSON version; see the module docstring
VERSIONS = (1, 2)  # the versions from_json reads
FLOAT_ONLY_VERSION = 1  # the version written for graphs without an int
KINDS = ("input", "const", "op")
# Key in a Graph's __dict__ of its tape, for a graph made from it (see Graph.from_compiled).
COMPILED = "_compiled"
# ... and of what makes that tape when first asked for (see Graph.compiled_later).
LATER = "_compiled_later"
_INPUTS, _OUTPUT = 3, 4  # the places of `inputs` and `output` in a FlatGraph or CompiledGraph
_new_object = object.__new__


class GraphError(ValueError):
    """A malformed graph (or graph JSON); the message is one line and names the node."""


Number = int | float  # a leaf's or constant's value: its type is part of the graph


class FlatGraph(NamedTuple):
    """A valid graph as the flat lists its tape is made of (reference.tape.CompiledGraph without
    its bucket): what the sampler writes, the worker receives, and `build_from_steps` builds."""

    steps: Sequence[int]  # 4 ints per op node, in node order: opcode, left, right, dest
    leaf_slots: Sequence[int]  # the node index of each input and constant
    leaf_values: Sequence[Number]  # their values, in the same order (an int leaf stays an int)
    inputs: Sequence[int]  # the node indices of the inputs, in input order
    output: int
    n_nodes: int


class CompiledLater(Protocol):
    """Makes the CompiledGraphs of a batch of graphs (`Graph.compiled_later`) when first asked."""

    def compiled(self, k: int) -> Any:
        """Graph k's CompiledGraph (the maker may write every graph's into its __dict__ under
        COMPILED, removing LATER, on the way)."""
        ...


@dataclass(frozen=True, eq=False)
class Node:
    kind: str  # 'input', 'const' or 'op'
    value: Number | None = None  # input and const nodes: a float or an int
    op: str | None = None  # op nodes: a name in reference.ops.OPS
    args: tuple[int, ...] = ()  # op nodes: indices of earlier nodes

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, self.value, type(self.value), self.op, self.args)

    def __eq__(self, other: object) -> bool:
        """Equal fields, and numbers of the same type: an int leaf is not the float leaf."""
        if not isinstance(other, Node):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @classmethod
    def input(cls, value: Number) -> Node:
        return cls("input", value)

    @classmethod
    def const(cls, value: Number) -> Node:
        return cls("const", value)

    @classmethod
    def apply(cls, op: str, *args: int) -> Node:
        return cls("op", None, op, tuple(args))

    @classmethod
    def trusted(
        cls,
        kind: str,
        value: Number | None = None,
        op: str | None = None,
        args: tuple[int, ...] = (),
    ) -> Node:
        """Node(kind, value, op, args) without the frozen dataclass's __init__ (four
        object.__setattr__ calls): a fast path for generators, like `Graph.trusted`. The caller
        passes normalized fields (a float or int value, a tuple of args); the node is equal to
        the one __init__ would make."""
        node = object.__new__(cls)
        fields = node.__dict__
        fields["kind"] = kind
        fields["value"] = value
        fields["op"] = op
        fields["args"] = args
        return node


def _type_name(x: object) -> str:
    return type(x).__name__


def _checked_number(where: str, value: object) -> Number:
    """A finite float, or an int whose float is finite (kept an int); bools are refused.
    Subclasses of float and int are normalized to the plain types."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphError(
            f"{where} must be a float or an int, got {_type_name(value)} {value!r:.40}"
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        shown = repr(value) if isinstance(value, float) else f"an int of {value.bit_length()} bits"
        raise GraphError(f"{where} must be finite, got {shown:.40}")
    return int(value) if isinstance(value, int) else number


def _checked_node(i: int, node: object, kinds: list[str]) -> tuple[Node, str]:
    """Validate node i against the earlier nodes' kinds; return it normalized and its form."""
    if not isinstance(node, Node):
        raise GraphError(f"node {i}: expected a Node, got {_type_name(node)}")
    if node.kind not in KINDS:
        raise GraphError(f"node {i}: unknown kind {node.kind!r:.40} (expected one of {KINDS})")
    if node.kind != "op":
        if node.op is not None or node.args != ():
            raise GraphError(f"node {i}: {node.kind} node must not have an op or args")
        value = _checked_number(f"node {i}: {node.kind} value", node.value)
        return Node(node.kind, value), ""
    if node.value is not None:
        raise GraphError(f"node {i}: op node must not have a value")
    if not isinstance(node.op, str):
        raise GraphError(f"node {i}: op name must be a string, got {_type_name(node.op)}")
    op = OPS.get(node.op)
    if op is None:
        raise GraphError(f"node {i}: unknown op {node.op!r:.40}")
    if not isinstance(node.args, (tuple, list)):
        raise GraphError(
            f"node {i}: args must be a list of node indices, got {_type_name(node.args)}"
        )
    if len(node.args) != op.arity:
        raise GraphError(f"node {i}: op {op.name!r} takes {op.arity} args, got {len(node.args)}")
    for k, arg in enumerate(node.args):
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise GraphError(
                f"node {i}: arg {k} must be an int node index, got {_type_name(arg)} {arg!r:.40}"
            )
        if arg == i:
            raise GraphError(f"node {i}: arg {k} refers to the node itself")
        if not 0 <= arg < i:
            raise GraphError(f"node {i}: arg {k} refers to node {arg}, not an earlier node")
    form = "".join("c" if kinds[arg] == "const" else "v" for arg in node.args)
    if "v" not in form:
        raise GraphError(
            f"node {i}: op {op.name!r} has only constant operands "
            f"(nodes {', '.join(map(str, node.args))})"
        )
    if form not in op.forms:
        raise GraphError(
            f"node {i}: op {op.name!r} does not take a constant operand in form "
            f"{form!r} (allowed: {', '.join(op.forms)})"
        )
    return Node("op", None, op.name, tuple(node.args)), form


@dataclass(frozen=True)
class Graph:
    """An immutable, validated DAG. `output=-1` means the last node."""

    nodes: tuple[Node, ...]
    output: int = -1
    forms: tuple[str, ...] = field(init=False, repr=False, compare=False)  # '' for non-op nodes

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check (and normalize: lists to tuples, float and int subclasses to float and int) every
        node; raise GraphError."""
        if not isinstance(self.nodes, (tuple, list)):
            raise GraphError(f"nodes must be a sequence of Node, got {_type_name(self.nodes)}")
        if not self.nodes:
            raise GraphError("graph has no nodes")
        kinds: list[str] = []
        nodes: list[Node] = []
        forms: list[str] = []
        for i, raw in enumerate(self.nodes):
            node, form = _checked_node(i, raw, kinds)
            kinds.append(node.kind)
            nodes.append(node)
            forms.append(form)
        output = self.output
        if isinstance(output, bool) or not isinstance(output, int):
            raise GraphError(f"output must be an int node index, got {_type_name(output)}")
        if output == -1:
            output = len(nodes) - 1
        if not 0 <= output < len(nodes):
            raise GraphError(f"output {output} is out of range (graph has {len(nodes)} nodes)")
        if kinds[output] == "const":
            raise GraphError(f"output {output} is a const node; it must be an input or op node")
        object.__setattr__(self, "nodes", tuple(nodes))
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "forms", tuple(forms))

    @classmethod
    def trusted(
        cls,
        nodes: tuple[Node, ...],
        output: int,
        forms: tuple[str, ...],
        inputs: tuple[int, ...] | None = None,
    ) -> Graph:
        """A graph built without validation: the fast path for code whose graphs are valid by
        construction (a graph decoded by the worker). The caller guarantees what `validate`
        would check and normalize: `nodes` a tuple of normalized Nodes (input/const values finite
        floats or ints, op args tuples of earlier indices, each op in an allowed form with a
        variable operand), `forms` exactly as `validate` computes them, `output` a non-const node
        index (-1: the last node). `Graph(graph.nodes, graph.output)` must give an equal graph with
        the same forms.

        The caller may also hand over `inputs` (the property's value), computed on the way, so
        that nobody derives it again: a private cache, not a field, not compared."""
        graph = object.__new__(cls)
        fields = graph.__dict__  # what object.__setattr__ would write, without three calls
        fields["nodes"] = nodes
        fields["output"] = len(nodes) - 1 if output == -1 else output
        fields["forms"] = forms
        if inputs is not None:
            fields["inputs"] = inputs  # where the cached_property keeps its value
        return graph

    @classmethod
    def from_compiled(cls, compiled: Any) -> Graph:
        """A graph given only as what `reference.tape.compile_graph` returns (a CompiledGraph),
        from a generator that guarantees what `trusted` asks for: its nodes and forms are derived
        from the steps when first used, which a campaign's passing graphs never do."""
        graph = _new_object(cls)  # (a global and two indexings: ~25 % less than attributes)
        fields = graph.__dict__
        fields["output"] = compiled[_OUTPUT]
        fields["inputs"] = compiled[_INPUTS]
        fields[COMPILED] = compiled
        return graph

    @classmethod
    def compiled_later(cls, output: int, later: tuple[CompiledLater, int]) -> Graph:
        """`from_compiled` for a graph whose CompiledGraph is made only when first asked for:
        `later` is (maker, k), the graph being its maker's k-th (a sampled batch's graphs share one
        maker, which makes them all at once). Whoever needs none of a graph's lists (its nodes,
        inputs, steps), as a campaign's reference reading the batch's arrays, never makes them."""
        graph = _new_object(cls)
        fields = graph.__dict__
        fields["output"] = output
        fields[LATER] = later
        return graph

    if not TYPE_CHECKING:  # (for type checkers, Graph has no attributes beyond its own)

        def __getattr__(self, name: str) -> Any:
            """Only for a graph made by `from_compiled`: its nodes and forms, made once."""
            compiled = self.compiled() if name in ("nodes", "forms") else None
            if compiled is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            nodes, forms = nodes_from_steps(compiled.flat)
            self.__dict__["nodes"] = nodes
            self.__dict__["forms"] = forms
            return self.__dict__[name]

    def compiled(self) -> Any:
        """What `from_compiled` made the graph from (a reference.tape.CompiledGraph), else None."""
        fields = self.__dict__
        compiled = fields.get(COMPILED)
        if compiled is None and LATER in fields:
            maker, k = fields[LATER]
            compiled = fields[COMPILED] = maker.compiled(k)
            fields.pop(LATER, None)  # (the maker may have done it)
        return compiled

    def __getstate__(self) -> dict[str, Any]:
        """What pickle and copy keep: the graph's own lists, never its batch's maker."""
        self.compiled()
        return self.__dict__

    def flat(self) -> FlatGraph | None:
        """The flat lists `from_compiled` made the graph from, else None (then use its nodes)."""
        compiled = self.compiled()
        if compiled is None:
            return None
        flat: FlatGraph = compiled.flat
        return flat

    @cached_property
    def inputs(self) -> tuple[int, ...]:
        """Indices of the input nodes, in order."""
        compiled = self.compiled()
        if compiled is not None:
            return tuple(compiled[_INPUTS])
        return tuple(i for i, n in enumerate(self.nodes) if n.kind == "input")

    @property
    def input_values(self) -> tuple[float, ...]:
        """The inputs' values as floats (what the references compute with; an int input's value
        is its float), in input order."""
        return tuple(float(self.nodes[i].value) for i in self.inputs)  # type: ignore[arg-type]

    @property
    def n_ops(self) -> int:
        compiled = self.compiled()
        if compiled is not None:  # (without deriving the nodes of a graph from_compiled)
            return int(compiled.n_ops)
        return sum(1 for n in self.nodes if n.kind == "op")

    def with_inputs(self, values: Sequence[Number]) -> Graph:
        """The same graph with new input values (in input order), of the types given: floats
        make float inputs (as finite differences need), ints int inputs."""
        if len(values) != len(self.inputs):
            raise GraphError(f"with_inputs: expected {len(self.inputs)} values, got {len(values)}")
        nodes = list(self.nodes)
        for i, v in zip(self.inputs, values):
            nodes[i] = Node("input", v)
        return Graph(tuple(nodes), self.output)

    # ---- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, floats written with repr (exact round trip),
        ints as ints (`2`, where a float is `2.0`). Version 1 when no number is an int, else 2
        (see the module docstring)."""
        nodes: list[dict[str, Any]] = []
        version = FLOAT_ONLY_VERSION
        for n in self.nodes:
            if n.kind == "op":
                nodes.append({"op": n.op, "args": list(n.args)})
            else:
                nodes.append({n.kind: n.value})
                if type(n.value) is int:
                    version = VERSION
        doc = {"format": FORMAT, "version": version, "nodes": nodes, "output": self.output}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Graph:
        doc = _load_json(text)
        if not isinstance(doc, dict):
            raise GraphError(f"graph JSON must be an object, got {_type_name(doc)}")
        unknown = sorted(set(doc) - {"format", "version", "nodes", "output"})
        if unknown:
            raise GraphError(f"graph JSON has unknown key {unknown[0]!r:.40}")
        if doc.get("format") != FORMAT:
            raise GraphError(f"graph JSON format must be {FORMAT!r}, got {doc.get('format')!r:.40}")
        version = doc.get("version")
        if isinstance(version, bool) or version not in VERSIONS:
            known = " or ".join(map(str, VERSIONS))
            raise GraphError(f"graph JSON version must be {known}, got {version!r:.40}")
        raw_nodes = doc.get("nodes")
        if not isinstance(raw_nodes, list):
            raise GraphError(f"graph JSON nodes must be a list, got {_type_name(raw_nodes)}")
        floats_only = version == FLOAT_ONLY_VERSION
        nodes = tuple(_node_from_json(i, raw, floats_only) for i, raw in enumerate(raw_nodes))
        output = doc.get("output", -1)  # absent: the last node
        if "output" in doc and isinstance(output, int) and output < 0:
            raise GraphError(f"output {output} is out of range (graph has {len(nodes)} nodes)")
        return cls(nodes, output)

    # ---- source --------------------------------------------------------------------------------

    def to_snippet(
        self,
        import_line: str = "from engine import Value",
        cls: str = "Value",
        methods: Mapping[str, str] | None = None,
    ) -> str:
        """Runnable Python that rebuilds the graph with `cls`, calls backward and prints the
        output's data and every input's grad (named x<i> / v<i> after the node index).
        `methods`: an engine's names for method ops (op -> name, `{'log': 'ln'}`)."""
        methods = methods or {}
        names: list[str] = []
        lines = [import_line, ""] if import_line else []
        for i, n in enumerate(self.nodes):
            if n.kind == "const":
                text = repr(n.value)
                names.append(f"({text})" if text.startswith("-") else text)
            elif n.kind == "input":
                names.append(f"x{i}")
                lines.append(f"x{i} = {cls}({n.value!r})")
            else:
                assert n.op is not None
                names.append(f"v{i}")
                operands = [names[a] for a in n.args]
                spelled = OPS[n.op].spell(self.forms[i], *operands, method=methods.get(n.op))
                lines.append(f"v{i} = {spelled}")
        lines += [f"out = {names[self.output]}", "out.backward()", "print('out.data =', out.data)"]
        lines += [f"print('x{i}.grad =', x{i}.grad)" for i in self.inputs]
        return "\n".join(lines) + "\n"


def unique_keys(
    error: Callable[[str], Exception],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A json.loads object_pairs_hook that refuses duplicate keys, raising `error(message)`."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise error(f"duplicate key {key!r:.40}")
            result[key] = value
        return result

    return hook


_unique_keys = unique_keys(lambda message: GraphError(f"graph JSON has a {message}"))


def _load_json(text: str | bytes) -> Any:
    if not isinstance(text, (str, bytes, bytearray)):
        raise GraphError(f"graph JSON must be str or bytes, got {_type_name(text)}")
    try:
        # NaN / Infinity parse to floats so that validation rejects them naming the node.
        return json.loads(text, object_pairs_hook=_unique_keys)
    except GraphError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError
        first_line = str(e).splitlines()[0] if str(e) else repr(e)
        raise GraphError(f"invalid graph JSON: {first_line}") from None


def _as_float(value: Any) -> Any:
    """A version-1 number: an int is read as the float it was written for (inf if it has none)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    return value


def _node_from_json(i: int, raw: object, floats_only: bool = False) -> Node:
    if isinstance(raw, dict):
        keys = set(raw)
        for kind in ("input", "const"):
            if keys == {kind}:
                value = raw[kind]
                return Node(kind, _as_float(value) if floats_only else value)
        if keys == {"op", "args"}:
            args = raw["args"]
            return Node("op", None, raw["op"], tuple(args) if isinstance(args, list) else args)
    shown = sorted(map(str, raw)) if isinstance(raw, dict) else _type_name(raw)
    raise GraphError(
        f'node {i}: expected {{"input": x}}, {{"const": x}} or {{"op": name, '
        f'"args": [...]}}, got {shown!s:.60}'
    )


# ---- evaluation ----------------------------------------------------------------------------------


def node_values(graph: Graph, lib: Lib) -> list[Any]:
    """Forward values of every node under `lib` (errors re-raised naming the node)."""
    values: list[Any] = []
    for i, n in enumerate(graph.nodes):
        if n.kind != "op":
            values.append(lib.lift(n.value))  # type: ignore[arg-type]
            continue
        assert n.op is not None
        try:
            values.append(OPS[n.op].forward(lib, *(values[a] for a in n.args)))
        except (ValueError, ArithmeticError) as e:
            if type(e) not in (ValueError, ZeroDivisionError, OverflowError):
                raise
            raise type(e)(f"node {i}: {e}") from e
    return values


def evaluate(graph: Graph, lib: Lib) -> Any:
    """The output value under `lib` (e.g. FLOAT: Python-float semantics, errors and all)."""
    return node_values(graph, lib)[graph.output]


OP_NAMES: tuple[str, ...] = tuple(OPS)  # opcode -> op name (reference.tape's tapes number ops so)
OPCODES: dict[str, int] = {name: code for code, name in enumerate(OP_NAMES)}  # op name -> opcode
_UNARY_CODES = frozenset(code for code, op in enumerate(OPS.values()) if op.arity == 1)


def nodes_from_steps(flat: FlatGraph) -> tuple[tuple[Node, ...], tuple[str, ...]]:
    """The nodes and forms of a valid graph from its compiled lists (reference.tape: 4 ints per
    op, opcode, left, right, destination; a unary op reads its operand twice). Leaf values keep
    their types (an int leaf stays an int)."""
    steps, leaf_slots, leaf_values, inputs = (
        flat.steps,
        flat.leaf_slots,
        flat.leaf_values,
        flat.inputs,
    )
    nodes: list[Any] = [None] * flat.n_nodes
    forms = [""] * flat.n_nodes
    input_slots = set(inputs)
    for slot, value in zip(leaf_slots, leaf_values, strict=True):
        nodes[slot] = Node.trusted("input" if slot in input_slots else "const", value)
    it = iter(steps)
    for code, a, b, dest in zip(it, it, it, it, strict=True):
        if code in _UNARY_CODES:
            args: tuple[int, ...] = (a,)
            forms[dest] = "v"
        else:
            args = (a, b)
            forms[dest] = "".join("c" if nodes[k].kind == "const" else "v" for k in args)
        nodes[dest] = Node.trusted("op", None, OP_NAMES[code], args)
    return tuple(nodes), tuple(forms)


def build(
    graph: Graph, cls: Any, methods: Mapping[str, str] | None = None
) -> tuple[list[Any], Any]:
    """Build the graph on any Value-like class: returns (input objects in input order, output).

    Inputs are `cls(value)`, constants plain numbers, each a float or an int as the graph says
    (`cls(2)`, `x ** 2`), ops applied through their Python spelling, method ops under the
    engine's names where `methods` (op -> name) gives them.
    """
    objs = build_nodes(graph, cls, methods)
    return [objs[i] for i in graph.inputs], objs[graph.output]


def build_nodes(graph: Graph, cls: Any, methods: Mapping[str, str] | None = None) -> list[Any]:
    """`build`, returning every node's object (constants as the plain numbers they are)."""
    methods = methods or {}
    objs: list[Any] = []
    for i, n in enumerate(graph.nodes):
        if n.kind == "input":
            objs.append(cls(n.value))
        elif n.kind == "const":
            objs.append(n.value)
        else:
            assert n.op is not None
            args = (objs[a] for a in n.args)
            objs.append(apply(n.op, graph.forms[i], *args, method=methods.get(n.op)))
    return objs


_CALLS_BY_CODE = calls_by_code()


def build_from_steps(
    flat: FlatGraph, cls: Any, methods: Mapping[str, str] | None = None
) -> tuple[list[Any], Any]:
    """`build` from a graph's flat lists (a FlatGraph):
    the inputs first, then the ops in node order, each op's spelling (`OPS[op].call`, or the
    engine's method named in `methods`) called directly, as `apply` does once the form is
    checked. No Node objects are made."""
    objs: list[Any] = [None] * flat.n_nodes
    inputs = flat.inputs
    for slot, value in zip(flat.leaf_slots, flat.leaf_values, strict=True):
        objs[slot] = value  # constants stay plain numbers, floats or ints as sampled
    for slot in inputs:
        objs[slot] = cls(objs[slot])
    calls, unary = (calls_by_code(methods) if methods else _CALLS_BY_CODE), _UNARY_CODES
    it = iter(flat.steps)
    for code, a, b, dest in zip(it, it, it, it, strict=True):
        if code in unary:
            objs[dest] = calls[code](objs[a])
        else:
            objs[dest] = calls[code](objs[a], objs[b])
    return [objs[i] for i in inputs], objs[flat.output]


def kink_distance(graph: Graph, values: Sequence[Any]) -> float:
    """Smallest |operand - kink| over all op nodes with kinks (inf if none), given node values."""
    best = math.inf
    for n in graph.nodes:
        if n.op is not None:
            for kink in OPS[n.op].kinks:
                best = min(best, abs(float(values[n.args[kink.operand]]) - kink.at))
    return best
