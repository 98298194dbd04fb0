"""The optional compiled engine: ``GRADORACLE_MYPYC=1 pip install .`` compiles engine/engine.py and
engine/nn.py with mypyc, from the same source the pure-Python package ships (as mypy's own setup.py
does with MYPY_USE_MYPYC=1). Without the variable this builds the pure-Python package as before;
everything else about the distribution is in pyproject.toml."""

from __future__ import annotations

import os

from setuptools import setup

# engine/viz.py stays interpreted: it only draws, and imports graphviz inside draw_dot.
COMPILED_MODULES = ["engine/engine.py", "engine/nn.py"]

ext_modules = []
if os.environ.get("GRADORACLE_MYPYC", "0") == "1":
    from mypyc.build import mypycify

    # group_name: one predictable name for the shared runtime library, not a hash of the sources.
    ext_modules = mypycify(COMPILED_MODULES, opt_level="3", group_name="engine")

setup(ext_modules=ext_modules)
