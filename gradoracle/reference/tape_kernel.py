"""reference.tape's loops over graphs, steps and leaves, compiled with numba.

Per-graph Python work in packing (a bin-packing loop, numpy calls per graph or per row) cost as
much host CPU as XLA spent running the graphs; compiled, placing and scattering a sampled graph
costs well under a microsecond. The Python side (reference.tape) concatenates the graphs' lists
once (`FlatGraphs`) and checks what these kernels lay out; these write the arrays. numba keeps the
compiled kernels on disk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def place_rows(
    order: np.ndarray, ops: np.ndarray, nodes: np.ndarray, row_steps: int, room: int, most: int
) -> np.ndarray:
    """reference.tape.place's best fit decreasing, graphs taken in `order` (largest first).

    Open rows are kept per free-step level as doubly linked lists in the order they entered the
    level; a graph takes, at the lowest level with room for its steps, the latest row whose slots
    fit it (as the Python lists it replaces did: appended at the end, searched from the end)."""
    n = len(ops)
    placed = np.empty(n, dtype=np.int64)
    steps_used = np.zeros(n, dtype=np.int64)  # per row (at most one row per graph)
    slots_used = np.zeros(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)  # the row before, in its level's list
    after = np.full(n, -1, dtype=np.int64)
    level_of = np.full(n, -1, dtype=np.int64)  # the free steps of an open row, -1 closed
    head = np.full(row_steps + 1, -1, dtype=np.int64)
    tail = np.full(row_steps + 1, -1, dtype=np.int64)
    n_rows = 0
    for k in order:
        need, size = ops[k], nodes[k]
        row = -1
        for free in range(need, row_steps + 1):
            candidate = tail[free]
            while candidate >= 0 and slots_used[candidate] + size > room:
                candidate = prev[candidate]
            if candidate >= 0:
                row = candidate
                break
        if row < 0:
            row = n_rows
            n_rows += 1
        else:  # unlink it from its level
            level = level_of[row]
            if prev[row] >= 0:
                after[prev[row]] = after[row]
            else:
                head[level] = after[row]
            if after[row] >= 0:
                prev[after[row]] = prev[row]
            else:
                tail[level] = prev[row]
            level_of[row] = -1
        steps_used[row] += need
        slots_used[row] += size
        counts[row] += 1
        placed[k] = row
        if counts[row] < most and slots_used[row] < room:  # still open: to its level's end
            level = row_steps - steps_used[row]
            level_of[row] = level
            prev[row] = tail[level]
            after[row] = -1
            if tail[level] >= 0:
                after[tail[level]] = row
            else:
                head[level] = row
            tail[level] = row
    return placed


# lay_out's verdicts (with the first graph they concern).
FITS, ROW_OUTSIDE, TOO_BIG, ROW_FULL = range(4)


@njit(cache=True)
def lay_out(
    members: np.ndarray, rows: np.ndarray, n_ops: np.ndarray, n_nodes: np.ndarray,
    n_inputs: np.ndarray, batch: int, row_steps: int, row_slots: int, extra: int, most: int,
    at_step: np.ndarray, base: np.ndarray, places: np.ndarray, step_starts: np.ndarray,
    slot_starts: np.ndarray, ops: np.ndarray, inputs: np.ndarray,
) -> tuple[int, int, int, int]:  # fmt: skip
    """Where each member graph goes in its row: after the graphs before it there, in member order
    (its first step, its first slot, its place among the row's outputs; the same in the
    flattened arrays), with its ops and inputs. -> (verdict, the first graph it concerns, the
    inputs in all, the most inputs of one graph); ROW_OUTSIDE is checked for all graphs first,
    then TOO_BIG, then ROW_FULL."""
    n = len(members)
    for i in range(n):
        if rows[i] < 0 or rows[i] >= batch:
            return ROW_OUTSIDE, i, 0, 0
    steps_used = np.zeros(batch, dtype=np.int64)
    slots_used = np.zeros(batch, dtype=np.int64)
    counts = np.zeros(batch, dtype=np.int64)
    total, widest, full = 0, 0, -1
    for i in range(n):
        g, row = members[i], rows[i]
        at_step[i], base[i], places[i] = steps_used[row], slots_used[row], counts[row]
        step_starts[i] = row * row_steps + at_step[i]
        slot_starts[i] = row * row_slots + base[i]
        ops[i], inputs[i] = n_ops[g], n_inputs[g]
        steps_used[row] += n_ops[g]
        slots_used[row] += n_nodes[g]
        counts[row] += 1
        if steps_used[row] > row_steps or slots_used[row] + extra > row_slots:
            return TOO_BIG, i, 0, 0
        if counts[row] > most and full < 0:
            full = i
        total += n_inputs[g]
        widest = max(widest, n_inputs[g])
    if full >= 0:
        return ROW_FULL, full, 0, 0
    return FITS, -1, total, widest


@njit(cache=True)
def scatter(
    members: np.ndarray, rows: np.ndarray, at_step: np.ndarray, base: np.ndarray,
    places: np.ndarray, nop: int, one: int, scratch: int,
    steps: np.ndarray, step_offsets: np.ndarray,
    leaf_slots: np.ndarray, leaf_values: np.ndarray, leaf_offsets: np.ndarray,
    inputs: np.ndarray, input_offsets: np.ndarray, outputs: np.ndarray, tangents_at: np.ndarray,
    program: np.ndarray, values: np.ndarray, tangents: np.ndarray, output: np.ndarray,
    input_rows: np.ndarray, input_cols: np.ndarray,
) -> None:  # fmt: skip
    """Fills a tape's arrays (padding everywhere, then each member graph at its place, every slot
    moved to its base) and where its inputs went; tangents_at[j] is input j's tangent."""
    for row in range(program.shape[0]):
        for step in range(program.shape[1]):
            program[row, step, 0] = nop
            program[row, step, 1] = one
            program[row, step, 2] = one
            program[row, step, 3] = scratch
    values[:, :] = 1.0
    tangents[:, :] = 0.0
    output[:, :] = one
    j = 0  # inputs written so far
    for i in range(len(members)):
        g, row, shift = members[i], rows[i], base[i]
        step = at_step[i]
        for s in range(step_offsets[g], step_offsets[g + 1], 4):
            program[row, step, 0] = steps[s]
            program[row, step, 1] = steps[s + 1] + shift
            program[row, step, 2] = steps[s + 2] + shift
            program[row, step, 3] = steps[s + 3] + shift
            step += 1
        for leaf in range(leaf_offsets[g], leaf_offsets[g + 1]):
            values[row, leaf_slots[leaf] + shift] = leaf_values[leaf]
        first = input_offsets[g]
        for position in range(input_offsets[g + 1] - first):
            col = inputs[first + position] + shift
            tangents[row, col] = tangents_at[position]
            input_rows[j], input_cols[j] = row, col
            j += 1
        output[row, places[i]] = outputs[g] + shift


@njit(cache=True)
def _reduce(values: np.ndarray, start: int, end: int, largest: bool) -> float:
    """np.maximum (largest) or np.minimum reduced over values[start:end] (not empty): NaN if any
    is NaN."""
    acc = values[start]
    nan = False
    if largest:
        for j in range(start, end):
            x = values[j]
            nan |= x != x
            acc = x if x > acc else acc
    else:
        for j in range(start, end):
            x = values[j]
            nan |= x != x
            acc = x if x < acc else acc
    return math.nan if nan else acc


@njit(cache=True)
def _runs(
    reduced: np.ndarray, per_row: np.ndarray, starts: np.ndarray, sizes: np.ndarray, largest: bool
) -> None:
    """reference.jax_ref._per_graph's min (largest=False) or max over each graph's run of the
    flattened per_row array, as numpy's NaN-propagating ufuncs reduce: graph k's run is from
    starts[k] to the next start of a graph with sizes > 0 (or the end); a graph with none keeps
    what `reduced` holds."""
    order = np.argsort(starts, kind="mergesort")
    end = len(per_row)
    for i in range(len(order) - 1, -1, -1):
        k = order[i]
        if sizes[k] <= 0:
            continue
        reduced[k] = _reduce(per_row, starts[k], end, largest)
        end = starts[k]


@njit(cache=True)
def unpack(
    value: np.ndarray, swept: np.ndarray, jvp: np.ndarray, kinks: np.ndarray,
    magnitudes: np.ndarray, inside: np.ndarray, tangents: np.ndarray,
    input_rows: np.ndarray, input_slots: np.ndarray, input_counts: np.ndarray, rows: np.ndarray,
    places: np.ndarray, step_starts: np.ndarray, slot_starts: np.ndarray, n_ops: np.ndarray,
    jvp_rtol: float,
    values: np.ndarray, jvps: np.ndarray, dots: np.ndarray, scales: np.ndarray,
    consistent: np.ndarray, kink: np.ndarray, magnitude: np.ndarray, within: np.ndarray,
    flat_grads: np.ndarray, flat_sweeps: np.ndarray,
) -> None:  # fmt: skip
    """reference.jax_ref.JaxReference._run_arrays's columns from the interpreter's outputs, each
    number as its numpy calls compute it (sums in input order, products then sums, no fused
    multiply-add)."""
    j = 0
    for k in range(len(rows)):
        row = rows[k]
        values[k] = value[row, places[k]]
        jvps[k] = jvp[row, places[k]]
        dot, scale = 0.0, 0.0
        for _ in range(input_counts[k]):
            r, slot = input_rows[j], input_slots[j]
            grad, sweep, t = swept[r, 0, slot], swept[r, 1, slot], tangents[r, slot]
            flat_grads[j], flat_sweeps[j] = grad, sweep
            dot += grad * t
            scale += sweep * abs(t)
            j += 1
        dots[k], scales[k] = dot, scale
        consistent[k] = (
            np.isfinite(values[k]) and np.isfinite(jvps[k]) and np.isfinite(dot)
            and abs(jvps[k] - dot) <= jvp_rtol * scale
        )  # fmt: skip
    kink[:] = np.inf
    _runs(kink, kinks.reshape(-1), step_starts, n_ops, False)
    magnitude[:] = 1.0
    _runs(magnitude, magnitudes.reshape(-1), slot_starts, n_ops + 1, True)
    for k in range(len(rows)):  # (max(x, 1.0) as np.maximum: NaN stays NaN)
        if not np.isnan(magnitude[k]) and magnitude[k] < 1.0:
            magnitude[k] = 1.0
    flat_inside = inside.reshape(-1)
    order = np.argsort(step_starts, kind="mergesort")
    end = len(flat_inside)
    for i in range(len(order) - 1, -1, -1):
        k = order[i]
        within[k] = True
        if n_ops[k] <= 0:
            continue
        for s in range(step_starts[k], end):
            if not flat_inside[s]:
                within[k] = False
                break
        end = step_starts[k]


@njit(cache=True)
def schedule_lanes(
    program: np.ndarray, slots: int, bounds: np.ndarray, lanes: np.ndarray, at: np.ndarray
) -> int:
    """reference.interpreter.schedule's lanes: each real step of the tape (rows in order, steps
    in order) goes to the first iteration, from the one after its operands' steps, whose block of
    lanes for its opcode (bounds[code]:bounds[code + 1]) has room, and there to the block's next
    lane, which gets the step's flattened index (row * steps + step); empty lanes get rows *
    steps.
    at[row, step] is the step's lane (iteration * width + lane), or iterations * width for
    padding. -> the iterations used, or -1 if they are more than lanes has."""
    rows, steps = program.shape[0], program.shape[1]
    most, width, n_codes = lanes.shape[0], lanes.shape[1], len(bounds) - 1
    lanes[:, :] = rows * steps
    at[:, :] = most * width
    filled = np.zeros((most, n_codes), dtype=np.int64)
    first_open = np.zeros(n_codes, dtype=np.int64)  # iterations before it are full for the code
    ready = np.zeros(rows * slots, dtype=np.int64)  # a slot's first iteration that may read it
    used = 0
    for row in range(rows):
        base = row * slots
        for step in range(steps):
            code = program[row, step, 0]
            if code >= n_codes:  # padding
                continue
            room = bounds[code + 1] - bounds[code]
            a, b = base + program[row, step, 1], base + program[row, step, 2]
            t = max(ready[a], ready[b], first_open[code])
            while t < most and filled[t, code] >= room:
                t += 1
            if t >= most:
                return -1
            lane = bounds[code] + filled[t, code]
            lanes[t, lane] = row * steps + step
            at[row, step] = t * width + lane
            filled[t, code] += 1
            while first_open[code] < most and filled[first_open[code], code] >= room:
                first_open[code] += 1
            ready[base + program[row, step, 3]] = t + 1
            used = max(used, t + 1)
    return used
