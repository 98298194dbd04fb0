"""The jitted tape interpreter behind reference.jax_ref: value, local partials, JVP and reverse
sweep of every graph of a tape (reference.tape), in float64 JAX.

Tracing and compiling JAX per graph costs milliseconds (jit: ~50 ms), far more than an engine spends
on a small graph. So graphs are compiled to data instead: one jitted interpreter per tape shape runs
any graphs of that shape.

Forward, a batch of several rows runs by lanes (`schedule`): an iteration (a
`lax.fori_loop` over the iterations the host's schedule uses) gathers each lane's operands from one
buffer of the whole batch's slots, evaluates each op of the registry (`op.forward(JAX, a, b)`) on
its own fixed block of lanes only, with its local partials (`jax.vjp` of the op, seeded with 1), and
scatters the values and the tangent along `reference.tape.tangent` (forward accumulation: the JVP)
to their slots. Empty lanes read a slot holding 1.0, inside every op's domain, and write a slot
nothing reads: they never produce inf or NaN partials, so 0 * inf = NaN cannot leak into the
gradients (the double-where trick, at the level of the interpreter; `reference.libs.JAX` does the
same inside each op). Each op thus runs once per step that takes it: an interpreter that computed
every op at every step (a scan over the steps, vmapped over the rows, selecting the op taken: what
vmap makes of a `lax.switch` on a batched opcode) spent ~70% of its time on ops not taken.
tests/reference/test_interpreter.py keeps it as the specification: the results are its bits.

Reverse: a reverse scan over each row's steps (vmapped over the rows) scatters each node's adjoint
times its partials to its operands; the adjoints of the input slots are the gradients. The sums
run in the rows' step order, whatever the lanes' order: rounding, which depends on the order of a
sum, is the same for a graph in any batch. The tangent, summed forward by other code, checks the
sweep (`jvp == dot(grads, tangent)`), relative to the same sum without cancellation.
Non-finite values and gradients are returned as computed (the comparator sets them aside); as
with jax.grad, a zero adjoint times an infinite partial gives NaN.

A batch of one row is not scheduled: a loop over its real steps with a `lax.switch` (unbatched,
it really branches) runs only the op each step takes (~30 us per call for 30 ops), and the reverse
sweep goes back over the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from gradoracle.reference import tape_kernel
from gradoracle.reference.jax_cache import loaded_count
from gradoracle.reference.libs import JAX
from gradoracle.reference.ops import OPS, Op
from gradoracle.reference.tape import NOP, OP_NAMES, Tape

# Lanes of one forward iteration: LANES_PER_ROW per row of the batch, in blocks per opcode in
# proportion to LANE_SHARES (1 where not named). Sampled graphs are ~27% add (the fold that gathers
# the variables nothing consumes into the output) and ~5% each other op; with 3 lanes per row a
# check's batch of 96 rows (~6,000 steps, at most ~25 deep) takes ~30 iterations. A batch whose
# ops are mixed otherwise only takes more iterations.
LANES_PER_ROW = 3
LANE_SHARES: dict[str, int] = {"add": 5}
_PARTS = sum(LANE_SHARES.get(name, 1) for name in OP_NAMES)


def lane_width(batch: int) -> int:
    """Lanes per iteration for a batch of this many rows: a whole number of LANE_SHARES' parts."""
    return _PARTS * max(1, round(batch * LANES_PER_ROW / _PARTS))


@cache
def lane_bounds(width: int) -> tuple[int, ...]:
    """Where each opcode's block of lanes begins (in opcode order), then the width."""
    part = width // _PARTS
    bounds = [0]
    for name in OP_NAMES:
        bounds.append(bounds[-1] + part * LANE_SHARES.get(name, 1))
    return tuple(bounds)


def schedule(tape: Tape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forward iterations of a tape of several rows (tape_kernel.schedule_lanes): per
    iteration and lane (iterations, width) the flattened index (row * steps + step) of the step
    it evaluates, rows * steps where empty; per row and step (rows, steps) its lane (iteration *
    width + lane; iterations * width for padding); how many iterations are used (an int32
    scalar). A step's iteration comes after its operands'. The lanes array has
    the bucket's steps of iterations, or twice as many as often as it takes (a new compiled shape
    each time: only batches whose ops are mixed very unlike sampled graphs need it)."""
    width = lane_width(tape.batch)
    bounds = np.array(lane_bounds(width), dtype=np.int64)
    most = tape.bucket.steps
    at = np.empty(tape.program.shape[:2], dtype=np.int32)
    while True:
        lanes = np.empty((most, width), dtype=np.int32)
        used = tape_kernel.schedule_lanes(tape.program, tape.bucket.slots, bounds, lanes, at)
        if used >= 0:
            return lanes, at, np.array(used, dtype=np.int32)
        most *= 2


# What an empty lane reads: 1.0 is inside every op's domain (log, div, pow).
SAFE_OPERAND = 1.0

_traces = 0  # how many times the interpreter was traced (i.e. compiled); see trace_count


def trace_count() -> int:
    """Number of tape shapes traced, or loaded exported (reference.jax_cache), so far in this
    process."""
    return _traces + loaded_count()


def _branch(name: str) -> Callable[[Any, Any], Any]:
    op = OPS[name]
    if op.arity == 2:
        return lambda a, b: op.forward(JAX, a, b)
    return lambda a, b: op.forward(JAX, a)


def _domains() -> dict[str, Callable[..., Any]]:
    """Op.in_domain's conditions beyond finite operands, for jax.numpy: per op whose domain is not
    every real, (a, b, a is a constant, b is a constant) -> inside. The registry's domain
    expressions (Op.domain) are evaluated on arrays, the form chosen by which operand is constant
    (tests/reference/test_jax_ref.py checks them against Op.in_domain)."""
    import jax.numpy as jnp

    names = {"is_integer": lambda x: jnp.floor(x) == x, "__builtins__": {}}

    def compiled(op: Op, form: str) -> Callable[[Any, Any], Any]:
        fn: Callable[[Any, Any], Any] = eval(f"lambda a, b: {op.domain_expr(form)}", names)
        return fn

    def domain(op: Op) -> Callable[..., Any]:
        fns = {form: compiled(op, form) for form in op.forms}
        if op.arity == 1:
            return lambda a, b, a_const, b_const: fns["v"](a, b)

        first = next(iter(fns.values()))  # (an op without some form: any form's expression)
        vv, vc, cv = (fns.get(form, first) for form in ("vv", "vc", "cv"))

        def binary(a: Any, b: Any, a_const: Any, b_const: Any) -> Any:
            return jnp.where(b_const, vc(a, b), jnp.where(a_const, cv(a, b), vv(a, b)))

        return binary

    return {op.name: domain(op) for op in OPS.values() if op.domain}


def _branches() -> list[Callable[[Any, Any], Any]]:
    """One function (a, b) -> result per opcode: the registry's ops in order, then NOP."""
    fns = [_branch(name) for name in OP_NAMES]
    fns.append(lambda a, b: a)
    assert len(fns) == NOP + 1
    return fns


@cache
def interpreter() -> Callable[..., Any]:
    """The jitted interpreter: (values, tangents, program, output) of a Tape, each with a leading
    row axis, then the tape's schedule (lanes, iterations; unused for a single row) -> per row:
    its graphs' values, (2, slots) adjoints and magnitudes of every slot, its graphs' jvps, and
    per step and slot what jax_ref reduces per graph (kink distance, |value|, in domain).
    jax.jit compiles it once per input shape."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    branches = _branches()
    # Per opcode: which operand has a kink (-1: none) and where; only relu has one (at 0).
    # (Their distance is reported, not used by the comparator: its margin is per operand.)
    kinks = [OPS[name].kinks[0] if OPS[name].kinks else None for name in OP_NAMES]
    kink_side = jnp.array([k.operand if k else -1 for k in kinks] + [-1], dtype=jnp.int32)
    kink_at = jnp.array([k.at if k else 0.0 for k in kinks] + [0.0], dtype=jnp.float64)

    domains = _domains()

    def in_domain(code: Any, a: Any, b: Any, a_const: Any, b_const: Any) -> Any:
        """Op.in_domain per step (padding steps read 1.0: inside)."""
        ok = jnp.isfinite(a) & jnp.isfinite(b)
        for name, domain in domains.items():
            ok = ok & jnp.where(code == OP_NAMES.index(name), domain(a, b, a_const, b_const), True)
        return ok

    def local(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> tuple[Any, Any, Any]:
        """An op's value and its partials (one VJP seeded with 1). A zero partial comes out +0.0:
        the interpreter that is the specification summed each partial with the untaken ops'
        zeros, and -0.0 + 0.0 is +0.0 (the sign of a zero partial shows in a zero jvp)."""
        out, vjp = jax.vjp(fn, a, b)
        partial_a, partial_b = vjp(jnp.ones_like(out))
        return (
            out,
            jnp.where(partial_a == 0, 0.0, partial_a),
            jnp.where(partial_b == 0, 0.0, partial_b),
        )

    def by_lanes(
        values: Any, tangents: Any, program: Any, lanes: Any, at: Any, n_iter: Any
    ) -> tuple[Any, ...]:
        """The forward pass of a batch of rows by the schedule's lanes -> every slot's value and
        tangent, and every step's partials, in the rows' layout."""
        rows, slots = values.shape
        bounds = lane_bounds(lanes.shape[1])
        # One buffer of the batch's slots, then a 1.0 that empty lanes read and a slot they write.
        safe, sink = rows * slots, rows * slots + 1
        base = (jnp.arange(rows, dtype=jnp.int32) * slots)[:, None]

        def slot_of(column: int, empty: int) -> Any:  # per lane, in the whole batch's buffer
            flat = (program[..., column] + base).reshape(-1)
            return jnp.concatenate([flat, jnp.array([empty], dtype=flat.dtype)])[lanes]

        left, right, dest = slot_of(1, safe), slot_of(2, safe), slot_of(3, sink)
        buffer = jnp.concatenate([values.reshape(-1), jnp.array([SAFE_OPERAND, SAFE_OPERAND])])
        tangent = jnp.concatenate([tangents.reshape(-1), jnp.zeros(2, tangents.dtype)])
        no_partials = jnp.zeros(lanes.shape, values.dtype)

        def iteration(t: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
            buf, tan, partials_a, partials_b = carry
            a, b, d = left[t], right[t], dest[t]
            x, y = buf[a], buf[b]
            # One (3, lanes) array of the blocks' results: XLA then fuses each op's block into
            # one kernel (three separate arrays took twice as many kernels per iteration).
            out, partial_a, partial_b = jnp.concatenate(
                [jnp.stack(local(fn, x[lo:hi], y[lo:hi])) for fn, lo, hi in
                 zip(branches, bounds, bounds[1:])], axis=1,
            )  # fmt: skip
            # (Written b first: XLA then contracts the sum into fma(partial_b, tan[b], partial_a
            # * tan[a]), as it did in the specification.)
            step_tangent = partial_b * tan[b] + partial_a * tan[a]
            return (
                buf.at[d].set(out),
                tan.at[d].set(step_tangent),
                partials_a.at[t].set(partial_a),
                partials_b.at[t].set(partial_b),
            )

        buf, tan, partials_a, partials_b = lax.fori_loop(
            0, n_iter, iteration, (buffer, tangent, no_partials, no_partials)
        )

        def by_step(partials: Any, padding: float) -> Any:
            # Padding steps (NOP: a copy of ONE to SCRATCH) have partials 1 and 0.
            flat = jnp.concatenate([partials.reshape(-1), jnp.array([padding], values.dtype)])
            return flat[at]

        return (
            buf[:safe].reshape(rows, slots),
            tan[:safe].reshape(rows, slots),
            by_step(partials_a, 1.0),
            by_step(partials_b, 0.0),
        )

    def by_switch(values: Any, tangents: Any, program: Any, n_steps: Any) -> tuple[Any, ...]:
        """by_lanes for one row: a loop over its first n_steps steps (its real ones: padding
        steps after them change nothing a real graph reads), each running only the op it takes."""
        codes, left, right, dest = program.T

        def forward(step: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
            buf, tan, partials_a, partials_b = carry
            a, b, d = left[step], right[step], dest[step]
            op = lambda x, y: lax.switch(codes[step], branches, x, y)  # noqa: E731
            out, vjp = jax.vjp(op, buf[a], buf[b])
            partial_a, partial_b = vjp(jnp.ones_like(out))
            tangent = partial_a * tan[a] + partial_b * tan[b]
            return (
                buf.at[d].set(out),
                tan.at[d].set(tangent),
                partials_a.at[step].set(partial_a),
                partials_b.at[step].set(partial_b),
            )

        # Every slot is written once, so `final` holds every node's value. (Padding steps, a NOP
        # copying ONE to SCRATCH, have partials 1 and 0.)
        steps = codes.shape[0]
        start = (values, tangents, jnp.ones(steps, values.dtype), jnp.zeros(steps, values.dtype))
        return lax.fori_loop(0, n_steps, forward, start)

    def reverse(
        values: Any, tangents: Any, program: Any, output: Any, final: Any, final_tangents: Any,
        partials_a: Any, partials_b: Any, n_steps: Any = None,
    ) -> tuple[Any, ...]:  # fmt: skip
        """One row's reverse sweep and per-step and per-slot results, from its forward pass."""
        codes, left, right, dest = program.T

        # Reverse mode: a reverse sweep over the steps, each scattering the adjoint of its
        # destination times its partials to its operands. (jax.grad of a forward scan would do
        # the same, but its transpose adds a whole zero buffer per operand read: O(steps *
        # slots), quadratic in graph size.) Row 1 sweeps magnitudes alongside: |partial| *
        # magnitude, so it ends as the sum over all paths of |product of partials|, the gradient
        # without cancellation (see JaxResult). The forward tangent is accumulated in the other
        # direction, by other code: `jvp == dot(grads, tangent)` checks the sweep.
        def backward(carry: Any, op: tuple[Any, ...]) -> tuple[Any, None]:
            a, b, d, partial_a, partial_b = op
            update = carry[:, d][:, None] * jnp.stack([partial_a, partial_b])[None, :]
            update = update.at[1].set(jnp.abs(update[1]))
            # One scatter-add for both operands (they may be one slot: x * x); two updates in a
            # row make XLA copy the whole buffer at every step.
            return carry.at[:, jnp.stack([a, b])].add(update), None

        # Per step and per slot, reduced per graph on the host (a row may hold several graphs:
        # reference.tape.place): the distance of a kinked operand from its kink (inf at steps
        # without one), every node's |value|, each step's operands inside its op's domain.
        at_kink = jnp.abs(
            jnp.where(kink_side[codes] == 0, final[left], final[right]) - kink_at[codes]
        )
        kinks = jnp.where(kink_side[codes] >= 0, at_kink, jnp.inf)
        # A constant is a slot no step writes that is not an input (inputs have nonzero tangents).
        written = jnp.zeros(values.shape[0], dtype=bool).at[dest].set(True)
        constant = ~written & (tangents == 0.0)
        inside = in_domain(codes, final[left], final[right], constant[left], constant[right])

        # Every graph of the row seeded at its output: graphs share no slot, so no adjoint
        # crosses from one to another. (Unused places name ONE, which no real step reads.)
        seed = jnp.zeros((2, values.shape[0]), values.dtype).at[:, output].set(1.0)
        steps = (left, right, dest, partials_a, partials_b)
        if n_steps is None:
            swept, _ = lax.scan(backward, seed, steps, reverse=True)
        else:  # only the first n_steps, the real ones (padding steps scatter zeros)

            def sweep(i: Any, carry: Any) -> Any:
                return backward(carry, tuple(x[n_steps - 1 - i] for x in steps))[0]

            swept = lax.fori_loop(0, n_steps, sweep, seed)
        return final[output], swept, final_tangents[output], kinks, jnp.abs(final), inside

    def interpret(
        values: Any, tangents: Any, program: Any, output: Any, lanes: Any, at: Any, n_iter: Any
    ) -> tuple[Any, ...]:
        global _traces
        _traces += 1  # runs only while tracing: counts compilations
        if values.shape[0] == 1:  # n_iter: the row's real steps
            row = (values[0], tangents[0], program[0])
            final, final_tangents, partials_a, partials_b = by_switch(*row, n_iter)
            results = reverse(
                *row, output[0], final, final_tangents, partials_a, partials_b, n_steps=n_iter
            )
            return tuple(x[None] for x in results)
        forward = by_lanes(values, tangents, program, lanes, at, n_iter)
        return jax.vmap(reverse)(values, tangents, program, output, *forward)

    return jax.jit(interpret)
