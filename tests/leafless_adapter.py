"""An adapter with no `leaf` method: it builds whole graphs only (the project engine inside)."""

from __future__ import annotations

from typing import Any

from engine import Value
from gradoracle.fuzz.adapters import Adapter
from gradoracle.reference.graph import Graph, build


class LeaflessAdapter(Adapter):
    def build(self, graph: Graph) -> tuple[list[Any], Any]:
        return build(graph, Value)

    def backward(self, out: Any) -> None:
        out.backward()

    def data(self, x: Any) -> Any:
        return x.data

    def grad(self, x: Any) -> Any:
        return x.grad
