"""simplegrad 0.1.0 (a C++ engine, pybind11) through an adapter: its `Node` has micrograd's
operators and `backward()`, but `data()` and `grad()` are methods, which spelling detection does
not take for numbers. Snippets spell them so and run as printed."""

from __future__ import annotations

from typing import Any

import simplegrad

from gradoracle.fuzz.adapters import Adapter
from gradoracle.reference.graph import Graph, build


class SimplegradAdapter(Adapter):
    name = "simplegrad"
    import_line = "from simplegrad import Node"
    class_name = "Node"
    snippet_data = "{x}.data()"
    snippet_grad = "{x}.grad()"

    def leaf(self, x: float) -> Any:
        """What leaves are built with (the battery's two-roots case builds node by node)."""
        return simplegrad.Node(x)

    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        return build(graph, self.leaf)

    def backward(self, out: Any) -> None:
        out.backward()

    def data(self, x: Any) -> float:
        return float(x.data())

    def grad(self, x: Any) -> float:
        return float(x.grad())
