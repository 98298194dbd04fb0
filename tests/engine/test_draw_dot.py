"""engine.draw_dot: a graphviz.Digraph with one record node per Value and one op node per
non-leaf, left to right, as the notebook draws it; and `import engine` stays free of
third-party imports (graphviz is imported inside draw_dot only).

Rendering needs the `dot` binary (Debian's graphviz). Without it these tests skip on a
developer's machine but FAIL in CI (env var CI set), where .ci/run installs it.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import Value, draw_dot

# The directory `engine` was imported from: the probe below checks that same package.
ENGINE_HOME = Path(engine.__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))

NODE_LINE = re.compile(r"^\s*(?P<name>\"[^\"]*\"|\S+)\s+\[(?P<attrs>.*)\]\s*$")
LABEL = re.compile(r'label=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s\]]+))')


def require(what: str, available: bool) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI: .ci/run must install it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        require("the graphviz Python package", False)
    return graphviz


def require_dot() -> None:
    # Called inside each rendering test (not a fixture) so that in CI it is a test FAILURE.
    require("the `dot` binary (Debian package graphviz)", shutil.which("dot") is not None)


def parse_nodes(source: str) -> tuple[list[str], list[str]]:
    """Labels of the record nodes and of the other (op) nodes in DOT source."""
    records: list[str] = []
    ops: list[str] = []
    for line in source.splitlines():
        if "->" in line:
            continue
        match = NODE_LINE.match(line)
        if not match or match["name"] in {"graph", "node", "edge"}:
            continue
        label = LABEL.search(match["attrs"])
        assert label, f"node without a label: {line!r}"
        text = label["quoted"] if label["quoted"] is not None else label["bare"]
        (records if "shape=record" in match["attrs"] else ops).append(text)
    return records, ops


def count_edges(source: str) -> int:
    return sum("->" in line for line in source.splitlines())


def notebook_neuron() -> tuple[Value, list[Value]]:
    """The notebook's neuron: 10 Values, 5 of them results of an op, 9 operand edges."""
    x1 = Value(2.0, label="x1")
    x2 = Value(0.0, label="x2")
    w1 = Value(-3.0, label="w1")
    w2 = Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, [x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o]


# --- the Digraph and its source -------------------------------------------------------------


def test_returns_a_digraph(graphviz: Any) -> None:
    o, _ = notebook_neuron()
    assert isinstance(draw_dot(o), graphviz.Digraph)


def test_one_record_per_value_and_one_op_node_per_non_leaf(graphviz: Any) -> None:
    o, values = notebook_neuron()
    source = draw_dot(o).source
    records, ops = parse_nodes(source)
    assert len(records) == len(values) == 10
    assert sorted(ops) == sorted(v._op for v in values if v._op)
    assert len(ops) == 5
    assert count_edges(source) == 5 + 9  # op -> its result, operand -> op


def test_left_to_right(graphviz: Any) -> None:
    o, _ = notebook_neuron()
    assert re.search(r"rankdir\s*=\s*\"?LR", draw_dot(o).source)


def test_records_show_label_data_and_grad(graphviz: Any) -> None:
    o, values = notebook_neuron()
    o.backward()
    records, _ = parse_nodes(draw_dot(o).source)
    by_label = {}
    for record in records:
        fields = [f.strip() for f in record.strip("{} ").split("|")]
        by_label[fields[0]] = " ".join(fields[1:])
    assert set(by_label) == {v.label for v in values}
    assert "2.0000" in by_label["x1"]  # data
    assert "-1.5000" in by_label["x1"]  # grad (x1.grad == -1.5 up to rounding)
    assert "-3.0000" in by_label["w1"]
    assert "0.7071" in by_label["o"]
    assert "1.0000" in by_label["o"]


def test_distinct_values_with_equal_data_are_distinct_nodes(graphviz: Any) -> None:
    a, b = Value(1.0), Value(1.0)
    records, ops = parse_nodes(draw_dot(a * b).source)
    assert len(records) == 3
    assert len(ops) == 1


def test_node_used_twice_is_drawn_once(graphviz: Any) -> None:
    x = Value(3.0, label="x")
    y = x * x
    z = y + y
    records, ops = parse_nodes(draw_dot(z).source)
    assert len(records) == 3
    assert len(ops) == 2


def test_every_op_kind_is_drawn(graphviz: Any) -> None:
    a, b = Value(0.5, label="a"), Value(1.5, label="b")
    steps = [a + b, a - b, a * b, a / b, -a, a**b, a.tanh(), a.exp(), b.log(), a.relu()]
    steps.append(a.sigmoid())
    total = steps[0]
    for step in steps[1:]:
        total = total * step  # all Value operands: every Value here is a drawn node
    records, ops = parse_nodes(draw_dot(total).source)
    assert len(records) == len(ops) + 2  # every Value but the leaves a and b is an op's result
    assert {s._op for s in steps} <= set(ops)
    assert len({s._op for s in steps}) >= 10  # each op kind has a name of its own (neg may be *)


def test_leaf_alone(graphviz: Any) -> None:
    records, ops = parse_nodes(draw_dot(Value(4.0, label="solo")).source)
    assert len(records) == 1
    assert "solo" in records[0]
    assert ops == []


# --- rendering with the dot binary ----------------------------------------------------------


def svg_node_count(svg: str) -> int:
    return len(re.findall(r'<g id="node\d+" class="node">', svg))


def test_renders_an_svg_with_one_group_per_node(graphviz: Any) -> None:
    require_dot()
    o, values = notebook_neuron()
    o.backward()
    svg = draw_dot(o).pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:500]
    assert svg_node_count(svg) == len(values) + sum(1 for v in values if v._op) == 15
    assert len(re.findall(r'class="edge"', svg)) == 14
    assert "x1" in svg
    assert "tanh" in svg


def svg_texts(svg: str) -> list[str]:
    return [html.unescape(t).strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def test_labels_with_record_syntax_characters_are_shown_verbatim(
    graphviz: Any,
) -> None:
    require_dot()
    # '|', '{', '}', '<', '>' structure a record label in DOT: a label containing them must be
    # escaped, or it splits into fields, becomes a port name, or vanishes from the picture.
    labels = ["a|b", "<x>", "{y}", 'q"z', "p\\q"]
    leaves = [Value(float(k + 1), label=label) for k, label in enumerate(labels)]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = total + leaf
    svg = draw_dot(total).pipe(format="svg").decode()
    assert svg_node_count(svg) == len(labels) + 2 * (len(labels) - 1)
    texts = svg_texts(svg)
    for label in labels:
        assert label in texts, (label, texts)


def test_renders_to_a_file(graphviz: Any, tmp_path: Path) -> None:
    require_dot()
    x = Value(2.0, label="x")
    y = (x * x).exp()
    written = draw_dot(y).render(tmp_path / "graph", format="svg")
    svg = Path(written).read_text()
    assert svg_node_count(svg) == 3 + 2


# --- import engine pulls in nothing third-party ---------------------------------------------

PROBE = """
import sys
before = set(sys.modules)
import engine
import engine.nn
after = set(sys.modules)
new = sorted({name.split('.')[0] for name in after - before})
print('\\n'.join(name for name in new if name not in sys.stdlib_module_names))
"""


def test_import_engine_imports_no_third_party_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ENGINE_HOME,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    new_top_level = set(result.stdout.split())
    # engine__mypyc: the compiled build's runtime library, generated from engine's own source.
    assert new_top_level <= {"engine", "engine__mypyc"}, new_top_level
    assert not new_top_level & {"graphviz", "numpy", "jax", "jaxlib", "mpmath"}


def test_the_probe_would_see_a_third_party_import() -> None:
    # The check above must be able to fail: graphviz imported by draw_dot shows up.
    probe = PROBE.replace("import engine.nn", "import engine.nn, graphviz")
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ENGINE_HOME,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        require("the graphviz Python package", False)
    assert "graphviz" in result.stdout.split()
