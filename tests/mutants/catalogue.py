"""A catalogue of realistic autograd bugs, each a small exact source change to a COPY of `engine/`.

Every mutant is a named list of edits (old snippet -> new snippet); each old snippet must occur
exactly once in the file it edits, so a change to the engine that moves the code makes the catalogue
fail loudly instead of silently testing nothing. Mutants are only ever applied to a copy of the
package in a directory of the caller's choosing (`mutated_package`), never to `engine/` itself.

The engine stores local derivatives beside each result (`_a, _da, _b, _db`) and propagates them in
Kahn order (pass 1 counts the edges into each node, pass 2 pushes a node once all its consumers
have), so the classic micrograd bugs are translated to that design: "overwrite in add's _backward"
becomes "the contribution of a `+` node overwrites its operand's grad", "forward order instead of
reversed(topo)" becomes "propagate leaves first", and so on.

    python tests/mutants/catalogue.py           # list the mutants
    python tests/mutants/catalogue.py NAME      # print NAME's diff against the engine
"""

from __future__ import annotations

import difflib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"


class CatalogueError(Exception):
    """A mutant does not apply to the current engine source (a snippet is missing or repeated)."""


@dataclass(frozen=True)
class Edit:
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    group: str  # overwrite, derivative, kink, reflected, traversal, state, identity, precision
    description: str  # one line
    edits: tuple[Edit, ...]
    file: str = "engine.py"  # inside the engine package

    def apply(self, source: str) -> str:
        """The mutated source; CatalogueError unless each old snippet occurs exactly once."""
        for i, edit in enumerate(self.edits):
            count = source.count(edit.old)
            if count != 1:
                raise CatalogueError(
                    f"mutant {self.name!r}, edit {i + 1}: the snippet occurs {count} times in "
                    f"engine/{self.file} (expected exactly once): {edit.old.strip()[:60]!r}"
                )
            source = source.replace(edit.old, edit.new)
        return source

    def diff(self) -> str:
        original = (ENGINE / self.file).read_text()
        return "".join(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                self.apply(original).splitlines(keepends=True),
                f"engine/{self.file}",
                f"engine/{self.file} ({self.name})",
            )
        )


def mutated_package(mutant: Mutant | None, dest: Path) -> Path:
    """Copy the engine package to `dest/engine`, apply the mutant there (None: an unmutated copy,
    the control) and return the package directory. `dest` must lie outside the project's engine/."""
    dest = Path(dest).resolve()
    if dest == ENGINE or ENGINE in dest.parents or dest in ENGINE.parents:
        raise CatalogueError(f"refusing to write mutants into or above the engine itself: {dest}")
    package = dest / "engine"
    shutil.copytree(ENGINE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if mutant is not None:
        target = package / mutant.file
        target.write_text(mutant.apply(target.read_text()))
    return package


# ---- snippets of engine/engine.py that several mutants edit -------------------------------------

_ACC_A = "            a.grad += node._da * g\n"
_ACC_B = "                b.grad += node._db * g\n"


def _overwrite(op: str, cond: str, what: str) -> Mutant:
    """The contribution of `op` nodes overwrites their operands' grads instead of adding to them."""
    return Mutant(
        f"overwrite-{op}",
        "overwrite",
        f"{what} sets its operands' grads (`=`) instead of accumulating them (`+=`)",
        (
            Edit(_ACC_A, f"            a.grad = node._da * g + (0.0 if {cond} else a.grad)\n"),
            Edit(_ACC_B, f"                b.grad = node._db * g + (0.0 if {cond} else b.grad)\n"),
        ),
    )


def _f32(expr: str) -> str:
    return f'struct.unpack("f", struct.pack("f", {expr}))[0]'


_IMPORT_STRUCT = Edit("import math\n", "import math\nimport struct\n")

_PASS2_HEAD = (
    "        self.grad += 1.0\n"
    "        ready = [self]\n"
    "        while ready:\n"
    "            node = ready.pop()\n"
)
_PASS2 = _PASS2_HEAD + (
    "            a = node._a\n"
    "            if a is None:\n"
    "                continue\n"
    "            g = node.grad\n"
    "            a.grad += node._da * g\n"
    "            a._pending -= 1\n"
    "            if not a._pending:\n"
    "                ready.append(a)\n"
    "            b = node._b\n"
    "            if b is not None:\n"
    "                b.grad += node._db * g\n"
    "                b._pending -= 1\n"
    "                if not b._pending:\n"
    "                    ready.append(b)\n"
)

# Pass 1 as it discovers nodes (DFS pre-order), recorded for the two order mutants below.
_RECORD_DISCOVERY = (
    Edit("        stack = [self]\n", "        stack = [self]\n        discovered = [self]\n"),
    Edit(
        "                stack.append(a)\n",
        "                stack.append(a)\n                discovered.append(a)\n",
    ),
    Edit(
        "                    stack.append(b)\n",
        "                    stack.append(b)\n                    discovered.append(b)\n",
    ),
)

MUTANTS: tuple[Mutant, ...] = (
    # -- overwriting instead of accumulating, op by op --------------------------------------------
    _overwrite("add", 'node._op == "+"', "a + b"),
    _overwrite("sub", 'node._op == "-"', "a - b"),
    _overwrite("mul", 'node._op == "*"', "a * b"),
    _overwrite("div", 'node._op == "/"', "a / b"),
    _overwrite("pow", 'node._op.startswith("**")', "a ** k and a ** b"),
    _overwrite("rpow", 'node._op[-2:] == "**" != node._op', "k ** a"),
    _overwrite("neg", 'node._op == "neg"', "-a"),
    _overwrite("tanh", 'node._op == "tanh"', "a.tanh()"),
    _overwrite("exp", 'node._op == "exp"', "a.exp()"),
    _overwrite("log", 'node._op == "log"', "a.log()"),
    _overwrite("relu", 'node._op == "ReLU"', "a.relu()"),
    _overwrite("sigmoid", 'node._op == "sigmoid"', "a.sigmoid()"),
    Mutant(
        "overwrite-all",
        "overwrite",
        "every op sets its operands' grads instead of accumulating (the seed notebook's bug)",
        (
            Edit(_ACC_A, "            a.grad = node._da * g\n"),
            Edit(_ACC_B, "                b.grad = node._db * g\n"),
        ),
    ),
    # -- wrong local derivatives ------------------------------------------------------------------
    Mutant(
        "tanh-from-input",
        "derivative",
        "tanh' computed from the input, 1 - x**2, instead of the output, 1 - t**2",
        (
            Edit(
                'return _node(t, "tanh", self, 1.0 - t * t)',
                'return _node(t, "tanh", self, 1.0 - self.data * self.data)',
            ),
        ),
    ),
    Mutant(
        "exp-from-input",
        "derivative",
        "exp' is the input x instead of the output e**x",
        (Edit('return _node(e, "exp", self, e)', 'return _node(e, "exp", self, self.data)'),),
    ),
    Mutant(
        "pow-exponent-off-by-one",
        "derivative",
        "d(x**k)/dx = k * x**k (the exponent is not decremented)",
        (
            Edit(
                'return exponent * _float_pow(base, exponent - 1.0, "**")',
                'return exponent * _float_pow(base, exponent, "**")',
            ),
        ),
    ),
    Mutant(
        "log-over-output",
        "derivative",
        "log' = 1 / log(x), the output, instead of 1 / x",
        (
            Edit(
                'return _node(math.log(x), "log", self, 1.0 / x)',
                'return _node(math.log(x), "log", self, 1.0 / math.log(x))',
            ),
        ),
    ),
    Mutant(
        "div-divisor-sign",
        "derivative",
        "d(a/b)/db = +a/b**2 (the sign of the divisor's derivative dropped)",
        (
            Edit(
                'return _node(out, "/", self, 1.0 / d, other, -out / d)',
                'return _node(out, "/", self, 1.0 / d, other, out / d)',
            ),
        ),
    ),
    Mutant(
        "rdiv-sign",
        "derivative",
        "d(k/a)/da = +k/a**2 (the sign dropped in the reflected division)",
        (Edit('return _node(out, "/", self, -out / d)', 'return _node(out, "/", self, out / d)'),),
    ),
    Mutant(
        "div-by-constant-multiplies",
        "derivative",
        "d(a/k)/da = k instead of 1/k",
        (
            Edit(
                'return _node(_divide(self.data, k), "/", self, 1.0 / k)',
                'return _node(_divide(self.data, k), "/", self, k)',
            ),
        ),
    ),
    Mutant(
        "sigmoid-from-input",
        "derivative",
        "sigmoid' = x * (1 - x) from the input instead of s * (1 - s) from the output",
        (
            Edit(
                'return _node(s, "sigmoid", self, s * (1.0 - s))',
                'return _node(s, "sigmoid", self, x * (1.0 - x))',
            ),
        ),
    ),
    Mutant(
        "pow-missing-log-factor",
        "derivative",
        "d(a**b)/db = a**b, missing the factor log(a) (also k**a)",
        (Edit("return power * math.log(base)", "return power"),),
    ),
    Mutant(
        "rpow-power-rule",
        "derivative",
        "k**a differentiated with the power rule, a * k**(a-1), instead of log(k) * k**a",
        (
            Edit(
                'return _node(out, f"{other!r}**", self, _exponent_rule(k, out))',
                'return _node(out, f"{other!r}**", self, _power_rule(k, self.data))',
            ),
        ),
    ),
    Mutant(
        "mul-partials-swapped",
        "derivative",
        "d(a*b)/da = a and d(a*b)/db = b (each operand's own value instead of the other's)",
        (
            Edit(
                '"*", self, other.data, other, self.data)',
                '"*", self, self.data, other, other.data)',
            ),
        ),
    ),
    Mutant(
        "sub-subtrahend-sign",
        "derivative",
        "d(a-b)/db = +1 (a - b differentiated like a + b)",
        (Edit('"-", self, 1.0, other, -1.0)', '"-", self, 1.0, other, 1.0)'),),
    ),
    Mutant(
        "rsub-sign",
        "derivative",
        "d(k-a)/da = +1 (the reflected subtraction's slope sign dropped)",
        (Edit('"-", self, -1.0)', '"-", self, 1.0)'),),
    ),
    Mutant(
        "neg-sign",
        "derivative",
        "d(-a)/da = +1",
        (Edit('_node(-self.data, "neg", self, -1.0)', '_node(-self.data, "neg", self, 1.0)'),),
    ),
    Mutant(
        "rmul-slope-one",
        "derivative",
        "k * a has slope 1: the folded constant is left out of the local derivative",
        (
            Edit(
                'return _node(k * self.data, "*", self, k)',
                'return _node(k * self.data, "*", self, 1.0)',
            ),
        ),
    ),
    # -- the kink convention ----------------------------------------------------------------------
    Mutant(
        "relu-slope-one-at-zero",
        "kink",
        "relu'(0) = 1 (x >= 0 instead of x > 0) instead of the convention 0",
        (Edit("if self.data > 0.0:", "if self.data >= 0.0:"),),
    ),
    # -- reflected operators ----------------------------------------------------------------------
    Mutant(
        "rsub-as-sub",
        "reflected",
        "2 - a computed as a - 2",
        (
            Edit(
                'return _node(_operand(other, "-") - self.data, "-", self, -1.0)',
                'return _node(self.data - _operand(other, "-"), "-", self, 1.0)',
            ),
        ),
    ),
    Mutant(
        "rdiv-as-div",
        "reflected",
        "2 / a computed as a / 2 (__rtruediv__ returns self / other)",
        (
            Edit(
                '        d = self.data\n        out = _divide(_operand(other, "/"), d)\n'
                '        return _node(out, "/", self, -out / d)\n',
                "        return self / other\n",
            ),
        ),
    ),
    Mutant(
        "radd-recursion",
        "reflected",
        "__radd__ returns other + self, which calls __radd__ again, forever",
        (
            Edit(
                'return _node(_operand(other, "+") + self.data, "+", self, 1.0)',
                "return other + self  # type: ignore[no-any-return]",
            ),
        ),
    ),
    # -- the traversal ----------------------------------------------------------------------------
    Mutant(
        "forward-order",
        "traversal",
        "propagate leaves first, output last (micrograd's `for v in topo` without reversed())",
        (
            *_RECORD_DISCOVERY,
            Edit(
                _PASS2_HEAD,
                "        self.grad += 1.0\n        ready: list[Value] = []\n"
                "        for node in reversed(discovered):\n",
            ),
        ),
    ),
    Mutant(
        "preorder",
        "traversal",
        "propagate in discovery (DFS pre-order) order, which is not a topological order",
        (
            *_RECORD_DISCOVERY,
            Edit(
                _PASS2_HEAD,
                "        self.grad += 1.0\n        ready: list[Value] = []\n"
                "        for node in discovered:\n",
            ),
        ),
    ),
    Mutant(
        "push-on-every-contribution",
        "traversal",
        "no pending counts: an operand is pushed on every contribution, propagating partial grads",
        (
            Edit(
                "            if not a._pending:\n                ready.append(a)\n",
                "            ready.append(a)\n",
            ),
            Edit(
                "                if not b._pending:\n                    ready.append(b)\n",
                "                ready.append(b)\n",
            ),
        ),
    ),
    Mutant(
        "ready-after-first-consumer",
        "traversal",
        "pending counts nodes, not edges: a shared node is pushed before all consumers are done",
        (
            Edit("                a._pending += 1\n", "                pass\n"),
            Edit("                    b._pending += 1\n", "                    pass\n"),
        ),
    ),
    Mutant(
        "no-visited-set",
        "traversal",
        "the counting pass has no visited set: a shared node's operands are counted once per path",
        (
            Edit(
                "            if a._pass is this_pass:\n                a._pending += 1\n"
                "            else:\n                a._pass = this_pass\n"
                "                a._pending = 1\n                stack.append(a)\n",
                "            a._pending = (a._pending if a._pass is this_pass else 0) + 1\n"
                "            a._pass = this_pass\n            stack.append(a)\n",
            ),
            Edit(
                "                if b._pass is this_pass:\n                    b._pending += 1\n"
                "                else:\n                    b._pass = this_pass\n"
                "                    b._pending = 1\n                    stack.append(b)\n",
                "                b._pending = (b._pending if b._pass is this_pass else 0) + 1\n"
                "                b._pass = this_pass\n                stack.append(b)\n",
            ),
        ),
    ),
    Mutant(
        "visited-never-reset",
        "traversal",
        "one 'visited' mark for every backward() call: nodes an earlier call counted look counted",
        (
            Edit("Number = int | float\n", "Number = int | float\n_PASS = object()\n"),
            Edit("        this_pass = object()\n", "        this_pass = _PASS\n"),
        ),
    ),
    Mutant(
        "recursive-backward",
        "traversal",
        "recursion into the children instead of a topological order (per path; deep graphs crash)",
        (
            Edit(
                _PASS2,
                "        def push(node: Value, g: float) -> None:\n"
                "            node.grad += g\n"
                "            if node._a is not None:\n"
                "                push(node._a, node._da * g)\n"
                "            if node._b is not None:\n"
                "                push(node._b, node._db * g)\n\n"
                "        push(self, 1.0)\n",
            ),
        ),
    ),
    Mutant(
        "missing-seed",
        "traversal",
        "the output's seed gradient 1 is never set",
        (Edit("        self.grad += 1.0\n", ""),),
    ),
    Mutant(
        "stack-peek",
        "traversal",
        "reads the ready stack's top without popping it: backward() never ends",
        (Edit("node = ready.pop()", "node = ready[-1]"),),
    ),
    # -- state between backward() calls -----------------------------------------------------------
    Mutant(
        "interior-grads-not-reset",
        "state",
        "interior grads are not reset by backward(), so a second call propagates stale sums",
        (Edit("            node.grad = 0.0\n", ""),),
    ),
    Mutant(
        "leaf-grads-reset",
        "state",
        "backward() also zeroes the leaves' grads, so they no longer accumulate across calls",
        (
            Edit(
                "            node = stack.pop()\n"
                "            a = node._a\n"
                "            if a is None:\n"
                "                continue\n            node.grad = 0.0\n",
                "            node = stack.pop()\n"
                "            node.grad = 0.0\n"
                "            a = node._a\n"
                "            if a is None:\n                continue\n",
            ),
        ),
    ),
    Mutant(
        "zero-grad-misses-bias",
        "state",
        "Neuron.zero_grad() resets the weights' grads but not the bias's",
        (
            Edit(
                "    def parameters(self) -> list[Value]:\n        return [*self.w, self.b]\n",
                "    def zero_grad(self) -> None:\n"
                "        for wi in self.w:\n"
                "            wi.grad = 0.0\n\n"
                "    def parameters(self) -> list[Value]:\n        return [*self.w, self.b]\n",
            ),
        ),
        file="nn.py",
    ),
    # -- node identity ----------------------------------------------------------------------------
    Mutant(
        "children-in-a-set",
        "identity",
        "operands kept as a set, {a, a} == {a}: x * x and x + x lose an operand",
        (Edit("    out._b = b\n", "    out._b = None if b is a else b\n"),),
    ),
    # "hashed-by-value" (__eq__/__hash__ by data merged distinct nodes in backward()'s dict of
    # counts) left with that dict: the counts are on the nodes now, and no step of the engine
    # hashes or compares Values, so the mutant had become equivalent to the engine.
    # -- precision --------------------------------------------------------------------------------
    Mutant(
        "float32-tanh-derivative",
        "precision",
        "tanh's local derivative rounded through float32 (relative error ~1e-8)",
        (
            _IMPORT_STRUCT,
            Edit(
                'return _node(t, "tanh", self, 1.0 - t * t)',
                f'return _node(t, "tanh", self, {_f32("1.0 - t * t")})',
            ),
        ),
    ),
    Mutant(
        "float32-mul-derivative",
        "precision",
        "a * b's local derivative d/da rounded through float32 (relative error ~1e-8)",
        (
            _IMPORT_STRUCT,
            Edit(
                '"*", self, other.data, other, self.data)',
                f'"*", self, {_f32("other.data")}, other, self.data)',
            ),
        ),
    ),
)

BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
assert len(BY_NAME) == len(MUTANTS), "mutant names must be unique"


def main(argv: list[str]) -> int:
    if not argv:
        for m in MUTANTS:
            print(f"{m.name:30} {m.group:11} {m.description}")
        print(f"{len(MUTANTS)} mutants")
        return 0
    for name in argv:
        if name not in BY_NAME:
            print(f"unknown mutant {name!r}", file=sys.stderr)
            return 2
        print(BY_NAME[name].diff(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
