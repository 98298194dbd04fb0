"""The Graph IR: construction, canonical JSON with exact floats, validation messages, evaluation,
build() on a Value-like class, and to_snippet() executed against a tiny reference Value."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
from typing import Any

import pytest

from gradoracle.reference.graph import (
    Graph,
    GraphError,
    Node,
    build,
    evaluate,
    kink_distance,
    node_values,
)
from gradoracle.reference.highprec import highprec
from gradoracle.reference.libs import FLOAT, MP
from gradoracle.reference.ops import OPS, draw_real


class RefValue:
    """A tiny, obviously-correct scalar autograd Value (accumulating gradients), for the tests."""

    def __init__(self, data: float, _parents: tuple[tuple[RefValue, float], ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._parents = _parents  # (parent, local derivative)

    @staticmethod
    def _lift(x: Any) -> RefValue:
        return x if isinstance(x, RefValue) else RefValue(x)

    def __add__(self, o: Any) -> RefValue:
        o = self._lift(o)
        return RefValue(FLOAT.add(self.data, o.data), ((self, 1.0), (o, 1.0)))

    def __mul__(self, o: Any) -> RefValue:
        o = self._lift(o)
        return RefValue(FLOAT.mul(self.data, o.data), ((self, o.data), (o, self.data)))

    def __sub__(self, o: Any) -> RefValue:
        o = self._lift(o)
        return RefValue(FLOAT.sub(self.data, o.data), ((self, 1.0), (o, -1.0)))

    def __truediv__(self, o: Any) -> RefValue:
        o = self._lift(o)
        out = FLOAT.div(self.data, o.data)
        return RefValue(out, ((self, 1.0 / o.data), (o, -out / o.data)))

    def __pow__(self, o: Any) -> RefValue:
        o = self._lift(o)
        out = FLOAT.pow(self.data, o.data)
        parents = [(self, o.data * FLOAT.pow(self.data, o.data - 1.0))]
        if o._parents or o in _LEAVES:  # a Value exponent: d/db = log(a) * a**b
            parents.append((o, FLOAT.log(self.data) * out))
        return RefValue(out, tuple(parents))

    def __radd__(self, o: Any) -> RefValue:
        return self._lift(o) + self

    def __rsub__(self, o: Any) -> RefValue:
        return self._lift(o) - self

    def __rmul__(self, o: Any) -> RefValue:
        return self._lift(o) * self

    def __rtruediv__(self, o: Any) -> RefValue:
        return self._lift(o) / self

    def __rpow__(self, o: Any) -> RefValue:
        out = FLOAT.pow(o, self.data)
        return RefValue(out, ((self, FLOAT.log(o) * out),))

    def __neg__(self) -> RefValue:
        return RefValue(-self.data, ((self, -1.0),))

    def tanh(self) -> RefValue:
        t = math.tanh(self.data)
        return RefValue(t, ((self, 1.0 - t * t),))

    def exp(self) -> RefValue:
        e = FLOAT.exp(self.data)
        return RefValue(e, ((self, e),))

    def log(self) -> RefValue:
        return RefValue(FLOAT.log(self.data), ((self, 1.0 / self.data),))

    def relu(self) -> RefValue:
        return RefValue(FLOAT.relu(self.data), ((self, 1.0 if self.data > 0 else 0.0),))

    def sigmoid(self) -> RefValue:
        s = FLOAT.sigmoid(self.data)
        return RefValue(s, ((self, s * (1.0 - s)),))

    def sin(self) -> RefValue:
        return RefValue(math.sin(self.data), ((self, math.cos(self.data)),))

    def cos(self) -> RefValue:
        return RefValue(math.cos(self.data), ((self, -math.sin(self.data)),))

    def sqrt(self) -> RefValue:
        r = FLOAT.sqrt(self.data)
        return RefValue(r, ((self, 0.5 / r),))

    def __abs__(self) -> RefValue:
        return RefValue(abs(self.data), ((self, FLOAT.sign(self.data)),))

    def backward(self) -> None:
        order: list[RefValue] = []
        seen: set[int] = set()
        stack: list[tuple[RefValue, bool]] = [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((p, False) for p, _ in v._parents)
        self.grad = 1.0
        for v in reversed(order):
            for p, local in v._parents:
                p.grad += local * v.grad


# Leaves created by the test's builder: a**b with b a leaf still needs d/db (b has no parents).
_LEAVES: set[RefValue] = set()


class LeafValue(RefValue):
    def __init__(self, data: float) -> None:
        super().__init__(data)
        _LEAVES.add(self)


def random_graph(rng: random.Random, n_inputs: int = 3, n_ops: int = 10) -> Graph:
    """A random DAG that reuses nodes (several consumers, both operands of one op)."""
    nodes = [Node.input(draw_real(rng)) for _ in range(n_inputs)]
    values = [n.value for n in nodes]
    variables = list(range(n_inputs))
    ops = list(OPS.values())
    while len(variables) < n_inputs + n_ops:
        op = rng.choice(ops)
        form = rng.choice(op.forms)
        picks = [rng.choice(variables[-4:] if rng.random() < 0.6 else variables) for _ in form]
        if form == "vv" and rng.random() < 0.3:
            picks[1] = picks[0]  # both operands of one op are the same node
        operands: list[float | None] = [
            values[p] if f == "v" else None for p, f in zip(picks, form)
        ]
        for slot, f in enumerate(form):
            if f == "c":
                operands[slot] = op.draw(form, rng, slot, operands[1 - slot])
        a, b = operands[0], operands[1] if op.arity == 2 else None
        if a is None or (op.arity == 2 and b is None) or not op.float_ok(form, a, b):
            continue
        args = []
        for slot, f in enumerate(form):
            if f == "c":
                nodes.append(Node.const(operands[slot]))  # type: ignore[arg-type]
                values.append(operands[slot])
                args.append(len(nodes) - 1)
            else:
                args.append(picks[slot])
        nodes.append(Node.apply(op.name, *args))
        values.append(op.forward(FLOAT, a, b))
        variables.append(len(nodes) - 1)
    return Graph(tuple(nodes))


SPEC_EXAMPLE = (
    '{"format": "gradoracle-graph", "version": 1, "nodes": [{"input": 0.5}, '
    '{"const": 2.0}, {"op": "mul", "args": [0, 1]}], "output": 2}'
)


def test_spec_example_and_properties() -> None:
    g = Graph.from_json(SPEC_EXAMPLE)
    assert g.nodes == (Node.input(0.5), Node.const(2.0), Node.apply("mul", 0, 1))
    assert g.output == 2
    assert g.inputs == (0,)
    assert g.input_values == (0.5,)
    assert g.n_ops == 1
    assert g.forms == ("", "", "vc")
    assert evaluate(g, FLOAT) == 1.0


def test_output_defaults_to_last_node_and_lists_are_normalized() -> None:
    g = Graph([Node.input(1), Node("op", None, "add", [0, 0])])  # type: ignore[arg-type]
    assert g.output == 1
    assert isinstance(g.nodes, tuple)
    assert g.nodes[1].args == (0, 0)
    assert type(g.nodes[0].value) is int  # an int stays an int
    assert evaluate(g, FLOAT) == 2.0 and type(evaluate(g, FLOAT)) is float


class _Float(float):
    pass


class _Int(int):
    pass


def test_ints_are_kept_and_are_not_the_equal_floats() -> None:
    g = Graph((Node.input(2), Node.const(3), Node.apply("pow", 0, 1)))
    assert [type(n.value) for n in g.nodes[:2]] == [int, int]
    assert Node.input(2) != Node.input(2.0) and Node.const(-1) != Node.const(-1.0)
    assert g != Graph((Node.input(2.0), Node.const(3), Node.apply("pow", 0, 1)))
    assert g == Graph((Node.input(2), Node.const(3), Node.apply("pow", 0, 1)))
    subclassed = Graph((Node.input(_Int(2)), Node.const(_Float(0.5)), Node.apply("mul", 0, 1)))
    assert [type(n.value) for n in subclassed.nodes[:2]] == [int, float]
    assert Node.input(0) != Node.input(-0.0) and Node.input(0.0) == Node.input(-0.0)  # as before


def test_int_leaves_evaluate_as_their_floats() -> None:
    # 3 ** 40 is exact as an int but not as a float: every reference computes with floats.
    g = Graph((Node.input(3), Node.const(40), Node.apply("pow", 0, 1)))
    assert evaluate(g, FLOAT) == 3.0**40 and type(evaluate(g, FLOAT)) is float
    assert evaluate(g, MP) == 3.0**40
    assert highprec(g).value == 3.0**40 and highprec(g).grads == (40 * 3.0**39,)
    g = Graph((Node.input(2), Node.const(-1), Node.apply("pow", 0, 1)))
    assert evaluate(g, FLOAT) == 0.5 and highprec(g).grads == (-0.25,)
    big = 2**60 + 1  # not a float: its value is the nearest float
    g = Graph((Node.input(big), Node.const(1), Node.apply("mul", 0, 1)))
    assert evaluate(g, FLOAT) == float(big) == float(evaluate(g, MP))
    assert highprec(g).value == float(big)
    assert g.input_values == (float(big),) and type(g.input_values[0]) is float
    huge = Graph((Node.input(10**300), Node.apply("log", 0)))
    assert evaluate(huge, FLOAT) == math.log(1e300)
    assert kink_distance(Graph((Node.input(0), Node.apply("relu", 0))), [0, 0.0]) == 0.0


def test_int_json_round_trip_and_versions() -> None:
    g = Graph((Node.input(2), Node.const(2.0), Node.const(-3), Node.apply("pow", 0, 2),
               Node.apply("mul", 1, 3)))  # fmt: skip
    text = g.to_json()
    doc = json.loads(text)
    assert doc["version"] == 2
    assert doc["nodes"][:3] == [{"input": 2}, {"const": 2.0}, {"const": -3}]
    assert '{"input":2}' in text and '{"const":2.0}' in text and '{"const":-3}' in text
    back = Graph.from_json(text)
    assert back == g and [type(n.value) for n in back.nodes[:3]] == [int, float, int]
    assert back.to_json() == text
    # Without ints the text is what version 1 always was.
    floats = Graph((Node.input(2.0), Node.const(3.0), Node.apply("pow", 0, 1)))
    assert json.loads(floats.to_json())["version"] == 1
    # A version-1 file holds floats only: a number written without a fraction is a float there.
    v1 = '{"format":"gradoracle-graph","version":1,"nodes":[{"input":2},{"const":3},' \
         '{"op":"pow","args":[0,1]}]}'  # fmt: skip
    assert Graph.from_json(v1) == floats
    assert [type(n.value) for n in Graph.from_json(v1).nodes[:2]] == [float, float]
    v2 = v1.replace('"version":1', '"version":2')
    assert [type(n.value) for n in Graph.from_json(v2).nodes[:2]] == [int, int]
    with pytest.raises(GraphError, match="node 0: input value must be finite"):
        Graph.from_json(v2.replace('{"input":2}', '{"input":1' + "0" * 400 + "}"))
    assert (
        Graph.from_json(v2.replace('{"input":2}', '{"input":1' + "0" * 300 + "}")).nodes[0].value
        == 10**300
    )


@pytest.mark.parametrize(
    "x", [0.1, 1e-300, 5e-324, -0.0, 1.7976931348623157e308, 1 / 3, -2.5e-310, 123456789.0]
)
def test_json_round_trip_is_exact(x: float) -> None:
    g = Graph((Node.input(x), Node.const(x if x != 0 else 1.0), Node.apply("mul", 1, 0)))
    text = g.to_json()
    back = Graph.from_json(text)
    assert back == g
    assert math.copysign(1.0, back.input_values[0]) == math.copysign(1.0, x)
    assert back.input_values[0].hex() == x.hex()
    assert back.to_json() == text


def test_json_is_canonical() -> None:
    text = Graph.from_json(SPEC_EXAMPLE).to_json()
    assert " " not in text
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert doc["format"] == "gradoracle-graph"
    assert doc["version"] == 1
    assert doc["output"] == 2


def test_random_graphs_round_trip() -> None:
    rng = random.Random(1)
    for _ in range(50):
        g = random_graph(rng)
        back = Graph.from_json(g.to_json())
        assert back == g
        assert back.forms == g.forms
        assert [n.value.hex() for n in back.nodes if n.value is not None] == [
            n.value.hex() for n in g.nodes if n.value is not None
        ]


def _doc(nodes: list[Any], output: Any = None) -> str:
    doc: dict[str, Any] = {"format": "gradoracle-graph", "version": 1, "nodes": nodes}
    if output is not None:
        doc["output"] = output
    return json.dumps(doc)


X = {"input": 1.0}
C = {"const": 2.0}
HEAD = '{"format": "gradoracle-graph", "version": 1, '  # for texts json.dumps cannot produce

# (JSON text, the substring the message must contain: the node it names)
MALFORMED_JSON = [
    (_doc([X, {"op": "foo", "args": [0]}]), "node 1: unknown op 'foo'"),
    (_doc([X, {"op": "add", "args": [0]}]), "node 1: op 'add' takes 2 args, got 1"),
    (_doc([X, {"op": "tanh", "args": [0, 0]}]), "node 1:"),
    (_doc([X, {"op": "tanh", "args": [2]}, X]), "node 1: arg 0 refers to node 2"),
    (_doc([X, {"op": "tanh", "args": [1]}]), "node 1: arg 0 refers to the node itself"),
    (_doc([X, {"op": "tanh", "args": [-1]}]), "node 1: arg 0 refers to node -1"),
    (_doc([X, {"op": "tanh", "args": [7]}]), "node 1: arg 0 refers to node 7"),
    (_doc([{"input": 1e400}]), "node 0: input value must be finite, got inf"),
    (HEAD + '"nodes": [{"input": 1e400}]}', "node 0: input value must be finite"),
    (
        HEAD + '"nodes": [{"input": 1.0}, {"const": -1e999}, {"op": "add", "args": [0, 1]}]}',
        "node 1: const value must be finite",
    ),
    (HEAD + '"nodes": [{"input": 1' + "0" * 400 + "}]}", "node 0: input value must be finite"),
    (_doc([{"input": "1.0"}]), "node 0: input value must be a float or an int, got str"),
    (_doc([{"input": None}]), "node 0: input value must be a float or an int, got NoneType"),
    (_doc([{"input": [1.0]}]), "node 0: input value must be a float or an int, got list"),
    (_doc([{"input": True}]), "node 0: input value must be a float or an int, got bool"),
    (
        HEAD.replace("1", "2") + '"nodes": [{"input": 1' + "0" * 400 + "}]}",
        "node 0: input value must be finite, got an int of 1329 bits",
    ),
    (_doc([X, {"op": "tanh", "args": [True]}]), "node 1: arg 0 must be an int node index, got bo"),
    (_doc([X, {"op": "tanh", "args": [0.5]}]), "node 1: arg 0 must be an int node index, got fl"),
    (_doc([X, {"op": "tanh", "args": 0}]), "node 1: args must be a list"),
    (_doc([X, {"op": 3, "args": [0]}]), "node 1: op name must be a string"),
    (_doc([X, C, {"op": "tanh", "args": [1]}]), "node 2: op 'tanh' has only constant operands"),
    (_doc([X, C, {"op": "add", "args": [1, 1]}]), "node 2: op 'add' has only constant operands"),
    (_doc([X, C, {"op": "pow", "args": [1, 1]}]), "node 2:"),
    (_doc([1.0]), "node 0: expected"),
    (_doc([X, {"input": 1.0, "const": 2.0}]), "node 1: expected"),
    (_doc([X, {"op": "tanh"}]), "node 1: expected"),
    (_doc([X, {"op": "tanh", "args": [0], "extra": 1}]), "node 1: expected"),
    (_doc([X, C], output=1), "output 1 is a const node"),
    (_doc([X], output=3), "output 3 is out of range"),
    (_doc([X], output=-1), "output -1 is out of range"),
    (_doc([X], output="0"), "output must be an int"),
    (_doc([X], output=True), "output must be an int"),
    (_doc([]), "graph has no nodes"),
    (_doc([C]), "output 0 is a const node"),
    ('{"format": "other", "version": 1, "nodes": [{"input": 1.0}]}', "format"),
    ('{"format": "gradoracle-graph", "version": 3, "nodes": [{"input": 1.0}]}', "version"),
    ('{"format": "gradoracle-graph", "version": 0, "nodes": [{"input": 1.0}]}', "version"),
    ('{"format": "gradoracle-graph", "version": true, "nodes": [{"input": 1.0}]}', "version"),
    ('{"format": "gradoracle-graph", "version": 1, "nodes": {}}', "nodes must be a list"),
    (HEAD + '"nodes": [], "x": 1}', "unknown key 'x'"),
    ('{"format": "gradoracle-graph", "format": "gradoracle-graph"}', "duplicate key"),
    (HEAD + '"nodes": [{"input": NaN}]}', "node 0: input value must be finite, got nan"),
    (
        HEAD + '"nodes": [{"input": 1.0}, {"input": -Infinity}]}',
        "node 1: input value must be finite, got -inf",
    ),
    ("[1, 2]", "must be an object"),
    ("{", "invalid graph JSON"),
    ("", "invalid graph JSON"),
    (b"\xff\xfe{", "invalid graph JSON"),
    ("[" * 100000, "invalid graph JSON"),
]


@pytest.mark.parametrize(("text", "needle"), MALFORMED_JSON)
def test_malformed_json_gives_one_line_graph_error_naming_the_node(text: str, needle: str) -> None:
    with pytest.raises(GraphError) as info:
        Graph.from_json(text)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert len(message) < 200
    assert isinstance(info.value, ValueError)


MALFORMED_NODES: list[tuple[list[Any], Any, str]] = [
    ([Node.input(math.nan)], -1, "node 0: input value must be finite"),
    ([Node.input(math.inf)], -1, "node 0: input value must be finite"),
    ([Node.input(1.0), Node("op", 1.0, "tanh", (0,))], -1, "node 1: op node must not have a value"),
    ([Node("input", 1.0, None, (0,))], -1, "node 0: input node must not have an op or args"),
    ([Node("input", 1.0, "tanh")], -1, "node 0: input node must not have an op or args"),
    ([Node("leaf", 1.0)], -1, "node 0: unknown kind 'leaf'"),
    ([Node.input(1.0), 2.0], -1, "node 1: expected a Node, got float"),
    ([Node.input(1.0), Node.apply("tanh", 0)], 1.0, "output must be an int"),
    ([Node.input(10**400)], -1, "node 0: input value must be finite"),
    ([Node.input(True)], -1, "node 0: input value must be a float or an int, got bool"),
    (
        [Node.input(1.0), Node.const(False), Node.apply("add", 0, 1)],
        -1,
        "node 1: const value must be a float or an int, got bool",
    ),
    ([Node.input(1.0), Node.apply("exp", 0)], 2, "output 2 is out of range"),
]


@pytest.mark.parametrize(("nodes", "output", "needle"), MALFORMED_NODES)
def test_malformed_nodes_give_graph_error_naming_the_node(
    nodes: list[Any], output: Any, needle: str
) -> None:
    with pytest.raises(GraphError, match=r"^" + needle.replace("(", r"\(")):
        Graph(tuple(nodes), output)


def test_nodes_must_be_a_sequence() -> None:
    with pytest.raises(GraphError, match="nodes must be a sequence"):
        Graph(None)  # type: ignore[arg-type]


def test_with_inputs() -> None:
    g = Graph(
        (
            Node.input(1.0),
            Node.const(3.0),
            Node.input(2.0),
            Node.apply("mul", 0, 2),
            Node.apply("add", 3, 1),
        )
    )
    h = g.with_inputs([4.0, 5.0])
    assert h.input_values == (4.0, 5.0)
    assert h.nodes[1:2] == g.nodes[1:2]
    assert h.output == g.output
    assert evaluate(h, FLOAT) == 23.0
    assert evaluate(g, FLOAT) == 5.0
    with pytest.raises(GraphError, match="expected 2 values, got 1"):
        g.with_inputs([1.0])
    with pytest.raises(GraphError, match="node 2: input value must be finite"):
        g.with_inputs([1.0, math.nan])


def test_evaluate_and_errors_name_the_node() -> None:
    g = Graph((Node.input(0.5), Node.apply("sub", 0, 0), Node.apply("log", 1)))
    with pytest.raises(ValueError, match=r"^node 2: log"):
        evaluate(g, FLOAT)
    with pytest.raises(ValueError, match=r"^node 2: log"):
        evaluate(g, MP)
    g = Graph((Node.input(800.0), Node.apply("exp", 0)))
    with pytest.raises(OverflowError, match=r"^node 1: exp"):
        evaluate(g, FLOAT)
    g = Graph((Node.input(0.0), Node.const(1.0), Node.apply("div", 1, 0)))
    with pytest.raises(ZeroDivisionError, match=r"^node 2: div"):
        evaluate(g, FLOAT)
    g = Graph((Node.input(2.0), Node.const(3.0), Node.apply("pow", 0, 1), Node.apply("neg", 2)))
    assert node_values(g, FLOAT) == [2.0, 3.0, 8.0, -8.0]
    assert evaluate(g, MP) == -8


def _run_snippet(graph: Graph) -> dict[str, float]:
    source = graph.to_snippet(import_line="", cls="V")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<snippet>", "exec"), {"V": LeafValue})
    printed = {}
    for line in out.getvalue().splitlines():
        name, _, value = line.partition(" = ")
        printed[name] = float(value)
    return printed


def test_snippet_default_header_and_shape() -> None:
    g = Graph.from_json(SPEC_EXAMPLE)
    lines = g.to_snippet().splitlines()
    assert lines[0] == "from engine import Value"
    assert "x0 = Value(0.5)" in lines
    assert "v2 = x0 * 2.0" in lines
    assert lines[-3:] == [
        "out.backward()",
        "print('out.data =', out.data)",
        "print('x0.grad =', x0.grad)",
    ]
    neg = Graph(
        (
            Node.input(1.0),
            Node.const(-0.0),
            Node.apply("sub", 1, 0),
            Node.const(-2.0),
            Node.apply("pow", 2, 3),
        )
    )
    assert "v2 = (-0.0) - x0" in neg.to_snippet()
    assert "v4 = v2 ** (-2.0)" in neg.to_snippet()
    ints = Graph((Node.input(2), Node.const(2), Node.apply("pow", 0, 1), Node.const(-1),
                  Node.apply("pow", 2, 3), Node.const(3), Node.apply("sub", 5, 4)))  # fmt: skip
    lines = ints.to_snippet().splitlines()
    assert "x0 = Value(2)" in lines and "v2 = x0 ** 2" in lines
    assert "v4 = v2 ** (-1)" in lines and "v6 = 3 - v4" in lines


def test_snippet_and_build_pass_ints_as_ints() -> None:
    seen: list[Any] = []

    class Recording(LeafValue):
        def __init__(self, data: float) -> None:
            seen.append(data)
            super().__init__(data)

        def __pow__(self, o: Any) -> RefValue:
            seen.append(o)
            return super().__pow__(o)

    g = Graph((Node.input(3), Node.const(2), Node.apply("pow", 0, 1), Node.input(0.5),
               Node.const(2.0), Node.apply("pow", 3, 4), Node.apply("add", 2, 5)))  # fmt: skip
    inputs, out = build(g, Recording)
    assert [type(x) for x in seen] == [int, int, float, float]
    out.backward()
    assert [x.grad for x in inputs] == [6.0, 1.0]
    seen.clear()
    source = g.to_snippet(import_line="", cls="V")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, "<snippet>", "exec"), {"V": Recording})
    assert [type(x) for x in seen] == [int, int, float, float]


def test_snippet_reproduces_evaluate_and_build() -> None:
    rng = random.Random(2)
    for _ in range(60):
        g = random_graph(rng, n_inputs=rng.randint(1, 4), n_ops=rng.randint(1, 15))
        printed = _run_snippet(g)
        assert printed["out.data"] == evaluate(g, FLOAT)  # the same float operations: exact
        inputs, out = build(g, LeafValue)
        out.backward()
        assert out.data == printed["out.data"]
        assert [printed[f"x{i}.grad"] for i in g.inputs] == [x.grad for x in inputs]
        exact = highprec(g)
        for x, want in zip(inputs, exact.grads):
            assert x.grad == pytest.approx(want, rel=1e-8, abs=1e-8)


def test_build_reuses_nodes_and_accumulates() -> None:
    # y = x*x + x: both operands of one op, and x has three uses; dy/dx = 2x + 1.
    g = Graph((Node.input(3.0), Node.apply("mul", 0, 0), Node.apply("add", 1, 0)))
    (x,), out = build(g, LeafValue)
    out.backward()
    assert out.data == 12.0
    assert x.grad == 7.0
    printed = _run_snippet(g)
    assert printed == {"out.data": 12.0, "x0.grad": 7.0}


def test_output_may_be_an_input_and_unused_inputs_get_zero() -> None:
    g = Graph((Node.input(1.5), Node.input(2.0), Node.apply("exp", 1)), output=0)
    assert evaluate(g, FLOAT) == 1.5
    assert _run_snippet(g) == {"out.data": 1.5, "x0.grad": 1.0, "x1.grad": 0.0}


def test_kink_distance() -> None:
    g = Graph(
        (
            Node.input(-0.25),
            Node.apply("relu", 0),
            Node.const(1.0),
            Node.apply("add", 0, 2),
            Node.apply("relu", 3),
        )
    )
    assert kink_distance(g, node_values(g, FLOAT)) == 0.25
    assert kink_distance(Graph((Node.input(1.0), Node.apply("exp", 0))), [1.0, math.e]) == math.inf
