"""A second stop signal, placed deterministically in each window where it used to change how a
stopped command ended (the timing-based subprocess tests in ``test_signals.py`` and
``test_explore.py`` send it 50 ms after the first, and land in one window or another by chance).

- Handler restoration: a stopped command handed Python's SIGINT handler back as it returned, so
  a second Ctrl-C in click's unwinding became click's "Aborted!" and exit 1 (the explore
  double-SIGINT case that exited 1 once in CI; reproduced 2 in 25 runs by sending the second
  signal as the JSON report was written).
- A ``KeyboardInterrupt`` outside any command (before it started, or after it ended) was click's
  "Aborted!", exit 1, too.
- Pool teardown: a second signal while the pool's workers were being ended left them running
  (the exit then waited for every queued run) or, caught in ``Process.join``, left a reaped
  worker looking alive for ever (the exit hung); and the explore outcomes gathered so far were
  lost (the JSON had no runs and no shrunk file).
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubechaos.batch.explore import ExploreOutcome, explore_one
from kubechaos.batch.pool import end_workers, worker_init
from kubechaos.cli.explore import explore
from tests.test_explore import assert_reproduces, variant

# the module (the package's attribute of that name is the command)
explore_module = importlib.import_module("kubechaos.cli.explore")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals, /proc")

# A program built as ``kubechaos`` is (the _Main group, run by exit_quietly_when_stopped) whose
# one command sends itself a SIGINT at the point named by $WHERE.
PROGRAM = """
import os, signal, sys
import click
from kubechaos.cli import _Main
from kubechaos.cli.common import EXIT_INTERRUPTED, EXIT_OK
from kubechaos.cli.signals import exit_quietly_when_stopped, exit_status, quiet, stops_on_signals

where = os.environ["WHERE"]

def sigint():
    os.kill(os.getpid(), signal.SIGINT)

@click.group(cls=_Main)
def group():
    if where == "before the command":
        sigint()

@group.command()
@stops_on_signals
def command():
    status = EXIT_OK
    if where == "as the stopped command unwinds":
        try:  # stopped by a first signal, as explore is: finish up, exit 130
            sigint()
            for _ in range(10**6):
                pass
        except KeyboardInterrupt:
            quiet()
            status = EXIT_INTERRUPTED
    if where != "before the command":  # after the command handed the handlers back (or not)
        click.get_current_context().call_on_close(sigint)
    sys.exit(exit_status(status))

exit_quietly_when_stopped(group)
"""


@pytest.mark.parametrize(
    "where",
    ["as the stopped command unwinds", "as a finished command unwinds", "before the command"],
)
def test_a_sigint_outside_the_command_still_exits_130(tmp_path: Path, where: str) -> None:
    """Each ends 130 with one "interrupted (SIGINT)" line at most, never "aborted" and 1."""
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script), "command"],
        env={**os.environ, "WHERE": where},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 130, (done.stdout, done.stderr)
    assert "aborted" not in done.stderr.lower() and "Traceback" not in done.stderr, done.stderr


def _pool_running_forever() -> tuple[ProcessPoolExecutor, list[BaseProcess]]:
    pool = ProcessPoolExecutor(
        max_workers=2,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )
    futures = [pool.submit(time.sleep, 600) for _ in range(6)]  # two running, four queued
    deadline = time.monotonic() + 60
    while sum(f.running() for f in futures) < 2:
        assert time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    return pool, list((pool._processes or {}).values())


def _shuts_down_promptly(pool: ProcessPoolExecutor) -> None:
    """``shutdown(wait=True)`` returns (as Python's exit would wait for the same thread)."""
    waiting = threading.Thread(target=pool.shutdown, kwargs={"wait": True}, daemon=True)
    waiting.start()
    waiting.join(30)
    assert not waiting.is_alive(), "the pool's exit waits for ever (a worker or a queued run)"


@pytest.mark.parametrize("at", ["shutdown", "first kill"])
def test_a_second_sigint_while_the_workers_are_ended_still_ends_them(
    monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """A ``KeyboardInterrupt`` inside end_workers (a second Ctrl-C) is absorbed: every worker
    is killed, the queued runs dropped, and the pool's thread ends."""
    pool, workers = _pool_running_forever()
    try:
        interrupted: list[str] = []
        if at == "shutdown":
            real_shutdown = pool.shutdown

            def shutdown(*args: Any, **kwargs: Any) -> None:
                if not interrupted:
                    interrupted.append(at)
                    raise KeyboardInterrupt
                real_shutdown(*args, **kwargs)

            monkeypatch.setattr(pool, "shutdown", shutdown)
        else:
            real_kill = BaseProcess.kill

            def kill(self: BaseProcess) -> None:
                if not interrupted:
                    interrupted.append(at)
                    raise KeyboardInterrupt
                real_kill(self)

            monkeypatch.setattr(BaseProcess, "kill", kill)
        end_workers(pool)
        assert interrupted == [at]
        monkeypatch.undo()
        _shuts_down_promptly(pool)
        for worker in workers:
            # Reaped here or by the pool's thread: when that thread's waitpid wins, a join here
            # returns at once with the exit code not yet recorded, so wait for the code itself.
            deadline = time.monotonic() + 10
            while worker.exitcode is None and time.monotonic() < deadline:
                worker.join(0.1)
            assert worker.exitcode is not None, "a worker left running"
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()


def test_explore_keeps_the_runs_found_when_a_second_sigint_cuts_the_pool_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second signal escapes explore_all while it ends its workers, before it returns
    what it found: the runs seen so far are still reported and the failing one written as the
    shrunk file (before: no runs, no shrunk file)."""
    scenario = variant(tmp_path, replicas=2, recovery="30s")
    found = [explore_one(str(scenario), i, 0) for i in range(3)]  # run 2 fails
    assert found[2].signature

    def explore_all(
        path: str, runs: int, seed: int, workers: int, on_outcome: Any
    ) -> tuple[list[ExploreOutcome], bool]:
        for outcome in found:
            on_outcome(outcome)
        raise KeyboardInterrupt  # the second signal, while the first one's teardown runs

    monkeypatch.setattr(explore_module, "explore_all", explore_all)
    out, report = tmp_path / "shrunk.yaml", tmp_path / "explore.json"
    result = CliRunner().invoke(
        explore,
        [str(scenario), "--runs", "500", "--workers", "2", "--out", str(out), "--json",
         str(report)],
    )  # fmt: skip
    assert result.exit_code == 130, result.output
    data = json.loads(report.read_text())
    assert data["complete"] is False and data["exitCode"] == 130
    assert [r["index"] for r in data["runs"]] == [0, 1, 2]
    shrunk = data["shrunk"]
    assert shrunk is not None and shrunk["complete"] is False
    assert_reproduces(out, shrunk["signature"], shrunk["seed"])
