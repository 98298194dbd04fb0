"""The comparator: pass, fail or not comparable, per quantity (the output value and each input's
grad), and from those a verdict for the graph.

A quantity passes at once when the implementation agrees with JAX within QUICK_RTOL (scale-aware:
the scale is the largest magnitude the float64 computation went through, not just the result's, so a
result that cancels to near zero is not held to a relative tolerance it could never meet). Where it
does not, the same test is made against a second float64 evaluation, the registry's formulas in
Python floats: XLA's CPU build flushes subnormals to 0, so JAX cannot judge graphs that go through
them, and this one can. Otherwise the exact answer is computed with mpmath and the implementation
passes only if its error is not much worse than what float64 evaluation itself can err by there:
the better of the two evaluations' errors times JAX_ERROR_FACTOR, or the rounding budget. A
quantity is not comparable, by itself, when
- its reference is not finite (exp(709.9)'s value; log(5e-324)'s gradient, 2e323);
- (a gradient) its input reaches the output through a node where the float64 evaluation overflows
  (the value raises, as exp(710) and 1e200 ** 2 do, or a local partial is not finite): JAX's
  numbers through such a node mean nothing (its gradient of exp(710) is 0);
- (a gradient) its input lies below a kink whose operand is within the operand's own forward error
  (FORWARD_ULPS_PER_OP; inputs and constants are exact) of the kink: the side, and so relu', is a
  matter of rounding there. relu is continuous: the value and the other gradients stay comparable.
  A leaf of exactly 0.0 is the convention, which explicit cases check;
- its error scale or its exact answer is not finite, or the exact answer did not converge.
Where JAX's number is not finite but the float64 evaluation here is (JAX on CPU flushes subnormals
to 0: log(5e-324) is NaN there; a power whose derivative overflows is inf there), the exact answer
judges that quantity alone, within the rounding budget.
A None gradient (a PyTorch-style engine's input that the output does not use) passes only where
JAX's gradient and the exact one are 0; a None value fails.

The graph's verdict: FAIL if any quantity fails, PASS if one passed and none failed, NOT_COMPARABLE
if none could be judged; `reason` says what failed and what was not comparable. The whole graph is
not comparable when an op's operands are outside its domain (Op.in_domain on the float64 node
values: x ** x at x = -1, where JAX's finite answer means nothing), whatever JAX says. An exception
fails every quantity, unless raising may be right: where the float64 evaluation overflows or is not
finite, a reference is not finite, or an operand is within its forward error of a domain edge
(Op.edges: log at 0, a divisor 0, a pow base 0 where the domain ends there) or of where the op
overflows: the float64 evaluation could have been on the other side. Then it is not comparable, and
the reason notes when the exception is the one the op table promises (log(x <= 0) ValueError,
division by zero ZeroDivisionError, overflow OverflowError).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradoracle.reference.float_sweep import adjoints_at, float_gradients
from gradoracle.reference.graph import Graph
from gradoracle.reference.highprec import highprec
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import OPS, Op

EPS = 2.0**-52  # float64 machine epsilon (sys.float_info.epsilon); the one definition
# Quick accept. Two correct float64 engines differ by a few ulps per op; 1e-10 leaves room for ~10^5
# ulps of drift while a derivative rounded through float32 (relative error ~1e-8) still fails.
QUICK_RTOL = 1e-10
# An implementation may err up to this many times float64 evaluation's own error there (JAX's, or
# the Python-float evaluation's where that is closer; measured against the exact answer): it may
# round differently (x*y*z vs x*(y*z)), but a wrong formula errs by orders of magnitude more.
JAX_ERROR_FACTOR = 16.0
# Rounding budget per op, in ulps of the largest magnitude the computation went through (its scale).
ULPS_PER_OP = 8.0
# An op node's float64 value is known only within its forward error: this many ulps per op (of the
# graph) of its spread, the rounding budget the comparator allows a value, so another correct
# engine's value (or the exact one) may lie that far away. An operand within it of a kink makes the
# gradients below it not comparable; of a domain edge, an exception not comparable. Inputs and
# constants are exact (error 0): relu'(1e-12) = 1 is checked. (It replaces a fixed margin of 1e-9
# relative to the graph's largest magnitude, which set aside relu(1e-12) and let a cancellation
# of 1e6-sized terms near 0 through.)
FORWARD_ULPS_PER_OP = ULPS_PER_OP
# Errors below the smallest normal float64 are lost in the subnormals, which have no relative
# precision to hold an engine to: every scale is at least this, so that a rounding budget (a few
# hundred EPS times the scale) is never below it. (A correct engine gave a gradient of 1.85e-316
# where the exact one is 0, and a scale of 1e-310 made that a false alarm.)
SCALE_FLOOR = sys.float_info.min / EPS
# An op's rounding error is at most half an ulp of its result, and at least half the smallest
# subnormal's: below the smallest normal float the error is absolute, as if the result had this
# magnitude. Every op node's spread counts at least this much of its own (1e-200 * 1e-115 rounds
# to a subnormal with a relative error of 4e-9; times 1e300, that is an error no relative budget
# of 1.2e-15 would allow).
TINY = sys.float_info.min

# A gradient also passes at once when it is within the rounding budget of JAX's finite sweep (the
# sum over paths of |product of local partials|), a bound of its own: d(x/x)/dx may come out as
# 1e-16 instead of 0. error_scales' gradient scales are such sums of partial sizes that are never
# smaller, so where they are finite this is a shortcut to the test after them (where they overflow,
# compare() without sweeps calls the gradient not comparable). The share below 1 covers the sums'
# rounding (measured: sweep / scale up to 1 + 6e-16).
SWEEP_SHARE = 1.0 - 1e-9

PASS, FAIL, NOT_COMPARABLE = "pass", "fail", "not comparable"


@dataclass(frozen=True)
class Quantity:
    """One compared number: the output value or the gradient of one input."""

    name: str  # 'value' or the input's variable name ('x0', 'x3', ...)
    impl: float | None  # None when the implementation raised, or gave None (a gradient)
    jax: float
    scale: float  # the magnitude that rounding errors are measured against (0: not needed)
    status: str = PASS  # PASS, FAIL or NOT_COMPARABLE
    truth: float | None = None  # the exact answer, rounded to float64, when adjudicated
    fd: float | None = None  # a central finite difference, when asked for
    float64: float | None = None  # the float64 evaluation here (Python floats), when it judged

    @property
    def error(self) -> float:
        """The implementation's absolute error against the best answer known."""
        best = self.truth if self.truth is not None else self.jax
        if self.truth is None and self.float64 is not None:
            best = self.float64
        return math.inf if self.impl is None else abs(self.impl - best)


@dataclass(frozen=True)
class Verdict:
    status: str
    quantities: tuple[Quantity, ...] = ()
    reason: str = ""  # what failed and what was not comparable
    error: str = ""  # the implementation's exception, 'TypeName: message', if it raised
    adjudicated: bool = field(default=False)

    @property
    def failing(self) -> tuple[Quantity, ...]:
        return tuple(q for q in self.quantities if q.status == FAIL)


QUICK_PASS = Verdict(
    PASS,
    reason="within QUICK_RTOL of a float64 evaluation (JAX's or Python's floats'), or of its "
    "sweep's rounding budget",
)
# Every quantity within the rounding budget of its error scale, nothing set aside, no exact answer.
SCALED_PASS = Verdict(PASS, reason="within the rounding budget of the error scales")


def sweep_budget(n_ops: Any) -> Any:
    """The rounding budget of a graph of n_ops ops, per unit of sweep (works on arrays too)."""
    return ULPS_PER_OP * EPS * (n_ops + 1) * SWEEP_SHARE


def within_sweeps(
    impl: Sequence[float | None], jax: Sequence[float], sweeps: Sequence[float], n_ops: int
) -> bool:
    """Every quantity (the value, then the gradients) within QUICK_RTOL of JAX, or, for a gradient,
    within the rounding budget of its sweep: y / y's gradient may come out as 1e-17 instead of 0.
    False if any is None (compare() looks at those one by one)."""
    if any(i is None for i in impl) or not all(map(math.isfinite, jax)):
        return False  # (|-inf - inf| <= QUICK_RTOL * inf would hold)
    budget = sweep_budget(n_ops)
    value_ok = abs(impl[0] - jax[0]) <= QUICK_RTOL * abs(jax[0])  # type: ignore[operator]
    return (
        value_ok
        and all(
            abs(i - j) <= max(QUICK_RTOL * abs(j), budget * s if math.isfinite(s) else 0.0)  # type: ignore[operator]
            for i, j, s in zip(impl[1:], jax[1:], sweeps, strict=True)
        )
    )


def float64_error(truth: float, jax: float | None, here: float | None) -> float:
    """How far float64 evaluation itself errs from the exact answer: the better of JAX's number
    and the Python-float evaluation's (None or not finite: not there; JAX on CPU flushes
    subnormals to 0, and its error there says nothing about float64's); 0 if neither is there."""
    errors = [abs(r - truth) for r in (jax, here) if r is not None and math.isfinite(r)]
    return min(errors, default=0.0)


def _near(impl: float, ref: float, sweep: float, budget: float) -> bool:
    """Within QUICK_RTOL of a float64 evaluation's finite number, or within the budget of its
    sweep. (Against inf, |impl - inf| <= QUICK_RTOL * inf would hold.)"""
    if not math.isfinite(ref):
        return False
    return abs(impl - ref) <= QUICK_RTOL * abs(ref) or (
        math.isfinite(sweep) and abs(impl - ref) <= budget * sweep
    )


def _at(sweeps: Sequence[float], k: int) -> float:
    """Quantity k's sweep (k = 0 is the value: none)."""
    return sweeps[k - 1] if k and len(sweeps) >= k else math.inf


def _partial_floor(op: Op, slot: int, out: float) -> float:
    """How large a partial's own rounding error can be, where that exceeds the partial itself
    (Op.partial_floors): tanh's and sigmoid's partials (1 - t*t, s*(1 - s)) are computed from terms
    of size 1 and s; the exponent's partial of a**b, log(a) * out, is off by ~eps * out when `a` is
    one ulp from 1."""
    floor = (*op.partial_floors, "", "")[slot]
    if floor == "1":
        return 1.0
    if floor == "out":
        return abs(out)
    return 0.0


def _partial_sizes(
    op: Op, form: str, operands: tuple[float, float | None], out: float, spreads: list[float]
) -> tuple[list[float], list[float]]:
    """Per operand: |partial| (at least its own rounding floor; 0 for a constant), and how far the
    partial moves when the operands move by their forward errors (EPS times `spreads`), in units
    of EPS: d(a*b)/da is b, and a b that cancelled (x - y ~ 1e-16) is only known to within its
    forward error. The moves are measured by evaluating the partials at perturbed operands."""
    a, b = operands
    partials = op.partials(FLOAT, form, a, b, out)
    magnitudes = [
        0.0 if p is None else max(abs(p), _partial_floor(op, k, out))
        for k, p in enumerate(partials)
    ]
    moves = [0.0] * len(partials)
    for k, spread in enumerate(spreads):
        if spread == 0.0 or form[k] == "c":
            continue
        x = (a, b)[k]
        assert x is not None
        step = max(abs(x) * PROBE, EPS * spread)  # x is known within EPS * spread
        for _ in range(_PROBE_TRIES):
            shifted = _partials_at(
                op, form, [x + step if j == k else v for j, v in enumerate((a, b))]
            )
            if shifted is not None:
                break
            step *= _PROBE_SHRINK  # the probe left the domain or overflowed: a smaller step
        else:  # no bound on how far the partials move: the scale is unknown, not small
            return magnitudes, [math.inf if p is not None else 0.0 for p in partials]
        for j, (p, q) in enumerate(zip(partials, shifted, strict=True)):
            if p is not None and q is not None:
                moves[j] += abs(q - p) * (spread / step)  # (/ step first can overflow)
    return magnitudes, moves


def _partials_at(
    op: Op, form: str, operands: list[float | None]
) -> tuple[float | None, ...] | None:
    """The op's partials at the operands, or None if they raise or are not finite."""
    try:
        partials = op.partials(FLOAT, form, operands[0], operands[1])
    except (ValueError, ArithmeticError):
        return None
    return partials if all(p is None or math.isfinite(p) for p in partials) else None


# The step at which a partial's sensitivity to an operand is probed: the operand's forward error
# (EPS * spread), or PROBE times the operand when that is larger. (A step of PROBE * spread left
# the linear range: 0.5 ** (0 + 4.9e7) underflows, and the partial's move came out 0, as it did
# when a probe overflowed and was skipped: a scale of 0, and a false alarm on a correct engine.)
# A probe that leaves the domain or overflows is retried _PROBE_TRIES times, each step
# _PROBE_SHRINK times smaller; a partial that no probe can bound gets an infinite size: not
# comparable.
PROBE = 1e-6
_PROBE_TRIES = 6
_PROBE_SHRINK = 1e-3


def _forward_sweep(graph: Graph, values: Sequence[float]) -> tuple[list[float], list[list[float]]]:
    """Every node's spread, and every op node's partial sizes (see error_scales). A node whose
    partials cannot be evaluated (they overflow) gets infinite sizes: what flows through it has no
    finite scale."""
    nodes = graph.nodes
    n = len(nodes)
    spread = [0.0] * n
    sizes: list[list[float]] = [[] for _ in range(n)]
    for i, node in enumerate(nodes):
        if node.op is None:
            continue  # inputs and constants are exact: no error of their own to carry
        op, form = OPS[node.op], graph.forms[i]
        a = values[node.args[0]]
        b = values[node.args[1]] if op.arity == 2 else None
        operand_spreads = [spread[arg] for arg in node.args]
        try:
            magnitudes, moves = _partial_sizes(op, form, (a, b), values[i], operand_spreads)
        except (ValueError, ArithmeticError):
            magnitudes = moves = [math.inf] * len(node.args)
        sizes[i] = [m + d for m, d in zip(magnitudes, moves, strict=True)]
        spread[i] = max(abs(values[i]), TINY) + sum(
            (m + EPS * d) * sp  # (a constant's spread is 0: it adds nothing, even times inf)
            for m, d, sp in zip(magnitudes, moves, operand_spreads, strict=True)
            if sp
        )
    return spread, sizes


def _scales_from(
    graph: Graph, spread: Sequence[float], sizes: Sequence[Sequence[float]]
) -> tuple[float, tuple[float, ...]]:
    nodes = graph.nodes
    sens = [0.0] * len(nodes)
    sens[graph.output] = 1.0
    for i in range(len(nodes) - 1, -1, -1):
        if nodes[i].op is None or sens[i] == 0.0:
            continue
        # A local partial below the smallest normal float has no relative precision: float64
        # knows it within SCALE_FLOOR at best (micrograd's -out/b at out = -1e-295, b = -7e294
        # underflows to 0, and times an upstream gradient of 5e288 it was the whole answer).
        for arg, size, f in zip(nodes[i].args, sizes[i], graph.forms[i], strict=True):
            sens[arg] += (size if f == "c" else max(size, SCALE_FLOOR)) * sens[i]
    floor = SCALE_FLOOR
    return _at_least(spread[graph.output], floor), tuple(
        _at_least(sens[i], floor) for i in graph.inputs
    )


def _at_least(x: float, floor: float) -> float:
    return x if x != x else max(x, floor)  # NaN stays NaN: not a finite scale


def error_scales(graph: Graph, values: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """Scales for the output value and each input's gradient: what float64 rounding is relative to.

    A forward sweep gives every node's spread: the magnitude its rounding errors are proportional to
    (its own value plus its operands' spreads carried through |partials|, and through the partials'
    moves at second order: (x - x)**2 errs by the square of x - x's error). A reverse sweep with
    absolute values then gives each input's gradient scale: the sum over all paths of the products
    of partial sizes (|partial| plus its move, see _partial_sizes), with no cancellation; the value
    scale is the output's spread. (Carrying the moves forward at first order, without their EPS,
    made spreads grow like their squares along a graph: scales of 1e20 on ordinary graphs, which
    hid wrong gradients.) A scale that overflows is inf (or NaN): not finite, not comparable.
    """
    return _scales_from(graph, *_forward_sweep(graph, values))


def forward_errors(graph: Graph, spread: Sequence[float]) -> list[float]:
    """How far each node's float64 value may be from another correct evaluation's (or the exact
    one): FORWARD_ULPS_PER_OP ulps per op of its spread for an op node (the rounding budget a value
    is judged by), 0 for inputs and constants (exact). inf where the spread is not finite."""
    budget = FORWARD_ULPS_PER_OP * EPS * (graph.n_ops + 1)
    return [
        0.0 if node.op is None else budget * s if math.isfinite(s) else math.inf
        for node, s in zip(graph.nodes, spread, strict=True)
    ]


# ---- the float64 evaluation: domains and overflows -----------------------------------------------


@dataclass(frozen=True)
class FloatEvaluation:
    """A graph evaluated with Python floats (reference.libs.FLOAT), without raising."""

    # Every node's value up to `outside` (all of them when it is -1); inf where FLOAT overflowed.
    values: tuple[float, ...]
    # The first op node whose operands are outside its domain or not finite (-1: none).
    outside: int = -1
    # Op nodes whose value or local partials overflow (FLOAT raises, or a partial is not finite),
    # with why: JAX's answers through them mean nothing (its exp(710) is inf with a gradient of 0).
    overflows: Mapping[int, str] = field(default_factory=dict)
    # Op nodes whose local partial float64 cannot compute (Op.unstable), with why.
    unstable: Mapping[int, str] = field(default_factory=dict)

    @property
    def unreliable(self) -> dict[int, str]:
        """Nodes no gradient through which can be judged: overflowing or unstable ones."""
        return {**self.overflows, **self.unstable}


def float_evaluation(graph: Graph) -> FloatEvaluation:
    """Evaluate every node in float64, stopping at the first op whose operands are outside its
    domain (Op.in_domain, which also refuses non-finite operands)."""
    values: list[float] = []
    overflows: dict[int, str] = {}
    unstable: dict[int, str] = {}
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            values.append(FLOAT.lift(node.value))  # type: ignore[arg-type]
            continue
        op, form = OPS[node.op], graph.forms[i]
        a = values[node.args[0]]
        b = values[node.args[1]] if op.arity == 2 else None
        if not op.in_domain(form, a, b):
            return FloatEvaluation(tuple(values), i, overflows, unstable)
        try:
            out = op.forward(FLOAT, a, b)
        except (ValueError, ArithmeticError) as e:  # in the domain: an overflow
            values.append(math.inf)
            overflows[i] = str(e)
            continue
        values.append(out)
        try:
            partials = op.partials(FLOAT, form, a, b, out)
        except (ValueError, ArithmeticError) as e:
            overflows[i] = f"{op.name}'s derivative: {e}"
            continue
        if not all(p is None or math.isfinite(p) for p in partials):
            overflows[i] = f"{op.name}'s derivative at {_operands(a, b)} is not finite"
        why = op.unstable_partial(form, a, b)
        if why:
            unstable[i] = why
    return FloatEvaluation(tuple(values), -1, overflows, unstable)


def _operands(a: float, b: float | None) -> str:
    return repr(a) if b is None else f"({a!r}, {b!r})"


def _outside_reason(graph: Graph, evaluation: FloatEvaluation) -> str:
    i = evaluation.outside
    node = graph.nodes[i]
    assert node.op is not None
    operands = _operands(
        *(evaluation.values[a] for a in node.args), *((None,) * (2 - len(node.args)))
    )
    return f"an operand is outside its op's domain (node {i}: {node.op} at {operands})"


def _ancestors(graph: Graph, roots: Iterable[int]) -> list[bool]:
    """Per node: whether it is one of `roots` or an operand (at any depth) of one."""
    marked = [False] * len(graph.nodes)
    for r in roots:
        marked[r] = True
    for i in range(len(graph.nodes) - 1, -1, -1):
        if marked[i]:
            for a in graph.nodes[i].args:
                marked[a] = True
    return marked


def _near_kinks(
    graph: Graph, values: Sequence[float], errors: Callable[[], Sequence[float]]
) -> dict[int, str]:
    """Inputs (node index) whose gradient depends on the side of a kink that an operand lies within
    its forward error of (`errors()` is asked for only when needed), with where. Only the inputs
    below that operand: relu is continuous, so the value and the other gradients do not depend
    on the side. A leaf is exact: relu(1e-12) is comparable, relu(0.0) is the convention."""
    reach = _ancestors(graph, (graph.output,))
    found: dict[int, str] = {}
    known: Sequence[float] | None = None
    for i, node in enumerate(graph.nodes):
        if node.op is None or not reach[i]:
            continue
        for kink in OPS[node.op].kinks:
            arg = node.args[kink.operand]
            if graph.forms[i][kink.operand] == "c":
                continue
            distance = abs(values[arg] - kink.at)
            if distance > 0.0 and graph.nodes[arg].op is None:
                continue  # an exact leaf off the kink
            if distance > 0.0:
                known = errors() if known is None else known
                if not distance <= known[arg]:
                    continue
            below = _ancestors(graph, (arg,))
            where = f"node {i}: {node.op} of {values[arg]!r}"
            for k in graph.inputs:
                if below[k]:
                    found.setdefault(k, where)
    return found


def _domain_edge(op: Op, form: str, slot: int, at: float, operands: list[float | None]) -> bool:
    """Whether the op's domain ends at operand `slot` == `at`, given the other operand: outside at
    it or right beside it (pow's base 0 is one for x ** -1 and x ** 1.5, not for x ** 2)."""
    for x in (at, math.nextafter(at, -math.inf), math.nextafter(at, math.inf)):
        probe = list(operands)
        probe[slot] = x
        if not op.in_domain(form, probe[0], probe[1]):  # type: ignore[arg-type]
            return True
    return False


# Exceptions the README op table promises for each situation (reference.libs.FLOAT raises them).
_OVERFLOW = ("OverflowError",)


def _why_raising_may_be_right(
    graph: Graph, evaluation: FloatEvaluation, names: Sequence[str], jax: Sequence[float]
) -> tuple[str, str, tuple[str, ...]]:
    """Why an exception may be right on this graph: (what, where, the op table's exceptions for
    it), or ('', '', ()) if it may not. Right: the float64 evaluation overflows or is not finite,
    the reference is not finite, or an operand is within its forward error of a domain edge or of
    where the op overflows (the float64 evaluation could have been on the other side)."""
    if evaluation.overflows:
        i, why = next(iter(evaluation.overflows.items()))
        return "the float64 evaluation overflows", f"node {i}: {why}", _OVERFLOW
    values = evaluation.values
    for i, v in enumerate(values):
        if not math.isfinite(v):
            return "the float64 evaluation overflows", f"node {i} is {v!r}", _OVERFLOW
    bad = [name for name, j in zip(names, jax, strict=True) if not math.isfinite(j)]
    if bad:
        return "the reference is not finite", ", ".join(bad), _OVERFLOW
    # JAX flushes subnormals to 0, so its gradients can be finite where float64's overflow:
    # d(log(x)**2)/dx at x = 2e-308 is -6.8e310. An engine may raise computing it.
    try:
        grads = float_gradients(graph)[1]
    except ArithmeticError as overflow:
        return "a float64 gradient overflows", str(overflow), _OVERFLOW
    bad = [name for name, g in zip(names[1:], grads, strict=True) if not math.isfinite(g)]
    if bad:
        return "a float64 gradient overflows", ", ".join(bad), _OVERFLOW
    errors = forward_errors(graph, _forward_sweep(graph, values)[0])
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            continue
        op, form = OPS[node.op], graph.forms[i]
        operands: list[float | None] = [values[a] for a in node.args] + [None] * (2 - op.arity)
        spreads = [0.0 if f == "c" else errors[a] for f, a in zip(form, node.args, strict=False)]
        for slot, at in op.edges:
            x, e = operands[slot], spreads[slot] if slot < len(spreads) else 0.0
            near = x is not None and e > 0.0 and abs(x - at) <= e
            if near and _domain_edge(op, form, slot, at, operands):
                where = f"node {i}: {op.name} at {x!r}, within {e:.3g} of {at:g}"
                edge = "an operand is within its forward error of a domain edge"
                return edge, where, op.edge_errors
        if any(e > 0.0 for e in spreads) and _leaves_nearby(op, form, operands, spreads):
            where = f"node {i}: {op.name} at {_operands(*operands)}"  # type: ignore[arg-type]
            return "an operand is within its forward error of an overflow", where, _OVERFLOW
    return "", "", ()


def _leaves_nearby(
    op: Op, form: str, operands: Sequence[float | None], errors: Sequence[float]
) -> bool:
    """Whether the op leaves its domain or overflows (Op.float_ok) at some corner of its operands'
    forward errors."""
    choices = [
        (x,) if x is None or e == 0.0 else (x - e, x + e)
        for x, e in zip(operands, [*errors, 0.0, 0.0], strict=False)
    ]
    return any(not op.float_ok(form, a, b) for a, b in itertools.product(*choices))  # type: ignore[arg-type]


def reference_problem(graph: Graph, jax_value: float, jax_grads: Sequence[float]) -> str:
    """Why the graph is not comparable as a whole, as a test vector ('' if it is): an operand
    outside its op's domain, an overflowing or non-finite float64 evaluation or reference, a local
    derivative float64 cannot compute, or an operand within its forward error of a kink."""
    evaluation = float_evaluation(graph)
    if evaluation.outside >= 0:
        return _outside_reason(graph, evaluation)
    if evaluation.unreliable:
        i, why = next(iter(evaluation.unreliable.items()))
        return f"the float64 evaluation overflows or loses a derivative (node {i}: {why})"
    if not all(math.isfinite(v) for v in evaluation.values):
        return "float reference is not finite"
    if not math.isfinite(jax_value) or not all(math.isfinite(g) for g in jax_grads):
        return "JAX value or gradient is not finite"
    values = evaluation.values
    near = _near_kinks(
        graph, values, lambda: forward_errors(graph, _forward_sweep(graph, values)[0])
    )
    if near:
        return f"an operand is within its forward error of a kink ({next(iter(near.values()))})"
    return ""


# ---- judging -------------------------------------------------------------------------------------


def compare(
    graph: Graph,
    impl_value: float | None,
    impl_grads: Sequence[float | None] | None,
    jax_value: float,
    jax_grads: Sequence[float],
    error: str = "",
    kink_distance: float | None = None,
    magnitude: float | None = None,
    jax_sweeps: Sequence[float] | None = None,
    in_domain: bool | None = None,
) -> Verdict:
    """Judge one implementation result against the JAX reference. `error` describes what went
    wrong instead of a result ('TypeName: message' for an exception, or a hang or crash);
    `jax_sweeps` and `in_domain` as in JaxResult. `in_domain` True lets the quick tests run without
    evaluating the graph here; otherwise (None, or False: JAX on CPU flushes subnormals to 0, so
    log(5e-324) is log(0) there) the float64 evaluation here decides, and a graph JAX saw outside a
    domain is judged the careful way. `kink_distance` and `magnitude` are accepted for callers
    that pass JaxResult's fields; the kink margin is each operand's own forward error, found here
    when needed."""
    evaluation = None if in_domain else float_evaluation(graph)
    if evaluation is not None and evaluation.outside >= 0:
        return Verdict(NOT_COMPARABLE, reason=_outside_reason(graph, evaluation))
    names = ["value", *(f"x{i}" for i in graph.inputs)]
    jax = [jax_value, *jax_grads]
    impl = [impl_value, *(impl_grads or ())]
    raised = bool(error) or impl_grads is None
    if raised or len(impl) != len(jax):
        pass
    elif in_domain is not False and all(
        i is not None and math.isfinite(j) and abs(i - j) <= QUICK_RTOL * abs(j)
        for i, j in zip(impl, jax)
    ):  # (a JAX inf is no quick pass: |-inf - inf| <= QUICK_RTOL * inf holds)
        return QUICK_PASS  # the hot path of a campaign: no per-quantity detail
    elif (
        in_domain is not False and jax_sweeps and within_sweeps(impl, jax, jax_sweeps, graph.n_ops)
    ):
        return QUICK_PASS
    evaluation = evaluation or float_evaluation(graph)
    if evaluation.outside >= 0:  # (JAX's values stayed inside where Python's did not)
        return Verdict(NOT_COMPARABLE, reason=_outside_reason(graph, evaluation))
    if raised:
        return _raised(graph, names, jax, error or "no result", evaluation)
    if len(impl) != len(jax):
        return Verdict(FAIL, reason=f"expected {len(jax) - 1} gradients, got {len(impl) - 1}")
    return _Judge(graph, names, impl, jax, jax_sweeps, evaluation).run()


def _raised(
    graph: Graph,
    names: Sequence[str],
    jax: Sequence[float],
    detail: str,
    evaluation: FloatEvaluation,
) -> Verdict:
    """An exception (or no result) instead of numbers: not comparable where raising may be right,
    a failure of every quantity otherwise."""
    what, where, right = _why_raising_may_be_right(graph, evaluation, names, jax)
    kind = detail.partition(":")[0]
    if what:
        quantities = tuple(Quantity(nm, None, j, 0.0, NOT_COMPARABLE) for nm, j in zip(names, jax))
        note = "; right per the op table" if kind in right else ""
        return Verdict(
            NOT_COMPARABLE,
            quantities,
            f"raised {kind} where {what} ({where}{note})",
            error=detail,
        )
    quantities = tuple(Quantity(nm, None, j, 0.0, FAIL) for nm, j in zip(names, jax, strict=True))
    return Verdict(
        FAIL, quantities, f"raised where the reference is finite ({detail})", error=detail
    )


class _Judge:
    """compare()'s careful path: every quantity judged on its own (see the module docstring)."""

    def __init__(
        self,
        graph: Graph,
        names: Sequence[str],
        impl: Sequence[float | None],
        jax: Sequence[float],
        sweeps: Sequence[float] | None,
        evaluation: FloatEvaluation,
    ) -> None:
        self.graph, self.names, self.impl, self.jax = graph, names, impl, jax
        self.sweeps = sweeps
        self.values = evaluation.values
        self.evaluation = evaluation
        n = len(names)
        self.status: list[str | None] = [None] * n
        self.scales = [0.0] * n
        self.truth: list[float | None] = [None] * n
        self.here: list[float | None] = [None] * n  # the float64 evaluation's, where it judged
        self.failed: dict[int, str] = {}  # failures that need their own words (None results)
        self.not_comparable: dict[str, list[str]] = {}  # why -> where
        self.adjudicated = False
        self.exact_only: set[int] = set()  # JAX's number is not finite, the float64 evaluation's is
        self.unset: set[int] = set()  # None gradients: pass only where the exact gradient is 0
        self._sweep: tuple[list[float], list[list[float]]] | None = None
        self._here: list[tuple[float, float]] | None = None

    def sweep(self) -> tuple[list[float], list[list[float]]]:
        if self._sweep is None:
            self._sweep = _forward_sweep(self.graph, self.values)
        return self._sweep

    def set_aside(self, k: int, why: str, where: str) -> None:
        if self.status[k] is None:
            self.status[k] = NOT_COMPARABLE
            self.not_comparable.setdefault(why, []).append(where)

    def fail(self, k: int, words: str = "") -> None:
        self.status[k] = FAIL
        if words:
            self.failed[k] = words

    def open(self) -> list[int]:
        return [k for k, s in enumerate(self.status) if s is None]

    def run(self) -> Verdict:
        graph, names, impl, jax = self.graph, self.names, self.impl, self.jax
        slot = {node: k for k, node in enumerate(graph.inputs, 1)}
        if impl[0] is None:
            self.fail(0, "the value is None")
        reach = _ancestors(graph, (graph.output,))
        unreliable = self.evaluation.unreliable
        shaky = [i for i in unreliable if reach[i]]
        if shaky:
            below = _ancestors(graph, shaky)
            for node, k in slot.items():
                if below[node]:
                    at = next(i for i in shaky if _ancestors(graph, (i,))[node])
                    over = at in self.evaluation.overflows
                    why = "float64 overflows" if over else "float64 loses a local derivative"
                    self.set_aside(k, f"{why} on its path", f"{names[k]}: node {at}")
        # JAX's number is not finite: so is the answer, unless the float64 evaluation here is
        # (JAX on CPU flushes subnormals to 0: log(5e-324) is NaN there, -744.44 here; a pow whose
        # derivative overflows is inf there): then the exact answer judges alone.
        output_finite = math.isfinite(self.values[graph.output])
        for k, j in enumerate(jax):
            if not math.isfinite(j) and self.status[k] is None:
                if k or output_finite:
                    self.exact_only.add(k)
                else:
                    self.set_aside(k, "the reference is not finite", names[k])
        self.quick()
        if all(status == PASS for status in self.status):
            return QUICK_PASS  # (fuzz.float64_pass gives this verdict without Python per graph)
        near = (
            _near_kinks(graph, self.values, lambda: forward_errors(graph, self.sweep()[0]))
            if self.open()
            else {}
        )
        for node, where in near.items():
            k = slot[node]
            self.set_aside(k, "within its forward error of a kink", f"{names[k]}: {where}")
        for k in self.open():
            if k and impl[k] is None:
                if k not in self.exact_only and jax[k] != 0.0:
                    self.fail(k, f"{names[k]}.grad is None where the gradient is {jax[k]!r}")
                elif not reach[graph.inputs[k - 1]]:
                    self.status[k] = PASS  # the output does not use it: its gradient is 0
                else:
                    self.unset.add(k)
        if self.open():
            self.scaled()
        if self.open():
            self.float64()
        if None not in impl and all(status == PASS for status in self.status):
            return SCALED_PASS  # (fuzz.float64_pass gives this verdict without Python per graph)
        if self.open():
            self.exact()
        return self.verdict()

    def quick(self) -> None:
        """The quick tests, quantity by quantity, against either float64 evaluation: within
        QUICK_RTOL of it, or (a gradient) within the rounding budget of its sweep. A quantity that
        agrees with a correct float64 evaluation passes, near a kink too (the quick pass lets
        such graphs through as well): only the others are looked at closely, which costs a
        forward sweep of error scales (~0.5 ms a graph)."""
        budget = sweep_budget(self.graph.n_ops)
        jax_sweeps = self.sweeps or ()
        here = self.here_numbers()
        for k in self.open():
            i = self.impl[k]
            if i is None or not math.isfinite(i):
                continue
            if k not in self.exact_only and _near(i, self.jax[k], _at(jax_sweeps, k), budget):
                self.status[k] = PASS
            elif here and _near(i, *here[k], budget):
                self.status[k] = PASS
                self.here[k] = here[k][0]

    def here_numbers(self) -> list[tuple[float, float]] | None:
        """The float64 evaluation's (number, sweep) per quantity (the value's sweep is inf: the
        value has none), or None where a partial overflows."""
        if self._here is None:
            graph = self.graph
            try:
                adjoint, sweep = adjoints_at(graph, self.values)
            except (ValueError, ArithmeticError):
                self._here = []
            else:
                self._here = [(self.values[graph.output], math.inf)]
                self._here += [(adjoint[i], sweep[i]) for i in graph.inputs]
        return self._here or None

    def scaled(self) -> None:
        """Within the rounding budget of the error scales; not comparable where they overflow."""
        value_scale, grad_scales = _scales_from(self.graph, *self.sweep())
        self.scales = [value_scale, *grad_scales]
        budget = ULPS_PER_OP * EPS * (self.graph.n_ops + 1)
        for k in self.open():
            i, j, s = self.impl[k], self.jax[k], self.scales[k]
            if k in self.unset:
                continue
            if not math.isfinite(s):
                self.set_aside(k, "an intermediate derivative is not finite", self.names[k])
            elif i is None or k in self.exact_only:
                continue
            elif math.isfinite(i) and abs(i - j) <= max(QUICK_RTOL * abs(j), budget * s):
                self.status[k] = PASS

    def float64(self) -> None:
        """Within the rounding budget of the float64 evaluation here: the registry's formulas in
        Python floats, a second correct float64 evaluation held to JAX's test. It judges most of
        what JAX cannot: XLA's CPU build flushes subnormals to 0 (JAX's log(1e-310) is -inf, and
        a NaN or a wrong number follows downstream), where the exact answer cost ~5 ms a graph."""
        numbers = self.here_numbers()
        if numbers is None:
            return  # a partial overflows: the exact answer judges
        graph = self.graph
        here = [f for f, _ in numbers]
        budget = ULPS_PER_OP * EPS * (graph.n_ops + 1)
        for k in self.open():
            i, f, s = self.impl[k], here[k], self.scales[k]
            if k in self.unset or i is None or not (math.isfinite(f) and math.isfinite(s)):
                continue
            if math.isfinite(i) and abs(i - f) <= max(QUICK_RTOL * abs(f), budget * s):
                self.status[k] = PASS
                self.here[k] = f

    def exact(self) -> None:
        """Judge the rest against the exact answer: the implementation may err about as much as
        float64 evaluation does (the better of JAX's and the one here, where JAX's number is
        finite: JAX_ERROR_FACTOR times it), or by the rounding budget; a None gradient passes
        only where the exact gradient is 0. (JAX's error alone let a value twice the answer
        pass where XLA flushed a subnormal to 0: its error was then the whole answer.)"""
        self.adjudicated = True
        names = self.names
        try:
            exact = highprec(self.graph)
        except (ValueError, ArithmeticError) as e:
            for k in self.open():
                self.set_aside(k, "the exact answer is undefined", f"{names[k]}: {e}")
            return
        if not exact.converged:
            for k in self.open():
                self.set_aside(k, "the exact answer did not converge", names[k])
            return
        budget = ULPS_PER_OP * EPS * (self.graph.n_ops + 1)
        numbers = self.here_numbers()
        for k, t in enumerate(exact.rounded()):
            if self.status[k] is not None:
                continue
            self.truth[k] = t
            i, j, s = self.impl[k], self.jax[k], self.scales[k]
            if not math.isfinite(t):
                self.set_aside(k, "the exact answer is not finite in float64", names[k])
            elif k in self.unset:
                if t == 0.0:
                    self.status[k] = PASS
                else:
                    self.fail(k, f"{names[k]}.grad is None where the gradient is {t!r}")
            else:
                here = numbers[k][0] if numbers else None
                # (where JAX's number is not finite, the rounding budget alone, as before)
                best = float64_error(t, j, here) if k not in self.exact_only else 0.0
                tolerance = max(QUICK_RTOL * abs(t), JAX_ERROR_FACTOR * best, budget * s)
                ok = i is not None and math.isfinite(i) and abs(i - t) <= tolerance
                self.status[k] = PASS if ok else FAIL

    def verdict(self) -> Verdict:
        quantities = tuple(
            Quantity(nm, i, j, s, st or NOT_COMPARABLE, truth=t, float64=f)
            for nm, i, j, s, st, t, f in zip(
                self.names,
                self.impl,
                self.jax,
                self.scales,
                self.status,
                self.truth,
                self.here,
                strict=True,
            )
        )
        set_aside = "; ".join(
            f"{why} ({', '.join(where)})" for why, where in self.not_comparable.items()
        )
        failing = [k for k, q in enumerate(quantities) if q.status == FAIL]
        if failing:
            plain = [self.names[k] for k in failing if k not in self.failed]
            words = ([f"wrong {', '.join(plain)}"] if plain else []) + [
                self.failed[k] for k in failing if k in self.failed
            ]
            if set_aside:
                words.append(f"not comparable: {set_aside}")
            return Verdict(FAIL, quantities, "; ".join(words), adjudicated=self.adjudicated)
        if any(q.status == PASS for q in quantities):
            reason = f"not comparable: {set_aside}" if set_aside else ""
            return Verdict(PASS, quantities, reason, adjudicated=self.adjudicated)
        return Verdict(NOT_COMPARABLE, quantities, set_aside, adjudicated=self.adjudicated)
