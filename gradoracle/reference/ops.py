"""The op registry: one entry per op drives everything (like PyTorch's OpInfo).

An `Op` knows how it is spelled on a Value (and with a plain number on either side), its forward
formula written once against a math namespace `lib` (`reference.libs`: FLOAT, MP, JAX), its local
derivatives, its domain (a predicate plus a sampler that draws valid operands by construction), its
kinks with the derivative convention there, its sampling regions (where bugs live: `Region`), and
the text of the README op table.

Sampling regions. Ordinary draws stay moderate and away from kinks, so that graphs a few dozen ops
deep stay comparable; bugs live exactly where they do not go: `x ** 2` at 0 (a power rule written
as `k*out/a` gives NaN there), relu at and next to 0, exp near overflow, tanh and sigmoid where
naive formulas overflow, log of tiny operands (an engine clamping at 1e-10), huge and tiny
magnitudes, `a - a` and `a / a`, deep graphs. Each op lists its regions: a name, a weight (the
chance that one draw of the op is drawn in the region) and how to draw the operands (a `Span` per
operand, or any variable). Both samplers read these tables: the compiled one (fuzz.sampler packs
them into arrays for fuzz.sampler_kernel) and the hypothesis strategies (fuzz.strategies); a graph
made in a region passes a looser check than ordinary ops (`gradoracle.fuzz.sampler.op_result` with
`moderate=False`: in the domain, value and local derivatives finite). `DEEP_GRAPHS` says how
often a graph is a long chain.

Forms say which operands are graph variables ('v') and which are plain-number constants ('c'):
unary ops have the single form 'v'; binary ops 'vv', 'vc' (constant on the right, `a + 2`) and 'cv'
(constant on the left, `2 + a`). For pow: 'vc' is a**k, 'cv' is k**a, 'vv' is a**b.
Operands are always passed positionally as spelled: in `forward(lib, a, b)` `a` is the left operand.

Adding an op (this registry is the single source; nothing else names ops by hand):
1. An entry below (`_unary` or `_binary`): forward and local derivatives written against `lib`,
   using the primitives of `reference.libs` (a total function is one row of `libs.PRIMITIVES`; a
   guarded one, a method in each lib); `domain` as an expression per form (it runs on floats,
   jax.numpy and numba alike), `draws` (a name in SAMPLERS), `edges` where the domain ends or
   the slope is infinite, `kinks` with their convention and `alternatives` (fuzz.conventions turns
   them into explicit cases), `outside` points with a convention name, `extremes` at float64's
   edges (the battery asks each once), `regions` where bugs live, `method_names` for spellings,
   and the docs (they are the README op table).
2. The engine: a method in engine/engine.py with its local derivative beside the forward.
3. `python -m gradoracle.generate --write`: rewrites the compiled sampler's op table (in
   fuzz/sampler_kernel.py), the corpus schema's op list and the README's op and region tables
   (tests/test_generated.py fails while any is stale).
4. Tests: the engine's (tests/engine) and a planted wrong derivative that the oracle catches.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gradoracle.reference.libs import Lib

UNARY_FORMS: tuple[str, ...] = ("v",)
BINARY_FORMS: tuple[str, ...] = ("vv", "vc", "cv")

# Sampled operands stay moderate: |x| <= 1e3, exp arguments |x| <= 30, and pow results roughly
# within e**POW_LOG_LIMIT, so that graphs a few dozen ops deep rarely overflow.
EXP_ARG_LIMIT = 30.0
POW_LOG_LIMIT = 50.0
_SPECIAL = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)
# Ints: people write `x ** 2`, `2 * x`, `x / 2`, `Value(2)`, and engines may treat an int unlike the
# equal float. Of the whole-number constants a sampler draws, this share is written as an int; of
# the whole-number leaves, INT_LEAVES (about one leaf in seven: draw_real is a whole number ~19%
# of the time). Only whole numbers up to INT_LIMIT in magnitude become ints (exact as floats).
INT_CONSTANTS = 0.5
INT_LEAVES = 0.75
INT_LIMIT = 2.0**53
_EXPONENTS = (-2.0, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 3.0)
_BASES = (0.5, 2.0, 3.0, math.e, 10.0)

Draw = Callable[[str, random.Random, int, "float | None"], "float | None"]

SMALLEST_SUBNORMAL = 5e-324
SMALLEST_NORMAL = 2.2250738585072014e-308
# The smallest x whose 1/x is finite (log's derivative): smaller subnormals have an infinite slope.
SMALLEST_INVERTIBLE = 1.0 / 1.7976931348623157e308


@dataclass(frozen=True)
class Span:
    """A set of operand values and the law that draws one:
    - 'values': one of `values`, uniformly;
    - 'uniform': uniform in [lo, hi];
    - 'log': magnitude 10**u with u uniform in [lo, hi] (never below the smallest subnormal);
    - 'integers': a whole number in [lo, hi], uniformly.
    For the last three, `sign` +1 keeps the drawn number, -1 negates it, 0 negates half of them.
    A whole-number draw is written as an int with chance `ints` (see `as_drawn`)."""

    law: str
    lo: float = 0.0
    hi: float = 0.0
    values: tuple[float, ...] = ()
    sign: int = 1
    ints: float = 0.0

    def draw(self, rng: random.Random) -> float | int:
        if self.law == "values":
            x = rng.choice(self.values)
        else:
            if self.law == "uniform":
                x = rng.uniform(self.lo, self.hi)
            elif self.law == "log":
                x = max(SMALLEST_SUBNORMAL, 10.0 ** rng.uniform(self.lo, self.hi))
            else:
                x = float(rng.randint(int(self.lo), int(self.hi)))
            if self.sign < 0 or (self.sign == 0 and rng.random() < 0.5):
                x = -x
        return as_drawn(x, rng, self.ints)

    def contains(self, x: float) -> bool:
        """x is a value this span draws (an existing node may serve as the operand)."""
        if not math.isfinite(x):
            return False
        if self.law == "values":
            return any(x == v for v in self.values)
        if self.sign < 0:
            x = -x
        elif self.sign == 0:
            x = abs(x)
        if self.law == "uniform":
            return self.lo <= x <= self.hi
        if self.law == "log":
            return max(SMALLEST_SUBNORMAL, 10.0**self.lo) <= x <= 10.0**self.hi
        return float(x).is_integer() and self.lo <= x <= self.hi


@dataclass(frozen=True)
class Region:
    """Where one op's bugs live, and how a sampler draws an op there.

    `operands` has one entry per operand as spelled (a, then b): a Span to draw it from, or None
    for any variable (an ordinary pick). A variable operand with a span is an existing node whose
    value lies in it, or a new input drawn from it; a constant ('c' in the form) is drawn from its
    span. `same`: both operands are one node (`a - a`). `either_side`: a 'vv' region's span
    operand may be spelled on the left or the right. `finite_partials`: the op's local derivatives
    must be finite too (False only where the value is the point: log of the smallest subnormals,
    whose slope 1/x overflows)."""

    name: str
    form: str
    weight: float  # the chance that one draw of the op is drawn in this region
    operands: tuple[Span | None, ...]
    same: bool = False
    either_side: bool = False
    finite_partials: bool = True
    note: str = ""


@dataclass(frozen=True)
class DeepGraphs:
    """A share of graphs that are long chains: min_ops..max_ops ops, each op's operand most often
    the newest node (micrograd's recursive topological sort dies at depth ~1,000; ordinary graphs
    of <= 30 ops are at most 28 deep). Their ops are drawn ordinarily, in no region: a deep
    graph is about depth, and its values stay moderate."""

    share: float
    min_ops: int
    max_ops: int
    newest: float  # chance that an operand is the newest node


# 240 ops at most: with the adds that fold loose ends in, a deep graph fits a tape of 256 steps (one
# compiled JAX interpreter for them all; reference.jax_ref runs them one at a time).
DEEP_GRAPHS = DeepGraphs(share=0.005, min_ops=100, max_ops=240, newest=0.95)
# New inputs that region draws may add to a graph, beyond the config's max_inputs.
REGION_INPUTS = 3
REGION_WEIGHT = 0.015  # the usual weight: each region gets ~1.5% of its op's draws

# A fraction of sin's and cos's period (2 pi) small enough for a central difference and its
# Richardson step to follow the curve (truncation ~ h**2/6 of the slope at 0.1).
FD_REACH_PERIODIC = 0.1
HUGE = Span("log", 290.0, 300.0, sign=0)  # |x| in 1e290..1e300
# |x| in 1e-307..1e-290: normal floats (JAX on CPU flushes subnormals to 0; log has its own).
TINY = Span("log", -307.0, -290.0, sign=0)


@dataclass(frozen=True)
class Kink:
    """A point where the op is continuous but not differentiable, and the convention used there."""

    operand: int  # which operand (0 = a, 1 = b)
    at: float  # the operand value of the kink
    derivative: float  # the conventional derivative wrt that operand exactly at the kink
    note: str
    # Other derivatives engines choose there, each a convention rather than a bug (relu'(0) = 1,
    # the mean 0.5); anything else at the kink is a bug.
    alternatives: tuple[float, ...] = ()


@dataclass(frozen=True)
class Outside:
    """A point outside the op's domain or past float64's range. The reference follows Python's
    floats and raises there; IEEE 754 arithmetic (numpy, C) gives `ieee` instead. What an engine
    does here is a convention (fuzz.conventions), judged by explicit cases, never by random graphs.
    """

    convention: str  # the convention's name, shared by the points of several ops
    form: str
    operands: tuple[float | int, ...]  # as spelled: (a,) or (a, b); 'c' operands are constants
    ieee: float  # nan, inf or -inf


@dataclass(frozen=True)
class Unstable:
    """Operands where float64 cannot compute a local partial that exists: reference.compare judges
    no gradient through such a node. `where` is an expression in `a`, `b` as Op.domain's are;
    `why` is said to the user, formatted with a and b."""

    form: str
    where: str
    why: str


@dataclass(frozen=True)
class Extreme:
    """Operands at the edges of float64 where the exact value is still a finite float (tanh(1000),
    exp(700), log(5e-324)): the battery evaluates the op once at each. (A local derivative past
    float64's range, log's at 5e-324, is not judged: reference.compare sets it aside.)"""

    form: str
    operands: tuple[float | int, ...]  # as spelled: (a,) or (a, b); 'c' operands are constants


@dataclass(frozen=True, eq=False)
class Op:
    """One op. Callables take operands positionally as spelled (a = left operand)."""

    name: str
    arity: int
    forms: tuple[str, ...]
    spellings: Mapping[str, str]  # form -> template with {a} and {b}, e.g. '{a} + {b}'
    call: Callable[..., Any]  # the Python spelling on objects: operator.add, methodcaller('tanh')
    forward: Callable[..., Any]  # forward(lib, a, b=None) -> value
    grads: tuple[Callable[..., Any], ...]  # per operand: grad(lib, a, b, out) -> d out / d operand
    doc: str
    domain_doc: str
    derivative_doc: str
    kinks: tuple[Kink, ...] = ()
    # Operand values where the domain ends or the op has a pole: (operand, value). Finite-difference
    # stencils must not cross these (nor kinks).
    edges: tuple[tuple[int, float], ...] = ()
    regions: tuple[Region, ...] = ()  # where bugs live; see the module docstring
    outside: tuple[Outside, ...] = ()  # where raising, nan and inf are conventions
    extremes: tuple[Extreme, ...] = ()  # where float64 is strained but the answer is finite
    unstable: tuple[Unstable, ...] = ()  # where float64 cannot compute a local partial
    # The farthest a finite-difference stencil may move this op's operand (None: no limit beyond
    # the step's own scaling). A periodic op repeats itself: a step scaled to a huge input (6 at
    # x = 1e6) spans a period, and the difference quotient says nothing of the slope.
    fd_reach: float | None = None
    # A method op's names in engines people publish, its own (micrograd's) first: the candidates
    # fuzz.spellings detects (`a.ln()` for log). Empty for an op spelled with an operator.
    method_names: tuple[str, ...] = ()
    # The math domain beyond finite operands (see in_domain), per form: a Python expression in
    # `a`, `b`, comparisons, `&`, `|` and `is_integer(x)`, which evaluates alike on floats, on
    # jax.numpy arrays (reference.jax_ref) and in the compiled sampler (fuzz.sampler_kernel's
    # generated table). Key '*' is every form; no entry: every real.
    domain: Mapping[str, str] = field(default_factory=dict)
    draws: str = "real"  # how operands are drawn inside the domain: a name in SAMPLERS
    # exp and pow: a 0.0 result is an underflow (the exact value is not 0), not an exact zero.
    zero_underflows: bool = False
    # Per operand: a floor under |partial| where the partial's own rounding error exceeds it
    # (reference.compare): '1' (tanh's 1 - t*t is computed from terms of size 1), 'out' (|out|).
    partial_floors: tuple[str, ...] = ()
    # The exceptions the README op table promises where an operand sits at a domain edge.
    edge_errors: tuple[str, ...] = ()
    # A unary op whose deep chains need their inverse between steps to stay bounded (exp: log).
    chain_partner: str = ""
    # add and sub: the value itself may cancel (x - y ~ 0); pow: x ** x's two partials may.
    value_cancels: bool = False
    partials_cancel: bool = False

    def __post_init__(self) -> None:
        exprs = dict(self.domain)
        fns = {
            form: eval(f"lambda a, b: {exprs.get(form, exprs.get('*', 'True'))}", _DOMAIN_NAMES)
            for form in self.forms
        }
        object.__setattr__(self, "_domain_fns", fns)
        checks = [(u, eval(f"lambda a, b: {u.where}", _DOMAIN_NAMES)) for u in self.unstable]
        object.__setattr__(self, "_unstable_fns", checks)
        object.__setattr__(self, "sampler", SAMPLERS[self.draws])

    def unstable_partial(self, form: str, a: float, b: float | None = None) -> str:
        """Why float64 cannot compute a local partial at these operands ('' if it can)."""
        for u, where in self._unstable_fns:  # type: ignore[attr-defined]
            if u.form == form and where(a, b):
                return u.why.format(a=a, b=b)
        return ""

    def domain_expr(self, form: str) -> str:
        """The domain's expression for a form ('True': every real)."""
        return self.domain.get(form, self.domain.get("*", "True"))

    def spell(self, form: str, a: str, b: str = "", *, method: str | None = None) -> str:
        """The op as source text; `method` is an engine's name for a method op (`a.ln()`)."""
        if method is not None and method != self.name:
            return f"{a}.{self._method(method)}()"
        return self.spellings[form].format(a=a, b=b)

    def call_as(self, method: str | None) -> Callable[..., Any]:
        """`call`, or the engine's method of that name for a method op (`methodcaller('ln')`)."""
        if method is None or method == self.name:
            return self.call
        return operator.methodcaller(self._method(method))

    def _method(self, method: str) -> str:
        if not self.method_names:
            raise ValueError(f"{self.name} is an operator: it has no method name to change")
        return method

    def in_domain(self, form: str, a: float, b: float | None = None) -> bool:
        """True if the value and every needed derivative (per the conventions) are finite reals.

        Operands must be finite. Float overflow is ignored here (FLOAT raises OverflowError for it;
        see `float_ok`). For 'vc'/'cv' the derivative wrt the constant is not needed: (-2)**3 is in
        the domain of a**k but not of a**b.
        """
        if not math.isfinite(a) or (b is not None and not math.isfinite(b)):
            return False
        return bool(self._domain_fns[form](a, b))  # type: ignore[attr-defined]

    def float_ok(self, form: str, a: float, b: float | None = None) -> bool:
        """in_domain, and the FLOAT value and needed partials are finite (no overflow)."""
        from gradoracle.reference.libs import FLOAT

        if not self.in_domain(form, a, b):
            return False
        try:
            out = self.forward(FLOAT, a, b)
            parts = self.partials(FLOAT, form, a, b, out)
        except ArithmeticError:
            return False
        return math.isfinite(out) and all(p is None or math.isfinite(p) for p in parts)

    def draw(
        self, form: str, rng: random.Random, slot: int = 0, other: float | None = None
    ) -> float | None:
        """A valid value for operand `slot` of this form, given the other operand's value if known.

        in_domain holds for the pair by construction. None when no value works for `other`
        (only a**b with a <= 0 given).
        """
        return self.sampler(form, rng, slot, other)  # type: ignore[attr-defined]

    def partials(
        self, lib: Lib, form: str, a: Any, b: Any = None, out: Any = None
    ) -> tuple[Any, ...]:
        """Local derivatives per operand (None for constant operands), following the conventions."""
        if out is None:
            out = self.forward(lib, a, b)
        return tuple(
            None if f == "c" else grad(lib, a, b, out) for f, grad in zip(form, self.grads)
        )

    @property
    def breakpoints(self) -> tuple[tuple[int, float], ...]:
        """Kinks and domain edges, as (operand, value) pairs."""
        return tuple((k.operand, k.at) for k in self.kinks) + self.edges


# ---- sampling helpers -------------------------------------------------------------------------


def draw_real(rng: random.Random) -> float:
    """A moderate real: mostly O(1), some integers and specials, some magnitudes 1e-3..1e3."""
    r = rng.random()
    if r < 0.6:
        return rng.uniform(-3.0, 3.0)
    if r < 0.75:
        return float(rng.randint(-3, 3))
    if r < 0.95:
        return rng.choice((-1.0, 1.0)) * 10.0 ** rng.uniform(-3.0, 3.0)
    return rng.choice(_SPECIAL)


def draw_nonzero(rng: random.Random) -> float:
    x = draw_real(rng)
    return x if abs(x) >= 1e-3 else rng.choice((-1.0, 1.0)) * rng.uniform(0.1, 3.0)


def draw_positive(rng: random.Random) -> float:
    return abs(draw_nonzero(rng))


def _real_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return draw_real(rng)


def _integral(x: float) -> bool:
    """x is a finite whole number (a float or an int)."""
    return math.isfinite(x) and float(x).is_integer()


def as_drawn(x: float, rng: random.Random, rate: float) -> float | int:
    """x as a sampler writes it: a whole number of moderate size is an `int` with chance `rate`
    (`x ** 2`, `Value(2)`), anything else the float. Draws stay floats: int-ness is a second
    choice, made where a number becomes a leaf or a constant."""
    if rate > 0 and _integral(x) and abs(x) <= INT_LIMIT and rng.random() < rate:
        return int(x)
    return x


def _fits(base: float, exponent: float) -> bool:
    """|exponent * log|base|| is small enough that base**exponent stays moderate."""
    return base == 0 or abs(exponent * math.log(abs(base))) <= POW_LOG_LIMIT


# ---- per-op domains and samplers ----------------------------------------------------------------


def _div_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return draw_nonzero(rng) if slot == 1 else draw_real(rng)


def _positive_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return draw_positive(rng)


def _exp_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return max(-EXP_ARG_LIMIT, min(EXP_ARG_LIMIT, draw_real(rng)))


def _pow_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float | None:
    if form == "vc" and slot == 1:  # the constant exponent k, given the base a
        if other is None or other > 0:
            k = rng.choice(_EXPONENTS) if rng.random() < 0.7 else rng.uniform(-3.0, 3.0)
        elif other < 0:
            k = float(rng.randint(-3, 3))
        else:
            k = float(rng.randint(1, 3))
        return k if other is None or _fits(other, k) else 1.0  # a**1 is valid for every a
    if form == "vc":  # the base a, given the exponent k
        if other is None:
            return draw_real(rng)
        if _integral(other):
            a = draw_real(rng) if other >= 1 else draw_nonzero(rng)
        else:
            a = draw_positive(rng)
        return a if _fits(a, other) else rng.choice((-1.0, 1.0)) if _integral(other) else 1.0
    if slot == 0:  # the base (constant k of k**a, or a of a**b) must be positive
        base = rng.choice(_BASES) if form == "cv" and rng.random() < 0.5 else draw_positive(rng)
        return base if other is None or _fits(base, other) else 1.0
    if other is not None and not other > 0:
        return None  # no exponent makes base**exponent differentiable wrt the exponent
    exponent = draw_real(rng)
    return exponent if other is None or _fits(other, exponent) else rng.uniform(-1.0, 1.0)


# How an op's operands are drawn (Op.draws): a fixed vocabulary, written once more for numba in
# fuzz.sampler_kernel.draw (numbered in this order; tests/fuzz/test_sampler.py compares the two).
SAMPLERS: dict[str, Draw] = {
    "real": _real_sampler,
    "divisor": _div_sampler,  # b != 0
    "positive": _positive_sampler,
    "exp_arg": _exp_sampler,  # |a| <= EXP_ARG_LIMIT
    "pow": _pow_sampler,
}
# What a domain expression (Op.domain) may name besides a and b.
_DOMAIN_NAMES: dict[str, Any] = {"is_integer": _integral, "abs": abs}


# ---- sampling regions ----------------------------------------------------------------------------

W = REGION_WEIGHT


def _magnitudes(*, divisor: bool = False) -> tuple[Region, ...]:
    """Huge and tiny operands of a binary op, on either side (1e300 and 1e-300 leaves)."""
    return (
        Region("huge operand", "vv", W, (HUGE, None), either_side=True,
               note="float32 storage overflows, products of huge numbers"),
        Region("tiny operand", "vv", W, (TINY, None), either_side=True,
               note="float32 storage and flush-to-zero lose them"),
    )  # fmt: skip


_SAME = Region("same operand", "vv", W, (None, None), same=True,
               note="a - a and a / a: contributions that cancel exactly")  # fmt: skip
_SATURATED = (
    Region("saturated", "v", W, (Span("log", math.log10(20.0), 3.0, sign=0),),
           note="exp(2x) or exp(-x) of naive formulas overflows from x ~ 355"),
    Region("far beyond", "v", W, (Span("log", 3.0, 300.0, sign=0),),
           note="the answer is finite, naive formulas overflow"),
)  # fmt: skip
ADD_REGIONS = _magnitudes()
SUB_REGIONS = (_SAME, _magnitudes()[0])
MUL_REGIONS = _magnitudes()
DIV_REGIONS = (
    _SAME,
    Region("huge numerator", "vv", W, (HUGE, None)),
    Region("huge divisor", "vv", W, (None, HUGE), note="the quotient and d/db underflow"),
    Region("tiny numerator", "vv", W, (TINY, None)),
)
POW_REGIONS = (
    Region("base 0", "vc", W,
           (Span("values", values=(0.0,), ints=0.5),
            Span("values", values=(1.0, 2.0, 3.0, 1.5, 2.5), ints=0.5)),
           note="0 ** k: a power rule written as k*out/a gives 0/0 = NaN"),
    Region("negative base", "vc", W,
           (Span("uniform", 0.1, 3.0, sign=-1), Span("integers", -3.0, 3.0, ints=0.5)),
           note="(-2) ** 3: exp(k*log(a)) fails; int and float exponents"),
)  # fmt: skip
RELU_REGIONS = (
    Region("at 0", "v", W, (Span("values", values=(0.0, -0.0), ints=0.5),),
           note="the kink itself: relu'(0) = 0"),
    Region("just above 0", "v", W, (Span("log", -300.0, -3.0, sign=1),)),
    Region("just below 0", "v", W, (Span("log", -300.0, -3.0, sign=-1),)),
)  # fmt: skip
EXP_REGIONS = (
    Region("large", "v", W, (Span("uniform", 14.0, 700.0),)),
    Region("overflow edge", "v", W, (Span("uniform", 700.0, 709.78),),
           note="exp(709.78) is 1.8e308, the largest finite exp"),
    Region("underflow", "v", W, (Span("uniform", -760.0, -700.0),),
           note="exp(-745) is the smallest subnormal; below, 0.0"),
)  # fmt: skip
LOG_REGIONS = (
    Region("near 1e-10", "v", W, (Span("log", -11.0, -9.0),),
           note="a published engine clamps log's argument at 1e-10"),
    Region("tiny", "v", W, (Span("log", -307.5, -100.0),)),
    Region("subnormal", "v", W,
           (Span("log", math.log10(SMALLEST_INVERTIBLE), math.log10(SMALLEST_NORMAL)),),
           note="flush-to-zero makes them 0; the slope 1/x is still finite"),
    Region("smallest subnormals", "v", W / 2,
           (Span("log", math.log10(SMALLEST_SUBNORMAL), math.log10(SMALLEST_INVERTIBLE)),),
           finite_partials=False, note="the value is finite, the slope 1/x overflows"),
)  # fmt: skip


# sin and cos: values stay in [-1, 1], but an argument must be reduced modulo 2*pi exactly (x87's
# fsin, float32 storage and naive reductions x - 2*pi*round(x / (2*pi)) lose every digit at 1e22),
# and near a zero of the value (multiples of pi for sin) only the exact float argument gives it.
_HUGE_ARGUMENT = Region(
    "huge argument",
    "v",
    W,
    (Span("log", 5.0, 300.0, sign=0),),
    note="range reduction: sin(1e22) = -0.852, a naive one gets anything",
)
SIN_REGIONS = (
    _HUGE_ARGUMENT,
    Region(
        "multiple of pi",
        "v",
        W,
        (Span("values", values=(math.pi, -math.pi, 2 * math.pi, 100 * math.pi, 1e6 * math.pi)),),
        note="sin(pi) is 1.2246e-16 (the float pi is not pi); d/da = cos(a) = -1",
    ),
)
COS_REGIONS = (
    _HUGE_ARGUMENT,
    Region("odd multiple of pi/2", "v", W,
           (Span("values", values=(math.pi / 2, -math.pi / 2, 3 * math.pi / 2, 1e6 * math.pi)),),
           note="cos(pi/2) is 6.1232e-17, not 0; d/da = -sin(a) = -1 (and cos(1e6 pi) = 1)"),
)  # fmt: skip


SQRT_REGIONS = (
    Region("tiny", "v", W, (Span("log", -300.0, -3.0),),
           note="the slope 0.5/sqrt(a) is huge but finite (5e149 at 1e-300)"),
    Region("huge", "v", W, (Span("log", 100.0, 300.0),),
           note="sqrt(1e300) = 1e150: a ** 0.5 via exp(0.5*log(a)) loses digits"),
)  # fmt: skip


ABS_REGIONS = (
    Region("at 0", "v", W, (Span("values", values=(0.0, -0.0), ints=0.5),),
           note="the kink itself: abs'(0) = 0"),
    Region("just above 0", "v", W, (Span("log", -300.0, -3.0, sign=1),)),
    Region("just below 0", "v", W, (Span("log", -300.0, -3.0, sign=-1),),
           note="abs'(a) = -1: a slope of 1 everywhere (abs as max(a, -a) done wrong) shows"),
)  # fmt: skip


# ---- the registry --------------------------------------------------------------------------------


def _const(value: float) -> Callable[..., float]:
    return lambda lib, a, b, out: value


def _sech2(lib: Lib, a: Any, b: Any, out: Any) -> Any:
    return lib.sech2(a)  # = 1 - tanh(a)**2, computed without cancellation


def _binary(
    name: str,
    symbol: str,
    fn: Callable[..., Any],
    forward: Callable[..., Any],
    grads: tuple[Callable[..., Any], ...],
    doc: str,
    domain_doc: str,
    derivative_doc: str,
    **kw: Any,
) -> Op:
    template = "{a} " + symbol + " {b}"
    return Op(
        name=name,
        arity=2,
        forms=BINARY_FORMS,
        spellings=dict.fromkeys(BINARY_FORMS, template),
        call=fn,
        forward=forward,
        grads=grads,
        doc=doc,
        domain_doc=domain_doc,
        derivative_doc=derivative_doc,
        **kw,
    )


def _unary_extremes(*operands: float) -> tuple[Extreme, ...]:
    return tuple(Extreme("v", (x,)) for x in operands)


def _unary(
    name: str,
    forward: Callable[..., Any],
    grad: Callable[..., Any],
    doc: str,
    derivative_doc: str,
    *,
    other_names: tuple[str, ...] = (),
    spelled: tuple[str, Callable[..., Any]] | None = None,
    **kw: Any,
) -> Op:
    """A unary op: the method `a.<name>()`, or an operator `spelled` as (template, call): `-a`,
    `abs(a)`. A method op's candidate names (Op.method_names) are its own, its capitalised and
    upper-case forms, then `other_names`; an operator has none."""
    names: tuple[str, ...] = ()
    if spelled is not None:
        spelling, fn = spelled
    else:
        spelling, fn = "{a}." + name + "()", operator.methodcaller(name)
        names = (name, name.capitalize(), name.upper(), *other_names)
    return Op(
        name=name,
        arity=1,
        forms=UNARY_FORMS,
        spellings={"v": spelling},
        call=fn,
        forward=forward,
        grads=(grad,),
        doc=doc,
        derivative_doc=derivative_doc,
        domain_doc=kw.pop("domain_doc", "all reals"),
        method_names=tuple(dict.fromkeys(names)),
        **kw,
    )


_REGISTRY: tuple[Op, ...] = (
    _binary(
        "add",
        "+",
        operator.add,
        lambda lib, a, b=None: lib.add(a, b),
        (_const(1.0), _const(1.0)),
        "sum",
        "all reals",
        "d/da = 1, d/db = 1",
        regions=ADD_REGIONS,
        value_cancels=True,
    ),
    _binary(
        "sub",
        "-",
        operator.sub,
        lambda lib, a, b=None: lib.sub(a, b),
        (_const(1.0), _const(-1.0)),
        "difference",
        "all reals",
        "d/da = 1, d/db = -1",
        regions=SUB_REGIONS,
        value_cancels=True,
    ),
    _binary(
        "mul",
        "*",
        operator.mul,
        lambda lib, a, b=None: lib.mul(a, b),
        (lambda lib, a, b, out: b, lambda lib, a, b, out: a),
        "product",
        "all reals",
        "d/da = b, d/db = a",
        regions=MUL_REGIONS,
    ),
    _binary(
        "div",
        "/",
        operator.truediv,
        lambda lib, a, b=None: lib.div(a, b),
        (lambda lib, a, b, out: lib.div(1.0, b), lambda lib, a, b, out: lib.neg(lib.div(out, b))),
        "quotient",
        "b != 0 (ZeroDivisionError)",
        "d/da = 1/b, d/db = -a/b**2",
        domain={"*": "b != 0"},
        draws="divisor",
        edge_errors=("ZeroDivisionError",),
        edges=((1, 0.0),),
        outside=(
            Outside("division-by-zero", "vc", (1.0, 0.0), math.inf),
            Outside("division-by-zero", "vv", (-1.0, 0.0), -math.inf),
            Outside("division-by-zero", "vc", (0.0, 0.0), math.nan),
        ),
        regions=DIV_REGIONS,
    ),
    _unary(
        "neg",
        lambda lib, a, b=None: lib.neg(a),
        _const(-1.0),
        "negation",
        "-1",
        spelled=("-{a}", operator.neg),
    ),
    Op(
        name="pow",
        arity=2,
        forms=("vc", "cv", "vv"),
        spellings=dict.fromkeys(("vc", "cv", "vv"), "{a} ** {b}"),
        call=operator.pow,
        forward=lambda lib, a, b=None: lib.pow(a, b),
        grads=(
            lambda lib, a, b, out: lib.mul(b, lib.pow(a, lib.sub(b, 1.0))),
            lambda lib, a, b, out: lib.mul(lib.log(a), out),
        ),
        # a**k: d/da = k*a**(k-1) must be a finite real; k**a and a**b: d/d(exponent) =
        # log(base)*base**exponent needs base > 0.
        domain={
            "vc": "(a > 0) | ((a == 0) & (b >= 1)) | ((a < 0) & is_integer(b))",
            "*": "a > 0",
        },
        draws="pow",
        zero_underflows=True,
        partial_floors=("", "out"),
        edge_errors=("ValueError", "ZeroDivisionError"),
        partials_cancel=True,
        # d(a ** k)/da at a < 0 is k * a ** (k - 1), whose sign is the parity of k - 1, lost at
        # |k| >= 2**53, where every float64 is an even integer (k - 1 rounds to an even k): a
        # correct engine computing k * a ** (k - 1) gets -1e300 at (-1.0) ** -1e300, one
        # computing k * out / a, and JAX, +1e300.
        unstable=(
            Unstable(
                "vc",
                "(a < 0) & (abs(b) >= 2.0**53)",
                "pow's derivative at a negative base needs the parity of {b!r} - 1",
            ),
        ),
        edges=((0, 0.0),),
        outside=(
            Outside("pow-domain", "vc", (0.0, -1), math.inf),
            Outside("pow-domain", "vc", (0.0, -1.0), math.inf),
            Outside("pow-domain", "vc", (-8.0, 0.5), math.nan),
            Outside("overflow", "vc", (10.0, 400), math.inf),
            Outside("overflow", "cv", (10.0, 400.0), math.inf),
        ),
        extremes=(  # 0 ** 2 (slope 0), and negative bases with integer exponents
            Extreme("vc", (0.0, 2)),
            Extreme("vc", (0.0, 2.0)),
            Extreme("vc", (-2.0, 3)),
            Extreme("vc", (-2.0, -1)),
        ),
        regions=POW_REGIONS,
        doc="power: a**k (constant exponent), k**a (constant base), a**b",
        domain_doc="a**k: a > 0, or a < 0 with integer k, or a == 0 with k >= 1; "
        "k**a: k > 0; a**b: a > 0 (else ValueError/ZeroDivisionError; overflow OverflowError)",
        derivative_doc="d(a**k)/da = k*a**(k-1); d(k**a)/da = log(k)*k**a; "
        "d(a**b)/da = b*a**(b-1), d(a**b)/db = log(a)*a**b",
    ),
    _unary(
        "tanh",
        lambda lib, a, b=None: lib.tanh(a),
        _sech2,
        "hyperbolic tangent, stable for every finite input",
        "1 - tanh(a)**2",
        regions=_SATURATED,
        partial_floors=("1",),
        extremes=_unary_extremes(1000.0, -1000.0, 1e-10),
    ),
    _unary(
        "exp",
        lambda lib, a, b=None: lib.exp(a),
        lambda lib, a, b, out: out,
        "exponential",
        "exp(a)",
        other_names=("exponential",),
        domain_doc="all reals (OverflowError above ~709.78)",
        draws="exp_arg",
        zero_underflows=True,
        chain_partner="log",
        outside=(Outside("overflow", "v", (1000.0,), math.inf),),
        extremes=_unary_extremes(700.0, -1000.0),
        regions=EXP_REGIONS,
    ),
    _unary(
        "log",
        lambda lib, a, b=None: lib.log(a),
        lambda lib, a, b, out: lib.div(1.0, a),
        "natural logarithm",
        "1/a",
        other_names=("ln", "Ln"),
        domain_doc="a > 0 (ValueError)",
        domain={"*": "a > 0"},
        draws="positive",
        edge_errors=("ValueError",),
        chain_partner="exp",
        outside=(
            Outside("log-domain", "v", (0.0,), -math.inf),
            Outside("log-domain", "v", (-1.0,), math.nan),
        ),
        extremes=_unary_extremes(1e-300, 5e-324),
        edges=((0, 0.0),),
        regions=LOG_REGIONS,
    ),
    _unary(
        "relu",
        lambda lib, a, b=None: lib.relu(a),
        lambda lib, a, b, out: lib.step(a),
        "max(a, 0)",
        "1 if a > 0 else 0",
        other_names=("reLU", "ReLU", "ReLu"),
        kinks=(
            Kink(
                0,
                0.0,
                0.0,
                "relu'(0) = 0, like micrograd, PyTorch and jax.nn.relu "
                "(jnp.maximum(x, 0) gives 0.5)",
                alternatives=(1.0, 0.5),
            ),
        ),
        regions=RELU_REGIONS,
    ),
    _unary(
        "sigmoid",
        lambda lib, a, b=None: lib.sigmoid(a),
        lambda lib, a, b, out: lib.mul(out, lib.sigmoid(lib.neg(a))),  # s*(1-s), no cancellation
        "logistic 1/(1 + exp(-a)), stable for every finite input",
        "s*(1 - s), s = sigmoid(a)",
        regions=_SATURATED,
        partial_floors=("out",),
        extremes=_unary_extremes(1000.0, -1000.0),
        other_names=("sigmod",),
    ),
    _unary(
        "sin",
        lambda lib, a, b=None: lib.sin(a),
        lambda lib, a, b, out: lib.cos(a),
        "sine (a in radians; exact range reduction: sin(1e22) is -0.8522008497671888)",
        "cos(a)",
        other_names=("sine",),
        regions=SIN_REGIONS,
        extremes=_unary_extremes(1e22, 1e-300),
        fd_reach=FD_REACH_PERIODIC,
    ),
    _unary(
        "cos",
        lambda lib, a, b=None: lib.cos(a),
        lambda lib, a, b, out: lib.neg(lib.sin(a)),
        "cosine (a in radians; exact range reduction, as sin)",
        "-sin(a)",
        other_names=("cosine",),
        regions=COS_REGIONS,
        extremes=_unary_extremes(1e22, 1e-300),
        fd_reach=FD_REACH_PERIODIC,
    ),
    # sqrt at 0: the value is 0 and the slope vertical. Our engine's local derivative there is inf
    # (as for x ** 0.5, and PyTorch's): backward does not raise, the leaf's grad becomes inf (nan
    # if the upstream gradient is 0). The comparator sets sqrt at 0 aside like log at 0 (`edges`:
    # not comparable, never passed or failed); below 0 is outside the domain (`sqrt-domain`).
    _unary(
        "sqrt",
        lambda lib, a, b=None: lib.sqrt(a),
        lambda lib, a, b, out: lib.div(0.5, out),
        "square root",
        "1/(2*sqrt(a)); at 0 the slope is vertical (our engine: inf; not comparable)",
        other_names=("square_root",),
        domain_doc="a >= 0 (ValueError)",
        domain={"*": "a >= 0"},
        draws="positive",
        edges=((0, 0.0),),
        edge_errors=("ValueError",),
        outside=(Outside("sqrt-domain", "v", (-1.0,), math.nan),),
        extremes=_unary_extremes(5e-324, 1e300),
        regions=SQRT_REGIONS,
    ),
    # abs: the kink at 0 takes PyTorch's abs'(0) = 0 (sign(0) = 0), written out in every lib (JAX's
    # too, not left to jnp.abs's rule). Engines that branch on `x >= 0` give 1, on `x > 0` -1.
    _unary(
        "abs",
        lambda lib, a, b=None: lib.abs(a),
        lambda lib, a, b, out: lib.sign(a),
        "absolute value (Python's abs(), the __abs__ operator)",
        "1 if a > 0, -1 if a < 0, 0 at 0",
        spelled=("abs({a})", operator.abs),
        kinks=(
            Kink(
                0,
                0.0,
                0.0,
                "abs'(0) = 0, like PyTorch (sign(0) = 0); engines branching on x >= 0 give 1, "
                "on x > 0 give -1",
                alternatives=(1.0, -1.0),
            ),
        ),
        regions=ABS_REGIONS,
        extremes=_unary_extremes(-1e300, 5e-324),
    ),
)

OPS: dict[str, Op] = {op.name: op for op in _REGISTRY}


def get_op(op: Op | str) -> Op:
    """The registry entry for a name (KeyError naming the op and the known ops otherwise)."""
    if isinstance(op, Op):
        return op
    try:
        return OPS[op]
    except KeyError:
        raise KeyError(f"unknown op {op!r}; known: {', '.join(OPS)}") from None


def apply(op: Op | str, form: str, a: Any, b: Any = None, *, method: str | None = None) -> Any:
    """Apply an op to arbitrary objects through its Python spelling (`a + b`, `a.tanh()`, ...);
    `method` is the engine's name for a method op (`a.ln()`), None for the op's own.

    This is how a Graph is built on any implementation's Value class; constants are passed as plain
    numbers in the position the form says.
    """
    entry = get_op(op)
    if form not in entry.forms:
        raise ValueError(f"{entry.name}: form {form!r} not in {entry.forms}")
    call = entry.call_as(method)
    return call(a, b) if entry.arity == 2 else call(a)


def calls_by_code(methods: Mapping[str, str] | None = None) -> tuple[Callable[..., Any], ...]:
    """Every op's call in registry order (an opcode indexes it), with an engine's method names
    (`methods`: op -> name) where given."""
    methods = methods or {}
    return tuple(op.call_as(methods.get(op.name)) for op in OPS.values())


def _example(op: Op, form: str) -> str:
    names = iter(("a", "b"))
    args = ["k" if f == "c" else next(names) for f in form]
    return op.spell(form, *args)


def readme_op_table() -> str:
    """The README op table (markdown), generated from the registry."""
    rows = [
        "| op | spellings | meaning | domain | derivative | kink convention |",
        "|---|---|---|---|---|---|",
    ]
    for op in OPS.values():
        spellings = ", ".join(f"`{_example(op, f)}`" for f in op.forms)
        kinks = "; ".join(k.note for k in op.kinks) or "-"
        rows.append(
            f"| {op.name} | {spellings} | {op.doc} | {op.domain_doc} | "
            f"{op.derivative_doc} | {kinks} |"
        )
    return "\n".join(rows) + "\n"


def _span_doc(span: Span | None) -> str:
    if span is None:
        return "any node"
    if span.law == "values":
        shown = ", ".join(repr(v) for v in span.values)
    elif span.law == "log":
        lo, hi = max(SMALLEST_SUBNORMAL, 10.0**span.lo), 10.0**span.hi
        shown = f"{lo:.3g}..{hi:.3g} (log-uniform)"
    else:
        shown = f"{span.lo:g}..{span.hi:g}"
    sign = {1: "", -1: "-(", 0: "+-("}[span.sign] if span.law != "values" else ""
    shown = f"{sign}{shown})" if sign else shown
    return shown + (" (int or float)" if span.ints else "")


def readme_region_table() -> str:
    """The README table of sampling regions (markdown), generated from the registry."""
    rows = ["| op | region | spelling | operands | weight | why |", "|---|---|---|---|---|---|"]
    for op in OPS.values():
        for r in op.regions:
            spelling = op.spell(r.form, "a", "a") if r.same else _example(op, r.form)
            if r.same:
                operands = "one node as both operands"
            else:
                names = iter(("a", "b"))
                parts = [
                    f"{'k' if f == 'c' else next(names)}: {_span_doc(s)}"
                    for f, s in zip(r.form, r.operands, strict=False)
                ]
                operands = "; ".join(parts) + (", either side" if r.either_side else "")
            rows.append(
                f"| {op.name} | {r.name} | `{spelling}` | {operands} | {r.weight:g} | "
                f"{r.note or '-'} |"
            )
    deep = DEEP_GRAPHS
    rows.append(
        f"| (graph) | deep | a chain | {deep.min_ops}-{deep.max_ops} ops, the newest node as "
        f"operand {deep.newest:.0%} of the time | {deep.share:g} of graphs | recursion limits "
        "and stale state in deep graphs |"
    )
    return "\n".join(rows) + "\n"
