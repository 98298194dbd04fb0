"""The regression corpus, replayed against the implementation under test in every test run.

`tests/corpus/regressions.json` holds 200 vectors from `gradoracle corpus export --n 200 --seed 1`,
the classic bugs below (CLASSICS) and findings from campaigns. Replay needs no JAX: this runs in
milliseconds. `pytest --impl MODULE:CLASS` replays it against another implementation.

Adding a finding from a campaign (after `gradoracle check ... --json > report.json`, or with
`--report DIR`, which writes DIR/report.json):

    gradoracle corpus add tests/corpus/regressions.json --report report.json --comment "issue 42"
    gradoracle corpus add tests/corpus/regressions.json --graph-json '{"format": ...}'

or `fuzz.corpus.add_vectors(path, graphs, comments)` from Python. New vectors get the next free
ids; a graph already in the corpus is skipped. The new vector fails until the bug is fixed; commit
the file with the fix. `python tests/fuzz/test_regression_corpus.py` rebuilds the file from
scratch (export, classics, then every other vector of the old file again: nothing is lost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gradoracle.cli.corpus import replay_text
from gradoracle.fuzz.corpus import Corpus, add_vectors, export, load, replay, save
from gradoracle.reference.graph import Graph, Node

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "regressions.json"
SEED, COUNT = 1, 200

x, k, op = Node.input, Node.const, Node.apply
CLASSICS: list[tuple[str, Graph]] = [
    ("classic: x + x, one node as both operands (overwriting engines give 1, not 2)",
     Graph((x(0.7), op("add", 0, 0)))),
    ("classic: x * x, d/dx = 2x (overwriting engines give x)", Graph((x(-1.3), op("mul", 0, 0)))),
    ("classic: x - x and x / x: contributions that cancel exactly",
     Graph((x(1.5), op("sub", 0, 0), op("div", 0, 0), op("add", 1, 2)))),
    ("classic: x ** x, both operands of pow", Graph((x(1.5), op("pow", 0, 0)))),
    ("classic: diamond, a = x * y; (a + x) * a",
     Graph((x(1.5), x(-2.0), op("mul", 0, 1), op("add", 2, 0), op("mul", 3, 2)))),
    ("classic: (x * x) * x = 27 at 3 (micrograd's second backward() gives 72)",
     Graph((x(3.0), op("mul", 0, 0), op("mul", 1, 0)))),
    ("classic: relu just above its kink (1e-7, outside the comparator's 1e-9 margin): slope 1",
     Graph((x(1e-7), op("relu", 0)))),
    ("classic: relu just below its kink (-1e-7): slope 0", Graph((x(-1e-7), op("relu", 0)))),
    ("classic: tanh(20): 1 - tanh(20)**2 rounds to 0, the exact slope is 1.7e-17",
     Graph((x(20.0), op("tanh", 0)))),
    ("classic: sigmoid(-30): 1/(1 + exp(30)) = 9.4e-14, slope s*(1 - s)",
     Graph((x(-30.0), op("sigmoid", 0)))),
    ("classic: a ** b, both variables: d/db = log(a) * a**b",
     Graph((x(1.7), x(-0.6), op("pow", 0, 1)))),
    ("classic: 2 ** a, a constant base (__rpow__): d/da = log(2) * 2**a",
     Graph((k(2.0), x(1.3), op("pow", 0, 1)))),
    ("classic: 2 - a, a constant on the left (__rsub__): d/da = -1",
     Graph((k(2.0), x(0.4), op("sub", 0, 1)))),
    ("classic: 2 / a, a constant on the left (__rtruediv__): d/da = -2/a**2",
     Graph((k(2.0), x(-0.8), op("div", 0, 1)))),
]  # fmt: skip


def test_the_regression_corpus_replays_clean(adapter: Any) -> None:
    result = replay(load(CORPUS), adapter)
    assert not result.failures, replay_text(result, str(CORPUS))
    assert len(result.checked) >= COUNT + len(CLASSICS)


def test_the_classic_bugs_are_in_the_corpus() -> None:
    graphs = {v.graph.to_json(): v for v in load(CORPUS).vectors}
    missing = [comment for comment, graph in CLASSICS if graph.to_json() not in graphs]
    assert not missing, "run: python tests/fuzz/test_regression_corpus.py"


def test_the_corpus_starts_with_the_seeded_export() -> None:
    corpus = load(CORPUS)
    assert corpus.generator["seed"] == SEED and corpus.generator["count"] == COUNT
    assert all(v.comment.startswith(f"seed {SEED}, graph ") for v in corpus.vectors[:COUNT])


def regenerate(path: Path = CORPUS) -> Corpus:
    """Rebuild the file: the seeded export, the classics, then the old file's other vectors."""
    old = load(path).vectors if path.exists() else []
    fresh, _ = export(COUNT, SEED)
    save(fresh, path)
    cases = CLASSICS + [(v.comment, v.graph) for v in old if not v.comment.startswith("seed ")]
    added = add_vectors(path, [g for _, g in cases], [c for c, _ in cases])
    for index, why in added.skipped:
        print(f"skipped {cases[index][0]!r}: {why}")
    return load(path)


if __name__ == "__main__":
    print(f"{len(regenerate().vectors)} vectors in {CORPUS}")
