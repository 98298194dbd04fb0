"""A course's folder of engines for `gradoracle check --each`, planted in a temporary directory:
correct, buggy, hanging at import, failing to import, unparsable, flat and one per student.
Also the process checks the many-target tests share. Not shipped."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORRECT = (ROOT / "engine" / "engine.py").read_text()  # the project engine: no finding
OVERWRITE = (ROOT / "examples" / "notebook_engine.py").read_text()  # self.grad = out.grad
SHAPE = "class Value:\n    def __add__(self, other): ...\n    def backward(self): ...\n"

# A student's nn.py: imports its sibling engine.py (run from the student's folder, it works), and
# its Param has the same ops, so the same bug.
NN = """from engine import Value


class Param(Value):
    def __add__(self, other):
        return super().__add__(other)

    def backward(self):
        super().backward()
"""

FOLDER = {
    "good.py": CORRECT,
    "hang.py": "while True:\n    pass\n\n" + SHAPE,  # never finishes importing
    "broken.py": "import no_such_module_xyz  # noqa\n\n" + SHAPE,
    "notes.py": "class Value(:\n",  # a SyntaxError: a row, not a crash
    "helpers.py": "def helper():\n    return 1\n",  # nothing micrograd-shaped: no row
    "bob/engine.py": OVERWRITE,
    "bob/nn.py": NN,
    "bob/__pycache__/engine.py": SHAPE,  # skipped folders
    "bob/.venv/lib/value.py": SHAPE,
    "_private/value.py": SHAPE,
}

# Name shown -> status, for FOLDER.
EXPECTED = {
    "broken.py:Value": "import error",
    "good.py:Value": "checked",
    "hang.py:Value": "hung",
    "notes.py": "cannot parse",
    "bob/engine.py:Value": "checked",
    "bob/nn.py:Param": "checked",
}


def plant(root: Path, files: dict[str, str] = FOLDER) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def processes_under(root: Path) -> list[str]:
    """Processes (but this one) whose working directory or command line is inside `root`: what a
    check of targets in `root` left running. Read from /proc, without psutil."""
    found = []
    text = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if cwd.startswith(text) or text in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()} (in {cwd})")
    return found
