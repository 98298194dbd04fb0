"""The worker's fast path (fuzz.worker._FlatAdapter.read) gives what the adapter's `run` gives:
the same numbers, bit for bit and type for type, and the same exceptions with the same messages
in the same phases, whatever odd types an engine hands back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from convention_engines import IeeeValue
from hostile_engines import RaisingBackward, StrData
from planted_engines import ClosureValue

from gradoracle.fuzz.adapters import ValueClassAdapter
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.fuzz.wire import decode, encode
from gradoracle.fuzz.worker import _FlatAdapter, describe
from gradoracle.reference.graph import Graph, Node


class WholeAsInt(ClosureValue):
    """Reads back a whole-number value or gradient as an int."""

    def __getattribute__(self, name: str) -> Any:
        got = super().__getattribute__(name)
        if name in ("data", "grad") and isinstance(got, float) and got.is_integer():
            return int(got)
        return got


class NoneUntilBackward(ClosureValue):
    """A PyTorch-style grad: None on every leaf backward() did not reach."""

    def __init__(self, data: float, _children: tuple[Any, ...] = ()) -> None:
        super().__init__(data, _children)
        self.grad = None  # type: ignore[assignment]

    def backward(self) -> None:
        for v in _nodes(self):
            if v.grad is None:
                v.grad = 0.0
        super().backward()


def _nodes(v: Any) -> list[Any]:
    seen, order = set(), [v]
    for node in order:
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                order.append(child)
    return order


class Float64Grads(ClosureValue):
    """Gradients read back as numpy float64 (a float subclass)."""

    def __getattribute__(self, name: str) -> Any:
        got = super().__getattribute__(name)
        return np.float64(got) if name == "grad" else got


class SecondGradRaises(ClosureValue):
    """After backward(), reading a leaf's gradient gives a str the first time, then raises."""

    reads = -1  # leaf gradients read since backward(); -1: backward() has not run

    def backward(self) -> None:
        super().backward()
        SecondGradRaises.reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name == "grad" and SecondGradRaises.reads >= 0:
            SecondGradRaises.reads += 1
            if SecondGradRaises.reads == 1:
                return "not a number"
            raise KeyError("grad is gone")
        return super().__getattribute__(name)


ENGINES = [ClosureValue, WholeAsInt, NoneUntilBackward, Float64Grads, SecondGradRaises,
           StrData, RaisingBackward, IeeeValue]  # fmt: skip


def outcome_or_error(call: Any, adapter: Any, graph: Any) -> tuple[str, ...]:
    try:
        value, grads = call(graph)
    except Exception as e:
        return ("raised", describe(e), adapter.phase)
    numbers = (value, *grads)
    return ("ok", repr([(type(n).__name__, n, np.float64(n).tobytes()) for n in numbers]))


@pytest.mark.parametrize("cls", ENGINES, ids=lambda c: c.__name__)
def test_read_gives_what_run_gives(cls: type) -> None:
    x, op = Node.input, Node.apply
    graphs = sample_graphs(21, 150, SamplerConfig(max_ops=12)) + sample_graphs(
        22, 5, SamplerConfig(deep=1.0)
    )
    # an unused input (a None gradient for the PyTorch-style engine), ints, a negative zero
    graphs += [
        Graph((x(1.5), x(2.0), op("tanh", 0))),
        Graph((x(3), Node.const(2), op("mul", 0, 1))),
        Graph((x(-0.0), x(0.5), op("mul", 0, 1))),
    ]
    plain = ValueClassAdapter(cls, f"engines:{cls.__name__}")
    fast = _FlatAdapter(cls, plain.name, plain.spellings)
    flat, flats = decode(encode(graphs), flat=True)
    assert flat
    kinds = set()
    for graph, flat_graph in zip(graphs, flats, strict=True):
        SecondGradRaises.reads = -1
        expected = outcome_or_error(lambda g: (lambda o: (o.value, o.grads))(plain.run(g)),
                                    plain, graph)  # fmt: skip
        SecondGradRaises.reads = -1
        assert outcome_or_error(fast.read, fast, flat_graph) == expected
        kinds.add(expected[0])
    if cls in (ClosureValue, WholeAsInt, NoneUntilBackward, Float64Grads, IeeeValue):
        assert "ok" in kinds
    if cls in (StrData, RaisingBackward, SecondGradRaises):
        assert kinds == {"raised"}
