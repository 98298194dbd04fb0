"""The README's op and region tables are the registry's, and its test command is what CI runs."""

from __future__ import annotations

from pathlib import Path

from gradoracle.reference.ops import readme_op_table, readme_region_table

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- op-table:start -->\n", "<!-- op-table:end -->"


def test_readme_op_table_is_generated_from_the_registry() -> None:
    text = (ROOT / "README.md").read_text()
    table = text[text.index(START) + len(START) : text.index(END)]
    assert table == readme_op_table(), (
        "README op table is stale: replace the block between the op-table markers with "
        "gradoracle.reference.ops.readme_op_table()"
    )


def test_readme_region_table_is_generated_from_the_registry() -> None:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- region-table:start -->\n", "<!-- region-table:end -->"
    table = text[text.index(start) + len(start) : text.index(end)]
    assert table == readme_region_table(), (
        "README region table is stale: replace the block between the region-table markers with "
        "gradoracle.reference.ops.readme_region_table()"
    )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 noxfile.py -s tests"
    assert f"\n    {command}\n" in readme
    assert f"\n{command}\n" in ci
