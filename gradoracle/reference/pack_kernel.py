"""The JAX reference's per-batch bookkeeping around the tapes, compiled with numba: grouping a
batch's graphs by row shape and placing them in rows (`group_and_place`, for reference.tape's
`tapes`), and writing a tape's results into the batch's columns (`put_results`, for
reference.jax_ref.JaxBatch).

Both were a dozen or two numpy calls per batch or per tape (np.unique, argsorts, fancy indexing,
repeats and cumsums over 256 graphs): a few microseconds each, ~0.5 us per sampled graph in all,
more on a loaded machine. Here each is one call. What they compute is defined by the numpy code
they replace, which the tests keep (tests/reference/test_pack_kernel.py) and compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gradoracle.reference import tape_kernel


@njit(cache=True)
def _power_of_two(n: int, minimum: int) -> int:
    """reference.tape._power_of_two."""
    size = minimum
    while size < n:
        size *= 2
    return size


@njit(cache=True)
def group_and_place(
    n_ops: np.ndarray, n_nodes: np.ndarray, shapes: np.ndarray, min_steps: int, extra: int,
    per_row: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Row shapes and rows for a batch of graphs (n_ops, n_nodes per graph).

    `shapes` holds the shared row shapes (steps, slots) in order of preference (reference.tape's
    ROW, DEEP_ROW): a graph runs in the first whose steps hold its ops and whose slots hold its
    nodes and `extra`, else in its own bucket (reference.tape.bucket_of, with min_steps). Returns
    the shapes used (steps, slots per row) in order of first appearance, each graph's index among
    them, then per shape its graphs as placed (tape_kernel.place_rows: largest first, ties in
    graph order), ordered by row then graph index: the graphs, their rows (from 0 per shape), and
    where each shape's part begins in those two (one more entry: the end)."""
    n = len(n_ops)
    n_shared = shapes.shape[0]
    used = np.empty((n + n_shared, 2), dtype=np.int64)  # at most one new shape per graph
    n_used = 0
    which = np.empty(n, dtype=np.int64)
    for k in range(n):
        steps, slots = -1, -1
        for s in range(n_shared):
            if n_ops[k] <= shapes[s, 0] and n_nodes[k] + extra <= shapes[s, 1]:
                steps, slots = shapes[s, 0], shapes[s, 1]
                break
        if steps < 0:  # its own bucket, which fits no shared shape (they are buckets' shapes)
            steps = _power_of_two(n_ops[k], min_steps)
            slots = max(2 * steps, _power_of_two(n_nodes[k] + extra, 2 * min_steps))
        found = -1
        for u in range(n_used):
            if used[u, 0] == steps and used[u, 1] == slots:
                found = u
                break
        if found < 0:
            found = n_used
            used[n_used, 0], used[n_used, 1] = steps, slots
            n_used += 1
        which[k] = found
    members = np.empty(n, dtype=np.int64)
    rows = np.empty(n, dtype=np.int64)
    bounds = np.zeros(n_used + 1, dtype=np.int64)
    at = 0
    for u in range(n_used):
        size = 0
        for k in range(n):
            size += which[k] == u
        group = np.empty(size, dtype=np.int64)
        i = 0
        for k in range(n):
            if which[k] == u:
                group[i] = k
                i += 1
        ops, nodes = n_ops[group], n_nodes[group]
        # Largest first, ties in graph order (a stable argsort of -ops): a counting sort.
        most = 0
        for i in range(size):
            most = max(most, ops[i])
        starts = np.zeros(most + 2, dtype=np.int64)
        for i in range(size):
            starts[most - ops[i] + 1] += 1
        for level in range(most + 1):
            starts[level + 1] += starts[level]
        order = np.empty(size, dtype=np.int64)
        for i in range(size):
            level = most - ops[i]
            order[starts[level]] = i
            starts[level] += 1
        placed = tape_kernel.place_rows(order, ops, nodes, used[u, 0], used[u, 1] - extra, per_row)
        # By row, then graph index (a stable argsort of the rows): a counting sort.
        n_rows = 0
        for i in range(size):
            n_rows = max(n_rows, placed[i] + 1)
        firsts = np.zeros(n_rows + 1, dtype=np.int64)
        for i in range(size):
            firsts[placed[i] + 1] += 1
        for r in range(n_rows):
            firsts[r + 1] += firsts[r]
        for i in range(size):
            place = at + firsts[placed[i]]
            members[place] = group[i]
            rows[place] = placed[i]
            firsts[placed[i]] += 1
        at += size
        bounds[u + 1] = at
    return used[:n_used].copy(), which, members, rows, bounds


@njit(cache=True)
def put_results(
    indices: np.ndarray, counts: np.ndarray, offsets: np.ndarray,
    value: np.ndarray, jvp: np.ndarray, dots: np.ndarray, scales: np.ndarray,
    consistent: np.ndarray, kinks: np.ndarray, magnitudes: np.ndarray, inside: np.ndarray,
    flat_grads: np.ndarray, flat_sweeps: np.ndarray,
    to_value: np.ndarray, to_jvp: np.ndarray, to_dots: np.ndarray, to_scales: np.ndarray,
    to_consistent: np.ndarray, to_kinks: np.ndarray, to_magnitudes: np.ndarray,
    to_inside: np.ndarray, quantities: np.ndarray, sweeps: np.ndarray,
) -> None:  # fmt: skip
    """A tape's results for graphs `indices` (per graph in that order, and its gradients and their
    sweeps flat, counts[g] for graph g) into the batch's columns (`to_*`, indexed by graph) and
    its quantities and sweeps (graph g's value at offsets[g], its gradients after it)."""
    at = 0
    for i in range(len(indices)):
        g = indices[i]
        to_value[g] = value[i]
        to_jvp[g] = jvp[i]
        to_dots[g] = dots[i]
        to_scales[g] = scales[i]
        to_consistent[g] = consistent[i]
        to_kinks[g] = kinks[i]
        to_magnitudes[g] = magnitudes[i]
        to_inside[g] = inside[i]
        start = offsets[g]
        quantities[start] = value[i]
        for j in range(counts[g]):
            quantities[start + 1 + j] = flat_grads[at]
            sweeps[start + 1 + j] = flat_sweeps[at]
            at += 1
