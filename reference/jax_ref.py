"""The JAX float64 reference: value, reverse-mode gradients and a forward-mode (JVP) cross-check.

Tracing and compiling JAX per graph costs milliseconds (jit: ~50 ms), far more than an engine spends
on a small graph. So graphs are compiled to data instead (`reference.tape`): one jitted interpreter
per size bucket runs any graph of that size, vmapped over a batch of graphs. The interpreter is a
`lax.scan` over the op steps; each step computes every op of the registry (`op.forward(JAX, a, b)`)
and selects the one its opcode names. Under vmap a `lax.switch` on a batched opcode is lowered to
exactly that select anyway (measured: no faster), so the select is written out, which lets each
untaken op see the safe operands (1.0, 1.0) instead of the real ones: an untaken branch then never
produces inf or NaN partials, and 0 * inf = NaN cannot leak into the gradients (the double-where
trick, at the level of the interpreter; `reference.libs.JAX` does the same inside each op).
A batch of one graph is not vmapped: there `lax.switch` really branches and runs only the op taken
(~30 us per call for 30 ops instead of ~110 us).

Gradients come from `jax.value_and_grad` of the interpreter wrt the initial value buffer, the JVP
from `jax.jvp` along `reference.tape.tangent` over the inputs: two independent passes of JAX's own
automatic differentiation, so `jvp == dot(grads, tangent)` checks the reverse pass.
Non-finite values and gradients are returned as computed (the comparator sets them aside).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from reference.graph import Graph, node_values
from reference.libs import FLOAT, JAX
from reference.ops import OPS
from reference.tape import (
    NOP,
    OP_NAMES,
    Bucket,
    CompiledGraph,
    Tape,
    compile_graph,
    pack,
    tangent,
)

# Batch sizes a tape is padded to: each (bucket, batch size) pair is compiled once (~0.5-1 s), and
# a call costs a fixed ~0.1-0.2 ms plus ~5-10 us per graph, so a few sizes, 8x apart, bound both
# the number of compilations and the work wasted on padding.
BATCH_SIZES: tuple[int, ...] = (1, 8, 64, 256)
# Largest batch buffer (graphs x slots) run at once: keeps huge graphs from allocating gigabytes.
MAX_BATCH_SLOTS = 1 << 20
# Forward and reverse mode sum the same chain-rule products in different orders, so they differ by
# rounding: a few ulps per op of the JVP computed without cancellation (|partials|, |tangent|; see
# path_scale). 1e-10 is ~10^5 ulps of that: only a real disagreement trips it.
JVP_RTOL = 1e-10
# Operands fed to the ops a step does not select: 1.0 is inside every op's domain (log, div, pow).
SAFE_OPERAND = 1.0

_traces = 0  # how many times the batched interpreter was traced (i.e. compiled); see trace_count


def trace_count() -> int:
    """Number of (bucket, batch size) shapes traced so far in this process."""
    return _traces


@dataclass(frozen=True)
class JaxResult:
    """The reference's answer for one graph. Non-finite numbers are kept as computed."""

    value: float
    grads: tuple[float, ...]  # d value / d input, in Graph.inputs order
    jvp: float  # forward mode: directional derivative along reference.tape.tangent(len(grads))
    jvp_dot: float  # reverse mode: dot(grads, tangent)
    jvp_consistent: bool  # they agree within JVP_RTOL (False if they or the value are not finite)


RefResult = JaxResult  # the name SPEC.md uses


def _branch(name: str) -> Callable[[Any, Any], Any]:
    op = OPS[name]
    if op.arity == 2:
        return lambda a, b: op.forward(JAX, a, b)
    return lambda a, b: op.forward(JAX, a)


def _branches() -> list[Callable[[Any, Any], Any]]:
    """One function (a, b) -> result per opcode: the registry's ops in order, then NOP."""
    fns = [_branch(name) for name in OP_NAMES]
    fns.append(lambda a, b: a)
    assert len(fns) == NOP + 1
    return fns


@cache
def _interpreter() -> Callable[..., Any]:
    """The jitted interpreter: (values, tangents, codes, left, right, dest, output), each with a
    leading batch axis -> (value, grad buffer, jvp) per graph. jax.jit compiles once per shape."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    branches = _branches()

    def select_step(buf: Any, op: tuple[Any, Any, Any, Any]) -> tuple[Any, None]:
        code, left, right, dest = op
        a, b = buf[left], buf[right]
        results = []
        for k, fn in enumerate(branches):
            taken = code == k
            results.append(fn(jnp.where(taken, a, SAFE_OPERAND), jnp.where(taken, b, SAFE_OPERAND)))
        return buf.at[dest].set(lax.select_n(code, *results)), None

    def switch_step(buf: Any, op: tuple[Any, Any, Any, Any]) -> tuple[Any, None]:
        code, left, right, dest = op
        return buf.at[dest].set(lax.switch(code, branches, buf[left], buf[right])), None

    def one(step: Callable[..., Any], values: Any, tangents: Any, codes: Any, left: Any,
            right: Any, dest: Any, output: Any) -> tuple[Any, Any, Any]:
        def run(buf: Any) -> Any:
            final, _ = lax.scan(step, buf, (codes, left, right, dest))
            return final[output]

        value, grads = jax.value_and_grad(run)(values)
        _, jvp = jax.jvp(run, (values,), (tangents,))
        return value, grads, jvp

    def interpret(*arrays: Any) -> tuple[Any, Any, Any]:
        global _traces
        _traces += 1  # runs only while tracing: counts compilations
        if arrays[0].shape[0] == 1:  # one graph: a real switch runs only the op taken
            return tuple(x[None] for x in one(switch_step, *(a[0] for a in arrays)))
        return jax.vmap(lambda *row: one(select_step, *row))(*arrays)

    return jax.jit(interpret)


def enable_x64() -> None:
    import jax

    # JAX computes in float32 unless told otherwise; the whole project compares in float64.
    jax.config.update("jax_enable_x64", True)


def batch_size_for(n: int, sizes: Sequence[int] = BATCH_SIZES) -> int:
    """The smallest allowed batch size that holds n graphs (n <= max(sizes))."""
    return next(size for size in sorted(sizes) if size >= n)


class JaxReference:
    """Evaluates batches of Graphs on a jitted float64 tape interpreter (compiled per bucket)."""

    def __init__(self, batch_sizes: Sequence[int] = BATCH_SIZES) -> None:
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch_sizes must be positive, got {tuple(batch_sizes)}")
        self.batch_sizes = tuple(sorted(batch_sizes))
        enable_x64()
        self._run = _interpreter()

    def evaluate(self, graphs: Sequence[Graph]) -> list[JaxResult]:
        """One result per graph, in order; graphs are grouped by bucket, run in padded batches."""
        results: list[JaxResult | None] = [None] * len(graphs)
        groups: dict[Bucket, list[tuple[int, CompiledGraph]]] = defaultdict(list)
        for index, graph in enumerate(graphs):
            compiled = compile_graph(graph)
            groups[compiled.bucket].append((index, compiled))
        for bucket, members in groups.items():
            chunk = max(1, min(self.batch_sizes[-1], MAX_BATCH_SLOTS // bucket.slots))
            for start in range(0, len(members), chunk):
                part = members[start:start + chunk]
                batch = batch_size_for(len(part), (*self.batch_sizes, chunk))
                tape = pack([compiled for _, compiled in part], bucket, batch)
                for (index, _), result in zip(part, self._run_tape(tape)):
                    results[index] = result if result.jvp_consistent else _recheck(
                        graphs[index], result)
        return results  # type: ignore[return-value]

    def evaluate_one(self, graph: Graph) -> JaxResult:
        return self.evaluate([graph])[0]

    def _run_tape(self, tape: Tape) -> list[JaxResult]:
        value, grads, jvp = (np.asarray(x) for x in self._run(*tape.arrays()))
        rows, slots = tape.input_rows, tape.input_slots
        flat_grads = grads[rows, slots]
        terms = flat_grads * tape.tangents[rows, slots]
        n = len(tape.input_counts)
        dots = np.bincount(rows, weights=terms, minlength=n)
        scales = np.bincount(rows, weights=np.abs(terms), minlength=n)
        jvps = jvp[:n]
        with np.errstate(invalid="ignore"):
            consistent = np.isfinite(value[:n]) & np.isfinite(jvps) & np.isfinite(dots) & (
                np.abs(jvps - dots) <= JVP_RTOL * np.maximum(scales, np.abs(jvps)))
        grad_list = flat_grads.tolist()
        results: list[JaxResult] = []
        start = 0
        for count, v, j, d, ok in zip(
                tape.input_counts, value.tolist(), jvps.tolist(), dots.tolist(),
                consistent.tolist()):
            results.append(JaxResult(v, tuple(grad_list[start:start + count]), j, d, ok))
            start += count
        return results


def path_scale(graph: Graph) -> float:
    """The JVP along the check's tangent without cancellation: the sum over all paths from an input
    to the output of |tangent| * |product of local partials| (NaN if float evaluation fails).

    Rounding errors of both modes are relative to this, not to the result: x / x has a zero
    gradient that forward mode may compute as 1e-20.
    """
    try:
        values = node_values(graph, FLOAT)
        size = [0.0] * len(graph.nodes)
        for i, t in zip(graph.inputs, tangent(len(graph.inputs)).tolist()):
            size[i] = abs(t)
        for i, node in enumerate(graph.nodes):
            if node.op is not None:
                op, args = OPS[node.op], node.args
                b = values[args[1]] if op.arity == 2 else None
                partials = op.partials(FLOAT, graph.forms[i], values[args[0]], b, values[i])
                size[i] = sum(abs(p) * size[a] for p, a in zip(partials, args) if p is not None)
    except (ValueError, ArithmeticError):
        return math.nan
    return size[graph.output]


def _recheck(graph: Graph, result: JaxResult) -> JaxResult:
    """A JVP that failed the quick check (scaled by sum |grad_k * tangent_k|, cheap but blind to
    cancellation inside the graph) gets the exact-path scale: rare, and ~50 us in Python."""
    values = (result.value, result.jvp, result.jvp_dot)
    if not all(math.isfinite(v) for v in values):
        return result
    ok = abs(result.jvp - result.jvp_dot) <= JVP_RTOL * path_scale(graph)
    return replace(result, jvp_consistent=ok) if ok else result
