"""A fast seeded sampler of random expression DAGs over the op registry.

Unlike trees, these graphs reuse nodes on purpose: a node may feed several consumers and both
operands of one op, which is what makes gradient-accumulation bugs visible. Every operand lies
inside its op's domain by construction: operands are chosen among nodes whose (float) value fits the
op, and when none fits, a fresh input is drawn from the op's own domain sampler. Values stay
moderate and away from kinks, so almost every graph is comparable against the references.

Speed matters (a campaign must spend most of its time in the implementation under test, not here):
`op_result` is the definition of "fits", and the sampler uses per-(op, form) float checkers that
compute exactly the same thing with `math` directly (tests/fuzz/test_sampler.py checks them against
`op_result`); graphs are valid by construction and built with `Graph.trusted`, which skips
validation (the tests check that `Graph(nodes)` validates them to the same graph).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from reference.graph import Graph
from reference.libs import FLOAT
from reference.ops import OPS, Draw, Op, draw_real
from reference.tape import OPCODES, CompiledGraph, bucket_of

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
# Ops that fold the variables nothing consumes into the output, in order of preference (the first
# one that the config allows with two variable operands).
FOLD_OPS = ("add", "sub", "mul")


@dataclass(frozen=True)
class SamplerConfig:
    """Shape of the sampled graphs; every field has a default that suits a campaign.

    Treat a config as immutable (its dicts too): the sampler caches what it derives from one.
    """

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


# ---- fast checkers: op_result(op, form, ...) at the default limit, written out per op ------------
# Same float operations as the registry's FLOAT formulas, so the results are identical (tested).
# `-_L <= out <= _L` also rejects inf and nan; `out == 0.0 or not -_U < out < _U`: no underflow.

Unary = Callable[[float], "float | None"]
Binary = Callable[[float, float], "float | None"]
_L, _U, _K, _INF = MAGNITUDE_LIMIT, UNDERFLOW_LIMIT, KINK_MARGIN, math.inf
assert _L >= 1.0  # constant partials (1, -1) then never exceed the limit and are not checked
_exp, _log, _tanh = math.exp, math.log, math.tanh


def _sum(a: float, b: float) -> float | None:  # add, sub: a non-finite operand gives inf or nan
    out = a + b
    return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None


def _difference(a: float, b: float) -> float | None:
    out = a - b
    return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None


def _mul(form: str) -> Binary:
    need_a, need_b = form[0] == "v", form[1] == "v"  # which partials are needed

    def check(a: float, b: float) -> float | None:  # d/da = b, d/db = a
        if (need_a and not -_L <= b <= _L) or (need_b and not -_L <= a <= _L):
            return None
        out = a * b
        return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None

    return check


def _div(form: str) -> Binary:
    need_a, need_b = form[0] == "v", form[1] == "v"

    def check(a: float, b: float) -> float | None:  # d/da = 1/b, d/db = -(a/b)/b
        if b == 0.0 or not -_INF < b < _INF:
            return None
        out = a / b
        if (need_a and not -_L <= 1.0 / b <= _L) or (need_b and not -_L <= out / b <= _L):
            return None
        return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None

    return check


def _pow(form: str) -> Binary:
    need_a, need_b = form[0] == "v", form[1] == "v"

    def check(a: float, b: float) -> float | None:  # d/da = b*a**(b-1), d/db = log(a)*a**b
        if not (-_INF < a < _INF and -_INF < b < _INF):
            return None
        if form == "vc":  # a**k: a > 0, a < 0 with an integer k, a == 0 with k >= 1
            if not (a > 0.0 or (b >= 1.0 if a == 0.0 else b.is_integer())):
                return None
        elif not a > 0.0:
            return None
        try:
            out = a**b
            if need_a and not -_L <= b * a ** (b - 1.0) <= _L:
                return None
        except (OverflowError, ZeroDivisionError):
            return None
        if need_b and not -_L <= _log(a) * out <= _L:
            return None
        return out if -_L <= out <= _L and not -_U < out < _U else None  # 0.0 underflowed too

    return check


def _neg(a: float) -> float | None:
    out = -a
    return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None


def _tanh_check(a: float) -> float | None:  # tanh' = sech(a)**2 is in [0, 1]
    if not -_INF < a < _INF:
        return None
    out = _tanh(a)
    return out if out == 0.0 or not -_U < out < _U else None


def _exp_check(a: float) -> float | None:  # exp' = exp; 0.0 is an underflow
    try:
        out = _exp(a)
    except OverflowError:
        return None
    return out if _U <= out <= _L else None


def _log_check(a: float) -> float | None:  # log' = 1/a
    if not (0.0 < a < _INF and -_L <= 1.0 / a <= _L):
        return None
    out = _log(a)
    return out if -_L <= out <= _L and (out == 0.0 or not -_U < out < _U) else None


def _relu_check(a: float) -> float | None:  # relu' is 0 or 1; operands keep KINK_MARGIN from 0
    if a >= _K:
        return a if a <= _L else None
    return 0.0 if -_INF < a <= -_K else None


def _sigmoid_check(a: float) -> float | None:  # sigmoid' = s*(1-s) is in [0, 1/4]
    if not -_INF < a < _INF:
        return None
    if a >= 0:
        out = 1.0 / (1.0 + _exp(-a))
    else:
        e = _exp(a)
        out = e / (1.0 + e)
    return out if out == 0.0 or not -_U < out < _U else None


_BINARY_FORMS = ("vv", "vc", "cv")
FAST_CHECKERS: dict[tuple[str, str], Callable[..., float | None]] = {
    ("neg", "v"): _neg,
    ("tanh", "v"): _tanh_check,
    ("exp", "v"): _exp_check,
    ("log", "v"): _log_check,
    ("relu", "v"): _relu_check,
    ("sigmoid", "v"): _sigmoid_check,
}
for _f in _BINARY_FORMS:
    FAST_CHECKERS.update({("add", _f): _sum, ("sub", _f): _difference, ("mul", _f): _mul(_f)})
    FAST_CHECKERS.update({("div", _f): _div(_f), ("pow", _f): _pow(_f)})


def checker(op: Op, form: str) -> Callable[..., float | None]:
    """`op_result(op, form, ...)` at the default limit as a fast function of the operands (one for
    unary ops, two for binary ones); an op without a fast checker gets op_result itself."""
    fast = FAST_CHECKERS.get((op.name, form))
    if fast is not None:
        return fast
    if op.arity == 1:
        return lambda a: op_result(op, form, a, None)
    return lambda a, b: op_result(op, form, a, b)


# ---- the sampler ---------------------------------------------------------------------------------


class _OpPlan(NamedTuple):
    """What sampling one op needs, precomputed from a config (a tuple: unpacking is fast)."""

    name: str
    draw: Draw  # op.draw without the method call: a value for an operand slot, in the domain
    unary: Unary | None  # the checker of form 'v' (unary ops)
    vv: Binary | None  # the checker of form 'vv', if allowed
    p_vv: float  # chance of 'vv' (when forms with a constant are allowed too)
    const_forms: tuple[tuple[str, Binary, int], ...]  # (form, checker, slot of the constant)
    code: int  # the op's opcode on the JAX reference's tape


def _op_plan(op: Op, forms: tuple[str, ...], const: float) -> _OpPlan:
    vv = checker(op, "vv") if "vv" in forms else None
    const_forms = tuple((f, checker(op, f), 0 if f == "cv" else 1) for f in forms if f != "vv")
    p_vv = 1.0 - const if vv is not None and const_forms else 1.0
    unary = checker(op, "v") if op.arity == 1 else None
    return _OpPlan(op.name, op.sampler, unary, vv, p_vv, const_forms, OPCODES[op.name])


class _Plan:
    """A config, digested: ops with cumulative weights, and the op that folds loose ends."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self.ops: list[_OpPlan] = []
        self.cumulative: list[float] = []
        total = 0.0
        for name in config.ops:
            op = OPS[name]
            forms = tuple(f for f in config.forms.get(name, op.forms) if f in op.forms)
            weight = float(config.weights.get(name, 1.0))
            if forms and weight > 0:
                self.ops.append(_op_plan(op, forms, config.const))
                total += weight
                self.cumulative.append(total)
        if self.cumulative:  # so that bisect_right(cumulative, random() * total) < len(ops)
            self.cumulative[-1] = math.inf
        self.total = total
        self.fold: tuple[str, Binary, int] | None = None
        for name in FOLD_OPS:
            if name in config.ops and "vv" in config.forms.get(name, OPS[name].forms):
                self.fold = (name, checker(OPS[name], "vv"), OPCODES[name])
                break


_PLANS: dict[int, _Plan] = {}
_DEFAULT_CONFIG = SamplerConfig()


def _plan(config: SamplerConfig) -> _Plan:
    plan = _PLANS.get(id(config))
    if plan is None or plan.config is not config:  # the plan keeps its config (and id) alive
        if len(_PLANS) > 64:
            _PLANS.clear()
        plan = _PLANS[id(config)] = _Plan(config)
    return plan


def sample_graph(rng: random.Random, config: SamplerConfig | None = None) -> Graph:
    """One random DAG drawn from `rng` (same seed, same graph).

    Written for speed (one function, locals); the rules: each of n_ops steps may
    first add a fresh input, then draws an op (by weight) and tries up to ATTEMPTS operand choices;
    when none fits, a fresh input from the op's own domain sampler (while inputs remain) and again.

    It writes down the graph as the JAX reference's tape compiler and the worker's wire format
    take it (`reference.tape.CompiledGraph`), and makes no Node objects: `Graph.from_compiled`
    derives them if they are ever asked for (tests/fuzz/test_sampler.py checks that the graphs are
    valid and compile to what was written down).
    """
    config = config or _DEFAULT_CONFIG
    plan = _plan(config)
    rnd = rng.random
    values: list[float] = []  # the float value of every node
    variables: list[int] = []  # input and op nodes, increasing
    unused: list[int] = []  # variables no op consumes yet, increasing
    # What compile_graph and the wire format derive from the nodes, written down on the way.
    steps: list[int] = []  # opcode, left, right, dest per op node
    leaf_slots: list[int] = []
    leaf_values: list[float] = []
    inputs: list[int] = []
    reuse, same, fresh = config.reuse, config.same_operand, config.fresh_input
    unused_below = reuse + (1.0 - reuse) / 2
    inputs_left = config.min_inputs + int(rnd() * (config.max_inputs - config.min_inputs + 1))
    n_ops = config.min_ops + int(rnd() * (config.max_ops - config.min_ops + 1))

    def new_input(x: float) -> None:
        i = len(values)
        variables.append(i)
        unused.append(i)
        inputs.append(i)
        leaf_slots.append(i)
        leaf_values.append(x)
        values.append(x)

    new_input(draw_real(rng))
    inputs_left -= 1
    ops, cumulative, total = plan.ops, plan.cumulative, plan.total
    for _ in range(n_ops if ops else 0):  # an op that does not fit still counts: sampling ends
        if inputs_left > 0 and rnd() < fresh:
            new_input(draw_real(rng))
            inputs_left -= 1
        _, draw, unary, vv, p_vv, const_forms, code = ops[bisect_right(cumulative, rnd() * total)]
        attempts = ATTEMPTS
        while True:  # operand choices until one fits
            # The first variable operand. Picking a variable (twice inlined): any one (reuse), else
            # one that nothing consumes yet, else the newest (deep chains).
            r = rnd()
            if r < reuse:
                a = variables[int(rnd() * len(variables))]
            elif r < unused_below and unused:
                a = unused[int(rnd() * len(unused))]
            else:
                a = variables[-1]
            if unary is not None:
                form, b = "v", -1
                out = unary(values[a])
            elif vv is not None and (p_vv >= 1.0 or rnd() < p_vv):
                form = "vv"
                if rnd() < same:
                    b = a
                else:  # pick a variable, as above
                    r = rnd()
                    if r < reuse:
                        b = variables[int(rnd() * len(variables))]
                    elif r < unused_below and unused:
                        b = unused[int(rnd() * len(unused))]
                    else:
                        b = variables[-1]
                if rnd() < 0.5:
                    a, b = b, a
                out = vv(values[a], values[b])
            else:
                form, check, slot = const_forms[int(rnd() * len(const_forms))]
                k = draw(form, rng, slot, values[a])  # in the domain, given the variable
                out = None if k is None else check(values[a], k) if slot else check(k, values[a])
                if k is not None and out is not None:
                    b = len(values)  # the constant
                    k = float(k)
                    leaf_slots.append(b)
                    leaf_values.append(k)
                    values.append(k)
                    if not slot:
                        a, b = b, a
            if out is not None:  # link: op `code` with args (a,) (b < 0) or (a, b)
                if a in unused:
                    unused.remove(a)
                if b in unused:  # not if b == a (removed), b < 0 or b is a constant
                    unused.remove(b)
                i = len(values)
                variables.append(i)
                unused.append(i)
                steps += (code, a, a if b < 0 else b, i)  # unary ops read their operand twice
                values.append(out)
                break
            attempts -= 1
            if attempts == 0:  # nothing fits: a fresh input from the op's own domain, and again
                if inputs_left <= 0:
                    break  # the op is left out
                x = draw(form, rng, 1 if form == "cv" else 0, None)  # the last form's variable
                if x is None or not math.isfinite(x):
                    break
                new_input(float(x))
                inputs_left -= 1
                attempts = ATTEMPTS
    if plan.fold is not None and len(unused) > 1:
        # Sum (add; else sub or mul) every variable nothing consumes into the output, so that no
        # part of the graph is dead (unless the config allows none of FOLD_OPS with 2 variables).
        _, check, code = plan.fold
        acc = unused[-1]
        for other in reversed(unused[:-1]):
            out = check(values[acc], values[other])
            if out is not None:
                i = len(values)
                steps += (code, acc, other, i)
                values.append(out)
                acc = i
    n_nodes = len(values)
    compiled = CompiledGraph(
        steps,
        leaf_slots,
        leaf_values,
        tuple(inputs),
        n_nodes - 1,
        n_nodes,
        bucket_of(len(steps) >> 2, n_nodes),
    )
    return Graph.from_compiled(compiled)


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
