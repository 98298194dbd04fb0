"""Tests that kill what mutmut's mutants of engine/ showed no test noticed (`mutmut run`, configured
in pyproject.toml). Each test names the mutants it kills; the equivalent survivors are listed at the
end with the reason no test can tell them apart.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from engine import Value, draw_dot
from engine.nn import MLP, Neuron
from engine.viz import _record_text

graphviz = pytest.importorskip("graphviz")


def _node_attrs(source: str, label_part: str) -> str:
    """The attribute list of the DOT node whose label contains `label_part`."""
    for line in source.splitlines():
        if "->" not in line and "label=" in line and label_part in line:
            return line
    raise AssertionError(f"no node labelled with {label_part!r} in\n{source}")


# -- engine.engine ------------------------------------------------------------------------------

x, y = Value(2.0), Value(3.0)
OP_LABELS = [
    (lambda: x + y, "+"),
    (lambda: x + 1, "+"),
    (lambda: 1 + x, "+"),
    (lambda: x - y, "-"),
    (lambda: x - 1, "-"),
    (lambda: 1 - x, "-"),
    (lambda: x * y, "*"),
    (lambda: x * 2, "*"),
    (lambda: 2 * x, "*"),
    (lambda: x / y, "/"),
    (lambda: x / 2, "/"),
    (lambda: 2 / x, "/"),
    (lambda: -x, "neg"),
    (lambda: x**y, "**"),
    (lambda: x**2, "**2"),
    (lambda: 2**x, "2**"),
    (lambda: x.tanh(), "tanh"),
    (lambda: x.exp(), "exp"),
    (lambda: x.log(), "log"),
    (lambda: x.relu(), "ReLU"),
    (lambda: (-x).relu(), "ReLU"),
    (lambda: x.sigmoid(), "sigmoid"),
]


@pytest.mark.parametrize(("make", "label"), OP_LABELS, ids=[label for _, label in OP_LABELS])
def test_every_op_spelling_records_its_op_name(make: Callable[[], Value], label: str) -> None:
    # The op name is what draw_dot shows on the op node (micrograd's `_op`). Kills the
    # '"+"' -> None / "XX+XX" / "RELU" mutants of every op, in every form.
    out = make()
    assert out._op == label
    assert out.label == ""  # x__node__mutmut_8
    assert out.grad == 0.0  # x__node__mutmut_6: a new result has no gradient yet


def test_a_new_value_has_an_empty_label() -> None:
    # xǁValueǁ__init____mutmut_1.
    assert Value(1.0).label == ""


def test_value_of_a_non_number_names_the_type() -> None:
    # xǁValueǁ__init____mutmut_3, _4.
    with pytest.raises(TypeError, match=r"^Value\(\) needs an int or float, not 'str'$"):
        Value("1.0")  # type: ignore[arg-type]


SPELLINGS = [
    (lambda: x + "a", r"\+"),
    (lambda: "a" + x, r"\+"),
    (lambda: x - "a", "-"),
    (lambda: "a" - x, "-"),
    (lambda: x * "a", r"\*"),
    (lambda: "a" * x, r"\*"),
    (lambda: x / "a", "/"),
    (lambda: "a" / x, "/"),
    (lambda: x ** "a", r"\*\*"),
    (lambda: "a" ** x, r"\*\*"),
]


@pytest.mark.parametrize(
    ("make", "op"),
    SPELLINGS,
    ids=["add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "pow", "rpow"],
)
def test_a_non_number_operand_is_refused_naming_the_operator(
    make: Callable[[], Any], op: str
) -> None:
    # The _operand(other, "+") -> None / "XX+XX" mutants of every operator and reflection.
    with pytest.raises(TypeError, match=rf"^unsupported operand type for {op}: 'str'$"):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: Value(-2.0) ** Value(0.5), lambda: Value(-2.0) ** 0.5, lambda: (-2.0) ** Value(0.5)],
    ids=["vv", "vc", "cv"],
)
def test_a_negative_base_with_a_fractional_exponent_names_the_operator(
    make: Callable[[], Value],
) -> None:
    # xǁValueǁ__pow____mutmut_9, _51 and xǁValueǁ__rpow____mutmut_14 (the op name in the message).
    with pytest.raises(ValueError, match=r"^\*\*: negative base -2.0 with non-integer exponent"):
        make()


def test_zero_to_a_negative_power_names_the_operator() -> None:
    # x__float_pow__mutmut_8.
    with pytest.raises(ZeroDivisionError, match=r"^\*\*: 0.0 raised to the negative power -1.0$"):
        Value(0.0) ** -1.0


@pytest.mark.parametrize("spelling", ["vc", "vv"])
def test_the_slope_of_x_to_the_zero_is_zero(spelling: str) -> None:
    # x__power_rule__mutmut_3 (d(x**0)/dx = 1).
    a = Value(1.5)
    out = a**0.0 if spelling == "vc" else a ** Value(0.0)
    assert out.data == 1.0
    out.backward()
    assert a.grad == 0.0


def test_zero_to_a_fractional_power_has_a_vertical_slope() -> None:
    # x__float_pow__mutmut_2 (0.0 ** 0.5 refused like a negative base) and
    # x__power_rule__mutmut_14..17 (the infinite slope's copysign broken).
    a = Value(0.0)
    out = a**0.5
    assert out.data == 0.0
    out.backward()
    assert a.grad == math.inf


@pytest.mark.parametrize(("base", "slope"), [(1e-120, -math.inf), (-1e-120, math.inf)])
def test_a_slope_that_alone_overflows_keeps_its_sign(base: float, slope: float) -> None:
    # x__power_rule__mutmut_21 (base < 1.0 for base < 0.0). x**-2 is finite (1e240), its slope
    # -2 * x**-3 (-+2e360) overflows: the sign comes from -2 and the sign of x**-3.
    a = Value(base)
    out = a**-2.0
    assert math.isfinite(out.data)
    out.backward()
    assert a.grad == slope


@pytest.mark.parametrize("spelling", ["vv", "cv"])
def test_zero_to_a_variable_power(spelling: str) -> None:
    # x__exponent_rule__mutmut_1, _5, _6, _7: d(0**b)/db is 0 (0**b is 0 for every b > 0).
    b = Value(2.0)
    a = Value(0.0)
    out = a**b if spelling == "vv" else 0.0**b
    assert out.data == 0.0
    out.backward()
    assert b.grad == 0.0
    assert a.grad == 0.0


def test_relu_of_a_negative_keeps_its_operand() -> None:
    # xǁValueǁrelu__mutmut_17 (the x <= 0 branch drops its operand: the gradient, 0, is right, but
    # the graph is cut, so the relu node is taken for a leaf and its grad accumulates).
    a = Value(-1.0)
    r = a.relu()
    out = r * 2.0
    assert r._a is a
    out.backward()
    out.backward()
    assert r.grad == 2.0  # interior grads are recomputed by each backward(), not accumulated
    assert a.grad == 0.0


# -- engine.viz -----------------------------------------------------------------------------------


def test_draw_dot_renders_svg_by_default() -> None:
    # x_draw_dot__mutmut_4 (format=None) and _6 (no format: graphviz's default, pdf).
    assert draw_dot(Value(1.0)).format == "svg"


def test_highlighted_values_and_only_they_are_red() -> None:
    # x_draw_dot__mutmut_18..29 (the condition, the keys, the colour) and _38 (style dropped).
    a = Value(1.5, label="a")
    b = Value(2.5, label="b")
    source = draw_dot(a * b, highlight=frozenset({id(a)})).source
    red = _node_attrs(source, "a | data")
    assert re.search(r"\bcolor=red\b", red) and re.search(r"\bfontcolor=red\b", red), red
    plain = _node_attrs(source, "b | data")
    assert "red" not in plain.lower(), plain


def test_record_text_escapes_only_record_syntax() -> None:
    # x__record_text__mutmut_1 (escapes 'X' as well).
    assert _record_text("MAX x") == "MAX x"
    assert _record_text('a|b{c}<d>"e\\') == 'a\\|b\\{c\\}\\<d\\>\\"e\\\\'


# -- engine.nn ------------------------------------------------------------------------------------


def test_a_neuron_ignores_extra_inputs_like_micrograd() -> None:
    # xǁNeuronǁ__call____mutmut_13 (zip(..., strict=True) raises on a length mismatch). micrograd
    # zips weights and inputs without checking their lengths; engine.nn keeps that behaviour.
    random.seed(0)
    n = Neuron(2, nonlin=False)
    out = n([1.0, 2.0, 3.0])
    assert isinstance(out, Value)
    assert out.data == n.w[0].data * 1.0 + n.w[1].data * 2.0 + n.b.data


def test_an_mlp_with_a_one_neuron_hidden_layer() -> None:
    # xǁMLPǁ__call____mutmut_5 (a single Value between layers passed on without wrapping it).
    random.seed(0)
    model = MLP(2, [1, 1])
    out = model([1.0, -2.0])
    assert isinstance(out, Value)
    h = model.layers[0].neurons[0]
    o = model.layers[1].neurons[0]
    hidden = max(0.0, h.w[0].data * 1.0 + h.w[1].data * -2.0 + h.b.data)
    assert out.data == pytest.approx(o.w[0].data * hidden + o.b.data, rel=1e-15)


# -- equivalent survivors -------------------------------------------------------------------------
#
# engine.viz.x_draw_dot__mutmut_9: format="SVG" for "svg". graphviz lowercases the format, so the
#   Digraph is the same object state (Digraph(format="SVG").format == "svg").
# engine.nn.xǁNeuronǁ__call____mutmut_9 and _12: zip(..., strict=None) and zip(...) for
#   zip(..., strict=False). strict=False is zip's default and None is falsy: the same behaviour.
# engine.engine.x__power_rule__mutmut_7 and _13: the op name passed to _float_pow (None,
#   "XX**XX") only appears in the messages of ZeroDivisionError and OverflowError, which
#   _power_rule catches and turns into a signed infinity: the message is never seen.
# engine.engine.x__power_rule__mutmut_20: `base <= 0.0` for `base < 0.0` in the overflow branch.
#   A zero base never overflows (0.0 ** k is 0 for k > 0 and ZeroDivisionError for k < 0).
# engine.engine.x__power_rule__mutmut_23: (exponent + 1) % 2 for (exponent - 1) % 2: the two
#   differ by 2, so they have the same parity (and round to the same even float when |k| >= 2**53).
# engine.engine.xǁValueǁsigmoid__mutmut_2: `x > 0.0` for `x >= 0.0`. At x == 0 the other branch
#   computes exp(0) / (1 + exp(0)) == 0.5 exactly, as 1 / (1 + exp(-0)) does.
# engine.engine.xǁValueǁsigmoid__mutmut_3: `x >= 1.0` for `x >= 0.0`. Both formulas are stable
#   and correctly rounded to within an ulp or two on [0, 1) (no overflow there): they differ only
#   in rounding, which no specification of sigmoid pins down (the comparator allows it).
# engine.engine.xǁValueǁbackward__mutmut_2: pending[self] starts at 1 instead of 0. The output
#   is no operand of any node below it (a DAG has no cycles), so its count is never read.
# engine.engine.x__node__mutmut_1: db defaults to 1.0 instead of 0.0. Only unary ops omit b, and
#   with b None the local derivative _db is never read.
# engine.engine.xǁValueǁ__init____mutmut_13, _14, _16, _17: a leaf's _da and _db set to None or
#   1.0 instead of 0.0. A leaf has no operands (_a and _b are None): its local derivatives are
#   never read, by backward() or by draw_dot.
