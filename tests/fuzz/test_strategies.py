"""Meta-tests of fuzz.strategies: the graphs are valid, safe to evaluate, reuse nodes at a stated
rate, cover the registry, and shrink an overwrite bug to a single op.

Every test pins its own settings (derandomized, no database) so results do not depend on the
active profile (`CI=true` would load hypothesis's `ci` profile otherwise).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st

from gradoracle.fuzz.sampler import KINK_DISTANCE
from gradoracle.fuzz.strategies import (
    SIMPLE_VALUES,
    WIDE_MAGNITUDE_LIMIT,
    graph_depth,
    graphs,
    input_values,
    ops_subset,
    same_operand_ops,
    shared_nodes,
    target_graph,
)
from gradoracle.reference.graph import Graph, build, node_values
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS, REGION_INPUTS, SMALLEST_INVERTIBLE, get_op

DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Minimum rates over a derandomized batch of default graphs (measured: see the test).
MIN_SHARED_RATE = 0.8  # graphs with a node that fills >= 2 operand slots
MIN_SAME_OPERAND_RATE = 0.5  # graphs with an op whose two operands are one node (`x * x`)
MIN_WIDE_RATE = 0.05  # graphs with a zero input or equal leaves
# graphs on which the overwrite engine gives a wrong gradient (0.67 measured with 15 ops: graphs()
# draws binary and unary ops equally often, however many of each the registry has).
MIN_OVERWRITE_RATE = 0.5


def collect(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """n examples of a strategy, drawn deterministically through @given."""
    out: list[Any] = []

    @settings(DETERMINISTIC, max_examples=n, phases=[Phase.generate])
    @given(strategy)
    def run(x: Any) -> None:
        out.append(x)

    run()
    return out


# ---- a float reference backward and a tiny micrograd-like engine ------------------------------


def reference_grads(graph: Graph) -> tuple[list[float], list[float]]:
    """Reverse mode in floats over the registry's partials: (grads, scales) per input, where the
    scale is the same sum over paths with absolute values (bounds the rounding error)."""
    values = node_values(graph, FLOAT)
    adj = [0.0] * len(values)
    scale = [0.0] * len(values)
    adj[graph.output] = scale[graph.output] = 1.0
    for i in range(len(graph.nodes) - 1, -1, -1):
        n = graph.nodes[i]
        if n.op is None or (adj[i] == 0.0 and scale[i] == 0.0):
            continue
        parts = get_op(n.op).partials(FLOAT, graph.forms[i], *(values[a] for a in n.args))
        for a, p in zip(n.args, parts):
            if p is not None:
                adj[a] += adj[i] * p
                scale[a] += scale[i] * abs(p)
    return [adj[i] for i in graph.inputs], [scale[i] for i in graph.inputs]


class Value:
    """micrograd's Value, with `+=` or (the classic bug) `=` in the backward of + and *."""

    overwrite: frozenset[str] = frozenset({"add", "mul"})  # ops whose backward uses `=`

    def __init__(self, data: float, children: tuple[Value, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = children

    def _put(self, op: str, target: Value, grad: float) -> None:
        target.grad = grad if op in self.overwrite else target.grad + grad

    def __add__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else type(self)(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward() -> None:
            self._put("add", self, out.grad)
            self._put("add", other, out.grad)

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else type(self)(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward() -> None:
            self._put("mul", self, other.data * out.grad)
            self._put("mul", other, self.data * out.grad)

        out._backward = _backward
        return out

    def _op(self, name: str, form: str, a: Any, b: Any = None) -> Value:
        """Any other op, from the registry's formulas, accumulating correctly."""
        op = OPS[name]
        ra, rb = (x.data if isinstance(x, Value) else x for x in (a, b))
        out = type(self)(op.forward(FLOAT, ra, rb))
        parts = op.partials(FLOAT, form, ra, rb, out.data)
        pairs = [(x, p) for x, p in zip((a, b), parts) if isinstance(x, Value)]
        out._prev = tuple(x for x, _ in pairs)

        def _backward() -> None:
            for x, p in pairs:
                x.grad += p * out.grad

        out._backward = _backward
        return out

    def __radd__(self, k: float) -> Value:
        return self + k

    def __rmul__(self, k: float) -> Value:
        return self * k

    def __sub__(self, o: Any) -> Value:
        return self._op("sub", "vv" if isinstance(o, Value) else "vc", self, o)

    def __rsub__(self, k: float) -> Value:
        return self._op("sub", "cv", k, self)

    def __truediv__(self, o: Any) -> Value:
        return self._op("div", "vv" if isinstance(o, Value) else "vc", self, o)

    def __rtruediv__(self, k: float) -> Value:
        return self._op("div", "cv", k, self)

    def __pow__(self, o: Any) -> Value:
        return self._op("pow", "vv" if isinstance(o, Value) else "vc", self, o)

    def __rpow__(self, k: float) -> Value:
        return self._op("pow", "cv", k, self)

    def __neg__(self) -> Value:
        return self._op("neg", "v", self)

    def __abs__(self) -> Value:
        return self._op("abs", "v", self)

    def __getattr__(self, name: str) -> Callable[[], Value]:
        if name in OPS and OPS[name].method_names:  # the registry's method ops
            return lambda: self._op(name, "v", self)
        raise AttributeError(name)

    def backward(self) -> None:
        topo: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                topo.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((c, False) for c in v._prev)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class FixedValue(Value):
    overwrite = frozenset()


class MulOverwrite(Value):
    """Overwrites in `*` only: the simplest graph (x + x) passes, so hypothesis must really
    search and shrink."""

    overwrite = frozenset({"mul"})


def wrong_grads(graph: Graph, cls: type[Value] = Value) -> bool:
    """True if the engine's input gradients differ from the float reference beyond rounding."""
    inputs, out = build(graph, cls)
    out.backward()
    grads, scales = reference_grads(graph)
    return any(abs(x.grad - g) > 1e-9 * s for x, g, s in zip(inputs, grads, scales))


# ---- validity ------------------------------------------------------------------------------------


def check_graph(graph: Graph, regions: bool = True) -> None:
    """Valid, every op in its domain with finite values and local derivatives (the slope of log
    at the smallest subnormals aside); without regions also away from kinks, finite gradients."""
    assert Graph.from_json(graph.to_json()) == graph
    values = node_values(graph, FLOAT)
    assert all(math.isfinite(v) for v in values)
    for i, n in enumerate(graph.nodes):
        if n.op is None:
            continue
        op, args = OPS[n.op], [values[a] for a in n.args]
        if regions and n.op == "log" and args[0] < SMALLEST_INVERTIBLE:
            assert op.in_domain("v", args[0]), (i, n, args)
        else:
            assert op.float_ok(graph.forms[i], *args), (i, n, args)
        if n.op == "relu" and not regions:
            assert abs(args[0]) >= KINK_DISTANCE
    if not regions:
        grads, _ = reference_grads(graph)
        assert all(math.isfinite(g) for g in grads)


@settings(DETERMINISTIC, max_examples=300)
@given(graphs())
def test_default_graphs_are_valid_and_finite(graph: Graph) -> None:
    check_graph(graph)
    assert 1 <= len(graph.inputs) <= 4 + REGION_INPUTS
    assert graph.n_ops >= 1


@settings(DETERMINISTIC, max_examples=200)
@given(graphs(regions=False))
def test_graphs_without_regions_are_moderate(graph: Graph) -> None:
    check_graph(graph, regions=False)
    assert 1 <= len(graph.inputs) <= 4
    values = node_values(graph, FLOAT)
    assert all(abs(v) <= WIDE_MAGNITUDE_LIMIT for v in values)


@settings(DETERMINISTIC, max_examples=150)
@given(ops_subset().flatmap(lambda ops: st.tuples(st.just(ops), graphs(ops, max_ops=8))))
def test_op_subsets_stay_in_domain(case: tuple[tuple[str, ...], Graph]) -> None:
    ops, graph = case
    check_graph(graph)
    assert {n.op for n in graph.nodes if n.op} <= {*ops, "add"}  # add: connecting dangling nodes


@settings(DETERMINISTIC, max_examples=100)
@given(graphs(wide=True, max_ops=10, min_inputs=2))
def test_wide_graphs_are_valid_and_finite(graph: Graph) -> None:
    check_graph(graph)


@settings(DETERMINISTIC, max_examples=100)
@given(graphs(input_range=(0.25, 4.0), max_depth=3, allow_constants=False, connect=False))
def test_parameters_are_respected(graph: Graph) -> None:
    check_graph(graph)
    assert all(0.25 <= x <= 4.0 for x in graph.input_values)
    assert all(n.kind != "const" for n in graph.nodes)
    assert graph_depth(graph) <= 3  # ops take operands of depth < 3


@settings(DETERMINISTIC, max_examples=100)
@given(input_values())
def test_input_values_are_moderate(x: float) -> None:
    assert x in SIMPLE_VALUES or 1e-3 <= abs(x) <= 1e3


def test_bad_arguments_are_refused() -> None:
    from hypothesis.errors import InvalidArgument

    cases: list[dict[str, Any]] = [
        {"ops": ["nope"]},
        {"ops": "add"},
        {"ops": []},
        {"min_inputs": 0},
        {"min_ops": 3, "max_ops": 2},
        {"reuse": 1.5},
        {"input_range": (1.0, 0.0)},
        {"max_depth": 0},
    ]
    for kwargs in cases:
        with pytest.raises(InvalidArgument):
            graphs(**kwargs)


# ---- rates and coverage --------------------------------------------------------------------------


def test_reuse_rates_and_coverage() -> None:
    batch = collect(graphs(), 400)
    n = len(batch)
    shared = sum(shared_nodes(g) > 0 for g in batch) / n
    same = sum(same_operand_ops(g) > 0 for g in batch) / n
    wide = sum(0.0 in g.input_values or len(set(g.input_values)) < len(g.inputs) for g in batch) / n
    print(
        f"\n{n} graphs: shared node {shared:.0%}, x op x {same:.0%}, wide-looking {wide:.0%}, "
        f"mean ops {statistics.mean(g.n_ops for g in batch):.1f}, "
        f"mean depth {statistics.mean(graph_depth(g) for g in batch):.1f}"
    )
    assert shared >= MIN_SHARED_RATE
    assert same >= MIN_SAME_OPERAND_RATE
    assert wide >= MIN_WIDE_RATE
    seen = Counter((n.op, g.forms[i]) for g in batch for i, n in enumerate(g.nodes) if n.op)
    expected = {(op.name, form) for op in OPS.values() for form in op.forms}
    assert expected <= set(seen), expected - set(seen)


def test_ints_are_drawn_like_the_sampler_draws_them() -> None:
    """Whole-number constants are ints in every form with a constant, and some inputs are ints."""
    batch = collect(graphs(ops=("add", "sub", "mul", "div", "pow"), min_ops=10), 600)
    seen = Counter(
        (n.op, g.forms[i])
        for g in batch
        for i, n in enumerate(g.nodes)
        if n.op and any(type(g.nodes[a].value) is int for a in n.args if g.nodes[a].kind == "const")
    )
    expected = {(op.name, f) for op in OPS.values() for f in op.forms if "c" in f}
    assert expected <= set(seen), expected - set(seen)
    int_inputs = sum(any(type(g.nodes[i].value) is int for i in g.inputs) for g in batch)
    assert int_inputs / len(batch) >= 0.1
    for g in batch[:100]:
        assert Graph.from_json(g.to_json()) == g


def regions_seen(batch: list[Graph]) -> tuple[Counter[tuple[str, str]], int]:
    """How many graphs of the batch hold each (op, region), and how many hold none (but `a - a`
    and `a / a`, which plain draws make too)."""
    seen: Counter[tuple[str, str]] = Counter()
    plain = 0
    for g in batch:
        values = node_values(g, FLOAT)
        here = set()
        for i, n in enumerate(g.nodes):
            for region in OPS[n.op].regions if n.op else ():
                xs = [values[a] for a in n.args]
                spans = list(region.operands)
                inside = all(s is None or s.contains(x) for s, x in zip(spans, xs, strict=True))
                flipped = region.either_side and all(
                    s is None or s.contains(x) for s, x in zip(spans[::-1], xs, strict=True)
                )
                same = n.args[0] == n.args[-1] if region.same else True
                if region.form == g.forms[i] and same and (inside or flipped):
                    here.add((n.op, region.name))
        seen.update(here)
        plain += not (here - {("sub", "same operand"), ("div", "same operand")})
    return seen, plain


def test_regions_are_drawn_from_the_registry() -> None:
    """The strategies draw ops in the registry's regions, in most regions within a few hundred
    graphs, and most graphs stay moderate. (800 graphs when each of 11 ops was 1/11 of the draws:
    as many draws of the rarest op now; graphs() draws each arity half the time, so an op of the
    larger arity group is 1/(2 * its size) of them.)"""
    largest_group = max(sum(op.arity == arity for op in OPS.values()) for arity in (1, 2))
    batch = collect(graphs(), 800 * 2 * largest_group // 11)
    seen, plain = regions_seen(batch)
    regions = {(op.name, r.name) for op in OPS.values() for r in op.regions}
    assert len(set(seen) & regions) >= 0.75 * len(regions), regions - set(seen)
    assert plain / len(batch) >= 0.5


@pytest.mark.parametrize(
    ("op", "region"), [("relu", "at 0"), ("log", "tiny"), ("add", "huge operand")]
)
def test_the_regions_where_famous_bugs_live_are_drawn(op: str, region: str) -> None:
    """relu exactly at 0, log of tiny operands, huge leaves: drawn in graphs of that op alone.
    (In graphs of every op, how often a single region comes up depends on more than the seed:
    hypothesis also draws numbers it finds in the modules imported so far.)"""
    seen, _ = regions_seen(collect(graphs(ops=[op]), 300))
    assert seen[(op, region)] >= 3, seen


def test_target_graph_labels() -> None:
    @settings(DETERMINISTIC, max_examples=20)
    @given(graphs(max_ops=5))
    def run(graph: Graph) -> None:
        observed = target_graph(graph, reference_grads(graph)[0])
        assert observed["graph depth"] == graph_depth(graph)
        assert "log10(1 + max |grad|)" in observed

    run()


# ---- the overwrite bug ---------------------------------------------------------------------------


@settings(DETERMINISTIC, max_examples=300)
@given(graphs())
def test_fixed_engine_matches_the_reference(graph: Graph) -> None:
    assert not wrong_grads(graph, FixedValue)


@pytest.mark.parametrize(("engine", "op"), [(Value, "add"), (MulOverwrite, "mul")])
def test_overwrite_bug_shrinks_to_one_op(engine: type[Value], op: str) -> None:
    shrunk = find(
        graphs(),
        lambda g: wrong_grads(g, engine),
        settings=settings(DETERMINISTIC, max_examples=1000),
    )
    print("\n" + shrunk.to_snippet())
    assert shrunk.n_ops == 1
    assert same_operand_ops(shrunk) == 1  # x + x or x * x
    assert shrunk.nodes[-1].op == op


def examples_until_failure(seed_value: int, engine: type[Value]) -> int:
    """How many graphs hypothesis draws (generation only) until `engine` gives a wrong gradient."""
    count = first = 0

    @seed(seed_value)
    @settings(database=None, deadline=None, max_examples=1000, phases=[Phase.generate])
    @given(graphs())
    def run(graph: Graph) -> None:
        nonlocal count, first
        count += 1
        if wrong_grads(graph, engine):
            first = first or count
            raise AssertionError("wrong gradients")

    with pytest.raises(AssertionError):
        run()
    return first


@pytest.mark.parametrize("engine", [Value, MulOverwrite])
def test_overwrite_bug_is_found_within_few_examples(engine: type[Value]) -> None:
    counts = [examples_until_failure(s, engine) for s in range(20)]
    median = statistics.median(counts)
    print(f"\n{engine.__name__}: examples until failure over 20 seeds {counts}, median {median}")
    assert median <= 10


def test_overwrite_bug_shows_in_most_graphs() -> None:
    batch = collect(graphs(), 300)
    rate = sum(map(wrong_grads, batch)) / len(batch)
    print(f"\noverwrite engine wrong on {rate:.0%} of graphs")
    assert rate >= MIN_OVERWRITE_RATE
