"""Counterexamples as code: a snippet runs exactly as printed, in a fresh interpreter in the
directory `check` ran in, and its output shows the failure.

- The import line comes from the user's MODULE:CLASS, never from the class (a compiled class
  reports its module as `builtins`), and an adapter spells leaves, backward() and the reads its own
  way (Adapter.snippet_* templates), and method ops with the engine's names (Adapter.spellings:
  `a.ln()` where the engine calls log `ln`).
- Checked from another folder (a child of `gradoracle check --each DIR` runs in the target's own
  folder), a snippet begins with a comment saying where to run it (`located`).
- Numbers print at full precision, through float(): `str()` of a numpy float32 prints `1e-10` for
  1.0000000133e-10 and hides the error. Each printed quantity is followed by the expected answer
  (the exact one where it was computed, else JAX's), and the wrong ones are marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradoracle.reference.compare import FAIL, Quantity
from gradoracle.reference.graph import Graph

if TYPE_CHECKING:
    from gradoracle.fuzz.adapters import Adapter

WRONG = "<-- wrong"
DIFFERS = "<-- differs"  # another convention than the reference's: not wrong, but not ours


def _read(template: str, name: str, quantity: Quantity | None) -> str:
    """The expression that prints one quantity: through float() unless the engine gave None."""
    expression = template.format(x=name)
    return expression if quantity is not None and quantity.impl is None else f"float({expression})"


def _expected(quantity: Quantity | None) -> str:
    if quantity is None:
        return ""
    best = quantity.truth if quantity.truth is not None else quantity.jax
    mark = f"  {WRONG}" if quantity.status == FAIL else ""
    return f", '  expected {best!r}{mark}'"


def located(snippet: str, run_in: str) -> str:
    """The snippet with a first line saying where to run it, e.g. `# run in students/alice (where
    engine.py is)`; unchanged when `run_in` is empty (it runs where `check` ran)."""
    return f"# run in {run_in}\n{snippet}" if run_in else snippet


def prints(graph: Graph, adapter: Adapter, quantities: Sequence[Quantity] = ()) -> list[str]:
    """print() lines for the output's value and every input's gradient, beside the expected."""
    by_name = {q.name: q for q in quantities}
    lines = []
    value = by_name.get("value")
    read = _read(adapter.snippet_data, "out", value)
    data, grad = adapter.spellings.data, adapter.spellings.grad
    lines.append(f"print('out.{data} =', {read}{_expected(value)})")
    for i in graph.inputs:
        q = by_name.get(f"x{i}")
        read = _read(adapter.snippet_grad, f"x{i}", q)
        lines.append(f"print('x{i}.{grad} =', {read}{_expected(q)})")
    return lines


def graph_snippet(
    graph: Graph, adapter: Adapter, quantities: Sequence[Quantity] = (), backward_calls: int = 1
) -> str:
    """The graph built with the adapter's spellings, backward() `backward_calls` times, and the
    quantities printed (see the module docstring)."""
    head = _built(graph, adapter)
    backward = adapter.snippet_backward.format(out="out")
    calls = [backward] + [
        f"{backward}  # call {k}: the leaf gradients must be {k} times the first"
        for k in range(2, backward_calls + 1)
    ]
    return head + "\n".join([*calls, *prints(graph, adapter, quantities)]) + "\n"


def value_snippet(graph: Graph, adapter: Adapter, expected: str, mark: str = WRONG) -> str:
    """The graph built and its output printed beside what was expected and `mark` (no backward
    pass: for cases about the value itself, such as log(-1) outside its domain)."""
    read = adapter.snippet_data.format(x="out")
    shown = f"  expected {expected}  {mark}"
    return _built(graph, adapter) + f"print('out.data =', {read}, {shown!r})\n"


def _built(graph: Graph, adapter: Adapter) -> str:
    """The import, the leaves and the ops, up to `out = ...`."""
    text = graph.to_snippet(adapter.import_line, adapter.class_name, adapter.spellings.methods)
    head = text[: text.index("out.backward()\n")]
    if adapter.snippet_leaf != "{cls}({value})":
        for i in graph.inputs:
            value = graph.nodes[i].value
            old = f"x{i} = {adapter.class_name}({value!r})"
            new = adapter.snippet_leaf.format(cls=adapter.class_name, value=repr(value))
            head = head.replace(old, f"x{i} = {new}")
    return head
