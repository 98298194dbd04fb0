"""A test-vector corpus: graphs with their exact value and gradients, replayable without JAX.

Like Project Wycheproof's vectors for crypto libraries: a JSON file that engines in any language can
replay (format and validation: fuzz.corpus_format; schema: corpus.schema.json beside it). Each
vector holds a graph, the exact output value and d output / d input for every input node (mpmath,
verified, rounded to float64), what JAX float64 computes, the error scales and an absolute
tolerance per quantity:

    tolerance = max(QUICK_RTOL * |expected|,
                    JAX_ERROR_FACTOR * |jax - expected|,
                    ULPS_PER_OP * EPS * (n_ops + 1) * error_scale)

the comparator's rule when it judges against the exact answer (reference.compare._adjudicate; n_ops
counts the op nodes, error_scale is reference.compare.error_scales). A float64 implementation passes
a vector when its value and every gradient are finite and within tolerance of the exact answer.
Graphs the comparator would call not comparable are not exported.

Making vectors needs JAX and mpmath; replaying needs neither JAX nor anything but the corpus file.
An export is deterministic: the same seed (same sampler, same JAX) gives a byte-identical file.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradoracle.fuzz.adapters import BUILD, Adapter

if TYPE_CHECKING:
    from gradoracle.fuzz.probe import Spelling
from gradoracle.fuzz.corpus_format import (
    FORMAT,
    SPEC_VERSION,
    Corpus,
    CorpusError,
    Vector,
    parse,
    render,
    schema,
    tolerance,
    tolerance_for,
)
from gradoracle.reference.compare import error_scales, float64_error, reference_problem
from gradoracle.reference.float_sweep import float_gradients
from gradoracle.reference.graph import Graph, node_values
from gradoracle.reference.libs import FLOAT

__all__ = [
    "FORMAT",
    "SPEC_VERSION",
    "Corpus",
    "CorpusError",
    "Vector",
    "add_vectors",
    "export",
    "load",
    "replay",
    "save",
    "schema",
    "tolerance",
]

CHUNK = 64  # graphs per reference call; fixed, so that vector k never depends on --n


def graph_flags(graph: Graph) -> tuple[str, ...]:
    """Wycheproof-style flags: what makes the vector interesting (see the file's `notes`)."""
    uses = Counter(a for n in graph.nodes for a in n.args if graph.nodes[a].kind != "const")
    flags = []
    if any(count > 1 for count in uses.values()):
        flags.append("NodeReuse")
    if any(len(n.args) == 2 and n.args[0] == n.args[1] for n in graph.nodes):
        flags.append("SameOperand")
    if any("c" in form for form in graph.forms):
        flags.append("ConstOperand")
    return tuple(flags)


def describe(graph: Graph) -> str:
    """'12 ops (3 add, 2 mul, ...), 3 inputs'."""
    ops = Counter(n.op for n in graph.nodes if n.op is not None)
    shown = ", ".join(f"{count} {op}" for op, count in sorted(ops.items()))
    inputs = len(graph.inputs)
    return f"{graph.n_ops} ops ({shown}), {inputs} input{'s' if inputs != 1 else ''}"


def make_vector(graph: Graph, ref: Any, vector_id: int, comment: str) -> Vector | str:
    """The vector for a graph given its JAX result (`.value`, `.grads`), or why it is not
    comparable."""
    from gradoracle.reference.highprec import highprec

    problem = reference_problem(graph, ref.value, ref.grads)
    if problem:
        return problem
    try:
        value_scale, grad_scales = error_scales(graph, node_values(graph, FLOAT))
    except (ValueError, ArithmeticError):
        return "an intermediate derivative is not finite"
    scales = (value_scale, *grad_scales)
    if not all(math.isfinite(s) for s in scales):
        return "an intermediate derivative is not finite"
    try:
        exact = highprec(graph)
    except (ValueError, ArithmeticError) as e:
        return f"the exact answer is undefined ({e})"
    if not exact.converged:
        return "the exact answer did not converge (cancellation)"
    expected = exact.rounded()
    if not all(math.isfinite(t) for t in expected):
        return "the exact answer is not finite in float64"
    jax = (float(ref.value), *map(float, ref.grads))
    tolerances = tuple(
        tolerance(t, j, s, graph.n_ops) for t, j, s in zip(expected, jax, scales, strict=True)
    )
    if _jax_is_off(graph, expected, jax, tolerances, scales):
        return "JAX's number is off where float64's is not (XLA flushes subnormals)"
    return Vector(vector_id, comment, graph_flags(graph), graph, expected, jax, scales, tolerances)


def _jax_is_off(
    graph: Graph,
    expected: Sequence[float],
    jax: Sequence[float],
    tolerances: Sequence[float],
    scales: Sequence[float],
) -> bool:
    """Whether the comparator would hold a quantity to a tighter tolerance than the file's rule
    says: it measures float64's own error by the better of JAX's and the Python-float
    evaluation's (reference.compare.float64_error), the file by JAX's alone."""
    try:
        value, grads = float_gradients(graph)
    except (ValueError, ArithmeticError):
        return False
    here = (value, *grads)
    return any(
        tolerance_for(t, float64_error(t, j, f), s, graph.n_ops) != tol
        for t, j, f, s, tol in zip(expected, jax, here, scales, tolerances, strict=True)
    )


def _jax_reference() -> Any:
    try:
        from gradoracle.reference.jax_ref import JaxReference
    except ImportError as e:
        raise CorpusError(
            f"making vectors needs JAX (pip install 'gradoracle[reference]'): {e}"
        ) from None
    return JaxReference()


@dataclass(frozen=True)
class ExportStats:
    vectors: int
    graphs_sampled: int
    not_comparable: dict[str, int]
    seconds: float


def export(
    n: int, seed: int, config: Any = None, reference: Any = None
) -> tuple[Corpus, ExportStats]:
    """`n` vectors from the sampler's graphs for `seed`, skipping graphs that are not comparable.

    A comment 'seed S, graph K' names `fuzz.sampler.sample_graphs(S, K + 1)[K]`. Graphs go to the
    reference in fixed chunks, so a vector never depends on `n`: a smaller export is a prefix.
    """
    from gradoracle.fuzz.sampler import GraphStream

    start = time.perf_counter()
    reference = reference or _jax_reference()
    stream = GraphStream(seed, config)
    vectors: list[Vector] = []
    skipped: Counter[str] = Counter()
    sampled = 0
    while len(vectors) < n:
        if sampled >= 20 * n + 10 * CHUNK:
            raise CorpusError(f"only {len(vectors)} of {sampled} sampled graphs are comparable")
        chunk = stream.take(CHUNK)
        for graph, ref in zip(chunk, reference.evaluate(chunk), strict=True):
            comment = f"seed {seed}, graph {sampled}: {describe(graph)}"
            sampled += 1
            made = make_vector(graph, ref, len(vectors) + 1, comment)
            if isinstance(made, str):
                skipped[made.split("(")[0].strip()] += 1
            else:
                vectors.append(made)
            if len(vectors) == n:
                break
    generator = {"command": f"gradoracle corpus export --n {n} --seed {seed}", "seed": seed}
    generator["count"] = n
    stats = ExportStats(len(vectors), sampled, dict(skipped), time.perf_counter() - start)
    return Corpus(generator, vectors), stats


# ---- files ---------------------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Corpus:
    """Read and validate a corpus file; CorpusError (one line, naming the file and the entry)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return parse(text)
    except CorpusError as e:
        raise CorpusError(f"{path}: {e}") from None


def save(corpus: Corpus, path: str | os.PathLike[str]) -> None:
    """Write the corpus atomically (a temporary file, then a rename)."""
    target = Path(path)
    if not target.parent.is_dir():
        raise CorpusError(f"{path}: no such directory {str(target.parent)!r}")
    text = render(corpus)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as e:
        raise CorpusError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise CorpusError(f"{path}: cannot write: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Added:
    ids: tuple[int, ...]  # the new vectors' ids
    skipped: tuple[tuple[int, str], ...]  # (index in `graphs`, why)


def add_vectors(
    path: str | os.PathLike[str],
    graphs: Sequence[Graph],
    comments: Sequence[str] | None = None,
    reference: Any = None,
) -> Added:
    """Append vectors for `graphs` to the corpus at `path` (created if missing), with new unique
    ids. Graphs already in the corpus and graphs that are not comparable are skipped, with why.

    This is how campaign findings join the regression corpus: `gradoracle corpus add FILE --report
    DIR/report.json` (or `--graph-json`), then replay; the vector fails until the bug is fixed.
    """
    if comments is not None and len(comments) != len(graphs):
        raise CorpusError(f"add_vectors: {len(graphs)} graphs but {len(comments)} comments")
    if Path(path).exists():
        corpus = load(path)
    else:
        corpus = Corpus({"command": "gradoracle corpus add", "seed": None, "count": 0}, [])
    known = {v.graph.to_json(): v.id for v in corpus.vectors}
    next_id = max((v.id for v in corpus.vectors), default=0) + 1
    ids: list[int] = []
    skipped: list[tuple[int, str]] = []
    todo = []
    for k, graph in enumerate(graphs):
        key = graph.to_json()
        if key in known:
            skipped.append((k, f"already in the corpus as vector {known[key]}"))
        else:
            known[key] = -1
            todo.append(k)
    if todo:
        refs = (reference or _jax_reference()).evaluate([graphs[k] for k in todo])
        for k, ref in zip(todo, refs, strict=True):
            comment = comments[k] if comments is not None else f"added: {describe(graphs[k])}"
            made = make_vector(graphs[k], ref, next_id, comment)
            if isinstance(made, str):
                skipped.append((k, made))
                continue
            corpus.vectors.append(made)
            ids.append(next_id)
            next_id += 1
    if ids or not Path(path).exists():
        save(corpus, path)
    return Added(tuple(ids), tuple(sorted(skipped)))


# ---- replay --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    name: str  # 'value' or 'x<node>'
    expected: float
    got: float | None  # None when the implementation gave no number
    tolerance: float


@dataclass(frozen=True)
class Checked:
    vector: Vector
    passed: bool
    error: str = ""  # the implementation's exception, 'TypeName: message'
    mismatches: tuple[Mismatch, ...] = ()
    unsupported: str = ""  # an op spelling the implementation lacks, e.g. 'tanh': not judged


@dataclass
class ReplayResult:
    impl: str
    checked: list[Checked]
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    impl_seconds: float = 0.0

    @property
    def failures(self) -> list[Checked]:
        return [c for c in self.checked if not c.passed and not c.unsupported]

    @property
    def skipped(self) -> list[Checked]:
        """Vectors that use an op spelling the implementation lacks (as `check` skips them)."""
        return [c for c in self.checked if c.unsupported]


def check_vector(vector: Vector, got: Sequence[float | None] | None, error: str = "") -> Checked:
    """Judge one implementation result (value, grads...) against the vector's expectations. A None
    gradient (a PyTorch-style engine's unset grad) matches only an expected 0, a None value
    nothing."""
    if error or got is None:
        return Checked(vector, False, error or "no result")
    if len(got) != len(vector.expected):
        reason = f"expected {len(vector.expected) - 1} gradients, got {len(got) - 1}"
        return Checked(vector, False, reason)
    bad = tuple(
        Mismatch(name, e, g, t)
        for name, e, g, t in zip(vector.names, vector.expected, got, vector.tolerance, strict=True)
        if not (
            (name != "value" and e == 0.0) if g is None else math.isfinite(g) and abs(g - e) <= t
        )
    )
    return Checked(vector, not bad, "", bad)


def replay(corpus: Corpus, adapter: Adapter) -> ReplayResult:
    """Run every vector on the implementation (in this process) and judge it. No JAX involved.

    A vector whose graph could not be built, and that uses a spelling the implementation refuses
    on every probe input (fuzz.probe: micrograd has no tanh), is skipped, not failed, as `check`
    skips such spellings. An error in the backward pass, or on some inputs only, stays a finding."""
    from gradoracle.fuzz.probe import refusal, spellings_of
    from gradoracle.fuzz.runner import InProcess

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    runner = InProcess(adapter)
    result = ReplayResult(adapter.name, [])
    refused: dict[Spelling, str] = {}

    def lacking(graph: Graph) -> str:
        for spelling in sorted(spellings_of(graph)):
            if spelling not in refused:
                refused[spelling] = refusal(runner, spelling)
            if refused[spelling]:
                return str(spelling)
        return ""

    for vector in corpus.vectors:
        run = runner.run([vector.graph])[0]
        result.impl_seconds += run.seconds
        outcome = run.outcome
        got = (outcome.value, *outcome.grads) if outcome is not None else None
        missing = lacking(vector.graph) if run.status == "exception" and run.phase == BUILD else ""
        if missing:
            result.checked.append(Checked(vector, False, run.error, unsupported=missing))
            continue
        result.checked.append(check_vector(vector, got, run.error))
    result.seconds = time.perf_counter() - start_wall
    result.cpu_seconds = time.process_time() - start_cpu
    return result
