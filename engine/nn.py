"""Neuron, Layer and MLP with micrograd's API, so micrograd users switch by changing an import."""

from __future__ import annotations

import random
from collections.abc import Sequence

from engine._mypyc import mypyc_attr
from engine.engine import Number, Value


# Compiled, a class refuses subclasses written in Python unless it says otherwise; users subclass
# these (a model of their own is a Module), as with micrograd.
@mypyc_attr(allow_interpreted_subclasses=True)
class Module:
    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []


@mypyc_attr(allow_interpreted_subclasses=True)
class Neuron(Module):
    def __init__(self, nin: int, nonlin: bool = True) -> None:
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Value | Number]) -> Value:
        act = self.b
        for wi, xi in zip(self.w, x, strict=False):
            act = act + wi * xi  # the order of micrograd's sum(..., self.b): same float rounding
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


@mypyc_attr(allow_interpreted_subclasses=True)
class Layer(Module):
    def __init__(self, nin: int, nout: int, nonlin: bool = True) -> None:
        self.neurons = [Neuron(nin, nonlin=nonlin) for _ in range(nout)]

    def __call__(self, x: Sequence[Value | Number]) -> Value | list[Value]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


@mypyc_attr(allow_interpreted_subclasses=True)
class MLP(Module):
    def __init__(self, nin: int, nouts: Sequence[int]) -> None:
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != last) for i in range(len(nouts))]

    def __call__(self, x: Sequence[Value | Number]) -> Value | list[Value]:
        out: Value | Sequence[Value | Number] = x
        for layer in self.layers:
            out = layer(out if isinstance(out, Sequence) else [out])
        assert isinstance(out, Value | list)
        return out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
