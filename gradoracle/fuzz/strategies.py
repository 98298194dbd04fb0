"""Hypothesis strategies for random expression graphs over the op registry.

    from hypothesis import given
    from gradoracle.fuzz.strategies import graphs, target_graph

    @given(graphs(max_ops=10))
    def test_gradients(graph):
        ...

`graphs()` draws DAGs, not trees: a node often feeds several consumers and both operands of one op
(`x + x`, `x * x`). Trees (`st.recursive`) never reuse a node, so they cannot see an engine that
overwrites gradients instead of accumulating them.

Operands lie inside their op's domain by construction (chosen among the nodes and constants whose
values fit), values stay moderate and relu operands keep a margin from the kink: hypothesis rejects
almost nothing. Shrinking: the number of ops is drawn first, then each op as choices that shrink
toward the first registry op (add), no constant, the earliest node, the same node as both operands,
and simple input values (0.5, 1.0, 2.0, ...): gradient overwriting shrinks to `x0 + x0`.

Sampling regions, from the same description the campaign sampler reads (reference.ops.Region):
with each region's weight an op is drawn in one of its regions instead (relu at and next to 0,
`x ** 2` at 0, exp near overflow, log of tiny operands, huge and tiny leaves, `a - a`, ...), its
operands an existing node in the region's span or a new input or constant drawn from it (up to
REGION_INPUTS new inputs beyond `max_inputs`), checked by `op_result(moderate=False)`. Shrinks
toward no region. `graphs(regions=False)` draws none.

Ints, as the campaign sampler draws them (fuzz.sampler): a whole-number constant is a Python int
about half the time (reference.ops.INT_CONSTANTS: `x ** 2`, `2 * x`, `x / 2`, `2 ** x`), a
whole-number input mostly (INT_LEAVES: `Value(2)`); both shrink toward the float.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import reject, target
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradoracle.fuzz.sampler import MAGNITUDE_LIMIT, op_result
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import (
    INT_CONSTANTS,
    INT_LEAVES,
    INT_LIMIT,
    OPS,
    REGION_INPUTS,
    SMALLEST_SUBNORMAL,
    Op,
    Region,
    Span,
)

# Input values that shrinking prefers, simplest first; every op has an operand among them.
SIMPLE_VALUES: tuple[float, ...] = (0.5, 1.0, 2.0, -0.5, -1.0, -2.0, 1.5, 3.0)
# Values that break engines more often than random ones (drawn in wide mode only): zero, one,
# large and tiny magnitudes.
WIDE_VALUES: tuple[float, ...] = (0.0, 1e3, -1e3, 1e6, -1e6, 1e-6, -1e-6)
# Plain-number constants tried first for 'vc'/'cv' forms (the registry's own sampler otherwise).
SIMPLE_CONSTANTS: tuple[float, ...] = (2.0, 1.0, 0.5, 3.0, -1.0, -2.0, -0.5, 1.5, 0.0, 10.0)
# Intermediate magnitudes allowed in wide mode: large intermediates, still far from overflow.
WIDE_MAGNITUDE_LIMIT = 1e12
# Chance that a binary op takes a constant on one side (when constants are allowed).
CONST_RATE = 0.25
# Chance that a graph is drawn in wide mode when `wide=None`.
WIDE_RATE = 0.2
# Chance that a wide-mode input copies an earlier input's value (equal leaves, coinciding values).
EQUAL_LEAF_RATE = 0.25


# ---- small strategies ----------------------------------------------------------------------------


def _signed(magnitudes: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.builds(math.copysign, magnitudes, st.sampled_from((1.0, -1.0)))


def input_values(
    *, wide: bool = False, min_value: float | None = None, max_value: float | None = None
) -> st.SearchStrategy[float]:
    """Finite input values, shrinking toward `SIMPLE_VALUES` (0.5 first).

    Default: |x| in [1e-3, 1e3], mostly O(1). `wide=True` adds zero, one, tiny and large magnitudes
    (up to 1e6). `min_value`/`max_value` restrict the range (simple values inside it come first).
    """
    if min_value is not None or max_value is not None:
        lo = -1e6 if min_value is None else float(min_value)
        hi = 1e6 if max_value is None else float(max_value)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise InvalidArgument(f"input range must be finite with min <= max, got [{lo}, {hi}]")
        pool = SIMPLE_VALUES + (WIDE_VALUES if wide else ())
        simple = sorted({x for x in pool if lo <= x <= hi}, key=pool.index)
        floats = st.floats(
            lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=None if wide else False
        )
        return st.one_of(st.sampled_from(simple), floats) if simple else floats
    if wide:
        return st.one_of(
            st.sampled_from(SIMPLE_VALUES + WIDE_VALUES),
            st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
            _signed(st.floats(-8.0, 6.0).map(lambda e: 10.0**e)),
        )
    return st.one_of(
        st.sampled_from(SIMPLE_VALUES),
        _signed(st.floats(1e-3, 3.0)),
        _signed(st.floats(-3.0, 3.0).map(lambda e: 10.0**e)),
    )


def ops_subset(
    ops: Iterable[str] | None = None, min_size: int = 1
) -> st.SearchStrategy[tuple[str, ...]]:
    """Non-empty subsets of the registry op names (in registry order); shrinks toward ('add',).

    Use as `ops_subset().flatmap(lambda ops: graphs(ops=ops))` to test engines on few ops at a time.
    """
    names = tuple(OPS) if ops is None else _checked_ops(ops)
    return st.lists(st.sampled_from(names), min_size=min_size, unique=True).map(
        lambda chosen: tuple(n for n in names if n in chosen)
    )


# ---- graphs --------------------------------------------------------------------------------------


def _checked_ops(ops: Iterable[str]) -> tuple[str, ...]:
    names = tuple(ops)
    if isinstance(ops, str) or not names:
        raise InvalidArgument(f"ops must be a non-empty sequence of op names, got {ops!r}")
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise InvalidArgument(f"unknown op {unknown[0]!r}; known: {', '.join(OPS)}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, repr=False)
class _Config:
    """The arguments of `graphs`, validated."""

    names: tuple[str, ...]
    min_inputs: int
    max_inputs: int
    min_ops: int
    max_ops: int
    max_depth: int | None
    reuse: float
    same_operand: float
    allow_constants: bool
    wide: bool | None
    input_range: tuple[float, float] | None
    connect: bool
    regions: bool
    call: str  # how graphs() was called, for failure messages

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(OPS[n] for n in self.names)

    @property
    def ops_by_arity(self) -> tuple[tuple[Op, ...], ...]:
        """The ops, grouped by arity in the order their first op comes (add's group first)."""
        groups: dict[int, tuple[Op, ...]] = {}
        for op in self.ops:
            groups[op.arity] = (*groups.get(op.arity, ()), op)
        return tuple(groups.values())

    def __repr__(self) -> str:
        return self.call

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # hypothesis's pretty printer
        p.text(self.call)


@dataclass
class _Draft:
    """The graph being drawn: nodes, their float values and depths, and dangling variables."""

    limit: float
    nodes: list[Node] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    variables: list[int] = field(default_factory=list)  # input and op nodes
    unused: set[int] = field(default_factory=set)  # variables nothing consumes yet
    rng: random.Random | None = None
    region_inputs: int = 0  # new inputs drawn for regions
    regions_drawn: int = 0

    def value(self, op: Op, form: str, a: float, b: float | None = None) -> float | None:
        return op_result(op, form, a, b, self.limit)

    def add(self, node: Node, value: float, depth: int = 0) -> int:
        self.nodes.append(node)
        self.values.append(value)
        self.depths.append(depth)
        if node.kind != "const":
            self.variables.append(len(self.nodes) - 1)
            self.unused.add(len(self.nodes) - 1)
        return len(self.nodes) - 1

    def link(self, op: Op, args: Sequence[int], value: float) -> None:
        self.unused.difference_update(args)
        depth = 1 + max(self.depths[a] for a in args)
        self.add(Node("op", None, op.name, tuple(args)), value, depth)


_PERCENT = st.integers(0, 99)


def _coin(draw: st.DrawFn, p: float) -> bool:
    """True with probability ~p; shrinks toward False."""
    if p <= 0 or p >= 1:
        return p >= 1
    return draw(_PERCENT) >= round(100 * (1 - p))


def _typed(draw: st.DrawFn, x: float, int_rate: float) -> float | int:
    """x as written in the graph: a moderate whole number is an int with chance ~int_rate
    (reference.ops.as_drawn's rule), shrinking toward the float."""
    whole = math.isfinite(x) and float(x).is_integer() and abs(x) <= INT_LIMIT
    return int(x) if whole and _coin(draw, int_rate) else x


def _pick(draw: st.DrawFn, draft: _Draft, cfg: _Config, cands: list[int]) -> int:
    """Any candidate (shrinks toward the earliest), else one nothing consumes yet, else the newest
    (which makes graphs deep)."""
    if len(cands) == 1 or not _coin(draw, 1 - cfg.reuse):
        return cands[draw(st.integers(0, len(cands) - 1))]
    unused = [c for c in cands if c in draft.unused]
    if draw(st.booleans()) and unused:
        return unused[draw(st.integers(0, len(unused) - 1))]
    return cands[-1]


def _operands(draft: _Draft, cfg: _Config) -> list[int]:
    if cfg.max_depth is None:
        return draft.variables
    return [v for v in draft.variables if draft.depths[v] < cfg.max_depth]


def _fits_alone(draft: _Draft, op: Op, form: str, x: float) -> bool:
    """A variable with value x can be the first variable operand of `op` in `form`: alone ('v'),
    with itself ('vv', so a second operand always exists), or with some simple constant."""
    if form == "v":
        return draft.value(op, form, x) is not None
    if form == "vv":
        return draft.value(op, form, x, x) is not None
    pairs = ((x, k) if form == "vc" else (k, x) for k in SIMPLE_CONSTANTS)
    return any(draft.value(op, form, a, b) is not None for a, b in pairs)


def _constant(draw: st.DrawFn, draft: _Draft, op: Op, form: str, x: float) -> float | int:
    """A constant that fits `op` in `form` beside the variable value x: mostly a simple one
    (shrinks toward 2.0), sometimes one from the registry's own sampler; whole numbers are ints
    about half the time."""

    def fits(k: float) -> bool:
        return draft.value(op, form, *((x, k) if form == "vc" else (k, x))) is not None

    if _coin(draw, 0.3):
        if draft.rng is None:
            draft.rng = draw(st.randoms(use_true_random=False))
        k = op.draw(form, draft.rng, 1 if form == "vc" else 0, x)
        if k is not None and math.isfinite(k) and fits(k):
            return _typed(draw, float(k), INT_CONSTANTS)
    k = draw(st.sampled_from([k for k in SIMPLE_CONSTANTS if fits(k)]))
    return _typed(draw, k, INT_CONSTANTS)


def _link(draft: _Draft, op: Op, form: str, args: tuple[int, ...]) -> None:
    value = draft.value(op, form, *(draft.values[i] for i in args))
    assert value is not None, (op.name, form, args)  # operands were chosen to fit
    draft.link(op, args, value)


def span_values(span: Span) -> st.SearchStrategy[float]:
    """The values a Span draws, as a hypothesis strategy (reference.ops.Span.draw's rule; the int
    choice is made where the value becomes a leaf)."""
    if span.law == "values":
        return st.sampled_from(span.values)
    if span.law == "uniform":
        base = st.floats(span.lo, span.hi)
    elif span.law == "log":
        base = st.floats(span.lo, span.hi).map(lambda e: max(SMALLEST_SUBNORMAL, 10.0**e))
    else:
        base = st.integers(int(span.lo), int(span.hi)).map(float)
    if span.sign < 0:
        return base.map(lambda x: -x)
    return _signed(base) if span.sign == 0 else base


def _regions(op: Op, cfg: _Config) -> list[Region]:
    """The op's regions this config can draw (no constants: no region with one)."""
    if not cfg.regions:
        return []
    return [r for r in op.regions if cfg.allow_constants or "c" not in r.form]


def _region_operand(
    draw: st.DrawFn, draft: _Draft, cfg: _Config, span: Span | None
) -> tuple[int | None, float]:
    """A variable operand: an ordinary pick (no span), an existing node in the span (half the
    time, if any), else (None, a value drawn from the span) for a new input."""
    if span is None:
        cands = _operands(draft, cfg)
        return (_pick(draw, draft, cfg, cands), 0.0) if cands else (None, math.nan)
    matches = [v for v in _operands(draft, cfg) if span.contains(draft.values[v])]
    existing: bool = draw(st.booleans()) if matches else False
    if existing:
        return draw(st.sampled_from(matches)), 0.0
    return None, draw(span_values(span))


def _place_region(draw: st.DrawFn, draft: _Draft, cfg: _Config, op: Op, region: Region) -> bool:
    """Append `op` drawn in `region` (True), or nothing if its draw does not fit (False)."""
    spans = (*region.operands, None)[:2]
    # Per operand: (existing node or None, value, 'input' or 'const' for a new leaf).
    chosen: list[tuple[int | None, float, str]] = []
    for slot, kind in enumerate(region.form):
        if kind == "c":
            span = spans[slot]
            assert span is not None  # a constant's span
            chosen.append((None, draw(span_values(span)), "const"))
        elif region.same and slot == 1:
            chosen.append(chosen[0])
        else:
            node, value = _region_operand(draw, draft, cfg, spans[slot])
            if node is None and spans[slot] is None:
                return False
            chosen.append((node, draft.values[node] if node is not None else value, "input"))
    if region.either_side and draw(st.booleans()):
        chosen.reverse()
    distinct = chosen[:1] if region.same else chosen
    fresh = sum(node is None and kind == "input" for node, _, kind in distinct)
    lo, hi = cfg.input_range or (-math.inf, math.inf)
    new_inputs = [v for node, v, kind in chosen if node is None and kind == "input"]
    if draft.region_inputs + fresh > REGION_INPUTS or not all(lo <= v <= hi for v in new_inputs):
        return False
    a, b = chosen[0][1], chosen[1][1] if len(chosen) == 2 else None
    out = op_result(op, region.form, a, b, moderate=False, finite_partials=region.finite_partials)
    if out is None:
        return False
    args: list[int] = []
    for slot, (node, value, kind) in enumerate(chosen):
        if region.same and slot == 1:
            args.append(args[0])
            continue
        if node is None:
            span = spans[slot] if not region.either_side else next(s for s in spans if s)
            rate = INT_CONSTANTS if kind == "const" else INT_LEAVES
            typed = _typed(draw, value, span.ints if rate > 0 and span is not None else 0.0)
            node = draft.add(Node(kind, typed), float(value))
            draft.region_inputs += kind == "input"
        args.append(node)
    draft.link(op, args, out)
    draft.regions_drawn += 1
    return True


def _place_op(draw: st.DrawFn, draft: _Draft, cfg: _Config) -> None:
    """Draw one op and its operands and append it (nothing, in the rare case that nothing fits).

    An arity first, each as likely, then an op of it: adding unary ops to the registry must not
    thin out the binary ops, which fill two operand slots and so share nodes, the shape that shows
    an engine overwriting gradients instead of accumulating them."""
    groups = cfg.ops_by_arity
    span = math.lcm(*map(len, groups))  # one draw (it shrinks toward add as before): group, op
    choice = draw(st.integers(0, len(groups) * span - 1))
    group = groups[choice // span]
    op = group[choice % len(group)]
    regions = _regions(op, cfg)
    if regions and _coin(draw, sum(r.weight for r in regions)):
        region = draw(st.sampled_from(regions))
        if _place_region(draw, draft, cfg, op, region):
            return
    form = "v" if op.arity == 1 else "vv"
    if op.arity == 2 and cfg.allow_constants and _coin(draw, CONST_RATE):
        form = draw(st.sampled_from([f for f in op.forms if "c" in f]))
    x = draft.values
    cands = [v for v in _operands(draft, cfg) if _fits_alone(draft, op, form, x[v])]
    if not cands:  # no node fits: a fresh input that does, while inputs remain
        n_inputs = len(draft.variables) - sum(n.kind == "op" for n in draft.nodes)
        n_inputs -= draft.region_inputs
        lo, hi = cfg.input_range or (-math.inf, math.inf)
        fresh = [v for v in SIMPLE_VALUES if lo <= v <= hi and _fits_alone(draft, op, form, v)]
        if n_inputs >= cfg.max_inputs or not fresh:
            return
        value = draw(st.sampled_from(fresh))
        cands = [draft.add(Node("input", _typed(draw, value, INT_LEAVES)), value)]
    a = _pick(draw, draft, cfg, cands)
    if form == "v":
        _link(draft, op, form, (a,))
    elif form == "vv":
        b = a  # shrinks toward the same node as both operands: `x + x`
        if _coin(draw, 1 - cfg.same_operand):
            ok = [v for v in _operands(draft, cfg) if draft.value(op, form, x[a], x[v]) is not None]
            others = [v for v in ok if v != a or cfg.same_operand > 0]  # 0: never `x + x`
            b = _pick(draw, draft, cfg, others or [a])
        _link(draft, op, form, (a, b))
    else:
        k = _constant(draw, draft, op, form, x[a])
        c = draft.add(Node("const", k), float(k))
        _link(draft, op, form, (a, c) if form == "vc" else (c, a))


def _connect(draft: _Draft) -> None:
    """Sum every variable nothing consumes into the output, so no part of the graph is dead (in a
    graph with regions, with the looser check too: a huge value must reach the output)."""
    add = OPS["add"]
    loose = sorted(draft.unused)
    acc = loose[-1]
    for other in reversed(loose[:-1]):
        a, b = draft.values[acc], draft.values[other]
        out = draft.value(add, "vv", a, b)
        if out is None and draft.regions_drawn:
            out = op_result(add, "vv", a, b, moderate=False)
        if out is not None:
            draft.link(add, (acc, other), out)
            acc = len(draft.nodes) - 1


@st.composite
def _graphs(draw: st.DrawFn, cfg: _Config) -> Graph:
    n_ops = draw(st.integers(cfg.min_ops, cfg.max_ops))
    n_inputs = draw(st.integers(cfg.min_inputs, cfg.max_inputs))
    wide = _coin(draw, WIDE_RATE) if cfg.wide is None else cfg.wide
    draft = _Draft(WIDE_MAGNITUDE_LIMIT if wide else MAGNITUDE_LIMIT)
    lo, hi = cfg.input_range or (None, None)
    values = input_values(wide=wide, min_value=lo, max_value=hi)
    for i in range(n_inputs):
        if wide and i > 0 and _coin(draw, EQUAL_LEAF_RATE):
            x = draft.values[draw(st.integers(0, i - 1))]  # equal leaves
        else:
            x = draw(values)
        draft.add(Node("input", _typed(draw, x, INT_LEAVES)), x)
    for _ in range(n_ops):
        _place_op(draw, draft, cfg)
    if cfg.connect:
        _connect(draft)
    graph = Graph(tuple(draft.nodes))
    if graph.n_ops < cfg.min_ops:  # only when no op of a tiny subset fits any input: rare
        reject()
    return graph


def graphs(
    ops: Iterable[str] | None = None,
    *,
    min_inputs: int = 1,
    max_inputs: int = 4,
    min_ops: int = 1,
    max_ops: int = 20,
    max_depth: int | None = None,
    reuse: float = 0.5,
    same_operand: float = 0.15,
    allow_constants: bool = True,
    wide: bool | None = None,
    input_range: tuple[float, float] | None = None,
    connect: bool = True,
    regions: bool = True,
) -> st.SearchStrategy[Graph]:
    """Random expression DAGs (`gradoracle.reference.graph.Graph`) over the op registry.

    - `ops`: op names to draw from (default: the whole registry).
    - `min_inputs`/`max_inputs`: input leaves (more are added for ops nothing else fits, never
      beyond `max_inputs`; ops drawn in regions may add up to REGION_INPUTS more).
    - `min_ops`/`max_ops`: how many ops are drawn. `connect=True` then sums every node nothing
      consumes into the output with extra `add` ops, so the graph may have a few more ops.
    - `max_depth`: longest chain of ops from a leaf to an operand (None: unbounded).
    - `reuse`: chance that an operand is any earlier node; otherwise a node nothing consumes yet or
      the newest node (deep chains). `same_operand`: chance that a binary op takes one node as
      both operands (`x * x`); at 0 only when no other operand fits.
    - `allow_constants`: binary ops sometimes take a plain number on either side (`x + 2`, `2 / x`).
    - `wide`: True draws zero, one, equal leaves, tiny and large inputs, and lets intermediates grow
      to `WIDE_MAGNITUDE_LIMIT`; False never; None (default) sometimes.
    - `input_range`: (min, max) for input values (constants and intermediates are not bounded).
    - `regions`: sometimes draw an op in one of its sampling regions (reference.ops.Region): see
      the module docstring. False: every op is drawn as below.

    Every operand is in its op's domain, and every value and local derivative is finite (float
    evaluation is safe; the slope of log at the smallest subnormals, a region of its own, is
    not). Ops drawn outside regions keep a margin of `fuzz.sampler.KINK_DISTANCE` from kinks and
    their values and local derivatives stay below the magnitude limit.
    """
    names = tuple(OPS) if ops is None else _checked_ops(ops)
    if not 1 <= min_inputs <= max_inputs:
        raise InvalidArgument(f"need 1 <= min_inputs <= max_inputs, got {min_inputs}, {max_inputs}")
    if not 0 <= min_ops <= max_ops:
        raise InvalidArgument(f"need 0 <= min_ops <= max_ops, got {min_ops}, {max_ops}")
    if max_depth is not None and max_depth < 1:
        raise InvalidArgument(f"max_depth must be >= 1 or None, got {max_depth}")
    for name, p in (("reuse", reuse), ("same_operand", same_operand)):
        if not 0.0 <= p <= 1.0:
            raise InvalidArgument(f"{name} must be a probability in [0, 1], got {p}")
    if input_range is not None:
        input_values(min_value=input_range[0], max_value=input_range[1])  # validates the range
        input_range = (float(input_range[0]), float(input_range[1]))
    args = dict(locals())
    params = inspect.signature(graphs).parameters
    call = ", ".join(f"{k}={args[k]!r}" for k, p in params.items() if args[k] != p.default)
    fields = {k: args[k] for k in params if k != "ops"}
    return _graphs(_Config(names=names, call=f"graphs({call})", **fields))


# ---- graph statistics and targeting -------------------------------------------------------------


def shared_nodes(graph: Graph) -> int:
    """Variables (input or op nodes) that fill two or more operand slots (`x * x` counts)."""
    slots = [0] * len(graph.nodes)
    for n in graph.nodes:
        for a in n.args:
            slots[a] += graph.nodes[a].kind != "const"
    return sum(1 for c in slots if c >= 2)


def same_operand_ops(graph: Graph) -> int:
    """Binary ops whose two operands are the same node (`x + x`)."""
    return sum(1 for n in graph.nodes if len(n.args) == 2 and n.args[0] == n.args[1])


def graph_depth(graph: Graph) -> int:
    """Ops on the longest path from a leaf to the output."""
    depth = [0] * len(graph.nodes)
    for i, n in enumerate(graph.nodes):
        if n.args:
            depth[i] = 1 + max(depth[a] for a in n.args)
    return depth[graph.output]


def target_graph(graph: Graph, grads: Sequence[float] | None = None) -> dict[str, float]:
    """Steer hypothesis (`hypothesis.target`) toward deeper graphs with more shared nodes and,
    given the gradients, larger gradient magnitudes. Call inside a `@given` test; returns the
    observations by label."""
    observations = {
        "graph depth": float(graph_depth(graph)),
        "shared nodes": float(shared_nodes(graph)),
    }
    finite = [abs(g) for g in grads or () if math.isfinite(g)]
    if finite:  # log scale: steer toward large gradients without running into overflow
        observations["log10(1 + max |grad|)"] = math.log10(1.0 + max(finite))
    for label, value in observations.items():
        target(value, label=label)
    return observations
