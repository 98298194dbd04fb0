"""`gradoracle check TARGET [TARGET ...]` and `--each DIR`: a child process per target, the rows,
the exit codes, the JSON, the reports, and no process left behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_usage
from many_folder import CORRECT, EXPECTED, FOLDER, SHAPE, plant, processes_under

from gradoracle.cli import check as cli_check
from gradoracle.cli import common, many
from gradoracle.cli import main as cli
from gradoracle.cli.many import passthrough, run_child
from gradoracle.cli.many_report import ChildRun, row_of, table
from gradoracle.fuzz.discover import Target, discover
from gradoracle.reference.ops import OPS

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
BUDGET = "3"  # enough for the probe of a correct engine on a loaded machine
# With this margin the hanging target is killed after 2 * 3 + 40 s; the others finish long before.
MARGIN = 40.0
HUNG = "hung: no report after 46 s"


def _check_course(base: Path) -> dict[str, Any]:
    """FOLDER checked with --json and --report, in this process so that the allowance can be made
    short enough to wait for: the JSON, stderr, and what was left running."""
    students = plant(base / "students")
    reports = base / "reports"
    argv = ["check", "--each", str(students), "--budget", BUDGET, "--jobs", "2", "--json"]
    argv += ["--report", str(reports)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(many, "ALLOWANCE_MARGIN", MARGIN)
        mp.chdir(base)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(argv)
    return {
        "code": code,
        "data": json.loads(stdout.getvalue()),
        "stderr": stderr.getvalue(),
        "left": processes_under(base),  # what the children left running: nothing
        "students": students,
        "reports": reports,
    }


def _gradoracle(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command as a user runs it (`python -P -m gradoracle`), from `cwd`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-P", "-m", "gradoracle", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["target"]: row for row in data["targets"]}


@pytest.mark.slow
def test_a_course_folder_every_target_a_row_and_one_hang_stops_none(tmp_path: Path) -> None:
    """One run (the hanging target makes it long), three sets of checks."""
    course = _check_course(tmp_path)
    _every_target_gets_a_row(course)
    _a_students_snippets_say_where_they_run_and_fail_there(course)
    _the_reports_index_links_each_targets_own_report(course)


def _every_target_gets_a_row(planted: dict[str, Any]) -> None:
    data = planted["data"]
    rows = _rows(data)
    assert {name: row["status"] for name, row in rows.items()} == EXPECTED, planted["stderr"]
    assert planted["code"] == 1
    assert set(data) == {"targets", "summary", "seconds"}
    assert all(
        set(row) == {"target", "folder", "status", "error", "verdict", "report"}
        for row in data["targets"]
    )
    summary = data["summary"]
    bugs = summary.pop("bugs")
    assert summary == {
        "targets": 6, "clean": 1, "with_findings": 2, "not_checked": 3, "conventions": 0,
    }  # fmt: skip
    assert bugs == sum(len(row["report"]["findings"]) for row in data["targets"] if row["report"])
    good = rows["good.py:Value"]
    assert good["verdict"] == "clean" and good["report"]["findings"] == []
    assert good["error"] is None and good["folder"] == str(planted["students"])
    assert not good["report"]["ops_skipped"]
    for name in ("bob/engine.py:Value", "bob/nn.py:Param"):
        row = rows[name]
        assert row["folder"] == str(planted["students"] / "bob")
        assert any(f["category"] == "reuse" for f in row["report"]["findings"]), row["verdict"]
        assert row["verdict"].split(" (")[0].endswith("bugs")
    assert rows["hang.py:Value"]["verdict"] == HUNG
    assert rows["hang.py:Value"]["report"] is None
    broken = rows["broken.py:Value"]
    assert broken["error"] == (
        "cannot import module 'broken': No module named 'no_such_module_xyz'"
    )
    assert rows["notes.py"]["error"] == "SyntaxError: invalid syntax (line 1)"
    # A progress line after each child, on stderr (the 5 runnable targets).
    progress = [line for line in planted["stderr"].splitlines() if line.startswith("[")]
    assert len(progress) == 5, planted["stderr"]
    assert not planted["left"], "processes left running:\n" + "\n".join(planted["left"])


def _a_students_snippets_say_where_they_run_and_fail_there(planted: dict[str, Any]) -> None:
    rows = _rows(planted["data"])
    bob = planted["students"] / "bob"
    for name, module in (("bob/engine.py:Value", "engine"), ("bob/nn.py:Param", "nn")):
        finding = next(f for f in rows[name]["report"]["findings"] if f["category"] == "reuse")
        snippet = finding["snippet"]
        first = f"# run in students/bob (where {module}.py is)"
        assert snippet.splitlines()[0] == first, snippet
        # As printed, in a fresh interpreter in that folder: the wrong gradient shows.
        proc = subprocess.run(
            [sys.executable, "-c", snippet], cwd=bob, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "<-- wrong" in proc.stdout
    # The flat target's snippets ran where the command ran: no such line. (good.py has none.)
    assert all(
        not f["snippet"].startswith("# run in") for f in rows["good.py:Value"]["report"]["findings"]
    )


def _the_reports_index_links_each_targets_own_report(planted: dict[str, Any]) -> None:
    reports = planted["reports"]
    saved = json.loads((reports / "report.json").read_text())
    assert _rows(saved).keys() == _rows(planted["data"]).keys()
    index = (reports / "index.html").read_text()
    for name in ("good.py:Value", "bob/engine.py:Value", "bob/nn.py:Param"):
        page = reports / name.replace("/", "-").replace(":", "-") / "report.html"
        assert page.is_file(), sorted(reports.iterdir())
        assert f"href='{page.parent.name}/report.html'" in index
    assert "<svg" in (reports / "bob-engine.py-Value" / "report.html").read_text()
    assert HUNG in index
    assert f"report: {reports / 'index.html'}" in planted["stderr"]


@pytest.mark.slow
def test_two_correct_engines_exit_0_with_a_table(tmp_path: Path) -> None:
    plant(tmp_path, {"good.py": CORRECT, "alice/engine.py": CORRECT})
    proc = _gradoracle("check", "--each", ".", "--budget", BUDGET, "--jobs", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["target", "ops", "graphs", "bugs", "conventions", "verdict"]
    body = {line.split()[0]: line.split() for line in lines[2:4]}
    assert set(body) == {"good.py:Value", "alice/engine.py:Value"}, proc.stdout
    covered = f"{len(OPS)}/0"  # every registry op covered, none skipped
    assert all(cells[1] == covered and cells[-1] == "clean" for cells in body.values())
    assert "2 targets: 2 clean, 0 with findings, 0 not checked" in proc.stdout
    assert not processes_under(tmp_path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "required: MODULE:CLASS (or --each DIR)"),
        (["check", "--each", "nowhere"], "--each: no directory 'nowhere'"),
        (["check", "--each", "empty"], "--each: no micrograd-shaped class in 'empty'"),
        (["check", "--each", "empty", "--each", "empty"], "--each may be given once"),
        (["check", "a:Value", "b"], "expected MODULE:CLASS or FOLDER:MODULE:CLASS, got 'b'"),
        (["check", "a:Value", "b:Value", "--jobs", "0"], "must be >= 1"),
        (["check", "a:Value", "b:Value", "--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_usage_errors_of_many_targets_are_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    plant(tmp_path, {"empty/helpers.py": "x = 1\n"})
    proc = run_usage("gradoracle", *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert message in proc.stderr and proc.stdout == ""


def test_options_pass_through_as_written_but_the_parents_own() -> None:
    parser = cli.build_parser()
    check = common.subparser(parser, "check")
    # An option somebody adds to `check` tomorrow passes through with no change here.
    check.add_argument("--tomorrow", action="append")
    check.add_argument("--tomorrow-file", type=Path)
    argv = [
        "a:Value", "--budget", "3", "b:Value", "--seed=4", "--report", "out", "--json",
        "--jobs", "2", "--each", "students", "--in-process", "--bud", "5", "--spelling", "x=y",
        "--accept", "relu-kink=1", "--tomorrow", "x", "--tomorrow-file", "conventions.txt",
        "--snippets-run-in", "x", "--", "c:Value",
    ]  # fmt: skip
    assert passthrough(argv, check) == [
        "--budget", "3", "--seed=4", "--in-process", "--bud", "5", "--spelling", "x=y",
        "--accept", "relu-kink=1", "--tomorrow", "x",
        "--tomorrow-file", str(Path("conventions.txt").resolve()),
    ]  # fmt: skip


def test_discovery_reads_flat_modules_and_one_folder_per_student(tmp_path: Path) -> None:
    files = dict(FOLDER)
    files |= {
        "alice/pkg/__init__.py": SHAPE,
        "alice/pkg/core.py": "class Node:\n    def __mul__(s, o): ...\n    backprop = None\n",
        "alice/__init__.py": SHAPE,  # the student's folder itself names no module
        "my-engine.py": SHAPE,
        "adapter.py": "from x import Adapter\nclass MyAdapter(Adapter):\n    pass\n",
        "no_backward.py": "class Value:\n    def __add__(self, o): ...\n",
        "._mac.py": "\0\0 not python",
    }
    plant(tmp_path, files)
    found = {t.name: t for t in discover(tmp_path)}
    assert list(found) == [
        "adapter.py:MyAdapter", "broken.py:Value", "good.py:Value", "hang.py:Value",
        "my-engine.py:Value", "notes.py", "alice/pkg/__init__.py:Value", "alice/pkg/core.py:Node",
        "bob/engine.py:Value", "bob/nn.py:Param",
    ]  # fmt: skip
    assert found["alice/pkg/core.py:Node"].spec == "pkg.core:Node"
    assert found["alice/pkg/__init__.py:Value"].spec == "pkg:Value"
    assert found["alice/pkg/core.py:Node"].folder == tmp_path.resolve() / "alice"
    assert found["bob/nn.py:Param"].spec == "nn:Param"
    assert found["good.py:Value"].folder == tmp_path.resolve()
    assert found["notes.py"].problem == "cannot parse: SyntaxError: invalid syntax (line 1)"
    assert found["my-engine.py:Value"].problem.startswith("import error: my-engine.py is not")
    assert found["bob/nn.py:Param"].run_in(tmp_path) == "bob (where nn.py is)"
    assert found["good.py:Value"].run_in(tmp_path) == ""


def _run(code: int | None, report: dict[str, Any] | None, error: str = "") -> ChildRun:
    return ChildRun(code, report, error, 1.0, 30.0)


def _report(*categories: str) -> dict[str, Any]:
    findings = [{"category": c} for c in categories]
    return {
        "findings": findings,
        "ops_covered": {"add": []},
        "ops_skipped": [],
        "graphs_checked": 9,
    }


@pytest.mark.parametrize(
    ("run", "status", "verdict"),
    [
        (_run(0, _report()), "checked", "clean"),
        (_run(1, _report("hang", "reuse", "reuse")), "checked", "3 bugs (reuse 2, hang 1)"),
        (_run(1, _report("convention")), "checked", "1 convention"),
        (_run(1, _report("reuse", "convention")), "checked", "1 bug, 1 convention (reuse 1)"),
        (_run(2, _report(), "x offers none of the ops"), "nothing checkable", "nothing checkable"),
        (_run(1, _report(), "cannot write the report in r"), "error",
         "error: cannot write the report in r"),
        (_run(2, None, "cannot import module 'x'"), "import error",
         "import error: cannot import module 'x'"),
        (_run(1, None, "RuntimeError: boom"), "crashed", "crashed: exit 1: RuntimeError: boom"),
        (_run(-11, None), "crashed", "crashed: killed by SIGSEGV, no report"),
        (_run(-9, _report()), "crashed", "crashed: killed by SIGKILL after its report"),
        (_run(0, {"graphs_checked": 3}), "crashed", "crashed: exit 0, no report"),
        (_run(None, None), "hung", "hung: no report after 30 s"),
    ],
)  # fmt: skip
def test_a_row_is_clean_only_when_its_child_reported_no_finding_and_exit_0(
    run: ChildRun, status: str, verdict: str
) -> None:
    row = row_of(Target("t.py:Value", "t:Value", Path("/x")), run)
    assert (row.status, row.verdict) == (status, verdict)
    assert row.clean == (verdict == "clean")
    line = table([row]).splitlines()[2].split()
    if row.report is not None:  # conventions are a column of their own, apart from bugs
        assert line[3:5] == [str(sum(row.bugs.values())), str(row.conventions)]


def test_a_hung_child_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    # The child starts a grandchild (as a check starts its worker), then hangs.
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    start = time.monotonic()
    run = run_child([sys.executable, "-c", code], tmp_path, 3.0)
    assert run.code is None and time.monotonic() - start < 30
    assert not processes_under(tmp_path)


def test_a_finished_childs_leftovers_are_killed_too(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print('{\"findings\": []}')\n"
    )
    run = run_child([sys.executable, "-c", code], tmp_path, 60.0)
    assert run.code == 0 and run.report == {"findings": []}
    assert not processes_under(tmp_path)


def test_import_deadline_of_a_single_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(tmp_path, {"loops_at_import.py": "while True:\n    pass\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(cli_check, "LOAD_TIMEOUT", 1.0)
    start = time.monotonic()
    assert cli.main(["check", "loops_at_import:Value"]) == common.EXIT_USAGE
    assert time.monotonic() - start < 20
    err = capsys.readouterr().err.strip()
    assert err == (
        "gradoracle: error: importing 'loops_at_import' and building loops_at_import:Value(1.5) "
        "took longer than 1 s (a loop at import time?)"
    )


@pytest.mark.slow
def test_a_report_that_cannot_be_written_keeps_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    argv = ["check", "planted_engines:OverwriteMul", "--budget", "2", "--json", "--in-process"]
    code = cli.main([*argv, "--report", str(tmp_path / "file" / "report")])
    out, err = capsys.readouterr()
    assert code == common.EXIT_FINDINGS
    assert json.loads(out)["findings"]  # the results are all there
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            f"gradoracle: error: cannot write the report in {tmp_path / 'file' / 'report'}: "
            "NotADirectoryError"
        )
    )
    assert "Traceback" not in err


def _chromium() -> str:
    """Debian's chromium; skipped without it, except in CI (CI=true), where it must be there."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed")
    return path


def _browse(profile: Path, url: str, *extra: str) -> str:
    """Headless chromium on `url` with `extra` (--dump-dom: the DOM after scripts ran)."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1200,1600",
    ]  # fmt: skip
    proc = subprocess.run(
        [_chromium(), *flags, *extra, url], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


# Appended to a copy of a report page: the browser writes each <svg>'s laid-out size, so the
# dumped DOM says whether every picture was drawn, not only parsed.
MEASURE = (
    "<script>document.body.dataset.drawn = Array.from(document.querySelectorAll('svg'), s => {"
    "const r = s.getBoundingClientRect(); return r.width > 10 && r.height > 10; }).join(',');"
    "</script>"
)


@pytest.mark.slow
def test_the_html_reports_render_in_a_browser(tmp_path: Path) -> None:
    _chromium()
    course = {name: FOLDER[name] for name in ("good.py", "broken.py", "bob/engine.py", "bob/nn.py")}
    plant(tmp_path / "students", course)
    reports = tmp_path / "reports"
    proc = _gradoracle("check", "--each", "students", "--budget", BUDGET, "--jobs", "2",
                       "--report", "reports", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    index = reports / "index.html"
    dom = _browse(tmp_path / "profile", index.as_uri(), "--dump-dom")
    rows = re.findall(r"<tr>(.*?)</tr>", dom, re.S)
    names = [re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r)[0]) for r in rows[1:]]
    assert names == ["broken.py:Value", "good.py:Value", "bob/engine.py:Value", "bob/nn.py:Param"]
    links = re.findall(r"href=\"([^\"]+/report\.html)\"", dom)
    assert len(links) == 3, dom  # the checked targets
    _browse(tmp_path / "profile", index.as_uri(), f"--screenshot={tmp_path / 'index.png'}")
    assert (tmp_path / "index.png").stat().st_size > 10_000
    pictures = 0
    for link in links:
        page = tmp_path / link.replace("/", "-")
        page.write_text((reports / link).read_text().replace("</body>", MEASURE + "</body>"))
        dom = _browse(tmp_path / "profile", page.as_uri(), "--dump-dom")
        drawn = re.search(r'data-drawn="([^"]*)"', dom)
        assert drawn is not None, dom[-2000:]
        expected = (reports / link).read_text().count("<svg")
        assert drawn.group(1).split(",") == (["true"] * expected or [""]), link
        pictures += expected
    assert pictures >= 2  # bob's engine and nn: their findings are drawn
    page = reports / "bob-engine.py-Value" / "report.html"
    _browse(tmp_path / "profile", page.as_uri(), f"--screenshot={tmp_path / 'bob.png'}")
    assert (tmp_path / "bob.png").stat().st_size > 10_000


def test_reports_that_cannot_be_written_lose_no_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Children that report clean (stood in for here), and --report naming a file: the table is
    printed, one line says the reports could not be written, and the exit status is 1."""
    commands: list[list[str]] = []

    def clean_child(argv: list[str], *rest: Any) -> ChildRun:
        commands.append(argv)
        return _run(0, _report())

    monkeypatch.setattr(many, "run_child", clean_child)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    assert cli.main(["check", "a:Value", "b:Value", "--budget", "1"]) == 0
    assert [argv[5] for argv in commands] == ["a:Value", "b:Value"]
    assert all(argv[6:9] == ["--budget", "1", "--json"] for argv in commands)
    assert [argv[9:] for argv in commands] == [["--target-name", t] for t in ("a:Value", "b:Value")]
    capsys.readouterr()
    commands.clear()
    code = cli.main(["check", "a:Value", "b:Value", "--json", "--report", "file/reports"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [row["verdict"] for row in json.loads(out)["targets"]] == ["clean", "clean"]
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            f"gradoracle: error: cannot write the report in {tmp_path / 'file' / 'reports'}: "
        )
    )
    assert all("--report" not in argv for argv in commands)  # the children were spared it
