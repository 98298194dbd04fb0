"""`gradoracle check --each DIR`: the micrograd-shaped classes of a folder, found without running
any of its code (a student's module may loop, crash or delete files at import time).

Two layouts, side by side in one DIR:

- flat: DIR's own `.py` files, each imported from DIR (`carol.py:Value`, run in DIR);
- one subfolder per student: each subfolder of DIR is a project of its own, its modules found
  recursively and named relative to it (`alice/engine.py` is `engine`, `alice/pkg/engine.py` is
  `pkg.engine`), imported with that subfolder as the working directory, so that its sibling imports
  (`from engine import Value` in nn.py) work as they did for the student.

A class is a target when it defines `__add__` or `__mul__` and a backward-like method (`backward`,
`backwards`, `backprop`), or when it subclasses an Adapter (`class MyAdapter(Adapter)`). A file that
does not parse is a target that cannot be checked, not an error of the command.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gradoracle.fuzz.spellings import BACKWARD_NAMES

OP_NAMES = frozenset({"__add__", "__mul__"})
# Folders that hold no student's code: virtual environments and installed packages. Hidden and
# underscore folders (__pycache__ among them) are skipped too, and any folder with a pyvenv.cfg.
SKIPPED_DIRS = frozenset({"venv", "env", "site-packages", "node_modules"})


@dataclass(frozen=True)
class Target:
    """One class to check. `name` is what the user reads (`alice/engine.py:Value`, or the
    MODULE:CLASS they typed); `spec` is what the child imports, from `folder`."""

    name: str
    spec: str
    folder: Path  # absolute: the child's working directory
    module_file: str = ""  # the module's file relative to `folder`, for the snippets' first line
    problem: str = ""  # why it cannot be checked (not parsable, not importable): no child runs

    def run_in(self, here: Path) -> str:
        """Where its snippets run, for their first line; '' when that is `here` (the command's
        own working directory, where snippets of a single-target check run too)."""
        if self.folder == here.resolve():
            return ""
        try:
            shown = str(self.folder.relative_to(here.resolve()))
        except ValueError:  # not below the current directory: the absolute path
            shown = str(self.folder)
        return f"{shown} (where {self.module_file} is)" if self.module_file else shown


def _skipped(directory: Path) -> bool:
    name = directory.name
    return (
        name.startswith((".", "_"))
        or name in SKIPPED_DIRS
        or (directory / "pyvenv.cfg").exists()
        or directory.is_symlink()  # never followed: a link can make a loop or leave DIR
    )


def _module_file(name: str) -> bool:
    """A .py file that is not hidden (`._engine.py`: the metadata a Mac puts in zip files)."""
    return name.endswith(".py") and not name.startswith(".")


def _base_name(base: ast.expr) -> str:
    """`Adapter`, `adapters.Adapter`, `Base[T]` -> the class's own name."""
    if isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _defined(body: list[ast.stmt]) -> set[str]:
    """Names a class body defines: methods, and assignments (`__radd__ = __add__`)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def shaped_classes(tree: ast.Module) -> list[str]:
    """The module's top-level classes that look like a Value class or an adapter, in order."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        names = _defined(node.body)
        is_value = bool(names & OP_NAMES) and not names.isdisjoint(BACKWARD_NAMES)
        if is_value or any(_base_name(b).endswith("Adapter") for b in node.bases):
            found.append(node.name)
    return found


def _parse(path: Path) -> tuple[ast.Module | None, str]:
    """The module's syntax tree, or None and one line saying why it cannot be read."""
    try:
        return ast.parse(path.read_bytes(), filename=str(path)), ""
    except SyntaxError as e:  # IndentationError and undecodable source included
        return None, f"{type(e).__name__}: {e.msg} (line {e.lineno})"
    except (ValueError, OSError, RecursionError) as e:  # null bytes, unreadable, too nested
        return None, f"{type(e).__name__}: {e}"


def _modules(project: Path) -> Iterator[tuple[Path, str]]:
    """(file, dotted module name) for every module of a student's folder, recursively, in order.
    A package's `__init__.py` is the package; the folder's own `__init__.py` names nothing."""
    for root, dirs, files in os.walk(project):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not _skipped(here / d))
        for file in sorted(f for f in files if _module_file(f)):
            parts = (here / file).relative_to(project).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts:
                yield here / file, ".".join(parts)


def _targets_in(path: Path, module: str, folder: Path, root: Path) -> list[Target]:
    shown = path.relative_to(root).as_posix()
    module_file = path.relative_to(folder).as_posix()
    tree, problem = _parse(path)
    if tree is None:
        return [Target(shown, "", folder, module_file, f"cannot parse: {problem}")]
    targets = []
    for cls in shaped_classes(tree):
        target = Target(f"{shown}:{cls}", f"{module}:{cls}", folder, module_file)
        if not all(part.isidentifier() for part in module.split(".")):
            why = f"import error: {module_file} is not an importable module name"
            target = Target(target.name, "", folder, module_file, why)
        targets.append(target)
    return targets


def discover(root: Path) -> list[Target]:
    """Every target in `root` (see the module docstring): its own modules first, then each
    subfolder's, in name order. `root` must be a directory."""
    root = root.resolve()
    targets: list[Target] = []
    for path in sorted(root.glob("*.py")):
        if path.is_file() and _module_file(path.name) and path.stem != "__init__":
            targets += _targets_in(path, path.stem, root, root)
    for project in sorted(p for p in root.iterdir() if p.is_dir() and not _skipped(p)):
        for path, module in _modules(project):
            targets += _targets_in(path, module, project, root)
    return targets
