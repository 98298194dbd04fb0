"""The op registry: forward values and derivatives in FLOAT and MP against hand values, domains,
samplers, spellings, the README table, and the JAX lib's conventions."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from typing import Any

import mpmath
import pytest

from gradoracle.reference.libs import FLOAT, JAX, MP
from gradoracle.reference.ops import (
    DEEP_GRAPHS,
    OPS,
    Op,
    Region,
    Span,
    apply,
    draw_real,
    get_op,
    readme_op_table,
)

LN2 = math.log(2.0)
T = math.tanh(0.5)
S2 = 1.0 / (1.0 + math.exp(-2.0))

# (op, form, a, b, value, partials): hand-computed; None marks a constant operand.
HAND: list[tuple[str, str, float, float | None, float, tuple[float | None, ...]]] = [
    ("add", "vv", 2.0, 3.0, 5.0, (1.0, 1.0)),
    ("add", "cv", 2.0, 3.0, 5.0, (None, 1.0)),
    ("sub", "vv", 2.0, 3.0, -1.0, (1.0, -1.0)),
    ("sub", "cv", 2.0, 3.0, -1.0, (None, -1.0)),
    ("mul", "vv", 2.0, 3.0, 6.0, (3.0, 2.0)),
    ("mul", "vc", 2.0, 3.0, 6.0, (3.0, None)),
    ("div", "vv", 3.0, 2.0, 1.5, (0.5, -0.75)),
    ("div", "cv", 3.0, 2.0, 1.5, (None, -0.75)),
    ("div", "vc", 3.0, 2.0, 1.5, (0.5, None)),
    ("neg", "v", 2.0, None, -2.0, (-1.0,)),
    ("pow", "vc", -2.0, 3.0, -8.0, (12.0, None)),
    ("pow", "vc", -2.0, -1.0, -0.5, (-0.25, None)),
    ("pow", "vc", 4.0, 0.5, 2.0, (0.25, None)),
    ("pow", "vc", 0.0, 1.0, 0.0, (1.0, None)),
    ("pow", "vc", 0.0, 2.0, 0.0, (0.0, None)),
    ("pow", "vc", 5.0, 0.0, 1.0, (0.0, None)),
    ("pow", "cv", 2.0, 3.0, 8.0, (None, 8.0 * LN2)),
    ("pow", "vv", 2.0, 3.0, 8.0, (12.0, 8.0 * LN2)),
    ("tanh", "v", 0.5, None, T, (1.0 - T * T,)),
    ("tanh", "v", 1000.0, None, 1.0, (0.0,)),
    ("tanh", "v", -30.0, None, -1.0, (3.502604305078608e-26,)),  # 1 - t*t would give 0
    ("sigmoid", "v", -40.0, None, 4.248354255291589e-18, (4.248354255291589e-18,)),
    ("exp", "v", 1.0, None, math.e, (math.e,)),
    ("log", "v", 2.0, None, LN2, (0.5,)),
    ("relu", "v", 2.0, None, 2.0, (1.0,)),
    ("relu", "v", -2.0, None, 0.0, (0.0,)),
    ("relu", "v", 0.0, None, 0.0, (0.0,)),  # the kink convention relu'(0) = 0
    ("sigmoid", "v", 0.0, None, 0.5, (0.25,)),
    ("sigmoid", "v", 2.0, None, S2, (0.10499358540350652,)),  # s*(1-s), rounded from mpmath
    ("sigmoid", "v", -1000.0, None, 0.0, (0.0,)),
    ("sin", "v", 0.0, None, 0.0, (1.0,)),
    ("sin", "v", 1e22, None, -0.8522008497671888, (0.523214785395139,)),  # exact range reduction
    ("cos", "v", 0.0, None, 1.0, (-0.0,)),
    ("cos", "v", math.pi, None, -1.0, (-1.2246467991473532e-16,)),
    ("sqrt", "v", 4.0, None, 2.0, (0.25,)),
    ("sqrt", "v", 1e-300, None, 1e-150, (5e149,)),  # near the vertical slope at 0: finite
    ("abs", "v", -2.5, None, 2.5, (-1.0,)),
    ("abs", "v", 0.0, None, 0.0, (0.0,)),  # the kink convention abs'(0) = 0 (PyTorch)
    ("abs", "v", -0.0, None, 0.0, (0.0,)),
]

# Exact values at high precision, for the MP lib: closed forms evaluated by mpmath itself.
MP_EXACT = {
    ("tanh", 0.5): lambda: (mpmath.tanh(0.5), 1 - mpmath.tanh(0.5) ** 2),
    ("exp", 1.0): lambda: (mpmath.e, mpmath.e),
    ("log", 2.0): lambda: (mpmath.log(2), mpmath.mpf(0.5)),
    ("sin", 1e22): lambda: (mpmath.sin(mpmath.mpf(1e22)), mpmath.cos(mpmath.mpf(1e22))),
    ("cos", math.pi): lambda: (mpmath.cos(mpmath.mpf(math.pi)), -mpmath.sin(mpmath.mpf(math.pi))),
    ("sqrt", 4.0): lambda: (mpmath.mpf(2), mpmath.mpf(0.25)),
    ("sigmoid", 2.0): lambda: (
        1 / (1 + mpmath.exp(-2)),
        mpmath.exp(-2) / (1 + mpmath.exp(-2)) ** 2,
    ),
}


def test_registry_names_and_forms() -> None:
    assert list(OPS) == [
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "pow",
        "tanh",
        "exp",
        "log",
        "relu",
        "sigmoid",
        "sin",
        "cos",
        "sqrt",
        "abs",
    ]
    for name in ("add", "sub", "mul", "div"):
        assert OPS[name].forms == ("vv", "vc", "cv")
        assert OPS[name].arity == 2
    assert OPS["pow"].forms == ("vc", "cv", "vv")
    for name in ("neg", "tanh", "exp", "log", "relu", "sigmoid", "sin", "cos", "sqrt", "abs"):
        assert OPS[name].forms == ("v",)
        assert OPS[name].arity == 1


@pytest.mark.parametrize(("name", "form", "a", "b", "value", "partials"), HAND)
def test_float_forward_and_partials(
    name: str,
    form: str,
    a: float,
    b: float | None,
    value: float,
    partials: tuple[float | None, ...],
) -> None:
    op = OPS[name]
    out = op.forward(FLOAT, a, b)
    assert isinstance(out, float)
    assert out == pytest.approx(value, rel=1e-15, abs=0.0)
    got = op.partials(FLOAT, form, a, b)
    assert len(got) == op.arity
    for g, want in zip(got, partials):
        if want is None:
            assert g is None
        else:
            assert g == pytest.approx(want, rel=1e-15, abs=1e-300)


@pytest.mark.parametrize(("name", "form", "a", "b", "value", "partials"), HAND)
def test_mp_forward_and_partials(
    name: str,
    form: str,
    a: float,
    b: float | None,
    value: float,
    partials: tuple[float | None, ...],
) -> None:
    op = OPS[name]
    with mpmath.workdps(50):
        ma = MP.lift(a)
        mb = None if b is None else MP.lift(b)
        out = op.forward(MP, ma, mb)
        got = op.partials(MP, form, ma, mb)
        assert isinstance(out, mpmath.mpf)
        exact = MP_EXACT.get((name, a))
        if exact is not None:  # compare with the closed form to 45 digits
            want_value, want_partial = exact()
            assert abs(out - want_value) <= mpmath.mpf(10) ** -45 * abs(want_value)
            assert abs(got[0] - want_partial) <= mpmath.mpf(10) ** -45 * abs(want_partial)
        assert float(out) == pytest.approx(value, rel=1e-15, abs=1e-300)
        for g, want in zip(got, partials):
            assert (g is None) == (want is None)
            if want is not None:
                assert float(g) == pytest.approx(want, rel=1e-15, abs=1e-300)


def _numeric_partials(op: Op, form: str, a: float, b: float | None) -> list[Any]:
    """d forward / d operand by mpmath's own high-precision numerical differentiation."""
    result: list[Any] = []
    for slot, kind in enumerate(form):
        if kind == "c":
            result.append(None)
        elif slot == 0:
            result.append(
                mpmath.diff(
                    lambda x: op.forward(MP, x, None if b is None else mpmath.mpf(b)), mpmath.mpf(a)
                )
            )
        else:
            result.append(mpmath.diff(lambda y: op.forward(MP, mpmath.mpf(a), y), mpmath.mpf(b)))
    return result


@pytest.mark.parametrize("name", list(OPS))
def test_partials_match_numerical_derivative_on_drawn_operands(name: str) -> None:
    op = OPS[name]
    rng = random.Random(f"partials-{name}")
    for form in op.forms:
        for _ in range(40):
            a = op.draw(form, rng, 0)
            b = op.draw(form, rng, 1, a) if op.arity == 2 else None
            assert a is not None
            if op.arity == 2 and b is None:
                continue
            if name == "relu" and a == 0.0:
                continue  # the kink: checked by its convention, not numerically
            with mpmath.workdps(40):
                got = op.partials(MP, form, MP.lift(a), None if b is None else MP.lift(b))
                want = _numeric_partials(op, form, a, b)
                for g, w in zip(got, want):
                    assert (g is None) == (w is None)
                    if w is not None:
                        assert abs(g - w) <= mpmath.mpf(10) ** -25 * max(1, abs(w)), (form, a, b)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda lib: lib.log(lib.lift(0.0)), ValueError, "log"),
        (lambda lib: lib.log(lib.lift(-1.0)), ValueError, "log"),
        (lambda lib: lib.div(lib.lift(1.0), lib.lift(0.0)), ZeroDivisionError, "div"),
        (lambda lib: lib.pow(lib.lift(-8.0), lib.lift(0.5)), ValueError, "pow"),
        (lambda lib: lib.pow(lib.lift(0.0), lib.lift(-1.0)), ZeroDivisionError, "pow"),
    ],
)
@pytest.mark.parametrize("lib", [FLOAT, MP], ids=["float", "mp"])
def test_domain_errors_name_the_op(lib: Any, call: Any, error: type, needle: str) -> None:
    with pytest.raises(error, match=needle):
        call(lib)


def test_float_overflow_errors_and_silent_inf() -> None:
    with pytest.raises(OverflowError, match="exp"):
        FLOAT.exp(1000.0)
    with pytest.raises(OverflowError, match="pow"):
        FLOAT.pow(10.0, 400.0)
    with pytest.raises(OverflowError, match="exp"):
        MP.exp(mpmath.mpf(1e6))  # refused: the number would be astronomically large
    assert FLOAT.mul(1e200, 1e200) == math.inf  # like Python floats
    assert FLOAT.add(1.7e308, 1.7e308) == math.inf


def test_tanh_and_sigmoid_are_stable_for_every_finite_input() -> None:
    for x in (-1e308, -1000.0, -745.0, -1.0, 0.0, 1.0, 745.0, 1000.0, 1e308):
        t, s = FLOAT.tanh(x), FLOAT.sigmoid(x)
        assert -1.0 <= t <= 1.0
        assert 0.0 <= s <= 1.0
    assert FLOAT.tanh(1000.0) == 1.0
    assert FLOAT.sigmoid(1000.0) == 1.0
    assert FLOAT.sigmoid(-1000.0) == 0.0
    with mpmath.workdps(50):
        assert MP.sigmoid(mpmath.mpf(-1e6)) > 0  # no overflow refusal: exp(-x) is never formed


def test_in_domain_edges() -> None:
    div, log, pw = OPS["div"], OPS["log"], OPS["pow"]
    assert div.in_domain("vv", 1.0, 2.0)
    assert not div.in_domain("vv", 1.0, 0.0)
    assert not div.in_domain("cv", 1.0, -0.0)
    assert log.in_domain("v", 1e-300)
    assert not log.in_domain("v", 0.0)
    assert not log.in_domain("v", -1.0)
    assert pw.in_domain("vc", -2.0, 3.0)
    assert not pw.in_domain("vc", -2.0, 0.5)
    assert pw.in_domain("vc", 0.0, 1.0)
    assert pw.in_domain("vc", 0.0, 2.5)
    assert not pw.in_domain("vc", 0.0, 0.5)
    assert not pw.in_domain("vc", 0.0, -1.0)
    assert not pw.in_domain("vc", 0.0, 0.0)  # d(a**0)/da = 0 * 0**-1 raises
    assert pw.in_domain("cv", 2.0, -3.0)
    assert not pw.in_domain("cv", -2.0, 3.0)
    assert not pw.in_domain("cv", 0.0, 3.0)  # d(k**a)/da = log(k) * k**a needs k > 0
    assert pw.in_domain("vv", 2.0, -3.5)
    assert not pw.in_domain("vv", -2.0, 2.0)
    for op in OPS.values():
        form = op.forms[0]
        assert not op.in_domain(form, math.nan, 1.0 if op.arity == 2 else None)
        assert not op.in_domain(form, math.inf, 1.0 if op.arity == 2 else None)
    assert OPS["exp"].in_domain("v", 1000.0)
    assert not OPS["exp"].float_ok("v", 1000.0)
    assert OPS["exp"].float_ok("v", 10.0)


@pytest.mark.parametrize("name", list(OPS))
def test_draw_stays_in_domain_by_construction(name: str) -> None:
    op = OPS[name]
    rng = random.Random(name)
    for form in op.forms:
        for _ in range(500):
            a = op.draw(form, rng, 0)
            assert a is not None
            if op.arity == 1:
                assert op.float_ok(form, a), (form, a)
                continue
            b = op.draw(form, rng, 1, a)
            if b is None:  # only a**b with a base that no exponent can fix
                assert (name, form) == ("pow", "vv")
                assert a <= 0
            else:
                assert op.in_domain(form, a, b), (form, a, b)
            b2 = op.draw(form, rng, 1)
            a2 = op.draw(form, rng, 0, b2)
            assert b2 is not None
            assert a2 is not None
            assert op.in_domain(form, a2, b2), (form, a2, b2)
    assert OPS["pow"].draw("vv", rng, 1, -1.0) is None


def test_draw_avoids_overflow_for_extreme_partners() -> None:
    pw = OPS["pow"]
    rng = random.Random(7)
    for _ in range(200):
        k = pw.draw("vc", rng, 1, 1e200)
        assert k is not None
        assert pw.float_ok("vc", 1e200, k)
        base = pw.draw("cv", rng, 0, 500.0)
        assert base is not None
        assert pw.float_ok("cv", base, 500.0)


class Recorder:
    """Records which Python spelling was used on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _rec(self, name: str, other: Any = None) -> str:
        self.calls.append((name, other))
        return name

    def __add__(self, o: Any) -> str:
        return self._rec("__add__", o)

    def __radd__(self, o: Any) -> str:
        return self._rec("__radd__", o)

    def __sub__(self, o: Any) -> str:
        return self._rec("__sub__", o)

    def __rsub__(self, o: Any) -> str:
        return self._rec("__rsub__", o)

    def __mul__(self, o: Any) -> str:
        return self._rec("__mul__", o)

    def __rmul__(self, o: Any) -> str:
        return self._rec("__rmul__", o)

    def __truediv__(self, o: Any) -> str:
        return self._rec("__truediv__", o)

    def __rtruediv__(self, o: Any) -> str:
        return self._rec("__rtruediv__", o)

    def __pow__(self, o: Any) -> str:
        return self._rec("__pow__", o)

    def __rpow__(self, o: Any) -> str:
        return self._rec("__rpow__", o)

    def __neg__(self) -> str:
        return self._rec("__neg__")

    def tanh(self) -> str:
        return self._rec("tanh")

    def exp(self) -> str:
        return self._rec("exp")

    def log(self) -> str:
        return self._rec("log")

    def relu(self) -> str:
        return self._rec("relu")

    def sigmoid(self) -> str:
        return self._rec("sigmoid")


@pytest.mark.parametrize(
    ("name", "form", "expected"),
    [
        ("add", "vc", "__add__"),
        ("add", "cv", "__radd__"),
        ("sub", "vc", "__sub__"),
        ("sub", "cv", "__rsub__"),
        ("mul", "cv", "__rmul__"),
        ("div", "vc", "__truediv__"),
        ("div", "cv", "__rtruediv__"),
        ("pow", "vc", "__pow__"),
        ("pow", "cv", "__rpow__"),
    ],
)
def test_apply_uses_the_python_spelling_with_constants(name: str, form: str, expected: str) -> None:
    r = Recorder()
    args = (r, 2.0) if form == "vc" else (2.0, r)
    assert apply(name, form, *args) == expected
    assert r.calls == [(expected, 2.0)]


@pytest.mark.parametrize("name", ["neg", "tanh", "exp", "log", "relu", "sigmoid"])
def test_apply_unary_spelling(name: str) -> None:
    r = Recorder()
    expected = "__neg__" if name == "neg" else name
    assert apply(OPS[name], "v", r) == expected
    assert r.calls == [(expected, None)]


def test_apply_on_plain_numbers_and_errors() -> None:
    assert apply("pow", "vc", 2.0, 3.0) == 8.0
    assert apply("sub", "cv", 2.0, 3.0) == -1.0
    with pytest.raises(ValueError, match="form"):
        apply("tanh", "vc", 1.0, 2.0)
    with pytest.raises(KeyError, match="nope"):
        get_op("nope")


def test_spellings() -> None:
    assert OPS["add"].spell("cv", "2.0", "x") == "2.0 + x"
    assert OPS["neg"].spell("v", "x") == "-x"
    assert OPS["sigmoid"].spell("v", "v3") == "v3.sigmoid()"
    assert OPS["pow"].spell("vv", "a", "b") == "a ** b"


def test_relu_kink_convention() -> None:
    relu = OPS["relu"]
    assert len(relu.kinks) == 1
    kink = relu.kinks[0]
    assert (kink.operand, kink.at, kink.derivative) == (0, 0.0, 0.0)
    assert relu.partials(FLOAT, "v", 0.0) == (0.0,)
    assert relu.partials(FLOAT, "v", -0.0) == (0.0,)
    assert relu.partials(FLOAT, "v", 5e-324) == (1.0,)
    assert relu.partials(MP, "v", mpmath.mpf(0)) == (0,)
    assert (0, 0.0) in relu.breakpoints
    assert all(not op.kinks for op in OPS.values() if op.name not in ("relu", "abs"))


def test_abs_kink_convention_is_pytorchs_in_every_lib() -> None:
    import jax

    op = OPS["abs"]
    (kink,) = op.kinks
    assert (kink.operand, kink.at, kink.derivative) == (0, 0.0, 0.0)
    assert set(kink.alternatives) == {1.0, -1.0}  # x >= 0 and x > 0 branches
    for zero in (0.0, -0.0):
        assert op.partials(FLOAT, "v", zero) == (0.0,)
        assert float(jax.grad(lambda x: op.forward(JAX, x))(zero)) == 0.0
    assert op.partials(MP, "v", mpmath.mpf(0)) == (0,)
    assert op.partials(FLOAT, "v", -5e-324) == (-1.0,)
    # (JAX on CPU treats subnormals as 0: its nearest-to-0 check is at a normal float.)
    assert float(jax.grad(lambda x: op.forward(JAX, x))(-1e-300)) == -1.0


def test_readme_op_table() -> None:
    table = readme_op_table()
    lines = table.strip().splitlines()
    assert lines[0].startswith("| op |")
    assert lines[1].startswith("|---")
    assert len(lines) == 2 + len(OPS)
    for line, name in zip(lines[2:], OPS):
        assert line.startswith(f"| {name} |")
        assert line.count("|") == lines[0].count("|")
    assert "`a ** k`, `k ** a`, `a ** b`" in table
    assert "`2" not in table  # constants are spelled k
    assert "relu'(0) = 0" in table


def test_importing_reference_does_not_import_jax_or_engine() -> None:
    code = "import gradoracle.reference, sys; print('jax' in sys.modules, 'engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---- the JAX lib -----------------------------------------------------------------------------


@pytest.mark.jax
@pytest.mark.parametrize(("name", "form", "a", "b", "value", "partials"), HAND)
def test_jax_forward_and_grads_match_hand_values(
    name: str,
    form: str,
    a: float,
    b: float | None,
    value: float,
    partials: tuple[float | None, ...],
) -> None:
    jax = pytest.importorskip("jax")
    op = OPS[name]
    args = (a,) if b is None else (a, b)
    assert float(op.forward(JAX, *args)) == pytest.approx(value, rel=1e-15, abs=1e-300)
    grads = jax.grad(lambda *xs: op.forward(JAX, *xs), argnums=tuple(range(len(args))))(*args)
    for g, want in zip(grads, partials):
        if want is not None:
            # jax differentiates tanh as 1 - t*t: absolute rounding ~eps, e.g. 0 at tanh(-30)
            assert float(g) == pytest.approx(want, rel=1e-14, abs=1e-15)


@pytest.mark.jax
def test_jax_relu_kink_and_nan_free_gradients() -> None:
    jax = pytest.importorskip("jax")
    assert float(jax.grad(JAX.relu)(0.0)) == 0.0
    bad = [
        (-2.0, 0.5),
        (0.0, 0.5),
        (0.0, -1.0),
        (1.0, 0.0),
        (-1.0, 0.0),
        (800.0, 2.0),
        (1e-200, -2.0),
        (10.0, 400.0),
    ]
    for op in OPS.values():
        for a, b in bad:
            args = (a,) if op.arity == 1 else (a, b)
            # A branch computed but not selected receives a zero cotangent: no NaN may come out.
            grads = jax.grad(
                lambda *xs, op=op: 0.0 * op.forward(JAX, *xs), argnums=tuple(range(len(args)))
            )(*args)
            assert all(math.isfinite(float(g)) for g in grads), (op.name, a, b)
    assert math.isnan(float(JAX.log(-1.0)))
    assert math.isnan(float(JAX.pow(-8.0, 0.5)))
    assert float(JAX.pow(-2.0, 3.0)) == -8.0


# ---- sampling regions ----------------------------------------------------------------------------

REGIONS = [(op, r) for op in OPS.values() for r in op.regions]


@pytest.mark.parametrize(("op", "region"), REGIONS, ids=[f"{o.name}-{r.name}" for o, r in REGIONS])
def test_regions_describe_valid_draws(op: Op, region: Region) -> None:
    """A region's form is the op's, constants have spans, its draws lie in its spans, and most
    draws (the other operand an ordinary value) are in the op's domain with a finite value."""
    assert region.form in op.forms and 0 < region.weight < 0.05
    assert len(region.operands) == op.arity
    assert all(s is not None for s, f in zip(region.operands, region.form) if f == "c")
    assert not region.same or (region.form == "vv" and region.operands == (None, None))
    assert not region.either_side or sum(s is not None for s in region.operands) == 1
    rng = random.Random(region.name)
    ok = 0
    for _ in range(400):
        xs = []
        for span in region.operands:
            x = draw_real(rng) if span is None else span.draw(rng)
            assert span is None or span.contains(x), (span, x)
            assert span is None or type(x) is float or (span.ints and float(x).is_integer())
            xs.append(x)
        if region.same:
            xs[1] = xs[0]
        a, b = xs[0], xs[1] if op.arity == 2 else None
        if region.finite_partials:
            ok += op.float_ok(region.form, a, b)
        else:
            ok += op.in_domain(region.form, a, b) and math.isfinite(op.forward(FLOAT, a, b))
    assert ok >= 0.5 * 400, ok


def test_spans_draw_and_contain() -> None:
    rng = random.Random(0)
    zero = Span("values", values=(0.0,), ints=1.0)
    assert zero.draw(rng) == 0 and type(zero.draw(rng)) is int and zero.contains(0.0)
    neg = Span("uniform", 0.1, 3.0, sign=-1)
    assert all(-3.0 <= neg.draw(rng) <= -0.1 for _ in range(100))
    assert neg.contains(-1.0) and not neg.contains(1.0) and not neg.contains(math.nan)
    both = Span("log", -3.0, 3.0, sign=0)
    drawn = [both.draw(rng) for _ in range(200)]
    assert min(drawn) < 0 < max(drawn) and all(both.contains(x) for x in drawn)
    assert both.contains(-1e-3) and not both.contains(1e4) and not both.contains(0.0)
    ints = Span("integers", -3.0, 3.0, ints=0.5)
    kinds = {type(ints.draw(rng)) for _ in range(100)}
    assert kinds == {int, float} and ints.contains(2) and not ints.contains(2.5)
    tiny = Span("log", math.log10(5e-324), -320.0)
    assert all(tiny.draw(rng) >= 5e-324 for _ in range(100))


def test_the_deep_graphs_are_described() -> None:
    assert 0 < DEEP_GRAPHS.share < 0.05
    assert 28 < DEEP_GRAPHS.min_ops < DEEP_GRAPHS.max_ops and 0.5 < DEEP_GRAPHS.newest < 1


EXTREMES = [(op, extreme) for op in OPS.values() for extreme in op.extremes]


@pytest.mark.parametrize(
    ("op", "extreme"), EXTREMES, ids=[f"{o.name}{e.operands}" for o, e in EXTREMES]
)
def test_extremes_have_finite_exact_answers(op: Op, extreme: Any) -> None:
    """What the battery asks at float64's edges has an answer: in the domain, the value a finite
    float in float64 and to 50 digits (they agree), each local derivative too, or beyond float64's
    range in both (log's slope at 5e-324: the comparator does not judge gradients through it)."""
    a, b = (*extreme.operands, None)[:2]
    assert extreme.form in op.forms and op.in_domain(extreme.form, a, b)
    value = op.forward(FLOAT, a, b)
    partials = [p for p in op.partials(FLOAT, extreme.form, a, b, value) if p is not None]
    with mpmath.workdps(50):
        mp_args = [mpmath.mpf(x) for x in extreme.operands]
        exact = op.forward(MP, *mp_args)
        mp_partials = [p for p in op.partials(MP, extreme.form, *mp_args, exact) if p is not None]
        assert math.isfinite(value) and abs(float(exact) - value) <= 4 * math.ulp(float(exact))
        for p, q in zip(partials, mp_partials, strict=True):
            if math.isfinite(p):
                assert abs(float(q) - p) <= 1e-12 * abs(float(q)) + 1e-300, (p, q)
            else:
                assert abs(q) > sys.float_info.max, (p, q)
