"""The oracle lives under `gradoracle` only: a user's folder full of modules called `engine`,
`fuzz` or `reference` (micrograd's own file is `engine.py`) neither shadows it nor is shadowed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import gradoracle_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Every module of the oracle a run can import, whatever the command.
ORACLE_MODULES = [
    "gradoracle.cli.main",
    "gradoracle.fuzz.check",
    "gradoracle.fuzz.campaign",
    "gradoracle.fuzz.html_report",
    "gradoracle.fuzz.picture",
    "gradoracle.fuzz.isolation",
    "gradoracle.fuzz.battery",
    "gradoracle.cli.corpus",
    "gradoracle.cli.many",
    "gradoracle.reference.jax_ref",
    "gradoracle.reference.highprec",
]


def test_the_oracle_imports_nothing_under_a_name_a_user_folder_can_hold() -> None:
    code = (
        f"import importlib, sys\nfor m in {ORACLE_MODULES!r}: importlib.import_module(m)\n"
        "print(sorted(n for n in ('engine', 'fuzz', 'reference') if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_check_in_a_folder_whose_modules_are_called_engine_fuzz_and_reference(
    tmp_path: Path,
) -> None:
    """The notebook engine saved as `engine.py`, beside a `fuzz.py` and a `reference.py` that
    raise when imported: the run checks the user's engine (its overwrite bug is found), and the
    report with its pictures is written."""
    (tmp_path / "engine.py").write_text((EXAMPLES / "notebook_engine.py").read_text())
    for name in ("fuzz", "reference"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s {name}.py')\n")
    report = tmp_path / "report"
    code, result = gradoracle_json(
        "check", "engine:Value", "--budget", "3", "--json", "--report", str(report), cwd=tmp_path
    )
    assert code == 1
    assert result["findings"], "the notebook engine's overwrite bug went unseen"
    assert any(f["category"] == "reuse" for f in result["findings"])
    assert "from engine import Value" in result["findings"][0]["snippet"]
    saved = json.loads((report / "report.json").read_text())
    assert len(saved["findings"]) == len(result["findings"])
    assert "<svg" in (report / "report.html").read_text()
