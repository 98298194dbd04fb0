"""The battery's behaviour cases, run inside the worker (fuzz.isolation.IsolatedImpl.call): each
takes the adapter first, builds what it needs, and returns plain numbers that pickle. The parent
(fuzz.battery) knows the right answers; nothing here judges.

Gradients come back as floats, or None where the engine left `grad = None` (PyTorch's convention
for an input nothing flowed into): the parent accepts None only where the true gradient is 0.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from gradoracle.fuzz.battery_graphs import chain_to_run, fan_out, stacked_diamonds
from gradoracle.fuzz.probe import Spelling
from gradoracle.reference.graph import Graph, build_nodes

Number = float | None
MEMORY_DEPTH = 50  # steps per chain in memory_rounds
SHALLOW = 2  # steps of the chain a deep chain's result is told apart from


def _number(x: Any) -> Number:
    return None if x is None else float(x)


def _grads(adapter: Any, inputs: list[Any]) -> list[Number]:
    return [_number(adapter.grad(x)) for x in inputs]


def repeated_backward(adapter: Any, graph_json: str, times: int) -> list[list[Number]]:
    """The leaf gradients after each of `times` backward() calls on one built graph."""
    inputs, out = adapter.build(Graph.from_json(graph_json))
    after = []
    for _ in range(times):
        adapter.backward(out)
        after.append(_grads(adapter, inputs))
    return after


def build_all(adapter: Any, graph: Graph) -> list[Any]:
    """Every node's object (constants as plain numbers), built with the adapter's leaf factory:
    a Value class's constructor, or an adapter's `leaf`, and its method ops' names. Raises
    AttributeError if it has no leaf factory."""
    leaf = getattr(adapter, "cls", None) or adapter.leaf
    return build_nodes(graph, leaf, adapter.spellings.methods)


def two_roots(adapter: Any, graph_json: str, first: int) -> tuple[list[Number], list[Number]]:
    """backward() from node `first`, then from the output, on one built graph: the leaf gradients
    after each (no zeroing between them: the second call's contribution is the difference)."""
    graph = Graph.from_json(graph_json)
    objs = build_all(adapter, graph)
    inputs = [objs[i] for i in graph.inputs]
    adapter.backward(objs[first])
    after_first = _grads(adapter, inputs)
    adapter.backward(objs[graph.output])
    return after_first, _grads(adapter, inputs)


def inputs_after_backward(
    adapter: Any, graphs_json: list[str]
) -> list[tuple[list[Number], list[Number]] | None]:
    """For each graph: its inputs' .data right after building, and after backward(); None for a
    graph that raised (the probe and the random graphs report that)."""
    changes: list[tuple[list[Number], list[Number]] | None] = []
    for text in graphs_json:
        try:
            inputs, out = adapter.build(Graph.from_json(text))
            before = [_number(adapter.data(x)) for x in inputs]
            adapter.backward(out)
            changes.append((before, [_number(adapter.data(x)) for x in inputs]))
        except Exception:
            changes.append(None)
    return changes


def run_graph(adapter: Any, graph: Graph) -> tuple[Number, list[Number], float]:
    """Build, backward and read one graph: value, gradients, and the CPU seconds it took."""
    start = time.process_time()
    inputs, out = adapter.build(graph)
    adapter.backward(out)
    seconds = time.process_time() - start
    return _number(adapter.data(out)), _grads(adapter, inputs), seconds


def deep_chain(adapter: Any, spelling: Spelling, depth: int) -> tuple[Number, list[Number], float]:
    return run_graph(adapter, chain_to_run(spelling, depth))


def deep_chains(adapter: Any, spellings: list[Spelling], depth: int) -> list[Any]:
    """For each spelling, in one call: the chain of `depth` steps's result and that of a chain of
    SHALLOW steps, each a (value, grads, seconds) triple or what it raised as a string. The parent
    reports only what goes wrong with depth; the rest is the probe's and the random graphs'."""
    results: list[Any] = []
    for spelling in spellings:
        pair: list[Any] = []
        for steps in (depth, SHALLOW):
            try:
                pair.append(run_graph(adapter, chain_to_run(spelling, steps)))
            except Exception as e:
                pair.append(f"{type(e).__name__}: {e}")
        results.append(tuple(pair))
    return results


def wide_fan_out(adapter: Any, name: str, width: int) -> tuple[Number, list[Number], float]:
    return run_graph(adapter, fan_out(name, width))


def diamonds(adapter: Any, name: str, levels: int) -> tuple[Number, list[Number], float]:
    return run_graph(adapter, stacked_diamonds(name, levels))


def resident_bytes() -> int | None:
    """This process's resident memory (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_rounds(adapter: Any, spelling: Spelling, graphs: int, rounds: int) -> list[int | None]:
    """Resident memory after each round of building, backward and dropping `graphs` chains of
    MEMORY_DEPTH steps (collected each time): an engine that frees its graphs levels off after a
    round. Short chains: a deep graph is another case's business."""
    sizes = []
    graph = chain_to_run(spelling, MEMORY_DEPTH)
    for _ in range(rounds):
        for _ in range(graphs):
            run_graph(adapter, graph)
        gc.collect()
        sizes.append(resident_bytes())
    return sizes
