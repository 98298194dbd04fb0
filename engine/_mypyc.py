"""``mypyc_attr``: mypyc's per-class flags, without importing mypy_extensions at run time.

mypyc reads ``@mypyc_attr(...)`` on a class while compiling it and never looks the name up when
the compiled module runs; the interpreted engine needs the name to exist and to do nothing
(``import engine`` needs nothing third-party). The name is set through ``globals()`` because an
``if TYPE_CHECKING: ... else: ...`` would not do: mypyc compiles the ``else`` as unreachable code.
This module itself is never compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr

_Class = TypeVar("_Class")


def _interpreted_mypyc_attr(*_names: str, **_flags: object) -> Callable[[_Class], _Class]:
    """mypyc's class flags mean nothing to the interpreter: the class is left as it is."""
    return lambda cls: cls


globals().setdefault("mypyc_attr", _interpreted_mypyc_attr)
