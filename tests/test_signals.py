"""Reports survive every signal: real ``kubechaos`` processes sent SIGINT, SIGTERM, SIGHUP and a
double SIGINT, during ``run`` and ``sweep``.

Each test starts the command as CI would (a subprocess, its own process), waits until it is
running, signals it and checks what a CI job would find: the exit code a shell reports for that
signal (``128 + signum``), every report asked for present and valid (the JSON parses and says
``complete: false``, the JUnit parses), a report from an earlier run never destroyed by an
interrupted or failed start, no temporary file left beside the reports, and no process of the
command left alive (the sweep's workers included).

Before: SIGTERM and SIGHUP killed the process outright, with exit -15 / -1, no reports and a
0-byte file in place of every earlier report (they were opened, so truncated, before the run);
the sweep's workers went on running for minutes; a second Ctrl-C while reports were written left
them truncated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubechaos.cli import main
from kubechaos.cli.signals import exit_quietly_when_stopped
from kubechaos.scenario.runner import Run

ROOT = Path(__file__).resolve().parent.parent
POD_KILL = ROOT / "scenarios" / "pod-kill.yaml"  # 15 virtual minutes: 9 s wall at --speed 100
EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
OLD = '{"old": "report"}\n'

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the process tree")


def _ignore_sigint_and_sighup() -> None:
    """As `nohup kubechaos ... &` in a script starts it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _start(args: list[str], cwd: Path, background: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubechaos.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint_and_sighup if background else None,
    )


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> list[str]:
    """Lines of stdout up to the first holding ``text`` (the command printed its header)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never printed {text!r}: {seen}")


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children of all its threads, recursively)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for a reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _assert_all_gone(pids: set[int], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return
        time.sleep(0.1)
    shown = {pid: _cmdline(pid) for pid in left}
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"processes left alive after the command ended: {shown}")


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _no_temporary_files(directory: Path) -> None:
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started: killed if the test fails half-way."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _run_args(tmp_path: Path) -> list[str]:
    return [
        "run", str(POD_KILL), "--speed", "100", "--no-progress",
        "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
        "--html", str(tmp_path / "r.html"), "--events", str(tmp_path / "ev.jsonl"),
        "--openmetrics", str(tmp_path / "r.om"),
    ]  # fmt: skip


def _assert_incomplete_run_reports(tmp_path: Path) -> None:
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["complete"] is False and result["verdict"] == "interrupted"
    assert 0 < result["virtualSeconds"] < 900
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert int(suite.get("skipped", "0")) > 0
    assert "incomplete" in (tmp_path / "r.html").read_text().lower()
    assert (tmp_path / "r.om").read_text().endswith("# EOF\n")
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert events and events[0]["reason"] == "Booting"


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_stops_a_run_and_every_report_is_written_incomplete(
    tmp_path: Path, signum: signal.Signals, reaper: list[subprocess.Popen[str]]
) -> None:
    """SIGTERM (CI timeouts, Kubernetes) and SIGHUP (a closed terminal) do what Ctrl-C does;
    the exit code says which it was. Before: SIGTERM/SIGHUP killed the process with no report
    and left every earlier report truncated to 0 bytes."""
    (tmp_path / "r.json").write_text(OLD)
    proc = _start(_run_args(tmp_path), tmp_path)
    reaper.append(proc)
    _wait_for_line(proc, "seed 42")
    time.sleep(0.5)
    children = _descendants(proc.pid)
    proc.send_signal(signum)
    code, out, err = _finish(proc)
    assert code == EXPECTED[signum], err
    assert f"interrupted ({signum.name})" in out
    assert "Traceback" not in err and "Trio" not in err, err
    _assert_incomplete_run_reports(tmp_path)
    _no_temporary_files(tmp_path)
    _assert_all_gone(children)


def test_a_background_run_keeps_sighup_ignored_and_stops_cleanly_on_sigterm(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """Started as `nohup kubechaos run ... &` (SIGINT and SIGHUP ignored): SIGHUP stays
    ignored, and SIGTERM still stops the run cleanly through Trio (before: SIGTERM killed it
    with no report; and with SIGINT ignored Trio does not take SIGINT over, so a SIGTERM merely
    turned into KeyboardInterrupt would hit Trio's own machinery and spill pages of "guest run
    got abandoned" errors: the command makes SIGINT Python's default first)."""
    proc = _start(_run_args(tmp_path), tmp_path, background=True)
    reaper.append(proc)
    _wait_for_line(proc, "seed 42")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert proc.poll() is None  # nohup meant it
    proc.send_signal(signal.SIGTERM)
    code, out, err = _finish(proc)
    assert code == 143, err
    assert "interrupted (SIGTERM)" in out and err == "", err
    _assert_incomplete_run_reports(tmp_path)


def test_a_second_sigint_while_reports_are_written_leaves_no_truncated_file(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """Two Ctrl-C: the second lands while the reports are written. Each report is then either
    the new one, whole, or the earlier one, untouched; never a truncated file (before: the
    report being written when the second signal came was left cut off)."""
    for name in ("r.json", "r.xml", "r.html", "ev.jsonl", "r.om"):
        (tmp_path / name).write_text(OLD)
    proc = _start(_run_args(tmp_path), tmp_path)
    reaper.append(proc)
    _wait_for_line(proc, "seed 42")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _wait_for_line(proc, "interrupted")
    proc.send_signal(signal.SIGINT)
    code, _, err = _finish(proc)
    assert code == 130, err
    assert "Traceback" not in err, err
    events = (tmp_path / "ev.jsonl").read_text()
    assert events == OLD or json.loads(events.splitlines()[-1])["reason"]
    result_text = (tmp_path / "r.json").read_text()
    assert result_text == OLD or json.loads(result_text)["complete"] is False
    junit = (tmp_path / "r.xml").read_text()
    assert junit == OLD or ET.fromstring(junit).tag == "testsuites"
    html = (tmp_path / "r.html").read_text()
    assert html == OLD or html.rstrip().endswith("</html>")
    om = (tmp_path / "r.om").read_text()
    assert om == OLD or om.endswith("# EOF\n")
    _no_temporary_files(tmp_path)


def test_a_run_that_fails_to_start_leaves_the_previous_reports(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """--serve on a busy port is exit 2 before the run, and the reports of the previous run are
    still there (before: every output had been opened, so emptied, first)."""
    names = ("r.json", "r.xml", "r.html", "ev.jsonl", "r.om")
    for name in names:
        (tmp_path / name).write_text(OLD)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _start([*_run_args(tmp_path), "--serve", f"127.0.0.1:{port}"], tmp_path)
        reaper.append(proc)
        code, _, err = _finish(proc)
    assert code == 2 and err.count("\n") == 1 and "--serve" in err, err
    assert all((tmp_path / name).read_text() == OLD for name in names)
    _no_temporary_files(tmp_path)


def test_a_signal_before_the_run_starts_leaves_the_previous_reports(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """SIGTERM while the command is still starting: whatever the moment, the earlier reports
    are untouched (nothing is written before the run) and no traceback is printed."""
    (tmp_path / "r.json").write_text(OLD)
    (tmp_path / "r.xml").write_text(OLD)
    proc = _start(_run_args(tmp_path), tmp_path)
    reaper.append(proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    code, _, err = _finish(proc)
    assert code in (143, -signal.SIGTERM), err  # -15: killed before Python set up handlers
    assert "Traceback" not in err, err
    assert (tmp_path / "r.json").read_text() == OLD or not json.loads(
        (tmp_path / "r.json").read_text()
    )["complete"]
    _no_temporary_files(tmp_path)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""  # it has ended meanwhile


def _workers_started(pid: int, count: int, timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _descendants(pid)
        if sum("spawn_main" in _cmdline(p) for p in found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError("the sweep's workers never started")


def _sweep_under_way(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> tuple[subprocess.Popen[str], set[int]]:
    """A 200-seed sweep on 2 workers writing s.json and s.xml, a second into its runs: the
    process and every process it started."""
    proc = _start(
        [
            "sweep", str(POD_KILL), "--seeds", "1-200", "--workers", "2", "--no-progress",
            "--json", str(tmp_path / "s.json"), "--junit", str(tmp_path / "s.xml"),
        ],
        tmp_path,
    )  # fmt: skip
    reaper.append(proc)
    _wait_for_line(proc, "2 workers")
    tree = _workers_started(proc.pid, 2)
    time.sleep(1.0)
    return proc, tree | _descendants(proc.pid)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_stops_a_sweep_its_workers_and_writes_an_incomplete_sweep(
    tmp_path: Path, signum: signal.Signals, reaper: list[subprocess.Popen[str]]
) -> None:
    """A signal to a sweep on 2 workers: the workers are gone at once (before: SIGTERM left
    them running for minutes), the JSON says complete=false with the runs so far, and the JUnit
    has a skipped suite for every seed that did not finish."""
    (tmp_path / "s.json").write_text(OLD)
    proc, tree = _sweep_under_way(tmp_path, reaper)
    proc.send_signal(signum)
    code, out, err = _finish(proc)
    assert code == EXPECTED[signum], err
    assert "Traceback" not in err, err
    _assert_all_gone(tree)
    sweep = json.loads((tmp_path / "s.json").read_text())
    assert sweep["complete"] is False and len(sweep["results"]) < 200
    assert "interrupted after" in out
    root = ET.parse(tmp_path / "s.xml").getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 200  # every seed: the ones not run are there, skipped
    not_run = [s for s in suites if s.find("testcase/skipped") is not None]
    assert len(not_run) == 200 - len(sweep["results"]) > 0
    assert "not run" in (not_run[0].find("testcase/skipped").get("message") or "")  # type: ignore[union-attr]
    _no_temporary_files(tmp_path)


def test_a_killed_sweep_takes_its_workers_with_it(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """Even SIGKILL, which no handler sees, leaves no worker behind: each dies with its parent
    (before: they ran on as orphans)."""
    proc = _start(
        ["sweep", str(POD_KILL), "--seeds", "1-200", "--workers", "2", "--no-progress"], tmp_path
    )
    reaper.append(proc)
    _wait_for_line(proc, "2 workers")
    tree = _workers_started(proc.pid, 2)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    _assert_all_gone(tree)


def test_a_second_sigint_on_a_sweep_leaves_whole_reports_and_no_worker(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """Two Ctrl-C on a sweep, the second while it stops and writes: exit 130, no worker left,
    and each report either the earlier file untouched or the new one whole, never cut off."""
    (tmp_path / "s.json").write_text(OLD)
    (tmp_path / "s.xml").write_text(OLD)
    proc, tree = _sweep_under_way(tmp_path, reaper)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code, _, err = _finish(proc)
    assert code == 130, err
    assert "Traceback" not in err, err
    _assert_all_gone(tree)
    sweep = (tmp_path / "s.json").read_text()
    assert sweep == OLD or json.loads(sweep)["complete"] is False
    junit = (tmp_path / "s.xml").read_text()
    assert junit == OLD or ET.fromstring(junit).tag == "testsuites"
    _no_temporary_files(tmp_path)


def test_an_interrupted_command_in_process_hands_the_signal_handlers_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command run inside a longer-lived process (a test through CliRunner) and interrupted
    leaves that process's signal handlers as they were. Before, it left SIGTERM and SIGHUP
    ignored, and every process the test run started afterwards inherited that: a SIGTERM no
    longer stopped them."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def interrupted(self: Run, speed: float | None = None) -> Run:
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "run", interrupted)
    result = CliRunner().invoke(main, ["run", str(POD_KILL), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 130, result.output
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_program_ignores_stop_signals_once_stopped() -> None:
    """The process entry point, stopped by a signal, leaves the stop signals ignored while
    Python shuts down (a second Ctrl-C there would otherwise kill it by the signal's default
    action, exit -2); a command that ends normally changes nothing."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with pytest.raises(SystemExit):
            exit_quietly_when_stopped(lambda: sys.exit(0))
        assert {s: signal.getsignal(s) for s in before} == before
        with pytest.raises(SystemExit):
            exit_quietly_when_stopped(lambda: sys.exit(143))
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in before)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
