"""Closure micrograd (subclass of `_base.MicroValue`); planted bug: refcount damage on free.

Stands in for a native extension whose leaf destructor releases a borrowed reference: every leaf
that is freed calls `Py_DecRef` on `None`. The math is right; but after a few thousand leaves
None's reference count reaches zero and the interpreter aborts ("deallocating None") in whatever
code runs next.
"""

from __future__ import annotations

import ctypes

from _base import MicroValue

EXPECT = "bug"
STYLE = "closure micrograd"
MECHANISM = "process damage"
BUG = "each freed leaf decrements None's refcount: the process aborts after a few thousand"


class Value(MicroValue):
    def __del__(self) -> None:
        if not self._prev:
            ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))
