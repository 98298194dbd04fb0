"""The oracle's modules import one another without a circle, counting every import: those inside
functions and under `TYPE_CHECKING` too (a circle there still ties two modules' designs together).
And the reference never imports the attack: data flows from `reference` to `fuzz`, never back."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gradoracle"


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the package."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(tree: ast.AST, module: str, is_package: bool, known: Set[str]) -> Iterator[str]:
    """Every module an import statement anywhere in `tree` names: `from a import b` is `a.b` if
    that is a module, else `a`."""
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..a import b`
                parts = here.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in known else base


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    known = modules(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = set()
        for name in imported_names(tree, module, path.name == "__init__.py", known.keys()):
            if name in known and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: Mapping[str, Set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_reference_never_imports_the_attack() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith("gradoracle.reference")
        for target in targets
        if target.startswith(("gradoracle.fuzz", "gradoracle.cli"))
    )
    assert not wrong, wrong


def test_the_fuzz_package_does_not_import_the_command_line() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith("gradoracle.fuzz")
        for target in targets
        if target.startswith("gradoracle.cli")
    )
    assert not wrong, wrong


def test_a_cycle_is_found_wherever_the_import_hides(tmp_path: Path) -> None:
    """The checker itself: a circle closed by an import inside a function, or under
    TYPE_CHECKING, or a relative one, is found; a one-way graph is not a circle."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from pkg import c\n")
    (pkg / "c.py").write_text("import os\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None
    closings = [
        "def f():\n    from pkg import a\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
        "from . import a\n",
    ]
    for closing in closings:
        (pkg / "c.py").write_text(closing)
        cycle = find_cycle(import_graph(tmp_path, "pkg"))
        assert cycle == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"], (closing, cycle)
