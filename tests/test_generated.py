"""The files generated from the op registry are what the registry generates today."""

from __future__ import annotations

import dataclasses

import pytest

from gradoracle import generate
from gradoracle.fuzz import sampler_kernel as kernel
from gradoracle.reference import ops
from gradoracle.reference.ops import OPS, SAMPLERS
from gradoracle.reference.tape import OPCODES


def test_no_generated_file_is_stale() -> None:
    stale = generate.stale()
    assert not stale, f"stale: {stale}; run python -m gradoracle.generate --write"


def test_a_changed_registry_makes_the_kernel_table_and_schema_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check can fail: a domain or a new op changes the kernel's table (and so its file,
    which is what numba's cache is keyed by) and the schema's op list."""
    monkeypatch.setitem(OPS, "log", dataclasses.replace(OPS["log"], domain={"*": "a > 1"}))
    assert generate.KERNEL in generate.stale()
    renamed = dataclasses.replace(OPS["neg"], name="negate")
    monkeypatch.setitem(ops.OPS, "negate", renamed)
    assert {generate.KERNEL, generate.SCHEMA} <= set(generate.stale())


def test_kernel_draws_are_the_registry_samplers_in_order() -> None:
    names = ("REAL", "DIVISOR", "POSITIVE", "EXP_ARG", "POW")
    assert [n.lower() for n in names] == list(SAMPLERS)
    assert [getattr(kernel, f"DRAW_{n}") for n in names] == list(range(len(SAMPLERS)))
    assert list(kernel.OPCODES) == list(OPS)
    assert kernel.OPCODES == OPCODES  # one numbering: the compiled sampler's steps are tape steps


def test_kernel_formulas_come_from_the_registry_formulas() -> None:
    """Each op's generated value and partial are the registry's formula, in KernelLib's text."""
    lib = generate.KERNEL_LIB
    assert lib.add("a", "b") == "(a + b)" and lib.tanh("(-a)") == "math.tanh(-a)"
    block = generate.kernel_block()
    for op in OPS.values():
        value = op.forward(lib, "a", "b") if op.arity == 2 else op.forward(lib, "a")
        assert f"return {value}" in block, op.name
