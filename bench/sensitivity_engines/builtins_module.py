"""Closure micrograd (subclass of `_base.MicroValue`) posing as a compiled class; correct.

The class sets `__module__ = "builtins"`, as classes of C extensions and Rust ports report: code
that writes `from {cls.__module__} import Value` gets an import that does not work. The import
line of a snippet must come from the user's MODULE:CLASS. The math is `_base`'s, and right.
"""

from __future__ import annotations

from _base import MicroValue

EXPECT = "correct"
STYLE = "closure micrograd, __module__ = 'builtins'"
MECHANISM = "builtins module"
BUG = "(none) the class reports __module__ == 'builtins'"


class Value(MicroValue):
    __module__ = "builtins"
