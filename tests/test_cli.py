"""The command line as users meet it: exit codes, one-line errors, the timeline, the event log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubechaos.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_run_quickstart_prints_a_timeline_and_exits_0(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    code, out, _ = run_cli("run", str(QUICKSTART), "--events", str(events))
    assert code == 0, out
    assert "Timeline" in out and "Converged" in out and "default/web" in out
    assert "100.00%" not in out or "Traffic" in out
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert records and all(
        {"time", "component", "kind", "object", "reason", "message"} <= r.keys() for r in records
    )
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)


def test_invalid_scenario_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    shutil.copytree(QUICKSTART.parent / "manifests", tmp_path / "manifests")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        QUICKSTART.read_text().replace("count: 3", "count: zero").replace("rate: 20", "rate: fast")
    )
    code, out, err = run_cli("run", str(bad))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {bad}:") for line in lines)
    assert "Traceback" not in out + err


def test_missing_file_and_bad_flags_exit_2() -> None:
    code, _, err = run_cli("run", "no/such/file.yaml")
    assert code == 2 and "cannot read file" in err
    code, _, err = run_cli("run", str(QUICKSTART), "--seed", "-4")
    assert code == 2 and "--seed" in err


def test_validate(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubechaos/v1\nkind: Scenario\nmetadata: {name: x}\nspec: {}\n")
    code, out, err = run_cli("validate", str(QUICKSTART), str(bad))
    assert code == 2
    assert "quickstart.yaml: ok" in out
    assert f"{bad}:4:1: spec.cluster: required field is missing" in err


def _events_in_subprocesses(tmp_path: Path, runs: list[tuple[int, str]]) -> list[bytes]:
    """The event log of quickstart at each (seed, PYTHONHASHSEED), each run in a process of its
    own (all started at once: they use the machine's cores side by side)."""
    procs = []
    for seed, hash_seed in runs:
        out = tmp_path / f"events-{seed}-{hash_seed}.jsonl"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        argv = [sys.executable, "-m", "kubechaos.cli", "run", str(QUICKSTART), "--seed", str(seed),
                "--events", str(out)]  # fmt: skip
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append((proc, out))
    logs = []
    for proc, out in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        logs.append(out.read_bytes())
    return logs


def test_same_seed_gives_byte_identical_event_logs_across_processes(tmp_path: Path) -> None:
    """Different hash seeds make set/dict-of-str order differ between processes: the log must not."""
    first, second, other = _events_in_subprocesses(tmp_path, [(5, "1"), (5, "2"), (6, "1")])
    assert first == second
    assert other != first


def test_unwritable_event_log_fails_before_the_run(tmp_path: Path) -> None:
    code, out, err = run_cli(
        "run", str(QUICKSTART), "--events", str(tmp_path / "missing" / "ev.jsonl")
    )
    assert code == 2 and "cannot write" in err
    assert "Timeline" not in out


def test_interrupted_run_still_writes_its_event_log(tmp_path: Path) -> None:
    long_run = tmp_path / "long.yaml"
    long_run.write_text(
        QUICKSTART.read_text()
        .replace("duration: 5m", "duration: 700h")
        .replace(
            "path: manifests/web.yaml", f"path: {QUICKSTART.parent / 'manifests' / 'web.yaml'}"
        )
    )
    events = tmp_path / "events.jsonl"
    reports = {name: tmp_path / name for name in ("r.json", "r.xml", "r.om", "r.html")}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "kubechaos.cli", "run", str(long_run), "--events", str(events),
            "--json", str(reports["r.json"]), "--junit", str(reports["r.xml"]),
            "--openmetrics", str(reports["r.om"]), "--html", str(reports["r.html"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    # the run's header, then some virtual time (a fixed 3 s sleep sent the signal while Python
    # still imported kubechaos on a loaded machine: killed by SIGINT, -2)
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert b"seed" in header, header
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:  # a failed assertion must not leave a 700-hour run behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"interrupted" in out
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert any(r["reason"] == "Converged" for r in records)
    result = json.loads(reports["r.json"].read_text())
    assert result["verdict"] == "interrupted" and result["complete"] is False
    assert 0 < result["virtualSeconds"] < 1000 * 3600
    assert "<skipped" in reports["r.xml"].read_text()
    assert reports["r.om"].read_text().endswith("# EOF\n")
    assert "incomplete" in reports["r.html"].read_text().lower()


def test_a_failing_run_exits_3_and_keeps_its_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubechaos.scenario import runner

    def broken(self: runner.Run, speed: float | None = None) -> runner.Run:
        raise ExceptionGroup("nursery", [RuntimeError("model invariant broke")])

    monkeypatch.setattr(runner.Run, "run", broken)
    events = tmp_path / "events.jsonl"
    code, out, _ = run_cli("run", str(QUICKSTART), "--events", str(events))
    assert code == 3
    assert "run failed: RuntimeError: model invariant broke" in out
    assert events.exists()
