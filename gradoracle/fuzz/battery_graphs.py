"""The battery's graphs, made from the spellings an implementation offers (fuzz.probe): an engine
without `*` still gets its reuse, repeated-backward and two-root cases, and an engine without
`a + 1.0` still gets deep chains, in whatever spellings it has.

Deep and wide graphs are built from steps whose float64 arithmetic is exact or well conditioned
(`a + 1`, `a * x` at x = 1, `1 / a` at 0.5, `tanh` near 0.5), so that their expected answer comes
from a plain float sweep (reference.float_sweep) and any correct engine agrees with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradoracle.fuzz.probe import INT, LEAF, Spelling
from gradoracle.fuzz.snippets import WRONG
from gradoracle.reference.graph import OPCODES, FlatGraph, Graph, Node, nodes_from_steps
from gradoracle.reference.ops import OPS

if TYPE_CHECKING:
    from gradoracle.fuzz.adapters import Adapter

# Binary ops in the order the battery prefers them for reuse, fan-out and diamonds: their results
# at the chosen points are exact.
PREFERRED = ("add", "mul", "sub", "div", "pow")
START = 0.5  # every chain's first leaf: exact through 1 / a, 1 - a, a ** 1, ...


def _binary_vv(offered: Sequence[Spelling]) -> list[str]:
    ops = {s.op for s in offered if s.form == "vv"}
    return [name for name in PREFERRED if name in ops]


def _x(*values: float) -> list[Node]:
    return [Node.input(v) for v in values]


def reuse_cases(offered: Sequence[Spelling]) -> list[tuple[str, Graph]]:
    """Graphs whose only difficulty is that nodes are used more than once: `x op x` for every
    binary op offered with two variables, diamonds, and a unary result feeding three consumers."""
    op = Node.apply
    cases: list[tuple[str, Graph]] = []
    binary = _binary_vv(offered)
    for name in binary:
        cases.append((f"x {name} x", Graph((*_x(1.5), op(name, 0, 0)))))
        cases.append(
            (
                f"diamond: a = x {name} y; (a {name} x) {name} a",
                Graph((*_x(1.5, 0.75), op(name, 0, 1), op(name, 2, 0), op(name, 3, 2))),
            )
        )
    unary = [s.op for s in offered if s.form == "v" and not OPS[s.op].chain_partner]
    if binary and unary:
        b, u = binary[0], unary[0]
        cases.append(
            (
                f"one {u} node feeding three consumers",
                Graph((*_x(0.7), op(u, 0), op(b, 1, 1), op(b, 2, 1), op(b, 3, 0))),
            )
        )
    return cases


def chain_partner(spelling: Spelling) -> str | None:
    """The op a unary step needs beside its own to stay bounded (exp needs log and back)."""
    return OPS[spelling.op].chain_partner or None if spelling.form == "v" else None


def chainable(spelling: Spelling, offered: Sequence[Spelling]) -> bool:
    partner = chain_partner(spelling)
    return spelling.op != LEAF and (
        partner is None or any(s.op == partner and s.form == "v" for s in offered)
    )


def chain_lists(spelling: Spelling, depth: int) -> FlatGraph:
    """`chain(spelling, depth)` as the flat lists `reference.tape.compile_graph` makes of its
    nodes, without making them: `depth` steps after an input at START, each step one op (a unary
    op and its chain partner: log(exp(y)) and exp(log(y)) stay near y), its other operand a leaf
    at 1.0 (two variables) or a constant 1 (an int if the spelling's constant is). The battery's
    chains have ~1.5 * 10^5 nodes, made in the worker and again here for the expected answer: a
    Node each cost more than the engine's backward pass over them."""
    name, form = spelling.op, spelling.form
    code = OPCODES[name]
    leaf_slots, leaf_values = [0], [START]
    inputs: tuple[int, ...] = (0,)
    if form == "vv":
        leaf_slots.append(1)
        leaf_values.append(1.0)
        inputs = (0, 1)
    steps: list[int] = []
    y, n = 0, len(leaf_slots)  # the chain's last node, the next node's index
    if form == "v":
        partner = OPS[name].chain_partner
        codes = (code, OPCODES[partner]) if partner else (code,)
        for _ in range(depth):
            for c in codes:
                steps += (c, y, y, n)  # (a unary op reads its operand twice)
                y, n = n, n + 1
    elif form == "vv":
        for _ in range(depth):
            steps += (code, y, 1, n)
            y, n = n, n + 1
    else:
        one: float = 1 if spelling.const == INT else 1.0
        for _ in range(depth):
            leaf_slots.append(n)
            leaf_values.append(one)
            steps += (code, y, n, n + 1) if form == "vc" else (code, n, y, n + 1)
            y, n = n + 1, n + 2
    return FlatGraph(steps, leaf_slots, leaf_values, inputs, y, n)


def chain(spelling: Spelling, depth: int) -> Graph:
    """`depth` steps of one spelling after an input at START (see chain_lists), as nodes."""
    lists = chain_lists(spelling, depth)
    nodes, forms = nodes_from_steps(lists)
    return Graph.trusted(nodes, lists.output, forms, tuple(lists.inputs))


class _Lists(FlatGraph):
    """A FlatGraph standing for its graph's CompiledGraph where only its lists are read."""

    __slots__ = ()

    @property
    def flat(self) -> FlatGraph:
        return FlatGraph(*self)


def chain_to_run(spelling: Spelling, depth: int) -> Graph:
    """`chain(spelling, depth)` carrying its flat lists (`Graph.from_compiled`): a Value class's
    adapter builds it from them (`build_from_steps`, as it builds random graphs), other adapters
    from its nodes, made when first asked for. In the worker: nothing there reads a tape."""
    return Graph.from_compiled(_Lists(*chain_lists(spelling, depth)))


def _tail(result: str, leaves: list[str], graph: Graph, adapter: Adapter) -> list[str]:
    """backward() on `result`, then its value and the leaves' gradients beside the float sweep's,
    in the adapter's spellings."""
    from gradoracle.reference.float_sweep import (
        float_gradients,
    )  # (the reference, only for snippets)

    value, grads = float_gradients(graph)
    data, grad = adapter.spellings.data, adapter.spellings.grad
    read = adapter.snippet_data.format(x=result)
    lines = [
        adapter.snippet_backward.format(out=result),
        f"print('{result}.{data} =', {read}, '  expected {value!r}')",
    ]
    lines += [
        f"print('{x}.{grad} =', {adapter.snippet_grad.format(x=x)}, '  expected {g!r}')"
        for x, g in zip(leaves, grads, strict=True)
    ]
    return lines


def _leaf(adapter: Adapter, value: object) -> str:
    return adapter.snippet_leaf.format(cls=adapter.class_name, value=repr(value))


def chain_snippet(spelling: Spelling, depth: int, adapter: Adapter) -> str:
    """The chain as a loop a user can run, printing what it should give."""
    text = chain(spelling, 1).to_snippet("", adapter.class_name, adapter.spellings.methods)
    step = [line.replace("x0", "y").replace("x1", "x") for line in text.splitlines()]
    step = [line for line in step if line.startswith("v")]
    head = [f"x0 = {_leaf(adapter, START)}", "y = x0"]
    leaves = ["x0"]
    if spelling.form == "vv":
        head.append(f"x = {_leaf(adapter, 1.0)}")
        leaves.append("x")
    result = step[-1].split(" = ")[0]
    loop = [f"for _ in range({depth}):", *(f"    {line}" for line in step), f"    y = {result}"]
    tail = _tail("y", leaves, chain(spelling, depth), adapter)
    return "\n".join([adapter.import_line, "", *head, *loop, *tail]) + "\n"


def fan_out_snippet(name: str, width: int, adapter: Adapter) -> str:
    """fan_out as a loop: `width` consumers of x, summed back pairwise."""
    graph = fan_out(name, width)
    x = graph.nodes[0].value
    both = OPS[name].spell("vv", "x", "x")
    reduce = OPS[name if name in ("add", "mul") else "add"].spell("vv", "t[k]", "t[k + 1]")
    lines = [
        adapter.import_line, "", f"x = {_leaf(adapter, x)}",
        f"t = [{both} for _ in range({width})]",
        "while len(t) > 1:",
        f"    t = [{reduce} for k in range(0, len(t) - 1, 2)] + ([t[-1]] if len(t) % 2 else [])",
        "out = t[0]", *_tail("out", ["x"], graph, adapter),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def diamonds_snippet(name: str, levels: int, adapter: Adapter) -> str:
    """stacked_diamonds as a loop."""
    graph = stacked_diamonds(name, levels)
    x = graph.nodes[0].value
    lines = [
        adapter.import_line, "", f"x = {_leaf(adapter, x)}", "y = x", f"for _ in range({levels}):",
        f"    y = {OPS[name].spell('vv', 'y', 'y')}", *_tail("y", ["x"], graph, adapter),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def fan_out(name: str, width: int) -> Graph:
    """x feeding `width` consumers `x op x`, summed (or multiplied) back in a balanced tree.
    Valid by construction (Node.trusted, Graph.trusted): validating its ~8,000 nodes, here and
    in the worker, cost more than the engine's pass over them."""
    x = 0.5 if name in ("add", "sub") else 1.0
    op = Node.trusted
    nodes = [op("input", x)]
    level = []
    for _ in range(width):
        nodes.append(op("op", None, name, (0, 0)))
        level.append(len(nodes) - 1)
    reduce = name if name in ("add", "mul") else "add"
    while len(level) > 1:
        paired = []
        for a, b in zip(level[::2], level[1::2]):
            nodes.append(op("op", None, reduce, (a, b)))
            paired.append(len(nodes) - 1)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return Graph.trusted(tuple(nodes), level[0], ("",) + ("vv",) * (len(nodes) - 1))


def stacked_diamonds(name: str, levels: int) -> Graph:
    """a = x; a = a op a, `levels` times: 2**levels paths from the output to x, each node once."""
    op = Node.trusted
    nodes = [op("input", 0.5 if name in ("add", "sub") else 1.0)]
    nodes += [op("op", None, name, (i, i)) for i in range(levels)]
    return Graph.trusted(tuple(nodes), -1, ("",) + ("vv",) * levels)


def two_roots(offered: Sequence[Spelling]) -> tuple[Graph, int] | None:
    """A graph and an earlier node of it (the first root) that shares nodes with the output."""
    binary = _binary_vv(offered)
    if binary:
        b = binary[0]
        op = Node.apply
        nodes = (*_x(2.0, 0.75), op(b, 0, 0), op(b, 2, 0), op(b, 3, 1))
        return Graph(nodes), 2
    steps = [s for s in offered if chainable(s, offered)]
    if not steps:
        return None
    first = chain(steps[0], 1)
    return chain(steps[0], 2), first.output


def any_graph(offered: Sequence[Spelling]) -> Graph | None:
    """A small graph with reuse if the offered spellings allow, else a two-step chain."""
    cases = reuse_cases(offered)
    if cases:
        return cases[1][1] if len(cases) > 1 else cases[0][1]
    steps = [s for s in offered if chainable(s, offered)]
    return chain(steps[0], 2) if steps else None


def domain_cases(offered: Sequence[Spelling]) -> list[tuple[str, Graph]]:
    """Single ops at the edges of float64 where the exact answer is still a finite float: the
    registry's `Op.extremes`, for the spellings offered (an int constant needs an int spelling)."""
    cases = []
    for spelling in offered:
        op = OPS.get(spelling.op)  # None: the leaf constructor
        for extreme in op.extremes if op else ():
            if extreme.form != spelling.form:
                continue
            if "c" in spelling.form:
                k = extreme.operands[spelling.form.index("c")]
                if (spelling.const == INT) != isinstance(k, int):
                    continue
            nodes = [
                Node.input(x) if f == "v" else Node.const(x)
                for f, x in zip(extreme.form, extreme.operands, strict=True)
            ]
            graph = Graph((*nodes, Node.apply(spelling.op, *range(len(nodes)))))
            text = f"{spelling.op}({', '.join(map(repr, extreme.operands))})"  # pow(0.0, 2)
            cases.append((text, graph))
    return cases


def memory_snippet(
    spelling: Spelling,
    depth: int,
    count: int,
    nodes: int,
    rounds: int,
    leak_bytes: float,
    adapter: Adapter,
) -> str:
    """The memory case's rounds as a program: a chain of `depth` built, backward() and dropped
    `count` times per round, resident memory printed after each, and the growth per node marked
    when it is `leak_bytes` or more (a leak)."""
    chain = chain_snippet(spelling, depth, adapter)
    head, _, body = chain.partition("\n\n")
    steps = [line for line in body.splitlines() if line and not line.startswith("print(")]
    lines = [
        "import gc",
        "import os",
        head,
        "",
        "",
        "def resident_bytes():",
        "    with open('/proc/self/statm') as f:",
        "        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')",
        "",
        "",
        "def one_graph():",
        *(f"    {line}" for line in steps),
        "",
        "",
        "sizes = []",
        f"for round in range({rounds}):",
        f"    for _ in range({count}):",
        "        one_graph()",
        "    gc.collect()",
        "    sizes.append(resident_bytes())",
        "    print('resident bytes after round', round, '=', sizes[-1])",
        f"growth = [(after - before) / {nodes} for before, after in zip(sizes[1:], sizes[2:])]",
        f"leak = min(growth) >= {leak_bytes:g}",
        f"print('bytes per node kept by each later round:', growth, "
        f"'  expected < {leak_bytes:g}' + ('  {WRONG}' if leak else ''))",
    ]
    return "\n".join(lines) + "\n"
