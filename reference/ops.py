"""The op registry: one entry per op drives everything (like PyTorch's OpInfo).

An `Op` knows how it is spelled on a Value (and with a plain number on either side), its forward
formula written once against a math namespace `lib` (`reference.libs`: FLOAT, MP, JAX), its local
derivatives, its domain (a predicate plus a sampler that draws valid operands by construction), its
kinks with the derivative convention there, and the text of the README op table.

Forms say which operands are graph variables ('v') and which are plain-number constants ('c'):
unary ops have the single form 'v'; binary ops 'vv', 'vc' (constant on the right, `a + 2`) and 'cv'
(constant on the left, `2 + a`). For pow: 'vc' is a**k, 'cv' is k**a, 'vv' is a**b.
Operands are always passed positionally as spelled: in `forward(lib, a, b)` `a` is the left operand.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reference.libs import Lib

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


@dataclass(frozen=True)
class Kink:
    """A point where the op is continuous but not differentiable, and the convention used there."""

    operand: int  # which operand (0 = a, 1 = b)
    at: float  # the operand value of the kink
    derivative: float  # the conventional derivative wrt that operand exactly at the kink
    note: str


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
    domain: Callable[[str, float, float | None], bool]  # math domain; see in_domain
    sampler: Draw  # see draw
    doc: str
    domain_doc: str
    derivative_doc: str
    kinks: tuple[Kink, ...] = ()
    # Operand values where the domain ends or the op has a pole: (operand, value). Finite-difference
    # stencils must not cross these (nor kinks).
    edges: tuple[tuple[int, float], ...] = ()

    def spell(self, form: str, a: str, b: str = "") -> str:
        return self.spellings[form].format(a=a, b=b)

    def in_domain(self, form: str, a: float, b: float | None = None) -> bool:
        """True if the value and every needed derivative (per the conventions) are finite reals.

        Operands must be finite. Float overflow is ignored here (FLOAT raises OverflowError for it;
        see `float_ok`). For 'vc'/'cv' the derivative wrt the constant is not needed: (-2)**3 is in
        the domain of a**k but not of a**b.
        """
        if not math.isfinite(a) or (b is not None and not math.isfinite(b)):
            return False
        return self.domain(form, a, b)

    def float_ok(self, form: str, a: float, b: float | None = None) -> bool:
        """in_domain, and the FLOAT value and needed partials are finite (no overflow)."""
        from reference.libs import FLOAT

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
        return self.sampler(form, rng, slot, other)

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


def _always(form: str, a: float, b: float | None) -> bool:
    return True


def _div_domain(form: str, a: float, b: float | None) -> bool:
    return b != 0


def _div_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return draw_nonzero(rng) if slot == 1 else draw_real(rng)


def _log_domain(form: str, a: float, b: float | None) -> bool:
    return a > 0


def _positive_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return draw_positive(rng)


def _exp_sampler(form: str, rng: random.Random, slot: int, other: float | None) -> float:
    return max(-EXP_ARG_LIMIT, min(EXP_ARG_LIMIT, draw_real(rng)))


def _pow_domain(form: str, a: float, b: float | None) -> bool:
    assert b is not None
    if form == "vc":  # a**k: d/da = k*a**(k-1) must be a finite real
        if a > 0:
            return True
        if a == 0:
            return b >= 1
        return float(b).is_integer()  # (int.is_integer is Python 3.12's)
    return a > 0  # k**a and a**b: d/d(exponent) = log(base)*base**exponent needs base > 0


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
        domain=kw.pop("domain", _always),
        sampler=kw.pop("sampler", _real_sampler),
        **kw,
    )


def _unary(
    name: str,
    forward: Callable[..., Any],
    grad: Callable[..., Any],
    doc: str,
    derivative_doc: str,
    **kw: Any,
) -> Op:
    spelling = "-{a}" if name == "neg" else "{a}." + name + "()"
    fn = operator.neg if name == "neg" else operator.methodcaller(name)
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
        domain=kw.pop("domain", _always),
        sampler=kw.pop("sampler", _real_sampler),
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
        domain=_div_domain,
        sampler=_div_sampler,
        edges=((1, 0.0),),
    ),
    _unary("neg", lambda lib, a, b=None: lib.neg(a), _const(-1.0), "negation", "-1"),
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
        domain=_pow_domain,
        sampler=_pow_sampler,
        edges=((0, 0.0),),
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
    ),
    _unary(
        "exp",
        lambda lib, a, b=None: lib.exp(a),
        lambda lib, a, b, out: out,
        "exponential",
        "exp(a)",
        domain_doc="all reals (OverflowError above ~709.78)",
        sampler=_exp_sampler,
    ),
    _unary(
        "log",
        lambda lib, a, b=None: lib.log(a),
        lambda lib, a, b, out: lib.div(1.0, a),
        "natural logarithm",
        "1/a",
        domain_doc="a > 0 (ValueError)",
        domain=_log_domain,
        sampler=_positive_sampler,
        edges=((0, 0.0),),
    ),
    _unary(
        "relu",
        lambda lib, a, b=None: lib.relu(a),
        lambda lib, a, b, out: lib.step(a),
        "max(a, 0)",
        "1 if a > 0 else 0",
        kinks=(
            Kink(
                0,
                0.0,
                0.0,
                "relu'(0) = 0, like micrograd, PyTorch and jax.nn.relu "
                "(jnp.maximum(x, 0) gives 0.5)",
            ),
        ),
    ),
    _unary(
        "sigmoid",
        lambda lib, a, b=None: lib.sigmoid(a),
        lambda lib, a, b, out: lib.mul(out, lib.sigmoid(lib.neg(a))),  # s*(1-s), no cancellation
        "logistic 1/(1 + exp(-a)), stable for every finite input",
        "s*(1 - s), s = sigmoid(a)",
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


def apply(op: Op | str, form: str, a: Any, b: Any = None) -> Any:
    """Apply an op to arbitrary objects through its Python spelling (`a + b`, `a.tanh()`, ...).

    This is how a Graph is built on any implementation's Value class; constants are passed as plain
    numbers in the position the form says.
    """
    entry = get_op(op)
    if form not in entry.forms:
        raise ValueError(f"{entry.name}: form {form!r} not in {entry.forms}")
    return entry.call(a, b) if entry.arity == 2 else entry.call(a)


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
