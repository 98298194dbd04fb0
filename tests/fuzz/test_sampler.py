"""Tests of fuzz.sampler: deterministic per seed, every operand inside its op's domain, nodes reused
at the stated rates, every (op, form) covered, `forms` restrictions honoured; the fast checkers
of the compiled loop (fuzz.sampler_kernel) agree with `op_result` exactly and its draws stay in
their ops' domains, and the graphs' derived nodes are the ones `Graph` validation makes of them."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fuzz import sampler_kernel as kernel
from fuzz.sampler import (
    CHUNK,
    KINK_MARGIN,
    MAGNITUDE_LIMIT,
    UNDERFLOW_LIMIT,
    GraphStream,
    SamplerConfig,
    op_coverage,
    op_result,
    sample_graphs,
)
from reference.graph import Graph, Node, node_values
from reference.libs import FLOAT
from reference.ops import INT_CONSTANTS, INT_LEAVES, INT_LIMIT, OPS, Op, as_drawn, draw_real

# Minimum rates over 2,000 default graphs (measured ~0.20, ~0.09, ~0.09, ~0.95, ~0.21).
MIN_SAME_OPERAND_RATE = 0.15  # 'vv' ops whose two operands are one node (`x * x`)
MIN_CONST_SIDE_RATE = 0.06  # binary ops with a constant on the left ('cv'), and on the right ('vc')
MIN_GRAPH_REUSE_RATE = 0.9  # graphs with a node that fills >= 2 operand slots
MIN_SHARED_RATE = 0.15  # variables that feed >= 2 op nodes
MAX_DEAD_RATE = 0.01  # graphs with a variable nothing consumes, other than the output

CONFIGS = {
    "default": SamplerConfig(),
    "30 ops": SamplerConfig(min_ops=30, max_ops=30),
    "one input": SamplerConfig(min_inputs=1, max_inputs=1),
    "log only": SamplerConfig(ops=("log",)),
    "pow only": SamplerConfig(ops=("pow", "add")),
    "constants": SamplerConfig(const=0.9, same_operand=0.5),
    "weighted": SamplerConfig(weights={"exp": 5.0, "pow": 5.0, "div": 3.0, "add": 0.0}),
    "restricted": SamplerConfig(
        forms={"add": ("vc",), "sub": ("cv",), "mul": ("vv",), "div": ("vc", "cv"), "pow": ("vc",)}
    ),
    "no add": SamplerConfig(
        ops=("tanh", "exp", "pow", "relu"), forms={"tanh": ("v",), "exp": ("v",), "pow": ("cv",)}
    ),
}


def graphs_of(name: str, n: int = 1000, seed: int = 0) -> list[Graph]:
    return sample_graphs(seed, n, CONFIGS[name])


def binary_nodes(graphs: Sequence[Graph]) -> list[tuple[Node, str]]:
    return [(n, g.forms[i]) for g in graphs for i, n in enumerate(g.nodes) if len(n.args) == 2]


# ---- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_graphs() -> None:
    first = sample_graphs(7, 300)
    again = sample_graphs(7, 300, SamplerConfig())  # a fresh (equal) config: the same graphs
    assert first == again
    assert [g.forms for g in first] == [g.forms for g in again]
    assert sample_graphs(8, 300) != first
    stream = GraphStream(7)  # however a stream is taken, the same sequence
    assert stream.take(1) + stream.take(CHUNK) + stream.take(300 - CHUNK - 1) == first


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_deterministic_for_every_config(name: str) -> None:
    assert graphs_of(name, 100, seed=3) == graphs_of(name, 100, seed=3)


# ---- validity and domains ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_trusted_graphs_validate_to_themselves(name: str) -> None:
    """Graph(nodes, output) validates each sampled graph, and gives the same nodes and forms."""
    graphs = graphs_of(name, 3000 if name == "default" else 500)
    for g in graphs:
        checked = Graph(g.nodes, g.output)
        assert checked.nodes == g.nodes, g.to_json()
        assert checked.forms == g.forms, g.to_json()
        assert checked.output == g.output == len(g.nodes) - 1
        assert isinstance(g.nodes, tuple) and isinstance(g.forms, tuple)
        for n in g.nodes:
            assert type(n) is Node and isinstance(n.args, tuple)
            assert (
                n.kind == "op"
                or type(n.value) is float
                or (type(n.value) is int and abs(n.value) <= INT_LIMIT)
            )
    for g in graphs[:200]:
        assert Graph.from_json(g.to_json()) == g


def test_trusted_constructors_equal_the_validating_ones() -> None:
    for fields in (
        ("input", 1.5),
        ("const", -2.0),
        ("op", None, "add", (0, 1)),
        ("op", None, "neg", (3,)),
    ):
        fast, slow = Node.trusted(*fields), Node(*fields)
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.kind = "input"  # type: ignore[misc]
    nodes = (Node("input", 2.0), Node("const", 3.0), Node.apply("mul", 1, 0))
    fast_graph, graph = Graph.trusted(nodes, -1, ("", "", "cv")), Graph(nodes)
    assert fast_graph == graph and fast_graph.forms == graph.forms and fast_graph.output == 2
    assert fast_graph.inputs == (0,) and fast_graph.to_json() == graph.to_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast_graph.output = 0  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_operand_inside_its_domain(name: str) -> None:
    for g in graphs_of(name, 1500 if name == "default" else 400):
        values = node_values(g, FLOAT)  # Python-float semantics: raises on any domain error
        assert all(math.isfinite(v) and abs(v) <= MAGNITUDE_LIMIT for v in values), g.to_json()
        for i, n in enumerate(g.nodes):
            if n.op is None:
                continue
            op, form = OPS[n.op], g.forms[i]
            a, b = values[n.args[0]], values[n.args[1]] if len(n.args) == 2 else None
            assert op.in_domain(form, a, b), (i, g.to_json())
            assert op_result(op, form, a, b) == values[i], (i, g.to_json())
            partials = op.partials(FLOAT, form, a, b)
            assert all(p is None or abs(p) <= MAGNITUDE_LIMIT for p in partials), (i, g.to_json())
            assert values[i] == 0.0 or abs(values[i]) >= UNDERFLOW_LIMIT, (i, g.to_json())
            if n.op == "relu":
                assert abs(a) >= KINK_MARGIN, (i, g.to_json())


def test_sizes() -> None:
    config = CONFIGS["default"]
    for g in graphs_of("default"):
        assert 1 <= len(g.inputs) <= config.max_inputs
        assert g.n_ops <= config.max_ops + len(g.nodes)  # sampled ops plus the folding adds
    assert all(len(g.inputs) == 1 for g in graphs_of("one input", 300))
    fixed = graphs_of("30 ops", 300)
    assert sum(g.n_ops for g in fixed) / len(fixed) >= 30  # few ops are left out for not fitting


# ---- reuse, constants, coverage, restrictions ----------------------------------------------------


def test_reuse_and_constant_rates() -> None:
    graphs = graphs_of("default", 2000)
    binary = binary_nodes(graphs)
    vv = [n for n, form in binary if form == "vv"]
    assert sum(n.args[0] == n.args[1] for n in vv) / len(vv) >= MIN_SAME_OPERAND_RATE
    forms = Counter(form for _, form in binary)
    assert forms["cv"] / len(binary) >= MIN_CONST_SIDE_RATE
    assert forms["vc"] / len(binary) >= MIN_CONST_SIDE_RATE
    slots = [Counter(a for n in g.nodes for a in n.args) for g in graphs]
    assert sum(max(c.values(), default=0) >= 2 for c in slots) / len(graphs) >= MIN_GRAPH_REUSE_RATE
    consumers = [Counter(a for n in g.nodes for a in set(n.args)) for g in graphs]
    variables = [
        (c, i)
        for g, c in zip(graphs, consumers)
        for i in range(len(g.nodes))
        if g.nodes[i].kind != "const"
    ]
    assert sum(c[i] >= 2 for c, i in variables) / len(variables) >= MIN_SHARED_RATE
    dead = [
        g
        for g, c in zip(graphs, slots)
        if any(n.kind != "const" and i not in c for i, n in enumerate(g.nodes[:-1]))
    ]
    assert len(dead) / len(graphs) <= MAX_DEAD_RATE


def test_every_op_and_form_covered() -> None:
    graphs = graphs_of("default", 2000)
    seen = Counter((n.op, g.forms[i]) for g in graphs for i, n in enumerate(g.nodes) if n.op)
    assert {(op.name, f) for op in OPS.values() for f in op.forms} <= set(seen)
    counts = op_coverage(graphs)
    assert set(counts) == set(OPS) and min(counts.values()) > 0
    assert sum(counts.values()) == sum(g.n_ops for g in graphs)


def leaf_types(graphs: Sequence[Graph]) -> Counter[tuple[str, str, str, str]]:
    """(op, form, 'const' or 'input', 'int' or 'float') of every leaf operand."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for g in graphs:
        for i, n in enumerate(g.nodes):
            for a in n.args:
                leaf = g.nodes[a]
                if leaf.kind != "op":
                    seen[(n.op or "", g.forms[i], leaf.kind, type(leaf.value).__name__)] += 1
    return seen


def test_ints_in_every_spelling_with_a_constant_and_int_leaves() -> None:
    """Whole-number constants are ints about half the time, in every form with a constant (x ** 2,
    x ** -1, 2 * x, x / 2, 2 - x, 2 ** x), and whole-number leaves mostly (Value(2))."""
    graphs = graphs_of("default", 5000)
    seen = leaf_types(graphs)
    for op in OPS.values():
        for form in op.forms:
            if "c" in form:
                assert seen[(op.name, form, "const", "int")] >= 20, (op.name, form)
    leaves = [n.value for g in graphs for n in g.nodes if n.kind != "op"]
    for kind, rate in (("const", INT_CONSTANTS), ("input", INT_LEAVES)):
        values = [n.value for g in graphs for n in g.nodes if n.kind == kind]
        whole = [v for v in values if float(v).is_integer() and abs(v) <= INT_LIMIT]
        ints = [v for v in values if type(v) is int]
        assert abs(len(ints) / len(whole) - rate) < 0.05, kind
    assert all(type(v) is float for v in leaves if not float(v).is_integer())
    exponents = {(g.nodes[n.args[1]].value, type(g.nodes[n.args[1]].value))
                 for g in graphs for i, n in enumerate(g.nodes)
                 if n.op == "pow" and g.forms[i] == "vc"}  # fmt: skip
    assert {(2, int), (-1, int), (3, int), (2.0, float), (-1.0, float)} <= exponents
    shares = [sum(type(n.value) is int for n in g.nodes if n.kind == "input") for g in graphs]
    assert 0.1 < sum(map(bool, shares)) / len(graphs) < 0.6


def test_no_ints_when_the_config_says_so() -> None:
    config = SamplerConfig(int_constants=0.0, int_leaves=0.0)
    graphs = sample_graphs(0, 1000, config)
    assert all(type(n.value) is float for g in graphs for n in g.nodes if n.kind != "op")
    everything = sample_graphs(0, 1000, SamplerConfig(int_constants=1.0, int_leaves=1.0))
    assert all(
        type(n.value) is int
        for g in everything
        for n in g.nodes
        if n.kind != "op" and float(n.value).is_integer()
    )


def test_ints_survive_the_wire_to_the_worker() -> None:
    from fuzz.isolation import _decode, _encode
    from reference.tape import compile_graph

    graphs = [g for g in graphs_of("default", 300) if any(type(n.value) is int for n in g.nodes)]
    assert graphs
    for steps in (True, False):
        _, decoded = _decode(_encode(graphs), steps)
        if steps:
            assert [tuple(d) for d in decoded] == [compile_graph(g)[:6] for g in graphs]
            assert [list(map(type, d[2])) for d in decoded] == [
                list(map(type, compile_graph(g).leaf_values)) for g in graphs
            ]
        else:
            assert decoded == graphs


def test_as_drawn_makes_moderate_whole_numbers_ints() -> None:
    rng = random.Random(0)
    assert type(as_drawn(2.0, rng, 1.0)) is int and as_drawn(2.0, rng, 1.0) == 2
    assert type(as_drawn(2.0, rng, 0.0)) is float
    assert type(as_drawn(2.5, rng, 1.0)) is float
    assert type(as_drawn(1e300, rng, 1.0)) is float
    assert type(as_drawn(-0.0, rng, 1.0)) is int
    state = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert kernel.as_int(state, 3.0, 1.0) and not kernel.as_int(state, 3.5, 1.0)
    assert not kernel.as_int(state, 1e300, 1.0) and not kernel.as_int(state, 3.0, 0.0)


@pytest.mark.parametrize("name", ["restricted", "no add", "log only", "pow only"])
def test_forms_and_ops_restrictions_honoured(name: str) -> None:
    config = CONFIGS[name]
    graphs = graphs_of(name, 1000)
    seen = set()
    for g in graphs:
        for i, n in enumerate(g.nodes):
            if n.op is not None:
                assert n.op in config.ops, (n.op, g.to_json())
                assert g.forms[i] in config.forms.get(n.op, OPS[n.op].forms), g.to_json()
                seen.add((n.op, g.forms[i]))
    allowed = {(o, f) for o in config.ops for f in config.forms.get(o, OPS[o].forms)}
    assert seen == allowed  # and every allowed (op, form) occurs


def test_forms_restricted_to_constants_still_folds_with_another_op() -> None:
    graphs = graphs_of("restricted", 500)  # add only 'vc', sub only 'cv': loose ends fold with mul
    assert any(n.op == "mul" for g in graphs for n in g.nodes)
    assert not any(
        n.op == "add" and g.forms[i] == "vv" for g in graphs for i, n in enumerate(g.nodes)
    )


# ---- fast checkers vs op_result ------------------------------------------------------------------

_NEAR = (KINK_MARGIN, 1e-100, 1e6, 1e-6, math.log(1e6), math.log(1e-100), 1.0, 709.78, 0.25)
EDGE_VALUES: tuple[float, ...] = (
    *(0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1.5, -2.5, 0.1, -0.1, math.e, 10.0),
    *(20.0, -20.0, 30.0, -30.0, 100.0, -100.0, 1e3, -1e3, 710.0, -745.0, -746.0, 1e12, -1e12),
    *(1e-6, 1e-101, 1e-300, 5e-324, -5e-324, 1e300, -1e300, 1.7976931348623157e308),
    *(math.inf, -math.inf, math.nan),
    *(s * math.nextafter(x, t) for x in _NEAR for s in (1.0, -1.0) for t in (0.0, math.inf)),
    *(s * x for x in _NEAR for s in (1.0, -1.0)),
)


def same_result(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return x.hex() == y.hex()  # bit for bit, -0.0 included


def random_operand(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.4:
        return draw_real(rng)
    if r < 0.7:
        return rng.choice((-1.0, 1.0)) * 10.0 ** rng.uniform(-320.0, 308.2)
    if r < 0.8:
        return float(rng.randint(-8, 8)) / rng.choice((1.0, 2.0, 4.0))
    return rng.choice(EDGE_VALUES)


CASES = [(op, form) for op in OPS.values() for form in op.forms]


def kernel_check(op: Op, form: str, a: float, b: float | None) -> float | None:
    out = kernel.check(kernel.KINDS[op.name], kernel.FORMS[form], a, 0.0 if b is None else b)
    return None if math.isnan(out) else out


@pytest.mark.parametrize(("op", "form"), CASES, ids=[f"{o.name}-{f}" for o, f in CASES])
def test_kernel_check_equals_op_result(op: Op, form: str) -> None:
    rng = random.Random(f"{op.name}-{form}")
    if op.arity == 1:
        operands = [*EDGE_VALUES, *(random_operand(rng) for _ in range(20_000))]
        for a in operands:
            assert same_result(kernel_check(op, form, a, None), op_result(op, form, a, None)), a
        return
    pairs = [(a, b) for a in EDGE_VALUES for b in EDGE_VALUES]
    pairs += [(random_operand(rng), random_operand(rng)) for _ in range(20_000)]
    for a, b in pairs:
        assert same_result(kernel_check(op, form, a, b), op_result(op, form, a, b)), (a, b)


def test_the_kernel_knows_every_registry_op_and_form() -> None:
    assert set(kernel.KINDS) == set(OPS)
    assert {f for op in OPS.values() for f in op.forms} <= set(kernel.FORMS)


@pytest.mark.parametrize(("op", "form"), CASES, ids=[f"{o.name}-{f}" for o, f in CASES])
def test_kernel_draws_stay_in_the_domain(op: Op, form: str) -> None:
    """Where the registry's own sampler promises a value in the domain (given the other operand),
    the kernel's draw is in it too; NaN only where the registry's sampler returns None."""
    state = np.array([1, 2, 3, 4 + len(form)], dtype=np.uint64)
    kind, code = kernel.KINDS[op.name], kernel.FORMS[form]
    rng = random.Random(f"draw-{op.name}-{form}")

    def fits(slot: int, x: float | None, other: float) -> bool:
        if x is None or not math.isfinite(x):
            return False
        if len(form) == 1:
            return op.in_domain(form, x, None)
        return op.in_domain(form, *((x, other) if slot == 0 else (other, x)))

    for _ in range(3000):
        for slot in range(len(form)):
            other = draw_real(rng) if len(form) == 2 else 1.5
            x = kernel.draw(state, kind, code, slot, other, len(form) == 2)
            promised = all(fits(slot, op.draw(form, rng, slot, other), other) for _ in range(3))
            if math.isnan(x):
                assert op.draw(form, rng, slot, other) is None
            elif promised:
                assert fits(slot, x, other), (slot, x, other)


def test_random_numbers_are_uniform_and_reproducible() -> None:
    state = np.array([5, 6, 7, 8], dtype=np.uint64)
    xs = [kernel.rnd(state) for _ in range(20_000)]
    assert min(xs) >= 0.0 and max(xs) < 1.0
    assert abs(sum(xs) / len(xs) - 0.5) < 0.01
    counts = Counter(int(x * 10) for x in xs)
    assert min(counts.values()) > 1800 and max(counts.values()) < 2200
    again = np.array([5, 6, 7, 8], dtype=np.uint64)
    assert [kernel.rnd(again) for _ in range(100)] == xs[:100]


@pytest.mark.parametrize(
    "fields",
    [{"max_inputs": 0}, {"min_inputs": 3, "max_inputs": 2}, {"min_ops": 5, "max_ops": 2},
     {"min_ops": -1}, {"reuse": 1.5}, {"const": -0.1}, {"ops": ("add", "foo")},
     {"weights": {"add": -1.0}}, {"weights": {"exp": math.inf}}, {"forms": {"bar": ("vv",)}}],
)  # fmt: skip
def test_configs_the_loop_cannot_draw_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"min_|max_|probability|unknown op|weights"):
        SamplerConfig(**fields)  # type: ignore[arg-type]


BOUNDS_CHECKED_RUN = """
from fuzz.sampler import GraphStream, SamplerConfig
configs = [
    SamplerConfig(min_ops=0, max_ops=0, min_inputs=1, max_inputs=1),
    SamplerConfig(min_ops=120, max_ops=120, min_inputs=9, max_inputs=9, const=1.0, fresh_input=1.0),
    SamplerConfig(max_ops=80, const=0.0, same_operand=1.0, reuse=0.0),
    SamplerConfig(max_ops=60, ops=("log", "exp", "sub"), fresh_input=0.0, max_inputs=1),
    SamplerConfig(max_ops=60, ops=("pow", "tanh"), forms={"pow": ("cv",)}, max_inputs=6),
    SamplerConfig(max_ops=60, ops=("div",), forms={"div": ("vc", "cv")}, const=1.0),
]
for k, config in enumerate(configs):
    stream = GraphStream(k, config)
    for _ in range(600):  # one graph per call: its buffers are one graph's worth
        assert len(stream.take(1)) == 1
print("ok")
"""


def test_the_compiled_loop_stays_inside_its_buffers(tmp_path: Path) -> None:
    """numba does not check indices: the buffers sized from a config must hold any graph it draws.
    Compiled with bounds checks (in a process with its own numba cache), extreme configs draw
    thousands of graphs without an IndexError."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", BOUNDS_CHECKED_RUN],
        env=env, cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
