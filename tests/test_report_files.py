"""Report files are whole or untouched, output paths are checked before anything runs, and a write
error is one line.

Before: every output was opened (so truncated) before the run and written in place after it; a
run that never started, or stopped while writing, left 0-byte or cut-off reports where the
previous run's had been; ``--json r.json --junit r.json`` or ``--json scenario.yaml`` silently
overwrote one file with another; ``--json /dev/full`` ended in a traceback after the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubechaos.cli import main
from kubechaos.cli.signals import exit_status
from kubechaos.report.files import OutputError, atomic_output, check_writable, write_text
from kubechaos.report.junit import junit_xml
from kubechaos.report.sweep import junit_results, sweep_of
from kubechaos.scenario.seeds import Shard

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
OLD = "the previous report\n"


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- the helper -------------------------------------------------------------------------------


def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    """A KeyboardInterrupt (a second signal) half-way through writing: the old file stays."""
    report = tmp_path / "r.json"
    report.write_text(OLD)
    with pytest.raises(KeyboardInterrupt), atomic_output(report) as out:
        out.write('{"half": ')
        raise KeyboardInterrupt
    assert report.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_a_signal_landing_as_the_temporary_file_is_created_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second Ctrl-C can land just after the temporary file is created and before its
    name is known to the writer. With tempfile.mkstemp that left a ``.name.*.tmp`` behind (seen
    in a loaded CI run of the signal suite); the name is now chosen before the file exists."""
    target = tmp_path / "r.json"
    target.write_text("old")
    real_open = os.open

    def open_then_interrupted(*args: Any, **kwargs: Any) -> int:
        real_open(*args, **kwargs)  # the file exists now...
        raise KeyboardInterrupt  # ...and the signal lands before the caller learns of it

    monkeypatch.setattr(os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as out:
        out.write("new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_failed_write_is_an_output_error_and_leaves_the_previous_file(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text(OLD)
    error = pytest.raises(OutputError, match=r"^cannot write .*r\.json: disk on fire$")
    with error, atomic_output(report) as out:
        out.write("x")
        raise OSError(28, "disk on fire")
    assert report.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_a_finished_write_replaces_the_file_keeping_its_mode(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text(OLD)
    report.chmod(0o640)
    write_text(report, "new\n")
    assert report.read_text() == "new\n"
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.json"
    write_text(fresh, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask  # as open() would make it


def test_a_symlink_is_followed_and_a_stream_written_in_place(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    write_text(Path("/dev/null"), "into the void")  # a device is written, never replaced
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_checking_a_path_never_creates_or_truncates_it(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    check_writable(report)
    assert not report.exists()
    report.write_text(OLD)
    check_writable(report)
    assert report.read_text() == OLD
    assert _leftovers(tmp_path) == []
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "r.json")
    with pytest.raises(OutputError, match=r"^cannot write /proc/r\.json: "):
        check_writable(Path("/proc/r.json"))  # a directory no one may create files in
    check_writable(Path("/dev/full"))  # writable until it is written


# --- paths checked before the run ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--json", "{d}/r.out", "--junit", "{d}/r.out"], "--json and --junit name the same file"),
        (["--events", "{d}/r.out", "--html", "{d}/./r.out"], "--events and --html name the same"),
        (["--json", "{scenario}"], "--json {scenario} is the scenario file"),
        (["--events", "{manifest}"], "is a manifest the scenario reads"),
        (["--openmetrics", "{d}/r.out", "--json", "{d}/link"], "--openmetrics and --json name"),
    ],
)
def test_an_output_that_is_an_input_or_another_output_is_refused_before_the_run(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    """Exit 2, one line naming the flags, and no file touched (before: the second report, or
    the run's own output, silently overwrote the first or the scenario)."""
    scenario = tmp_path / "quickstart.yaml"
    scenario.write_text(QUICKSTART.read_text())
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "web.yaml"
    manifest.write_text((QUICKSTART.parent / "manifests" / "web.yaml").read_text())
    (tmp_path / "link").symlink_to(tmp_path / "r.out")
    names = {"d": str(tmp_path), "scenario": str(scenario), "manifest": str(manifest)}
    before = {p: p.read_bytes() for p in (scenario, manifest)}
    code, out, err = run_cli("run", str(scenario), *(f.format(**names) for f in flags))
    assert code == 2
    assert err.count("\n") == 1 and message.format(**names) in err, err
    assert "Timeline" not in out
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "r.out").exists()


def test_sweep_and_merge_refuse_an_output_that_is_an_input(tmp_path: Path) -> None:
    shard = tmp_path / "shard.json"
    shard.write_text(OLD)
    code, _, err = run_cli("sweep-merge", str(shard), "--json", str(shard))
    assert code == 2 and "--json" in err and "one of the shard files" in err
    assert shard.read_text() == OLD
    code, _, err = run_cli(
        "sweep", str(QUICKSTART), "--seeds", "1", "--json", str(shard), "--junit", str(shard)
    )
    assert code == 2 and "--json and --junit name the same file" in err
    shutil.copytree(QUICKSTART.parent / "manifests", tmp_path / "manifests")
    variant = tmp_path / "b.yaml"
    variant.write_text(QUICKSTART.read_text())
    code, _, err = run_cli("compare", str(QUICKSTART), str(variant), "--seeds", "1-4", "--json",
                           str(variant))  # fmt: skip
    assert code == 2 and "--json" in err and "one of the compared scenario files" in err
    assert variant.read_text() == QUICKSTART.read_text()


@pytest.mark.parametrize("where", ["/proc/r.json", "{d}/missing/r.json", "{d}"])
def test_an_unwritable_report_path_is_exit_2_before_the_run(tmp_path: Path, where: str) -> None:
    code, out, err = run_cli("run", str(QUICKSTART), "--json", where.format(d=tmp_path))
    assert code == 2, err
    assert "Traceback" not in err and "Timeline" not in out


# --- write errors after the run -----------------------------------------------------------------


def test_a_write_error_after_the_run_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """/dev/full accepts the open and fails the write: one line, exit 3, the other reports still
    written (before: a traceback after the run)."""
    junit = tmp_path / "r.xml"
    code, out, err = run_cli("run", str(QUICKSTART), "--json", "/dev/full", "--junit", str(junit))
    assert code == 3, err
    assert err == "error: cannot write /dev/full: No space left on device\n"
    assert junit.read_text().startswith("<?xml")
    assert "Timeline" in out


def test_a_failed_sweep_report_write_is_exit_3(tmp_path: Path) -> None:
    code, _, err = run_cli("sweep", str(QUICKSTART), "--seeds", "1", "--workers", "1",
                           "--json", "/dev/full")  # fmt: skip
    assert code == 3 and err == "error: cannot write /dev/full: No space left on device\n"


# --- exit codes and an interrupted sweep's JUnit -----------------------------------------------


def test_interrupted_exit_codes_are_the_shells() -> None:
    assert exit_status(0) == 0 and exit_status(3) == 3
    assert exit_status(130) == 128 + signal.SIGINT == 130  # nothing else was received


def _result(seed: int) -> dict[str, Any]:
    return {
        "schema": "kubechaos/result/v1", "seed": seed, "verdict": "passed", "exitCode": 0,
        "complete": True, "error": None, "virtualSeconds": 60.0, "wallSeconds": 0.1,
        "replay": f"kubechaos run s.yaml --seed {seed}",
        "scenario": {"name": "s", "description": "", "file": "s.yaml", "duration": 60.0},
        "faults": [], "failedInjections": [], "traffic": [], "deployments": [],
        "steadyState": [], "events": 1,
        "slos": [{"name": "avail", "kind": "availability", "ok": True, "measured": "100%",
                  "threshold": ">= 99%", "detail": ""}],
    }  # fmt: skip


def test_an_interrupted_sweeps_junit_skips_the_seeds_it_did_not_run() -> None:
    """Shard 2/3 of seeds 1-9 (seeds 2, 5, 8) interrupted after seed 2: seeds 5 and 8 are
    skipped suites, with the sweep's SLOs; the other shards' seeds are not there (before: the
    JUnit held seed 2 alone and read as green)."""
    scenario = {"name": "s", "description": "", "file": "s.yaml", "duration": 60.0, "sha256": ""}
    sweep = sweep_of(scenario, "1-9", Shard(2, 3), [_result(2)], 1.0, complete=False)
    results = junit_results(sweep)
    assert [r["seed"] for r in results] == [2, 5, 8]
    xml = junit_xml(results).decode()
    assert xml.count("<skipped") == 2 and "not run: interrupted before seed 5" in xml
    assert 'tests="3" failures="0" errors="0" skipped="2"' in xml
    complete = sweep_of(scenario, "1-9", Shard(2, 3), [_result(2)], 1.0)
    assert [r["seed"] for r in junit_results(complete)] == [2]
    assert json.loads(json.dumps(results))  # still plain JSON data
