"""PyTorch as an implementation under test: float64 0-d tensors with ``requires_grad``.

    gradoracle check fuzz.torch_adapter:TorchAdapter --budget 30

Leaves are ``torch.tensor(x, dtype=torch.float64, requires_grad=True)``, constants stay plain
floats (``t + 2.0``, ``2.0 ** t``), and every op is spelled as on a micrograd Value (``a * b``,
``a.tanh()``, ``a.relu()``, ...), which 0-d tensors all support. ``backward`` keeps the graph
(``retain_graph=True``), so a second call accumulates into the leaves as micrograd's does; a leaf
that never received a gradient reads as 0.0. torch is imported when the adapter is created, never
when ``fuzz`` is: the oracle does not need torch, only this adapter does.

Your own adapter
----------------
``gradoracle check MODULE:CLASS`` accepts, besides a micrograd-shaped class, any subclass of
`fuzz.adapters.Adapter` (created with no arguments). Four methods say how to drive your engine;
the probing, the semantics battery, the isolation and the reports come for free. For an engine whose
values are made by ``mylib.var(x)``, whose backward pass is ``mylib.grad(out)`` and whose numbers
are read with ``float()``::

    # my_adapter.py, next to your code
    import mylib
    from gradoracle.fuzz.adapters import Adapter
    from gradoracle.reference.graph import build

    class MyAdapter(Adapter):
        def build(self, graph):            # -> (inputs in input order, output)
            return build(graph, mylib.var)  # leaves from the factory, ops as Python operators

        def backward(self, out):
            mylib.grad(out)

        def data(self, x):
            return float(x)

        def grad(self, x):
            return float(x.gradient)

Then ``gradoracle check my_adapter:MyAdapter``. Set ``import_line`` and ``class_name`` too (as
below) if you want the counterexample snippets of the report to run as they are printed.
"""

from __future__ import annotations

from typing import Any

from gradoracle.fuzz.adapters import Adapter
from gradoracle.reference.graph import Graph, build

# Counterexample snippets build leaves with `Value(x)`: for PyTorch that is this function.
_SNIPPET_HEADER = (
    "import torch\n\n\n"
    "def Value(x):\n"
    "    return torch.tensor(x, dtype=torch.float64, requires_grad=True)\n"
)


class TorchAdapter(Adapter):
    """PyTorch float64 scalars through autograd (see the module docstring)."""

    name = "torch"
    import_line = _SNIPPET_HEADER
    class_name = "Value"
    snippet_backward = "{out}.backward(retain_graph=True)"
    snippet_data = "{x}.item()"

    def __init__(self) -> None:
        import torch  # here, not at module level: importing fuzz must never need torch

        self.torch: Any = torch
        self.name = f"torch {torch.__version__}"

    def leaf(self, x: float) -> Any:
        """A leaf the gradients flow into: a float64 0-d tensor that requires grad."""
        return self.torch.tensor(x, dtype=self.torch.float64, requires_grad=True)

    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        return build(graph, self.leaf)

    def backward(self, out: Any) -> None:
        # retain_graph: a second backward() runs the same graph again and adds into the leaves'
        # .grad, like micrograd; without it torch raises on the second call.
        out.backward(retain_graph=True)

    def data(self, x: Any) -> float:
        return float(x.item())

    def grad(self, x: Any) -> float:
        g = x.grad
        return 0.0 if g is None else float(g.item())

    def zero_grad(self, x: Any) -> None:
        x.grad = None  # a tensor's grad must be a tensor or None
