"""A fast seeded sampler of random expression DAGs over the op registry.

Unlike trees, these graphs reuse nodes on purpose: a node may feed several consumers and both
operands of one op, which is what makes gradient-accumulation bugs visible. Every operand lies
inside its op's domain by construction: operands are chosen among nodes whose (float) value fits the
op, and when none fits, a fresh input is drawn from the op's own domain sampler. Values stay
moderate and away from kinks, so almost every graph is comparable against the references.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from reference.graph import Graph, Node
from reference.libs import FLOAT
from reference.ops import OPS, Op, draw_real

# Intermediate values and local derivatives are kept below this magnitude: beyond it, float64
# round-off of a 30-op graph swamps the comparator's tight tolerance and the graph would be "not
# comparable".
MAGNITUDE_LIMIT = 1e6
# Non-zero results smaller than this are avoided too: exp and pow underflow to 0.0 in float64 long
# before the exact result stops mattering (172700 ** -172700), which makes float and exact disagree.
UNDERFLOW_LIMIT = 1e-100
# Operands closer than this to a kink (relu at 0) are avoided; the comparator uses a smaller margin,
# so a sampled graph is never excluded for being near a kink.
KINK_MARGIN = 1e-3
# How many operand choices to try for one op before giving up on it.
ATTEMPTS = 8


@dataclass(frozen=True)
class SamplerConfig:
    """Shape of the sampled graphs; every field has a default that suits a campaign."""

    ops: tuple[str, ...] = tuple(OPS)
    min_inputs: int = 1
    max_inputs: int = 4
    min_ops: int = 1
    max_ops: int = 30
    reuse: float = 0.5  # chance that an operand is any earlier node rather than a recent one
    same_operand: float = 0.1  # chance that a binary op takes one node as both operands (x * x)
    const: float = 0.25  # chance that a binary op takes a plain-number constant on one side
    fresh_input: float = 0.1  # chance that an operand is a new input (when inputs remain)
    weights: dict[str, float] = field(default_factory=dict)  # op -> relative weight (default 1)
    forms: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # op -> allowed forms (default all)


def op_result(
    op: Op, form: str, a: float, b: float | None, limit: float = MAGNITUDE_LIMIT
) -> float | None:
    """The op's float value if it is in the domain, away from kinks, and it and its local
    derivatives are below `limit` and do not underflow; else None. Generators build on this."""
    if not op.in_domain(form, a, b):
        return None
    for kink in op.kinks:
        if abs((a, b)[kink.operand] - kink.at) < KINK_MARGIN:  # type: ignore[operator]
            return None
    try:
        out = op.forward(FLOAT, a, b)
        partials = op.partials(FLOAT, form, a, b, out)
    except ArithmeticError:
        return None
    if not all(p is None or (math.isfinite(p) and abs(p) <= limit) for p in (out, *partials)):
        return None
    if abs(out) < UNDERFLOW_LIMIT and (out != 0.0 or op.name in ("exp", "pow")):
        return None
    return float(out)


class _Builder:
    def __init__(self, rng: random.Random, config: SamplerConfig, n_inputs: int) -> None:
        self.rng = rng
        self.config = config
        self.nodes: list[Node] = []
        self.values: list[float] = []  # float value of every non-const node, by node index
        self.variables: list[int] = []  # indices of input and op nodes
        self.unused: set[int] = set()  # variables no op consumes yet
        self.inputs_left = n_inputs

    def add(self, node: Node, value: float) -> int:
        self.nodes.append(node)
        self.values.append(value)
        index = len(self.nodes) - 1
        if node.kind != "const":
            self.variables.append(index)
            self.unused.add(index)
        return index

    def new_input(self, value: float | None = None) -> int:
        self.inputs_left -= 1
        x = draw_real(self.rng) if value is None else value
        return self.add(Node("input", x), x)

    def pick(self) -> int:
        """An existing variable: often the newest (depth), else any (reuse), else an unused one."""
        rng, variables = self.rng, self.variables
        r = rng.random()
        if r < self.config.reuse:
            return rng.choice(variables)
        if r < self.config.reuse + (1 - self.config.reuse) / 2 and self.unused:
            return rng.choice(sorted(self.unused))
        return variables[-1]

    def try_op(self, op: Op) -> bool:
        rng, config = self.rng, self.config
        for _ in range(ATTEMPTS):
            if op.arity == 1:
                a = self.pick()
                out = op_result(op, "v", self.values[a], None)
                if out is not None:
                    self.link(op, (a,), out)
                    return True
                continue
            form = self.choose_form(op)
            if form == "vv":
                a = self.pick()
                b = a if rng.random() < config.same_operand else self.pick()
                if rng.random() < 0.5:
                    a, b = b, a
                out = op_result(op, form, self.values[a], self.values[b])
                if out is not None:
                    self.link(op, (a, b), out)
                    return True
                continue
            var = self.pick()
            slot = 1 if form == "vc" else 0  # which operand the constant is
            k = op.draw(form, rng, slot, self.values[var])
            if k is None:
                continue
            pair = (self.values[var], k) if form == "vc" else (k, self.values[var])
            out = op_result(op, form, *pair)
            if out is not None:
                c = self.add(Node("const", k), k)
                self.link(op, (var, c) if form == "vc" else (c, var), out)
                return True
        if self.inputs_left > 0:  # nothing fits: a fresh input from the op's own domain
            form = "v" if op.arity == 1 else self.choose_form(op)
            x = op.draw(form, rng, 0, None)
            if x is not None and math.isfinite(x):
                self.new_input(x)
                return self.try_op(op)
        return False

    def choose_form(self, op: Op) -> str:
        forms = self.config.forms.get(op.name, op.forms)
        if "vv" in forms and self.rng.random() >= self.config.const:
            return "vv"
        return self.rng.choice([f for f in forms if f != "vv"] or list(forms))

    def link(self, op: Op, args: tuple[int, ...], value: float) -> None:
        for arg in args:
            self.unused.discard(arg)
        self.add(Node("op", None, op.name, args), value)


def sample_graph(rng: random.Random, config: SamplerConfig | None = None) -> Graph:
    """One random DAG drawn from `rng` (same seed, same graph)."""
    config = config or SamplerConfig()
    n_inputs = rng.randint(config.min_inputs, config.max_inputs)
    n_ops = rng.randint(config.min_ops, config.max_ops)
    b = _Builder(rng, config, n_inputs)
    b.new_input()
    ops = [OPS[name] for name in config.ops]
    weights = [config.weights.get(op.name, 1.0) for op in ops]
    made = 0
    while made < n_ops:
        if b.inputs_left > 0 and rng.random() < config.fresh_input:
            b.new_input()
        made += 1  # counted even when the op does not fit, so sampling always ends
        b.try_op(rng.choices(ops, weights)[0])
    _fold_unused(b)
    return Graph(tuple(b.nodes))


def _fold_unused(b: _Builder) -> None:
    """Sum every variable nothing consumes into the output, so no part of the graph is dead."""
    loose = sorted(b.unused)
    add = OPS["add"]
    acc = loose[-1]
    for other in reversed(loose[:-1]):
        out = op_result(add, "vv", b.values[acc], b.values[other])
        if out is not None:
            b.link(add, (acc, other), out)
            acc = len(b.nodes) - 1


def sample_graphs(seed: int, count: int, config: SamplerConfig | None = None) -> list[Graph]:
    """`count` graphs from one seed."""
    rng = random.Random(seed)
    return [sample_graph(rng, config) for _ in range(count)]


def op_coverage(graphs: Sequence[Graph]) -> dict[str, int]:
    """How many op nodes of each registry op the graphs contain."""
    counts = dict.fromkeys(OPS, 0)
    for g in graphs:
        for n in g.nodes:
            if n.op is not None:
                counts[n.op] += 1
    return counts
