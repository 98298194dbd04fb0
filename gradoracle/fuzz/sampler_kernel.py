"""The sampler's inner loop, compiled with numba: graphs drawn as flat tape lists, many per call.

A campaign must spend most of its CPU inside the implementation under test, and interpreted Python
cost about as much per sampled op as our engine spends per op; compiled, sampling costs ~0.1 us per
op. What is drawn is defined in Python, in fuzz.sampler: `op_result` says which operands fit an op,
and the registry's samplers (reference.ops) say how constants and fresh inputs are drawn. The ops
themselves (numbers, domains, values, local derivatives, kinks, which sampler draws them) are a
table generated from the registry into the GENERATED block below (`python -m gradoracle.generate
--write`); `fit_value` and `region_value` are op_result written once for any op of that table.
Only the vocabularies are written here by hand: the samplers of reference.ops.SAMPLERS (`draw`),
Span laws, and the few helpers the generated formulas call (`_div`, `_sigmoid`, ...): tests/fuzz/
test_sampler.py checks them against op_result and the registry's draws. numba keeps the compiled
loop on disk and recompiles when this file changes: the table lives in this file so that a changed
registry is a changed file (a constant imported below, from reference.ops, is not seen: after
changing one, run the generator with a changed table or touch this file).

Sampling regions (reference.ops.Region: where bugs live) come as tables that fuzz.sampler packs
from the registry (one row per span, one per region): this module interprets them and draws no
region of its own. A region's op passes `region_value` (op_result with moderate=False: in the
domain, value and local derivatives finite) instead of `fit_value`. Each region drawn is counted.

Leaves are written as float64 values plus an int8 flag per leaf: 1 where the leaf is a Python int
(`x ** 2`, `Value(2)`; reference.ops.as_drawn says which whole numbers are), which fuzz.sampler
turns into ints.

Random numbers come from xoshiro256** (state: four uint64 words, seeded by fuzz.sampler), so that a
stream is reproducible and independent of numpy's and numba's global generators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numba import njit

from gradoracle.reference.ops import (
    _BASES,
    _EXPONENTS,
    _SPECIAL,
    EXP_ARG_LIMIT,
    INT_LIMIT,
    POW_LOG_LIMIT,
)

# Intermediate values and local derivatives are kept below this magnitude: beyond it, float64
# round-off of a 30-op graph swamps the comparator's tight tolerance and the graph would be "not
# comparable".
MAGNITUDE_LIMIT = 1e6
# Non-zero results smaller than this are avoided too: exp and pow underflow to 0.0 in float64 long
# before the exact result stops mattering (172700 ** -172700), which makes float and exact disagree.
UNDERFLOW_LIMIT = 1e-100
# The sampler's distance from a kink: operands closer than this to one (relu at 0) are not drawn
# outside a kink's own region. (The comparator's kink margin is another quantity: each operand's
# own forward error, far smaller, so a sampled graph is never set aside for being near a kink.)
KINK_DISTANCE = 1e-3
# How many operand choices to try for one op before giving up on it.
ATTEMPTS = 8

# Operand forms (ops are numbered by OPCODES, in the generated table below).
V, VV, VC, CV = range(4)
FORMS = {"v": V, "vv": VV, "vc": VC, "cv": CV}
# Span laws (reference.ops.Span.law) and the columns of a span row: law, lo, hi, sign, ints,
# first value, number of values (of the flat values array), and the range the span's values lie in
# (for 'log': the magnitudes max(SMALLEST_SUBNORMAL, 10**lo) and 10**hi).
SPAN_LAWS = {"values": 0, "uniform": 1, "log": 2, "integers": 3}
SPAN_COLUMNS = 9
# Columns of a region row: op row in the plan, form, same, either side, finite partials, span of
# operand a, span of operand b (-1: any variable, or no operand).
REGION_COLUMNS = 7
SMALLEST_SUBNORMAL = 5e-324
# Rows of sample_batch's `layout` (one column per graph, so that one tolist() gives each row as a
# list), and the factor of a graph's op count in its shape key (above any node count).
LAYOUT_ROWS = 9
SHAPE_KEY = 1 << 32

_L, _U, _K = MAGNITUDE_LIMIT, UNDERFLOW_LIMIT, KINK_DISTANCE
_SPECIALS = np.array(_SPECIAL)
_EXPONENT_CHOICES = np.array(_EXPONENTS)
_BASE_CHOICES = np.array(_BASES)
_NAN = math.nan


# ---- random numbers ------------------------------------------------------------------------------


@njit(cache=True)
def _next(s: np.ndarray) -> np.uint64:
    """xoshiro256** (Blackman and Vigna): the next 64 random bits; `s` is updated in place."""
    s1 = s[1]
    x = s1 * np.uint64(5)
    result = ((x << np.uint64(7)) | (x >> np.uint64(57))) * np.uint64(9)
    t = s1 << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = (s[3] << np.uint64(45)) | (s[3] >> np.uint64(19))
    return result


@njit(cache=True)
def rnd(s: np.ndarray) -> float:
    """Uniform in [0, 1), 53 random bits."""
    return float(_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _below(s: np.ndarray, n: int) -> int:
    """Uniform in 0..n-1."""
    return min(int(rnd(s) * n), n - 1)


# ---- draws: reference.ops's samplers, NaN for None -----------------------------------------------


@njit(cache=True)
def draw_real(s: np.ndarray) -> float:
    """reference.ops.draw_real: mostly O(1), some integers and specials, some 1e-3..1e3."""
    r = rnd(s)
    if r < 0.6:
        return -3.0 + 6.0 * rnd(s)
    if r < 0.75:
        return float(_below(s, 7) - 3)
    if r < 0.95:
        sign = -1.0 if rnd(s) < 0.5 else 1.0
        return sign * 10.0 ** (-3.0 + 6.0 * rnd(s))
    return _SPECIALS[_below(s, len(_SPECIALS))]


@njit(cache=True)
def _draw_nonzero(s: np.ndarray) -> float:
    x = draw_real(s)
    if abs(x) >= 1e-3:
        return x
    sign = -1.0 if rnd(s) < 0.5 else 1.0
    return sign * (0.1 + 2.9 * rnd(s))


@njit(cache=True)
def _fits(base: float, exponent: float) -> bool:
    return base == 0.0 or abs(exponent * math.log(abs(base))) <= POW_LOG_LIMIT


@njit(cache=True)
def _is_integer(x: float) -> bool:
    # (not x == math.floor(x): numba's floor is an int64, undefined beyond 2**63, and LLVM may
    # then fold the comparison to False: (-1.0) ** 1e300 was refused once inlined.)
    return math.isfinite(x) and x % 1.0 == 0.0


is_integer = _is_integer  # the name the registry's domain expressions use (Op.domain)


@njit(cache=True, inline="always")
def as_int(s: np.ndarray, x: float, rate: float) -> bool:
    """reference.ops.as_drawn: whether x is written as an int (a random draw only for whole
    numbers)."""
    if rate > 0.0 and _is_integer(x) and abs(x) <= INT_LIMIT:
        return rnd(s) < rate
    return False


@njit(cache=True)
def _draw_pow(s: np.ndarray, form: int, slot: int, other: float, known: bool) -> float:
    if form == VC and slot == 1:  # the constant exponent k, given the base a
        if not known or other > 0:
            if rnd(s) < 0.7:
                k = _EXPONENT_CHOICES[_below(s, len(_EXPONENT_CHOICES))]
            else:
                k = -3.0 + 6.0 * rnd(s)
        elif other < 0:
            k = float(_below(s, 7) - 3)
        else:
            k = float(_below(s, 3) + 1)
        return k if not known or _fits(other, k) else 1.0
    if form == VC:  # the base a, given the exponent k
        if not known:
            return draw_real(s)
        if _is_integer(other):
            a = draw_real(s) if other >= 1 else _draw_nonzero(s)
        else:
            a = abs(_draw_nonzero(s))
        if _fits(a, other):
            return a
        if _is_integer(other):
            return -1.0 if rnd(s) < 0.5 else 1.0
        return 1.0
    if slot == 0:  # the base (constant k of k**a, or a of a**b) must be positive
        if form == CV and rnd(s) < 0.5:
            base = _BASE_CHOICES[_below(s, len(_BASE_CHOICES))]
        else:
            base = abs(_draw_nonzero(s))
        return base if not known or _fits(base, other) else 1.0
    if known and not other > 0:
        return _NAN  # no exponent makes base**exponent differentiable wrt the exponent
    exponent = draw_real(s)
    return exponent if not known or _fits(other, exponent) else -1.0 + 2.0 * rnd(s)


# reference.ops.SAMPLERS, in its order (OP_DRAWS names one per op).
DRAW_REAL, DRAW_DIVISOR, DRAW_POSITIVE, DRAW_EXP_ARG, DRAW_POW = range(5)


@njit(cache=True)
def draw(s: np.ndarray, code: int, form: int, slot: int, other: float, known: bool) -> float:
    """The registry's sampler of op `code`: a value for operand `slot` of `form`, given the other
    operand's value if `known`; NaN where the registry's sampler returns None."""
    sampler = OP_DRAWS[code]
    if sampler == DRAW_DIVISOR:
        return _draw_nonzero(s) if slot == 1 else draw_real(s)
    if sampler == DRAW_POSITIVE:
        return abs(_draw_nonzero(s))
    if sampler == DRAW_EXP_ARG:
        return max(-EXP_ARG_LIMIT, min(EXP_ARG_LIMIT, draw_real(s)))
    if sampler == DRAW_POW:
        return _draw_pow(s, form, slot, other, known)
    return draw_real(s)


# ---- region spans: reference.ops.Span.draw and .contains ----------------------------------------


@njit(cache=True)
def span_draw(s: np.ndarray, spans: np.ndarray, span_values: np.ndarray, i: int) -> float:
    """A value from span i (Span.draw without the int choice: see span_ints)."""
    law, lo, hi, sign = spans[i, 0], spans[i, 1], spans[i, 2], spans[i, 3]
    if law == 0.0:
        first, n = int(spans[i, 5]), int(spans[i, 6])
        return span_values[first + _below(s, n)]
    if law == 1.0:
        x = lo + (hi - lo) * rnd(s)
    elif law == 2.0:
        x = max(SMALLEST_SUBNORMAL, 10.0 ** (lo + (hi - lo) * rnd(s)))
    else:
        x = float(int(lo) + _below(s, int(hi) - int(lo) + 1))
    if sign < 0.0 or (sign == 0.0 and rnd(s) < 0.5):
        x = -x
    return x


@njit(cache=True)
def span_contains(spans: np.ndarray, span_values: np.ndarray, i: int, x: float) -> bool:
    """Span.contains: x is a value span i draws."""
    if not math.isfinite(x):
        return False
    law, lo, hi, sign = spans[i, 0], spans[i, 1], spans[i, 2], spans[i, 3]
    if law == 0.0:
        first, n = int(spans[i, 5]), int(spans[i, 6])
        for k in range(first, first + n):  # noqa: SIM110 (a loop numba compiles)
            if x == span_values[k]:
                return True
        return False
    if sign < 0.0:
        x = -x
    elif sign == 0.0:
        x = abs(x)
    if law == 3.0:
        return _is_integer(x) and lo <= x <= hi
    return spans[i, 7] <= x <= spans[i, 8]


# ---- the helpers the generated formulas call (reference.libs.FLOAT's, without exceptions) --------


@njit(cache=True)
def _div(x: float, y: float) -> float:
    """x / y with IEEE semantics: +-inf or NaN at y == 0 (numba raises ZeroDivisionError)."""
    if y == 0.0:
        return _NAN if x == 0.0 or x != x else math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


@njit(cache=True)
def _relu(x: float) -> float:
    return x if x > 0.0 else 0.0


@njit(cache=True)
def _step(x: float) -> float:
    return 1.0 if x > 0.0 else 0.0


@njit(cache=True)
def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else -1.0 if x < 0.0 else 0.0


@njit(cache=True)
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True)
def _sech2(x: float) -> float:
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


# ---- the op table, generated from the registry ---------------------------------------------------

# ---- GENERATED by `python -m gradoracle.generate --write` from reference.ops: do not edit
# fmt: off
# Op codes: the registry's order (reference.tape.OPCODES is the same); how each op's
# operands are drawn (reference.ops.SAMPLERS, numbered in order: see draw); whether a
# 0.0 result is an underflow (Op.zero_underflows).
OPCODES = {"add": 0, "sub": 1, "mul": 2, "div": 3, "neg": 4, "pow": 5, "tanh": 6, "exp": 7,
    "log": 8, "relu": 9, "sigmoid": 10, "sin": 11, "cos": 12, "sqrt": 13, "abs": 14}
OP_DRAWS = np.array([0, 0, 0, 1, 0, 4, 0, 3, 2, 0, 0, 0, 0, 2, 0], dtype=np.int64)
OP_ZERO_UNDERFLOWS = np.array([False, False, False, False, False, True, False, True, False,
    False, False, False, False, False, False])


@njit(cache=True)
def op_in_domain(code: int, form: int, a: float, b: float) -> bool:
    """Op.domain (operands are finite)."""
    if code == 3:  # div
        return b != 0
    if code == 5:  # pow
        if form == VC:
            return (a > 0) | ((a == 0) & (b >= 1)) | ((a < 0) & is_integer(b))
        if form == CV:
            return a > 0
        if form == VV:
            return a > 0
        return False
    if code == 8:  # log
        return a > 0
    if code == 13:  # sqrt
        return a >= 0
    return True


@njit(cache=True)
def op_value(code: int, a: float, b: float) -> float:
    """Op.forward."""
    if code == 0:  # add
        return (a + b)
    if code == 1:  # sub
        return (a - b)
    if code == 2:  # mul
        return (a * b)
    if code == 3:  # div
        return _div(a, b)
    if code == 4:  # neg
        return (-a)
    if code == 5:  # pow
        return (a ** b)
    if code == 6:  # tanh
        return math.tanh(a)
    if code == 7:  # exp
        return math.exp(a)
    if code == 8:  # log
        return math.log(a)
    if code == 9:  # relu
        return _relu(a)
    if code == 10:  # sigmoid
        return _sigmoid(a)
    if code == 11:  # sin
        return math.sin(a)
    if code == 12:  # cos
        return math.cos(a)
    if code == 13:  # sqrt
        return math.sqrt(a)
    if code == 14:  # abs
        return abs(a)
    return _NAN


@njit(cache=True)
def op_partial(code: int, slot: int, a: float, b: float, out: float) -> float:
    """Op.grads[slot]: the local derivative wrt operand `slot`."""
    if code == 0:  # add
        return 1.0
    if code == 1:  # sub
        return 1.0 if slot == 0 else -1.0
    if code == 2:  # mul
        return b if slot == 0 else a
    if code == 3:  # div
        return _div(1.0, b) if slot == 0 else (-_div(out, b))
    if code == 4:  # neg
        return -1.0
    if code == 5:  # pow
        return (b * (a ** (b - 1.0))) if slot == 0 else (math.log(a) * out)
    if code == 6:  # tanh
        return _sech2(a)
    if code == 7:  # exp
        return out
    if code == 8:  # log
        return _div(1.0, a)
    if code == 9:  # relu
        return _step(a)
    if code == 10:  # sigmoid
        return (out * _sigmoid(-a))
    if code == 11:  # sin
        return math.cos(a)
    if code == 12:  # cos
        return (-math.sin(a))
    if code == 13:  # sqrt
        return _div(0.5, out)
    if code == 14:  # abs
        return _sign(a)
    return _NAN


@njit(cache=True)
def op_unstable(code: int, form: int, a: float, b: float) -> bool:
    """Op.unstable: float64 cannot compute a local partial there."""
    return (
        code == 5 and form == VC and ((a < 0) & (abs(b) >= 2.0**53))  # pow
    )


@njit(cache=True)
def op_partial_floor(code: int, slot: int, out: float) -> float:
    """Op.partial_floors[slot]: how large the partial's own rounding error can be."""
    if code == 5 and slot == 1:  # pow
        return abs(out)
    if code == 6 and slot == 0:  # tanh
        return 1.0
    if code == 10 and slot == 0:  # sigmoid
        return abs(out)
    return 0.0


@njit(cache=True)
def op_kink(code: int) -> tuple[int, float]:
    """Op.kinks: (operand, value) of the op's kink, operand -1 for none."""
    if code == 9:  # relu
        return 0, 0.0
    if code == 14:  # abs
        return 0, 0.0
    return -1, 0.0
# fmt: on
# ---- END GENERATED ----


# ---- fit: fuzz.sampler.op_result at the default limit, NaN for None ---------------------------


@njit(cache=True)
def fit_value(code: int, form: int, a: float, b: float) -> float:
    """The op's value if (a, b) fit it, as op_result decides; NaN if not: in the domain, operands
    KINK_DISTANCE away from a kink, the value and the needed local derivatives within the limit, and
    the value not an underflow."""
    if not (math.isfinite(a) and math.isfinite(b) and op_in_domain(code, form, a, b)):
        return _NAN
    side, at = op_kink(code)
    if side >= 0 and abs((a if side == 0 else b) - at) < _K:
        return _NAN
    out = op_value(code, a, b)
    if not -_L <= out <= _L:
        return _NAN
    if form != CV and not -_L <= op_partial(code, 0, a, b, out) <= _L:
        return _NAN
    if form in (VV, CV) and not -_L <= op_partial(code, 1, a, b, out) <= _L:
        return _NAN
    if -_U < out < _U and (out != 0.0 or OP_ZERO_UNDERFLOWS[code]):
        return _NAN
    return out


@njit(cache=True)
def region_value(code: int, form: int, a: float, b: float, need_partials: bool) -> float:
    """op_result(moderate=False, finite_partials=need_partials): the op's value if (a, b) are in
    its domain and the value (and, if `need_partials`, the needed local derivatives) are finite;
    no magnitude limit, underflow or kink margin. NaN if not."""
    if not (math.isfinite(a) and math.isfinite(b) and op_in_domain(code, form, a, b)):
        return _NAN
    out = op_value(code, a, b)
    if not math.isfinite(out):
        return _NAN
    if need_partials:
        if form != CV and not math.isfinite(op_partial(code, 0, a, b, out)):
            return _NAN
        if form in (VV, CV) and not math.isfinite(op_partial(code, 1, a, b, out)):
            return _NAN
    return out


# ---- graphs --------------------------------------------------------------------------------------

# The small helpers that take arrays and run per op are inlined into the loop (inline="always", as
# as_int and _draw_op are): called, each array argument cost an atomic incref and decref (numba's
# reference counts), ~15 % of the loop's time; inlined, numba prunes them. Inlining the larger
# draws too gained nothing and compiles longer.


@njit(cache=True, inline="always")
def _pick(s: np.ndarray, r: float, reuse: float, unused_below: float, variables: np.ndarray,
          n_vars: int, unused: np.ndarray, n_unused: int) -> int:  # fmt: skip
    """A variable: any one (reuse), else one that nothing consumes yet, else the newest."""
    if r < reuse:
        return variables[_below(s, n_vars)]
    if r < unused_below and n_unused > 0:
        return unused[_below(s, n_unused)]
    return variables[n_vars - 1]


@njit(cache=True, inline="always")
def _consume(unused: np.ndarray, n_unused: int, x: int) -> int:
    """Remove x from the increasing list unused[:n_unused] if it is there; the new length."""
    for i in range(n_unused):
        if unused[i] == x:
            for k in range(i, n_unused - 1):  # (a slice assignment here allocated a copy)
                unused[k] = unused[k + 1]
            return n_unused - 1
    return n_unused


@njit(cache=True, inline="always")
def _new_leaf(
    x: float, is_input: bool, is_int: bool, n: int, values: np.ndarray, leaf_slots: np.ndarray,
    leaf_values: np.ndarray, leaf_ints: np.ndarray, at_leaf: int, inputs: np.ndarray,
    at_input: int,
) -> None:  # fmt: skip
    """Write leaf node n (an input or a constant) with value x, an int if `is_int`."""
    values[n] = x
    leaf_slots[at_leaf] = n
    leaf_values[at_leaf] = x
    leaf_ints[at_leaf] = is_int
    if is_input:
        inputs[at_input] = n


@njit(cache=True, inline="always")
def _new_input(
    s: np.ndarray, x: float, int_rate: float, n: int, n_vars: int, n_unused: int, at_leaf: int,
    at_input: int, values: np.ndarray, variables: np.ndarray, unused: np.ndarray,
    leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_ints: np.ndarray, inputs: np.ndarray,
) -> tuple[int, int, int, int, int]:  # fmt: skip
    """Node n is a new input x (a leaf, a variable, consumed by nothing yet; an int with chance
    `int_rate` if x is a whole number): the counters n, n_vars, n_unused, at_leaf and at_input
    after it."""
    is_int = as_int(s, x, int_rate)
    _new_leaf(
        x, True, is_int, n, values, leaf_slots, leaf_values, leaf_ints, at_leaf, inputs, at_input
    )
    variables[n_vars] = n
    unused[n_unused] = n
    return n + 1, n_vars + 1, n_unused + 1, at_leaf + 1, at_input + 1


@njit(cache=True, inline="always")
def _link(
    code: int, a: int, b: int, out: float, n: int, n_vars: int, n_unused: int, at_step: int,
    values: np.ndarray, variables: np.ndarray, unused: np.ndarray, steps: np.ndarray,
) -> tuple[int, int, int, int]:  # fmt: skip
    """Node n is op `code` with args (a,) (b < 0) or (a, b) and value `out`: the counters n,
    n_vars, n_unused and at_step after it."""
    n_unused = _consume(unused, n_unused, a)
    if b >= 0:
        n_unused = _consume(unused, n_unused, b)
    values[n] = out
    variables[n_vars] = unused[n_unused] = n
    steps[at_step] = code
    steps[at_step + 1] = a
    steps[at_step + 2] = a if b < 0 else b  # unary ops read their operand twice
    steps[at_step + 3] = n
    return n + 1, n_vars + 1, n_unused + 1, at_step + 4


@njit(cache=True)
def _region_operand(
    s: np.ndarray, spans: np.ndarray, span_values: np.ndarray, i: int, values: np.ndarray,
    variables: np.ndarray, n_vars: int,
) -> tuple[int, float]:  # fmt: skip
    """A variable operand from span i: half the time an existing variable whose value lies in
    the span (uniformly among them, if any), else a new input's value: (node, value), node -1
    for a new input."""
    if rnd(s) < 0.5:
        matches = 0
        for v in range(n_vars):
            if span_contains(spans, span_values, i, values[variables[v]]):
                matches += 1
        if matches > 0:
            k = _below(s, matches)
            for v in range(n_vars):
                x = values[variables[v]]
                if span_contains(spans, span_values, i, x):
                    if k == 0:
                        return variables[v], x
                    k -= 1
    return -1, span_draw(s, spans, span_values, i)


@njit(cache=True)
def _place_region(
    s: np.ndarray, r: int, code: int, regions: np.ndarray, spans: np.ndarray,
    span_values: np.ndarray, int_constants: float, int_leaves: float, reuse: float,
    unused_below: float, values: np.ndarray, variables: np.ndarray, unused: np.ndarray,
    n: int, n_vars: int, n_unused: int, at_leaf: int, at_input: int, at_step: int,
    region_left: int, leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_ints: np.ndarray,
    inputs: np.ndarray, steps: np.ndarray,
) -> tuple[int, int, int, int, int, int, int, bool]:  # fmt: skip
    """Try (ATTEMPTS times) to append op `code` drawn in region r: its operands from the region's
    spans (existing variables in them, new inputs drawn from them, constants) or ordinary picks,
    checked by region_value. The counters n, n_vars, n_unused, at_leaf, at_input, at_step,
    region_left after it, and whether it was placed (nothing is written if not)."""
    form, same, either = regions[r, 1], regions[r, 2] != 0, regions[r, 3] != 0
    partials = regions[r, 4] != 0
    span_a, span_b = regions[r, 5], regions[r, 6]
    for _ in range(ATTEMPTS):
        # Operand nodes: >= 0 an existing variable, -1 a new input, -2 a constant, -3 none.
        na, va, nb, vb = -3, 0.0, -3, 0.0
        if form == CV:
            na, va = -2, span_draw(s, spans, span_values, span_a)
        elif span_a >= 0:
            na, va = _region_operand(s, spans, span_values, span_a, values, variables, n_vars)
        else:
            na = _pick(s, rnd(s), reuse, unused_below, variables, n_vars, unused, n_unused)
            va = values[na]
        if form == VC:
            nb, vb = -2, span_draw(s, spans, span_values, span_b)
        elif form == CV or (form == VV and not same):
            if span_b >= 0:
                nb, vb = _region_operand(s, spans, span_values, span_b, values, variables, n_vars)
            else:
                nb = _pick(s, rnd(s), reuse, unused_below, variables, n_vars, unused, n_unused)
                vb = values[nb]
        elif form == VV:  # same: one node as both operands
            nb, vb = na, va
        sa, sb = span_a, span_b  # the spans the operands' values come from
        if form == VV and either and not same and rnd(s) < 0.5:
            na, va, nb, vb, sa, sb = nb, vb, na, va, sb, sa
        fresh = (na == -1) + (nb == -1 and not same)
        if fresh > region_left:
            continue
        out = region_value(code, form, va, vb, partials)
        if out != out:
            continue
        # The new leaves, in operand order, then the op.
        if na < 0:
            rate = int_constants if na == -2 else int_leaves
            is_int = rate > 0.0 and as_int(s, va, spans[sa, 4])
            _new_leaf(
                va, na == -1, is_int, n, values, leaf_slots, leaf_values, leaf_ints, at_leaf,
                inputs, at_input,
            )  # fmt: skip
            if na == -1:
                variables[n_vars] = unused[n_unused] = n
                n_vars, n_unused, at_input, region_left = (
                    n_vars + 1, n_unused + 1, at_input + 1, region_left - 1,
                )  # fmt: skip
            na, n, at_leaf = n, n + 1, at_leaf + 1
        if same:
            nb = na
        elif nb < 0 and nb != -3:
            rate = int_constants if nb == -2 else int_leaves
            is_int = rate > 0.0 and as_int(s, vb, spans[sb, 4])
            _new_leaf(
                vb, nb == -1, is_int, n, values, leaf_slots, leaf_values, leaf_ints, at_leaf,
                inputs, at_input,
            )  # fmt: skip
            if nb == -1:
                variables[n_vars] = unused[n_unused] = n
                n_vars, n_unused, at_input, region_left = (
                    n_vars + 1, n_unused + 1, at_input + 1, region_left - 1,
                )  # fmt: skip
            nb, n, at_leaf = n, n + 1, at_leaf + 1
        n, n_vars, n_unused, at_step = _link(
            code, na, nb if form != V else -1, out, n, n_vars, n_unused, at_step, values,
            variables, unused, steps,
        )  # fmt: skip
        return n, n_vars, n_unused, at_leaf, at_input, at_step, region_left, True
    return n, n_vars, n_unused, at_leaf, at_input, at_step, region_left, False


@njit(cache=True, inline="always")
def _draw_op(s: np.ndarray, cumulative: np.ndarray, total: float) -> int:
    """An op row, by weight."""
    u = rnd(s) * total
    j = 0
    while cumulative[j] <= u:  # bisect_right
        j += 1
    return j


@njit(cache=True)
def nodes_most(max_inputs: int, ops_most: int, region_inputs: int) -> int:
    """Most nodes one graph can have: its inputs, region inputs, ops, a constant per op, the
    folds of the variables nothing consumes (the size of sample_batch's scratch arrays)."""
    return 2 * max_inputs + 3 * ops_most + 2 * region_inputs + 2


# Without numba's reference counting (`_nrt=False`, an option numba's type stubs do not list):
# the loop allocates nothing (its scratch arrays are given), and the counts' atomic increments
# and decrements of the arrays handed to its inlined helpers cost ~10 % of its time. It may still
# call the compiled helpers above.
_WITHOUT_REFERENCE_COUNTS: dict[str, Any] = {"_nrt": False}
_Function = TypeVar("_Function", bound=Callable[..., Any])


def _njit_without_reference_counts(function: _Function) -> _Function:
    compiled: _Function = njit(cache=True, **_WITHOUT_REFERENCE_COUNTS)(function)
    return compiled


@_njit_without_reference_counts
def sample_batch(
    s: np.ndarray, count: int, sizes: np.ndarray, rates: np.ndarray,
    unary: np.ndarray, codes: np.ndarray, vv_ok: np.ndarray, p_vv: np.ndarray,
    const_forms: np.ndarray, n_const_forms: np.ndarray, cumulative: np.ndarray, total: float,
    fold_code: int,
    spans: np.ndarray, span_values: np.ndarray, regions: np.ndarray,
    region_cumulative: np.ndarray, region_first: np.ndarray,
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_ints: np.ndarray,
    inputs: np.ndarray, layout: np.ndarray, region_counts: np.ndarray,
    values: np.ndarray, variables: np.ndarray, unused: np.ndarray,
) -> bool:  # fmt: skip
    """Draw `count` graphs into the flat output arrays (False, and nothing drawn, if the scratch
    arrays `values`, `variables` and `unused` are shorter than nodes_most); column g of `layout`
    (LAYOUT_ROWS rows) says where graph g lies in them: its first and end step int, leaf and
    input, its output node and node count, and its shape key (n_ops * SHAPE_KEY + n_nodes);
    leaf_ints flags the leaves written as ints. sizes = (min_inputs,
    max_inputs, min_ops, max_ops, deep_min_ops, deep_max_ops, region_inputs); rates = (reuse,
    same_operand, fresh_input, int_constants, int_leaves, deep share, deep newest); the op plan
    has one row per allowed op, the region tables one row per span and per region, op row j's
    regions being rows region_first[j]..region_first[j + 1] - 1 (see fuzz.sampler).
    region_counts[r] counts the ops drawn in region r, its last entry the deep graphs.

    The rules: a graph is deep (a long chain, whose ops are drawn ordinarily and take the newest
    node most often, another op being drawn when one does not fit) with the deep share. Each of
    n_ops steps may first
    add a fresh input, then draws an op (by weight); with its regions' total weight the op is
    drawn in one of them (_place_region), else (or if that fails) ordinarily: up to ATTEMPTS
    operand choices; when none fits, a fresh input from the op's own domain sampler (while
    inputs remain) and again. The variables nothing consumes are summed into the output at the
    end (with the fold op, when the config allows one)."""
    min_inputs, max_inputs, min_ops, max_ops = sizes[0], sizes[1], sizes[2], sizes[3]
    deep_min, deep_max, region_inputs = sizes[4], sizes[5], sizes[6]
    reuse, same, fresh = rates[0], rates[1], rates[2]
    int_constants, int_leaves, deep_share, deep_newest = rates[3], rates[4], rates[5], rates[6]
    unused_below = reuse + (1.0 - reuse) / 2
    deep_reuse = (1.0 - deep_newest) / 2
    ops_most = max(max_ops, deep_max) if deep_share > 0.0 else max_ops
    n_max = nodes_most(max_inputs, ops_most, region_inputs)
    # values: per node; variables: input and op nodes, increasing; unused: the variables no op
    # consumes yet, increasing.
    if min(len(values), len(variables), len(unused)) < n_max:
        return False
    n_regions = len(regions)
    at_step = at_leaf = at_input = 0
    for g in range(count):
        first_step, first_leaf, first_input = at_step, at_leaf, at_input
        inputs_left = min_inputs + _below(s, max_inputs - min_inputs + 1)
        region_left = region_inputs
        regions_drawn = 0
        deep = deep_share > 0.0 and rnd(s) < deep_share
        if deep:
            n_ops = deep_min + _below(s, deep_max - deep_min + 1)
            pick_reuse, pick_unused = deep_reuse, 2 * deep_reuse  # the newest node most often
            region_counts[n_regions] += 1
        else:
            n_ops = min_ops + _below(s, max_ops - min_ops + 1)
            pick_reuse, pick_unused = reuse, unused_below
        n, n_vars, n_unused, at_leaf, at_input = _new_input(
            s, draw_real(s), int_leaves, 0, 0, 0, at_leaf, at_input, values, variables, unused,
            leaf_slots, leaf_values, leaf_ints, inputs,
        )  # fmt: skip
        inputs_left -= 1
        for _ in range(n_ops if len(codes) else 0):  # an op that does not fit still counts
            if inputs_left > 0 and rnd(s) < fresh:
                n, n_vars, n_unused, at_leaf, at_input = _new_input(
                    s, draw_real(s), int_leaves, n, n_vars, n_unused, at_leaf, at_input, values,
                    variables, unused, leaf_slots, leaf_values, leaf_ints, inputs,
                )  # fmt: skip
                inputs_left -= 1
            j = _draw_op(s, cumulative, total)
            code = codes[j]
            first, last = region_first[j], region_first[j + 1]
            if last > first and not deep:  # (a deep graph is about depth: its values moderate)
                u = rnd(s)
                if u < region_cumulative[last - 1]:  # drawn in a region
                    r = first
                    while region_cumulative[r] <= u:
                        r += 1
                    n, n_vars, n_unused, at_leaf, at_input, at_step, region_left, placed = (
                        _place_region(
                            s, r, code, regions, spans, span_values, int_constants,
                            int_leaves, pick_reuse, pick_unused, values, variables, unused, n,
                            n_vars, n_unused, at_leaf, at_input, at_step, region_left,
                            leaf_slots, leaf_values, leaf_ints, inputs, steps,
                        )
                    )  # fmt: skip
                    if placed:
                        region_counts[r] += 1
                        regions_drawn += 1
                        continue
            attempts = ATTEMPTS
            while True:  # operand choices until one fits
                a = _pick(s, rnd(s), pick_reuse, pick_unused, variables, n_vars, unused, n_unused)
                b = -1
                if unary[j]:
                    form = V
                    out = fit_value(code, V, values[a], 0.0)
                elif vv_ok[j] and (p_vv[j] >= 1.0 or rnd(s) < p_vv[j]):
                    form = VV
                    if rnd(s) < same:
                        b = a
                    else:
                        r = rnd(s)
                        b = _pick(s, r, reuse, unused_below, variables, n_vars, unused, n_unused)
                    if rnd(s) < 0.5:
                        a, b = b, a
                    out = fit_value(code, VV, values[a], values[b])
                else:
                    form = const_forms[j, _below(s, n_const_forms[j])]
                    slot = 0 if form == CV else 1
                    k = draw(s, code, form, slot, values[a], True)
                    out = _NAN
                    if k == k:  # (NaN: no constant fits)
                        out = (
                            fit_value(code, form, values[a], k)
                            if slot
                            else fit_value(code, form, k, values[a])
                        )
                    if out == out:
                        is_int = as_int(s, k, int_constants)
                        _new_leaf(
                            k, False, is_int, n, values, leaf_slots, leaf_values, leaf_ints,
                            at_leaf, inputs, at_input,
                        )  # fmt: skip
                        b = n  # the constant
                        n, at_leaf = n + 1, at_leaf + 1
                        if not slot:
                            a, b = b, a
                if out == out:  # link: op `code` with args (a,) (b < 0) or (a, b)
                    n, n_vars, n_unused, at_step = _link(
                        code, a, b, out, n, n_vars, n_unused, at_step, values, variables, unused,
                        steps,
                    )  # fmt: skip
                    break
                attempts -= 1
                if deep:  # another op, rather than another operand: the chain goes on
                    j = _draw_op(s, cumulative, total)
                    code = codes[j]
                if attempts == 0:  # nothing fits: a fresh input from the op's own domain, and again
                    if inputs_left <= 0:
                        break  # the op is left out
                    y = draw(s, code, form, 1 if form == CV else 0, 0.0, False)
                    if not math.isfinite(y):
                        break
                    n, n_vars, n_unused, at_leaf, at_input = _new_input(
                        s, y, int_leaves, n, n_vars, n_unused, at_leaf, at_input, values,
                        variables, unused, leaf_slots, leaf_values, leaf_ints, inputs,
                    )  # fmt: skip
                    inputs_left -= 1
                    attempts = ATTEMPTS
        if fold_code >= 0 and n_unused > 1:
            # Sum every variable nothing consumes into the output, so that no part is dead (in a
            # graph with regions, with the looser check too: a huge value must reach the output).
            acc = unused[n_unused - 1]
            for i in range(n_unused - 2, -1, -1):
                other = unused[i]
                out = fit_value(fold_code, VV, values[acc], values[other])
                if out != out and regions_drawn > 0:
                    out = region_value(fold_code, VV, values[acc], values[other], True)
                if out == out:
                    values[n] = out
                    steps[at_step] = fold_code
                    steps[at_step + 1] = acc
                    steps[at_step + 2] = other
                    steps[at_step + 3] = n
                    acc, n, at_step = n, n + 1, at_step + 4
        layout[0, g], layout[1, g] = first_step, at_step
        layout[2, g], layout[3, g] = first_leaf, at_leaf
        layout[4, g], layout[5, g] = first_input, at_input
        layout[6, g], layout[7, g] = n - 1, n
        layout[8, g] = ((at_step - first_step) >> 2) * SHAPE_KEY + n
    return True


@njit(cache=True)
def trimmed(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_ints: np.ndarray,
    inputs: np.ndarray, layout: np.ndarray,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """sample_batch's output as the arrays of reference.tape.FlatGraphs, in its field order (each
    graph's first step, leaf and input is where the graph before it ended), then a bool per leaf:
    an int. The arrays are copies, as long as what was drawn (sample_batch's buffers are sized
    for the largest graphs a config allows). An int leaf's value is x + 0.0, as FlatGraphs.of
    reads a Python int back (float(int(x)): x itself, but -0.0 becomes 0.0). One call for what
    a dozen numpy calls did."""
    count = layout.shape[1]
    n_steps = layout[1, count - 1] if count else 0
    n_leaves = layout[3, count - 1] if count else 0
    n_inputs = layout[5, count - 1] if count else 0
    n_ops = np.empty(count, np.int64)
    n_nodes = np.empty(count, np.int64)
    inputs_per_graph = np.empty(count, np.int64)
    outputs = np.empty(count, np.int64)
    step_offsets = np.empty(count + 1, np.int64)
    leaf_offsets = np.empty(count + 1, np.int64)
    input_offsets = np.empty(count + 1, np.int64)
    for g in range(count):
        n_ops[g] = (layout[1, g] - layout[0, g]) >> 2
        n_nodes[g] = layout[7, g]
        inputs_per_graph[g] = layout[5, g] - layout[4, g]
        outputs[g] = layout[6, g]
        step_offsets[g] = layout[0, g]
        leaf_offsets[g] = layout[2, g]
        input_offsets[g] = layout[4, g]
    step_offsets[count] = n_steps
    leaf_offsets[count] = n_leaves
    input_offsets[count] = n_inputs
    values = np.empty(n_leaves)
    ints = np.empty(n_leaves, np.bool_)
    for i in range(n_leaves):
        is_int = leaf_ints[i] != 0
        values[i] = leaf_values[i] + 0.0 if is_int else leaf_values[i]
        ints[i] = is_int
    return (
        n_ops, n_nodes, inputs_per_graph, outputs, steps[:n_steps].copy(), step_offsets,
        leaf_slots[:n_leaves].copy(), values, leaf_offsets, inputs[:n_inputs].copy(),
        input_offsets, ints,
    )  # fmt: skip
