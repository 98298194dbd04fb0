"""Explicit cases for what random graphs reach too rarely, found by the mutant catalogue
(tests/mutants): every op in every form, alone, with its operand reused, and on distinct nodes
with equal values; and `zero_grad` on every kind of module.

Random graphs put a plain number on a given side of a given op in about 1% of their ops, so a
broken `2 / a` survived 60 examples of the ci profile (mutant `rdiv-as-div`). Here each op and form
runs on a few fixed operand values in four small graphs, judged by the same comparator:

- `op(...)`: the local derivatives;
- `op(x, x)` (two-operand forms): the same node in both operand slots;
- `op(..x..) + x`: a leaf that two consumers push into (overwriting instead of accumulating);
- `op(x0) * op(x1)` with `x0 == x1` in value: distinct nodes with equal values stay distinct.
"""

from __future__ import annotations

import importlib
import random
from types import ModuleType
from typing import Any

import pytest

from gradoracle.fuzz.sampler import KINK_DISTANCE  # as far from kinks as sampled graphs
from gradoracle.reference.compare import FAIL
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.ops import OPS, Op
from gradoracle.suite.explain import explain

# Operand values tried in order; each op and form uses the first pairs inside its domain and at
# least KINK_DISTANCE from its kinks (the kink conventions are checked by test_semantics).
CANDIDATES: tuple[float, ...] = (1.5, 0.75, -0.5, 2.5, -1.25, 3.0, 0.3)
PAIRS_PER_FORM = 2


def _fits(op: Op, form: str, a: float, b: float | None) -> bool:
    if not op.float_ok(form, a, b):
        return False
    operands = (a, b)
    return all(abs(operands[k.operand] - k.at) >= KINK_DISTANCE for k in op.kinks)  # type: ignore[operator]


def operand_values(op: Op, form: str) -> list[tuple[float, ...]]:
    """The first PAIRS_PER_FORM operand tuples (one value per slot) that fit the op and form."""
    found: list[tuple[float, ...]] = []
    if op.arity == 1:
        found = [(a,) for a in CANDIDATES if _fits(op, form, a, None)]
    else:
        found = [(a, b) for a in CANDIDATES for b in CANDIDATES if a != b and _fits(op, form, a, b)]
    # Spread the choice: the first fitting tuple, then one far down the list.
    return [found[0], found[len(found) // 2]][:PAIRS_PER_FORM] if found else []


def case_graphs(name: str, form: str) -> list[tuple[str, Graph]]:
    op = OPS[name]
    cases: list[tuple[str, Graph]] = []
    for values in operand_values(op, form):
        leaves = [Node("const" if f == "c" else "input", v) for f, v in zip(form, values)]
        apply = Node.apply(name, *range(len(form)))
        cases.append((f"{name}({values})", Graph((*leaves, apply))))
        x = form.index("v")  # a variable operand
        cases.append(
            (
                f"{name}({values}) + x",
                Graph((*leaves, apply, Node.apply("add", 2 if op.arity == 2 else 1, x))),
            )
        )
        if form == "vv" and _fits(op, form, values[0], values[0]):
            cases.append((f"{name}(x, x)", Graph((Node.input(values[0]), Node.apply(name, 0, 0)))))
        if op.arity == 1:
            v = values[0]
            equal = (
                Node.input(v),
                Node.input(v),
                Node.apply(name, 0),
                Node.apply(name, 1),
                Node.apply("mul", 2, 3),
            )
            cases.append((f"{name}(x0) * {name}(x1), x0 == x1", Graph(equal)))
    return cases


OP_FORMS = [
    pytest.param(name, form, id=f"{name}-{form}") for name, op in OPS.items() for form in op.forms
]


@pytest.mark.parametrize(("name", "form"), OP_FORMS)
def test_every_op_in_every_form_matches_the_references(
    oracle: Any, supported: dict[str, tuple[str, ...]], name: str, form: str
) -> None:
    if form not in supported.get(name, ()):
        pytest.skip(f"the implementation does not support {name} in form {form!r}")
    cases = case_graphs(name, form)
    assert cases, f"no operand values fit {name} in form {form!r}"
    if "mul" not in supported or "add" not in supported:
        cases = cases[:1]
    for (label, graph), (_, verdict) in zip(
        cases, oracle.judge([g for _, g in cases]), strict=True
    ):
        assert verdict.status != FAIL, f"{label}\n" + explain(graph, verdict, oracle.adapter)


def test_distinct_nodes_with_equal_values_stay_distinct(
    adapter: Any, supported: dict[str, tuple[str, ...]]
) -> None:
    if "relu" not in supported:
        pytest.skip("the implementation has no relu")
    # x0 and x1 hold the same number; so do x0 * 1.0, relu(x0) and x0 (x0 > 0).
    nodes = (
        *(Node.input(1.5), Node.input(1.5), Node.const(1.0)),
        *(Node.apply("mul", 0, 2), Node.apply("relu", 0), Node.apply("mul", 3, 4)),
        *(Node.apply("mul", 5, 1), Node.apply("add", 6, 0)),
    )
    outcome = adapter.run(Graph(nodes))
    # out = x0**2 * x1 + x0: d/dx0 = 2 x0 x1 + 1 = 5.5 and d/dx1 = x0**2 = 2.25, exact in floats.
    assert outcome.value == 4.875
    assert outcome.grads == (5.5, 2.25)


def _nn_module(adapter: Any) -> ModuleType:
    """The implementation's nn module beside its Value class (engine.nn, micrograd.nn)."""
    cls = getattr(adapter, "cls", None)
    package = getattr(cls, "__module__", "").rpartition(".")[0]
    if not package:  # a Value in a top-level module (notebook_engine.py) or an adapter
        pytest.skip("the implementation has no package with an nn module")
    try:
        return importlib.import_module(f"{package}.nn")
    except ImportError:
        pytest.skip(f"the implementation has no {package}.nn module")


def test_zero_grad_resets_every_parameter_of_every_module(adapter: Any) -> None:
    nn = _nn_module(adapter)
    random.seed(0)
    x = [1.0, -2.0, 0.5]
    models = {
        "Neuron": nn.Neuron(3, nonlin=False),
        "Layer": nn.Layer(3, 2, nonlin=False),
        "MLP": nn.MLP(3, [4, 1]),
    }
    for kind, model in models.items():
        out = model(x)
        total: Any = sum(out) if isinstance(out, list) else out
        total.backward()
        biases = (
            [n.b for n in getattr(model, "neurons", [model])]
            if kind != "MLP"
            else [n.b for n in model.layers[-1].neurons]
        )
        assert all(b.grad != 0.0 for b in biases), f"{kind}: the test needs nonzero bias grads"
        model.zero_grad()
        stale = [p for p in model.parameters() if p.grad != 0.0]
        assert not stale, f"{kind}.zero_grad() left {len(stale)} parameter grads nonzero"
