"""A fast seeded sampler of random expression DAGs over the op registry.

Unlike trees, these graphs reuse nodes on purpose: a node may feed several consumers and both
operands of one op, which is what makes gradient-accumulation bugs visible. Every operand lies
inside its op's domain by construction: operands are chosen among nodes whose (float) value fits the
op, and when none fits, a fresh input is drawn from the op's own domain sampler. Values stay
moderate and away from kinks, so almost every graph is comparable against the references.

Speed matters: a campaign must spend most of its CPU inside the implementation under test, and a
pure-Python sampler cost about as much per op as our engine does. `op_result` is the definition of
"fits"; the drawing loop is compiled with numba (fuzz.sampler_kernel, which writes the same checks
out for it) and writes a batch of graphs as flat arrays. `take` returns the graphs as a list that
carries those arrays (`reference.carried.GraphsWithFlat`: what `FlatGraphs.of` would read back from
the graphs, bit for bit), from which the JAX reference packs its tapes. Each graph's own flat
lists (`reference.tape.CompiledGraph`) are made only when asked for (`Graph.compiled_later`): one
by one for a chunk's first SINGLY graphs asked, then for the whole chunk (the worker's wire and
the reference take a sampled batch from its arrays); its nodes only when asked for; graphs are
valid by construction, and the tests check that `Graph(nodes)` validates them to the same graph.

Regions where bugs live (reference.ops.Region, per op; reference.ops.DEEP_GRAPHS): with each
region's weight an op is drawn there instead (its operands from the region's spans: an existing
node in the span, a new input, up to REGION_INPUTS of them per graph beyond max_inputs, or a
constant), checked by `op_result(..., moderate=False)`; a share of graphs are long chains. Most
graphs stay moderate. `GraphStream.coverage()` counts the regions drawn.

Ints: of the whole-number constants drawn, `int_constants` (default reference.ops.INT_CONSTANTS,
one half) are Python ints (`x ** 2`, `2 * x`, `x / 2`, `2 ** x`), and of the whole-number leaves
`int_leaves` (`Value(2)`): the kernel flags them, and the graphs' leaf values hold ints there.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import call
from typing import Any

import numpy as np

from gradoracle.fuzz import sampler_kernel as kernel
from gradoracle.fuzz.sampler_kernel import ATTEMPTS, KINK_DISTANCE, MAGNITUDE_LIMIT, UNDERFLOW_LIMIT
from gradoracle.reference.carried import GraphsWithFlat, graph_columns, graph_lists
from gradoracle.reference.graph import COMPILED, LATER, Graph
from gradoracle.reference.libs import FLOAT
from gradoracle.reference.ops import (
    DEEP_GRAPHS,
    INT_CONSTANTS,
    INT_LEAVES,
    OPS,
    REGION_INPUTS,
    SMALLEST_SUBNORMAL,
    Op,
    Region,
    Span,
)
from gradoracle.reference.tape import OPCODES, Bucket, CompiledGraph, FlatGraphs, bucket_of

__all__ = [
    "ATTEMPTS", "FOLD_OPS", "KINK_DISTANCE", "MAGNITUDE_LIMIT", "UNDERFLOW_LIMIT", "GraphStream",
    "SamplerConfig", "op_coverage", "op_result", "sample_graphs",
]  # fmt: skip

# Ops that fold the variables nothing consumes into the output, in order of preference (the first
# one that the config allows with two variable operands).
FOLD_OPS = ("add", "sub", "mul")
CHUNK = 256  # graphs drawn per call of the compiled loop
# A chunk's graphs whose lists are made one by one when asked for (~6 us each) before the rest are
# made at once (~570 us a chunk): the parent reads ~12 graphs of a check's batch (the float64 pass).
SINGLY = 64
_sample_batch: Any = kernel.sample_batch  # (a numba Dispatcher: its type hides the signature)
_trimmed: Any = kernel.trimmed


@dataclass(frozen=True)
class SamplerConfig:
    """Shape of the sampled graphs; every field has a default that suits a campaign.

    Treat a config as immutable (its dicts too): the sampler caches what it derives from one.
    """

    ops: tuple[str, ...] = tuple(OPS)
    min_inputs: int = 1
    max_inputs: int = 4
    min_ops: int = 1
    max_ops: int = 30
    reuse: float = 0.5  # chance that an operand is any earlier node rather than a recent one
    same_operand: float = 0.1  # chance that a binary op takes one node as both operands (x * x)
    const: float = 0.25  # chance that a binary op takes a plain-number constant on one side
    fresh_input: float = 0.1  # chance that an operand is a new input (when inputs remain)
    int_constants: float = INT_CONSTANTS  # chance that a whole-number constant is an int
    int_leaves: float = INT_LEAVES  # chance that a whole-number input is an int
    regions: float = 1.0  # multiplies every region's weight (0: ordinary draws only)
    deep: float = DEEP_GRAPHS.share  # chance that a graph is a long chain (DEEP_GRAPHS)
    weights: dict[str, float] = field(default_factory=dict)  # op -> relative weight (default 1)
    forms: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # op -> allowed forms (default all)

    def __post_init__(self) -> None:
        """One-line ValueErrors for what the compiled loop cannot draw (it sizes its buffers from
        these fields and trusts them)."""
        if not 1 <= self.min_inputs <= self.max_inputs:
            raise ValueError(f"need 1 <= min_inputs <= max_inputs, got {self.min_inputs}, "
                             f"{self.max_inputs}")  # fmt: skip
        if not 0 <= self.min_ops <= self.max_ops:
            raise ValueError(f"need 0 <= min_ops <= max_ops, got {self.min_ops}, {self.max_ops}")
        for name in ("reuse", "same_operand", "const", "fresh_input", "int_constants",
                     "int_leaves", "deep"):  # fmt: skip
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)!r}")
        unknown = sorted({*self.ops, *self.weights, *self.forms} - set(OPS))
        if unknown:
            raise ValueError(f"unknown op {unknown[0]!r} (ops: {', '.join(OPS)})")
        if not all(math.isfinite(w) and w >= 0 for w in self.weights.values()):
            raise ValueError(f"weights must be finite and >= 0, got {self.weights}")
        if not (math.isfinite(self.regions) and self.regions >= 0):
            raise ValueError(f"regions must be a finite weight factor >= 0, got {self.regions!r}")


def op_result(
    op: Op,
    form: str,
    a: float,
    b: float | None,
    limit: float = MAGNITUDE_LIMIT,
    moderate: bool = True,
    finite_partials: bool = True,
) -> float | None:
    """The op's float value if it is in the domain, away from kinks, and it and its local
    derivatives are below `limit` and do not underflow; else None. Generators build on this.

    `moderate=False` is the check of an op drawn in a sampling region (reference.ops.Region): in
    the domain, the value and (with `finite_partials`) the needed local derivatives finite; no
    limit, underflow or kink margin."""
    if not op.in_domain(form, a, b):
        return None
    if moderate:
        for kink in op.kinks:
            if abs((a, b)[kink.operand] - kink.at) < KINK_DISTANCE:  # type: ignore[operator]
                return None
    try:
        out = op.forward(FLOAT, a, b)
        partials = op.partials(FLOAT, form, a, b, out) if moderate or finite_partials else ()
    except ArithmeticError:
        return None
    if not moderate:
        finite = math.isfinite(out) and all(p is None or math.isfinite(p) for p in partials)
        return float(out) if finite else None
    if not all(p is None or (math.isfinite(p) and abs(p) <= limit) for p in (out, *partials)):
        return None
    if abs(out) < UNDERFLOW_LIMIT and (out != 0.0 or op.zero_underflows):
        return None
    return float(out)


# ---- the sampler ---------------------------------------------------------------------------------


class _Plan:
    """A config, digested into the compiled loop's arguments: one row per allowed op, and the
    region tables of those ops (their regions in the forms the config allows)."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        rows: list[tuple[Any, ...]] = []  # the kernel's per-op columns, in its argument order
        self.regions: list[tuple[str, Region]] = []  # (op name, region), in the kernel's order
        region_first = [0]
        total = 0.0
        for name in config.ops:
            op = OPS[name]
            forms = tuple(f for f in config.forms.get(name, op.forms) if f in op.forms)
            weight = float(config.weights.get(name, 1.0))
            if forms and weight > 0:
                regions = [r for r in op.regions if r.form in forms] if config.regions else []
                self.regions += [(name, r) for r in regions]
                region_first.append(len(self.regions))
                with_const = [kernel.FORMS[f] for f in forms if f not in ("v", "vv")]
                p_vv = 1.0 - config.const if "vv" in forms and with_const else 1.0
                total += weight
                padded = [*with_const, kernel.V, kernel.V][:2]
                row = (op.arity == 1, OPCODES[name], "vv" in forms, p_vv)
                rows.append((*row, padded, len(with_const), total))
        if rows:  # the cumulative weights: bisection stays in range
            rows[-1] = (*rows[-1][:-1], math.inf)
        dtypes = (bool, np.int64, bool, float, np.int64, np.int64, float)
        columns = zip(*rows, strict=True) if rows else [[]] * len(dtypes)
        arrays = [np.array(c, dtype=t) for c, t in zip(columns, dtypes, strict=True)]
        arrays[4] = arrays[4].reshape(len(rows), 2)  # the forms with a constant, two per op
        deep = DEEP_GRAPHS
        region_inputs = REGION_INPUTS if self.regions else 0
        sizes = [config.min_inputs, config.max_inputs, config.min_ops, config.max_ops]
        sizes += [deep.min_ops, deep.max_ops, region_inputs]
        rates = [config.reuse, config.same_operand, config.fresh_input]
        rates += [config.int_constants, config.int_leaves, config.deep, deep.newest]
        self.args: tuple[Any, ...] = (
            np.array(sizes, dtype=np.int64),
            np.array(rates, dtype=np.float64),
            *arrays,
            total,
            self._fold(config),
            *self._region_tables(config.regions, region_first),
        )
        # Most ints a graph can need: steps (ops, then folds of up to every variable), leaves
        # (inputs, region inputs and one constant per op), inputs.
        ops = max(config.max_ops, deep.max_ops) if config.deep > 0 else config.max_ops
        inputs = config.max_inputs + region_inputs
        self.most = (4 * (2 * ops + inputs), inputs + ops, inputs)
        self.nodes_most = int(kernel.nodes_most(config.max_inputs, ops, region_inputs))

    def _region_tables(self, factor: float, region_first: list[int]) -> tuple[np.ndarray, ...]:
        """spans (one row per distinct span), their values, regions (one row each), the
        cumulative region weights within each op, and each op row's first region."""
        spans: list[Span] = []
        values: list[float] = []
        span_rows: list[list[float]] = []

        def span_index(span: Span | None) -> int:
            if span is None:
                return -1
            if span not in spans:
                spans.append(span)
                law = float(kernel.SPAN_LAWS[span.law])
                row = [law, span.lo, span.hi, float(span.sign), span.ints]
                within = (span.lo, span.hi)
                if span.law == "log":
                    within = (max(SMALLEST_SUBNORMAL, 10.0**span.lo), 10.0**span.hi)
                span_rows.append([*row, len(values), len(span.values), *within])
                values.extend(span.values)
            return spans.index(span)

        rows: list[list[int]] = []
        cumulative: list[float] = []
        for j, (start, end) in enumerate(itertools.pairwise(region_first)):
            weight = 0.0
            for _, region in self.regions[start:end]:
                a, b = (*region.operands, None)[:2]
                rows.append([j, kernel.FORMS[region.form], region.same, region.either_side,
                             region.finite_partials, span_index(a), span_index(b)])  # fmt: skip
                weight += region.weight * factor
                cumulative.append(weight)
        return (
            np.array(span_rows, dtype=np.float64).reshape(len(span_rows), kernel.SPAN_COLUMNS),
            np.array(values, dtype=np.float64),
            np.array(rows, dtype=np.int64).reshape(len(rows), kernel.REGION_COLUMNS),
            np.array(cumulative, dtype=np.float64),
            np.array(region_first, dtype=np.int64),
        )

    @staticmethod
    def _fold(config: SamplerConfig) -> int:
        for name in FOLD_OPS:
            if name in config.ops and "vv" in config.forms.get(name, OPS[name].forms):
                return OPCODES[name]
        return -1


_PLANS: dict[int, _Plan] = {}


def _plan(config: SamplerConfig) -> _Plan:
    plan = _PLANS.get(id(config))
    if plan is None or plan.config is not config:  # the plan keeps its config (and id) alive
        if len(_PLANS) > 64:
            _PLANS.clear()
        plan = _PLANS[id(config)] = _Plan(config)
    return plan


def _seed_state(seed: int) -> np.ndarray:
    """xoshiro256**'s four state words from an int seed, by splitmix64 (its authors' advice)."""
    mask, x, words = (1 << 64) - 1, seed & ((1 << 64) - 1), []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        words.append(z ^ (z >> 31))
    return np.array(words, dtype=np.uint64)


class GraphStream:
    """The graphs of one seed, in order: `take(n)` returns the next n. Same seed and config, same
    graphs, however they are taken (take(3) then take(2) gives take(5))."""

    def __init__(self, seed: int, config: SamplerConfig | None = None) -> None:
        self.config = config or SamplerConfig()
        self._state = _seed_state(seed)
        self._region_counts = np.zeros(len(_plan(self.config).regions) + 1, dtype=np.int64)

    def coverage(self) -> dict[str, dict[str, int]]:
        """How often each sampling region was drawn so far: op name -> region name -> ops drawn
        there (every op of the registry; {} for an op without regions), and 'graph' -> {'deep':
        graphs drawn as long chains}. Regions the config leaves out count 0."""
        counts: dict[str, dict[str, int]] = {
            name: dict.fromkeys((r.name for r in op.regions), 0) for name, op in OPS.items()
        }
        plan = _plan(self.config)
        for (name, region), n in zip(plan.regions, self._region_counts.tolist(), strict=False):
            counts[name][region.name] += n
        counts["graph"] = {"deep": int(self._region_counts[-1])}
        return counts

    def take(self, count: int) -> list[Graph]:
        """The next `count` graphs, as a list that carries their flat arrays for the reference
        (reference.carried.GraphsWithFlat)."""
        graphs: list[Graph] = []
        flats: list[FlatGraphs] = []
        ints: list[np.ndarray] = []
        while len(graphs) < count:
            chunk, flat, leaf_ints = self._chunk(min(CHUNK, count - len(graphs)))
            graphs += chunk
            flats.append(flat)
            ints.append(leaf_ints)
        leaf_ints = ints[0] if len(ints) == 1 else np.concatenate([np.zeros(0, bool), *ints])
        return GraphsWithFlat(graphs, FlatGraphs.concatenate(flats), leaf_ints)

    def _chunk(self, count: int) -> tuple[list[Graph], FlatGraphs, np.ndarray]:
        """The next `count` graphs, their FlatGraphs, which of their leaves are ints."""
        plan = _plan(self.config)
        steps_most, leaves_most, inputs_most = plan.most
        steps = np.empty(count * steps_most, dtype=np.int64)
        leaf_slots = np.empty(count * leaves_most, dtype=np.int64)
        leaf_values = np.empty(count * leaves_most)
        leaf_ints = np.empty(count * leaves_most, dtype=np.int8)
        inputs = np.empty(count * inputs_most, dtype=np.int64)
        layout = np.empty((kernel.LAYOUT_ROWS, count), dtype=np.int64)
        nodes = plan.nodes_most
        drawn = _sample_batch(
            self._state, count, *plan.args, steps, leaf_slots, leaf_values, leaf_ints, inputs,
            layout, self._region_counts, np.empty(nodes), np.empty(nodes, dtype=np.int64),
            np.empty(nodes, dtype=np.int64),
        )  # fmt: skip
        if not drawn:  # (the plan sizes the scratch arrays as the loop does: never here)
            raise RuntimeError(f"sampler: scratch arrays of {nodes} nodes are too short")
        flat, ints = _flat(steps, leaf_slots, leaf_values, leaf_ints, inputs, layout)
        return _CompiledLater.graphs(flat, ints, layout[8].copy()), flat, ints


def _flat(
    steps: np.ndarray, leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_ints: np.ndarray,
    inputs: np.ndarray, layout: np.ndarray,
) -> tuple[FlatGraphs, np.ndarray]:  # fmt: skip
    """The kernel's flat output as the FlatGraphs that FlatGraphs.of gives for its graphs, and
    which leaves are ints (sampler_kernel.trimmed)."""
    *arrays, ints = _trimmed(steps, leaf_slots, leaf_values, leaf_ints, inputs, layout)
    return FlatGraphs(*arrays), ints


class _CompiledLater:
    """A sampled chunk's graphs (`Graph.compiled_later`) and what makes their CompiledGraphs from
    the chunk's arrays: the first SINGLY graphs asked for one by one (the float64 pass and
    compare() read a few graphs of most batches), then all at once, written into every graph of
    the chunk still alive (a plain list sent to the worker, a filter by spellings). The reference
    packs from the arrays and the wire takes a sampled batch from them: a graph nobody else reads
    never gets its lists."""

    __slots__ = ("_arrays", "_graphs", "_made", "_singly")

    def __init__(self, flat: FlatGraphs, ints: np.ndarray, shape_keys: np.ndarray) -> None:
        self._arrays: tuple[FlatGraphs, np.ndarray, np.ndarray] | None = (flat, ints, shape_keys)
        self._graphs: list[weakref.ref[Graph]] = []  # (weak: graphs hold their maker)
        self._made: list[CompiledGraph] | None = None
        self._singly = 0  # graphs made one by one so far

    @classmethod
    def graphs(cls, flat: FlatGraphs, ints: np.ndarray, shape_keys: np.ndarray) -> list[Graph]:
        maker = cls(flat, ints, shape_keys)
        outputs = flat.outputs.tolist()
        graphs = list(
            map(Graph.compiled_later, outputs, zip(itertools.repeat(maker), range(len(outputs))))
        )
        maker._graphs = list(map(weakref.ref, graphs))
        return graphs

    def compiled(self, k: int) -> CompiledGraph:
        made = self._made
        if made is None:
            assert self._arrays is not None
            if self._singly < SINGLY:
                self._singly += 1
                flat, ints, shape_keys = self._arrays
                bucket = _BUCKETS[int(shape_keys[k])]
                return CompiledGraph(*graph_lists(flat, ints, k), bucket)
            made = self._made = _compiled_graphs(*self._arrays)
            self._arrays = None
            graphs = list(map(call, self._graphs))
            if all(graphs):  # (a Graph is always true): all alive, written by C-level maps
                dicts = list(map(vars, graphs))
                deque(map(dict.__setitem__, dicts, itertools.repeat(COMPILED), made), 0)
                deque(map(dict.pop, dicts, itertools.repeat(LATER), itertools.repeat(None)), 0)
            else:
                for graph, compiled in zip(graphs, made, strict=True):
                    if graph is not None:
                        vars(graph)[COMPILED] = compiled
                        vars(graph).pop(LATER, None)
            self._graphs = []
        return made[k]


def _compiled_graphs(
    flat: FlatGraphs, ints: np.ndarray, shape_keys: np.ndarray
) -> list[CompiledGraph]:
    """The CompiledGraphs of the graphs in `flat` (leaves flagged in `ints` as Python ints)."""
    compiled = map(
        tuple.__new__,  # CompiledGraph's fields in order, without its Python-level __new__
        itertools.repeat(CompiledGraph),
        zip(*graph_columns(flat, ints), map(_BUCKETS.__getitem__, shape_keys.tolist())),
    )
    return list(compiled)


class _Buckets(dict[int, Bucket]):
    """Shape key (n_ops * SHAPE_KEY + n_nodes) -> reference.tape.bucket_of(n_ops, n_nodes)."""

    def __missing__(self, key: int) -> Bucket:
        bucket = self[key] = bucket_of(*divmod(key, kernel.SHAPE_KEY))
        return bucket


_BUCKETS = _Buckets()


def sample_graphs(seed: int, count: int, config: SamplerConfig | None = None) -> list[Graph]:
    """`count` graphs from one seed: GraphStream(seed, config).take(count)."""
    return GraphStream(seed, config).take(count)


def op_coverage(graphs: Sequence[Graph]) -> dict[str, int]:
    """How many op nodes of each registry op the graphs contain."""
    counts = dict.fromkeys(OPS, 0)
    for g in graphs:
        for n in g.nodes:
            if n.op is not None:
                counts[n.op] += 1
    return counts
