"""`gradoracle fuzz`: shards on several processes, findings shared through the example database."""

from __future__ import annotations

from pathlib import Path

from cli_runner import gradoracle_json

from gradoracle.fuzz.database import database_key, open_database, saved_graphs

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# Long enough for two shards to start (JAX import, compilations) on a loaded 2-core machine.
BUDGET = "12"


def fuzz(*argv: str, database: Path) -> tuple[int, dict[str, object]]:
    return gradoracle_json("fuzz", "--json", "--database", str(database), *argv, cwd=TESTS)


def test_a_campaign_on_the_engine_is_clean_and_spends_its_budget(tmp_path: Path) -> None:
    code, report = fuzz("--budget", BUDGET, "--workers", "2", database=tmp_path / "db")
    assert code == 0, report["findings"]
    assert isinstance(report["graphs_checked"], int) and report["graphs_checked"] > 1000
    assert float(report["seconds"]) < float(BUDGET) + 5  # type: ignore[arg-type]
    assert float(report["impl_seconds"]) > 0  # type: ignore[arg-type]


def test_two_processes_share_findings_through_the_database(tmp_path: Path) -> None:
    database = tmp_path / "shared"
    impl = "planted_engines:OverwriteMul"
    code, _ = fuzz("--impl", impl, "--budget", BUDGET, "--workers", "1", database=database)
    assert code == 1
    saved = saved_graphs(open_database(str(database)), database_key(impl))
    assert saved, "the first campaign saved its shrunk findings"
    # A second, independent process with another seed starts from what the first one found.
    code, second = fuzz(
        "--impl", impl, "--budget", BUDGET, "--workers", "1", "--seed", "9", database=database
    )
    assert code == 1
    assert second["replayed"] == len(saved)
    assert second["replayed_failing"] == len(saved)
