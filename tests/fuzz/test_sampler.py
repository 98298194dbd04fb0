"""Tests of fuzz.sampler: deterministic per seed, every operand inside its op's domain, nodes reused
at the stated rates, every (op, form) covered, `forms` restrictions honoured; the fast checkers
of the compiled loop (fuzz.sampler_kernel) agree with `op_result` exactly and its draws stay in
their ops' domains, and the graphs' derived nodes are the ones `Graph` validation makes of them.
Sampling regions: the kernel's region tables are the registry's, its span draws and checks agree
with reference.ops.Span and op_result(moderate=False), every region is drawn often enough and
counted, deep graphs are deep, and graphs without regions are as moderate as ever."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
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

from gradoracle.fuzz import sampler_kernel as kernel
from gradoracle.fuzz.sampler import (
    CHUNK,
    KINK_DISTANCE,
    MAGNITUDE_LIMIT,
    UNDERFLOW_LIMIT,
    GraphStream,
    SamplerConfig,
    _plan,
    op_coverage,
    op_result,
    sample_graphs,
)
from gradoracle.reference.graph import Graph, Node, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import (
    DEEP_GRAPHS,
    INT_CONSTANTS,
    INT_LEAVES,
    INT_LIMIT,
    OPS,
    REGION_INPUTS,
    SMALLEST_INVERTIBLE,
    Op,
    Region,
    Span,
    as_drawn,
    draw_real,
)

# Minimum rates over 2,000 default graphs (measured ~0.20, ~0.09, ~0.09, ~0.95, ~0.21).
MIN_SAME_OPERAND_RATE = 0.15  # 'vv' ops whose two operands are one node (`x * x`)
MIN_CONST_SIDE_RATE = 0.06  # binary ops with a constant on the left ('cv'), and on the right ('vc')
MIN_GRAPH_REUSE_RATE = 0.9  # graphs with a node that fills >= 2 operand slots
MIN_SHARED_RATE = 0.15  # variables that feed >= 2 op nodes
MAX_DEAD_RATE = 0.01  # graphs with a variable nothing consumes, other than the output

CONFIGS = {
    "default": SamplerConfig(),
    "30 ops": SamplerConfig(min_ops=30, max_ops=30),
    "one input": SamplerConfig(min_inputs=1, max_inputs=1, regions=0.0),
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


def stream_digest(seed: int, config: SamplerConfig, count: int) -> str:
    stream = GraphStream(seed, config)
    digest = hashlib.sha256()
    for graph in stream.take(count):
        digest.update(graph.to_json().encode())
    digest.update(repr(stream.coverage()).encode())
    return digest.hexdigest()[:16]


def test_a_seed_samples_the_graphs_it_always_did() -> None:
    """Pinned streams: a change to the sampler's speed must not change what a seed draws (saved
    findings, corpora and CI runs name seeds). Update these only with a deliberate change of the
    draws, and say so."""
    assert stream_digest(0, SamplerConfig(), 600) == "4ceaf1ddeb37deff"
    assert stream_digest(7, SamplerConfig(deep=0.2, int_leaves=1.0), 300) == "8ddec537f1abd9fa"


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


def moderate(name: str) -> SamplerConfig:
    """The config without sampling regions."""
    return dataclasses.replace(CONFIGS[name], regions=0.0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_operand_inside_its_domain(name: str) -> None:
    """Without regions every value and local derivative is moderate and relu keeps its margin."""
    for g in sample_graphs(0, 1500 if name == "default" else 400, moderate(name)):
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
                assert abs(a) >= KINK_DISTANCE, (i, g.to_json())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_graphs_with_regions_stay_in_the_domain(name: str) -> None:
    """With regions every op is in its domain with a finite value and finite local derivatives
    (but for log of the smallest subnormals, whose slope overflows)."""
    for g in graphs_of(name, 1500 if name == "default" else 400):
        values = node_values(g, FLOAT)
        assert all(math.isfinite(v) for v in values), g.to_json()
        for i, n in enumerate(g.nodes):
            if n.op is None:
                continue
            op, form = OPS[n.op], g.forms[i]
            a, b = values[n.args[0]], values[n.args[1]] if len(n.args) == 2 else None
            partials = not (n.op == "log" and a < SMALLEST_INVERTIBLE)
            got = op_result(op, form, a, b, moderate=False, finite_partials=partials)
            assert got == values[i], (i, g.to_json())


def test_sizes() -> None:
    config = CONFIGS["default"]
    for g in graphs_of("default"):
        assert 1 <= len(g.inputs) <= config.max_inputs + REGION_INPUTS
        most_ops = max(config.max_ops, DEEP_GRAPHS.max_ops)
        assert g.n_ops <= most_ops + len(g.nodes)  # sampled ops plus the folding adds
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
    ints = SamplerConfig(int_constants=1.0, int_leaves=1.0, regions=0.0)  # (regions: their own)
    assert all(
        type(n.value) is int
        for g in sample_graphs(0, 1000, ints)
        for n in g.nodes
        if n.kind != "op" and float(n.value).is_integer() and abs(n.value) <= INT_LIMIT
    )


def test_ints_survive_the_wire_to_the_worker() -> None:
    from gradoracle.fuzz.wire import decode, encode
    from gradoracle.reference.tape import compile_graph

    graphs = [g for g in graphs_of("default", 300) if any(type(n.value) is int for n in g.nodes)]
    assert graphs
    for steps in (True, False):
        _, decoded = decode(encode(graphs), steps)
        if steps:  # (the same numbers: small graphs' index lists travel as bytes)
            assert [tuple(map(list, d[:4])) + d[4:] for d in decoded] == [
                tuple(map(list, compile_graph(g).flat[:4])) + compile_graph(g).flat[4:]
                for g in graphs
            ]
            assert [list(map(type, d.leaf_values)) for d in decoded] == [
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

_NEAR = (KINK_DISTANCE, 1e-100, 1e6, 1e-6, math.log(1e6), math.log(1e-100), 1.0, 709.78, 0.25)
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
    out = kernel.fit_value(kernel.OPCODES[op.name], kernel.FORMS[form], a, 0.0 if b is None else b)
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
    assert set(kernel.OPCODES) == set(OPS)
    assert {f for op in OPS.values() for f in op.forms} <= set(kernel.FORMS)


@pytest.mark.parametrize(("op", "form"), CASES, ids=[f"{o.name}-{f}" for o, f in CASES])
def test_kernel_draws_stay_in_the_domain(op: Op, form: str) -> None:
    """Where the registry's own sampler promises a value in the domain (given the other operand),
    the kernel's draw is in it too; NaN only where the registry's sampler returns None."""
    state = np.array([1, 2, 3, 4 + len(form)], dtype=np.uint64)
    opcode, form_code = kernel.OPCODES[op.name], kernel.FORMS[form]
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
            x = kernel.draw(state, opcode, form_code, slot, other, len(form) == 2)
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
from gradoracle.fuzz.sampler import GraphStream, SamplerConfig
configs = [
    SamplerConfig(min_ops=0, max_ops=0, min_inputs=1, max_inputs=1),
    SamplerConfig(min_ops=120, max_ops=120, min_inputs=9, max_inputs=9, const=1.0, fresh_input=1.0),
    SamplerConfig(max_ops=80, const=0.0, same_operand=1.0, reuse=0.0),
    SamplerConfig(max_ops=60, ops=("log", "exp", "sub"), fresh_input=0.0, max_inputs=1),
    SamplerConfig(max_ops=60, ops=("pow", "tanh"), forms={"pow": ("cv",)}, max_inputs=6),
    SamplerConfig(max_ops=60, ops=("div",), forms={"div": ("vc", "cv")}, const=1.0),
    SamplerConfig(max_ops=40, max_inputs=1, regions=30.0, deep=0.3),  # regions at every op
    SamplerConfig(max_ops=5, regions=30.0, deep=1.0, fresh_input=1.0, max_inputs=9),
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


# ---- sampling regions ----------------------------------------------------------------------------

REGION_CASES = [(op, r) for op in OPS.values() for r in op.regions]
REGION_IDS = [f"{op.name}-{r.name}" for op, r in REGION_CASES]


def test_the_kernel_tables_are_the_registry_regions() -> None:
    """One description: the plan packs the registry's regions (and only those), in order."""
    plan = _plan(SamplerConfig())
    assert [(name, r) for name, r in plan.regions] == [(op.name, r) for op, r in REGION_CASES]
    spans, span_values, rows, cumulative, first = plan.args[-5:]
    for k, (name, region) in enumerate(plan.regions):
        row = rows[k]
        assert [OPS[n] for n in SamplerConfig().ops][row[0]].name == name
        assert row[1] == kernel.FORMS[region.form] and bool(row[2]) == region.same
        assert bool(row[3]) == region.either_side and bool(row[4]) == region.finite_partials
        for column, span in zip((5, 6), (*region.operands, None)[:2], strict=True):
            if span is None:
                assert row[column] == -1
            else:
                r = spans[row[column]]
                assert r[0] == kernel.SPAN_LAWS[span.law] and (r[1], r[2]) == (span.lo, span.hi)
                assert (r[3], r[4]) == (span.sign, span.ints)
                assert tuple(span_values[int(r[5]) : int(r[5] + r[6])]) == span.values
    weights = [r.weight for _, r in plan.regions]
    starts = first.tolist()
    for j, (lo, hi) in enumerate(itertools.pairwise(starts)):
        assert np.allclose(cumulative[lo:hi], np.cumsum(weights[lo:hi])), j
    doubled = _plan(SamplerConfig(regions=2.0)).args[-2]
    assert np.allclose(doubled, 2 * cumulative)
    none = _plan(SamplerConfig(regions=0.0))
    assert none.regions == [] and len(none.args[-3]) == 0


def test_forms_a_config_leaves_out_leave_their_regions_out() -> None:
    plan = _plan(CONFIGS["restricted"])  # add only 'vc', pow only 'vc', mul only 'vv'
    names = {(name, r.name) for name, r in plan.regions}
    assert not any(name == "add" for name, _ in names)
    assert ("pow", "base 0") in names and ("mul", "huge operand") in names
    assert all(r.form in CONFIGS["restricted"].forms.get(n, OPS[n].forms) for n, r in plan.regions)


@pytest.mark.parametrize(("op", "region"), REGION_CASES, ids=REGION_IDS)
def test_kernel_span_draws_are_the_registry_spans(op: Op, region: Region) -> None:
    """The kernel draws each span's values (Span.contains holds for every draw), both ends of
    its range and, for 'values', every value; span_contains agrees with Span.contains."""
    plan = _plan(SamplerConfig())
    spans, span_values = plan.args[-5], plan.args[-4]
    state = np.array([9, 8, 7, 6], dtype=np.uint64)
    rng = random.Random(region.name)
    for span in region.operands:
        if span is None:
            continue
        i = next(k for k in range(len(spans)) if _span_of(spans, span_values, k) == span)
        drawn = [kernel.span_draw(state, spans, span_values, i) for _ in range(3000)]
        assert all(span.contains(x) for x in drawn), span
        python = [float(span.draw(rng)) for _ in range(3000)]
        assert all(span.contains(x) for x in python), span
        if span.law == "values":
            assert set(drawn) == set(span.values)
        else:  # both reach across the span: the same spread of magnitudes
            for xs in (drawn, python):
                mags = sorted(abs(x) for x in xs)
                lo, hi = mags[len(mags) // 20], mags[-len(mags) // 20]
                assert lo < hi
            scale = math.log10 if span.law == "log" else float
            medians = [scale(sorted(abs(x) for x in xs)[len(xs) // 2]) for xs in (drawn, python)]
            assert abs(medians[0] - medians[1]) < 0.05 * (span.hi - span.lo), medians
        if span.sign == 0 and span.law != "values":
            assert any(x < 0 for x in drawn) and any(x > 0 for x in drawn)
        probes = [
            *drawn[:200],
            *EDGE_VALUES,
            *(-x for x in drawn[:50]),
            *(x * 1.5 for x in drawn[:50]),
        ]
        for x in probes:
            assert kernel.span_contains(spans, span_values, i, x) == span.contains(x), (span, x)


def _span_of(spans: np.ndarray, span_values: np.ndarray, k: int) -> Span:
    law = {v: name for name, v in kernel.SPAN_LAWS.items()}[int(spans[k, 0])]
    values = tuple(span_values[int(spans[k, 5]) : int(spans[k, 5] + spans[k, 6])].tolist())
    lo, hi, sign, ints = spans[k, 1:5].tolist()
    return Span(law, lo, hi, values, int(sign), ints)


@pytest.mark.parametrize(("op", "form"), CASES, ids=[f"{o.name}-{f}" for o, f in CASES])
def test_kernel_region_check_equals_loose_op_result(op: Op, form: str) -> None:
    rng = random.Random(f"loose-{op.name}-{form}")
    for partials in (True, False):
        if op.arity == 1:
            pairs = [(a, None) for a in [*EDGE_VALUES, *(random_operand(rng) for _ in range(5000))]]
        else:
            pairs = [(a, b) for a in EDGE_VALUES for b in EDGE_VALUES]
            pairs += [(random_operand(rng), random_operand(rng)) for _ in range(5000)]
        for a, b in pairs:
            out = kernel.region_value(
                kernel.OPCODES[op.name], kernel.FORMS[form], a, 0.0 if b is None else b, partials
            )
            got = None if math.isnan(out) else out
            want = op_result(op, form, a, b, moderate=False, finite_partials=partials)
            assert same_result(got, want), (a, b, partials)


# Measured over 20,000 default graphs: each region ~1.2-1.6% of its op's draws (the smallest
# subnormals of log, at half weight, ~0.7%).
MIN_REGION_SHARE = 0.008


def test_every_region_is_drawn_often_and_counted() -> None:
    stream = GraphStream(5)
    graphs = stream.take(20_000)
    coverage = stream.coverage()
    draws = Counter(n.op for g in graphs for i, n in enumerate(g.nodes) if n.op)
    folds = sum(_fold_adds(g) for g in graphs)
    draws["add"] -= folds
    assert set(coverage) == {*OPS, "graph"}
    for op, region in REGION_CASES:
        share = coverage[op.name][region.name] / draws[op.name]
        floor = MIN_REGION_SHARE * region.weight / 0.015
        assert share >= floor, (op.name, region.name, share)
    assert coverage["neg"] == {}
    deep = coverage["graph"]["deep"]
    assert 0.5 * DEEP_GRAPHS.share <= deep / len(graphs) <= 2 * DEEP_GRAPHS.share
    assert sum(g.n_ops >= DEEP_GRAPHS.min_ops for g in graphs) == deep
    off = GraphStream(5, SamplerConfig(regions=0.0, deep=0.0))
    off.take(2000)
    assert all(n == 0 for counts in off.coverage().values() for n in counts.values())


def _fold_adds(graph: Graph) -> int:
    """The trailing adds of the fold (a lower bound: an ordinary add may end the ops too)."""
    k = 0
    for n in reversed(graph.nodes):
        if n.op != "add" or len(n.args) != 2:
            break
        k += 1
    return max(k - 1, 0)


def test_regions_are_drawn_where_they_say() -> None:
    """Nodes of each region occur: operands in the spans (pow at base 0 with int and float
    exponents, relu exactly at 0 and next to it, exp near overflow, log of subnormals, huge and
    tiny leaves, a - a), and most graphs have no region node beyond a - a and a / a."""
    graphs = sample_graphs(11, 20_000)
    found: Counter[tuple[str, str]] = Counter()
    plain = 0
    for g in graphs:
        values = node_values(g, FLOAT)
        here = set()
        for i, n in enumerate(g.nodes):
            if n.op is None:
                continue
            for region in OPS[n.op].regions:
                if region.form == g.forms[i] and _in_region(region, [values[a] for a in n.args],
                                                            n.args):  # fmt: skip
                    here.add((n.op, region.name))
        found.update(here)
        plain += not (here - {("sub", "same operand"), ("div", "same operand")})
    missing = [(op.name, r.name) for op, r in REGION_CASES if found[(op.name, r.name)] < 50]
    assert not missing, missing
    assert plain / len(graphs) > 0.45  # most graphs stay moderate
    exponents = Counter(
        type(g.nodes[n.args[1]].value).__name__
        for g in graphs
        for i, n in enumerate(g.nodes)
        if n.op == "pow" and g.forms[i] == "vc" and node_values(g, FLOAT)[n.args[0]] == 0
    )
    assert exponents["int"] >= 20 and exponents["float"] >= 20


def _in_region(region: Region, operands: list[float], args: tuple[int, ...]) -> bool:
    if region.same:
        return args[0] == args[1]
    spans = list(region.operands)

    def within(spans: list[Span | None], xs: list[float]) -> bool:
        return all(s is None or s.contains(x) for s, x in zip(spans, xs, strict=True))

    return within(spans, operands) or (region.either_side and within(spans[::-1], operands))


def test_deep_graphs_are_deep() -> None:
    from gradoracle.fuzz.strategies import graph_depth

    deep = [g for g in sample_graphs(2, 30_000) if g.n_ops >= DEEP_GRAPHS.min_ops]
    assert len(deep) > 100  # measured: 149
    depths = sorted(graph_depth(g) for g in deep)
    assert depths[len(depths) // 2] >= 100  # measured: median 126 (ops ~170), most 205
    assert depths[-1] >= 180
