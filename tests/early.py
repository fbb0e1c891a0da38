"""Slow checks that are one subprocess each (mypy over the package, import-linter, the example
kopf operator's paced run), started as soon as collection is over, so that they run on the
machine's second core while the rest of the suite runs on the first.

A test names its process with ``@pytest.mark.early("name")`` and registers a :class:`Launch`
under that name with :func:`register`; when collection is over tests/conftest.py queues the
launches of the selected tests on one lane (a thread that runs them one after another, so that
a wall-clock-paced run never shares the second core with another of them) and moves those tests
to the end of the session. The test calls :func:`finished`, which waits for its process (running
it at once if nothing queued it: the test run on its own) and hands back what ``subprocess.run``
would have. The assertions are the test's own, on the process's exit code and output, as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Launch:
    """``argv(scratch)``: the command, given a directory of its own for its files; ``cwd``;
    ``timeout``: seconds from its start after which it is killed and its test fails; ``env``:
    variables set beside the suite's own."""

    argv: Callable[[Path], list[str]]
    cwd: Path
    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Done:
    result: subprocess.CompletedProcess[str] | None  # None: it could not be started
    scratch: Path
    why: str = ""  # why it could not be started, or was killed


LAUNCHES: dict[str, Launch] = {}
_DONE: dict[str, _Done] = {}
_QUEUED: dict[str, threading.Event] = {}  # name -> set once its _DONE entry is there
_LANE: list[str] = []
_LOCK = threading.Lock()
_STOP = threading.Event()
_THREADS: list[threading.Thread] = []


def register(name: str, launch: Launch) -> None:
    LAUNCHES[name] = launch


def _execute(name: str) -> None:
    """Run ``name``'s process to its end (or its timeout) and note what it did."""
    launch = LAUNCHES[name]
    scratch = Path(tempfile.mkdtemp(prefix=f"kubechaos-early-{name}-"))
    try:
        args = launch.argv(scratch)
        with open(scratch / "stdout", "wb") as out, open(scratch / "stderr", "wb") as err:
            process = subprocess.Popen(
                args,
                cwd=launch.cwd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **launch.env},
            )
    except (OSError, pytest.fail.Exception) as exc:  # a tool missing: its test says so
        _DONE[name] = _Done(None, scratch, str(exc))
        return
    deadline = time.monotonic() + launch.timeout
    why = ""
    while process.poll() is None:
        if _STOP.is_set() or time.monotonic() > deadline:
            why = "stopped" if _STOP.is_set() else f"took over {launch.timeout:g} s"
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)
    out_text = (scratch / "stdout").read_text(errors="replace")
    err_text = (scratch / "stderr").read_text(errors="replace")
    result = subprocess.CompletedProcess(args, process.returncode, out_text, err_text)
    _DONE[name] = _Done(result, scratch, f"{' '.join(args)} {why}" if why else "")


def _lane() -> None:
    while not _STOP.is_set():
        with _LOCK:
            if not _LANE:
                return
            name = _LANE.pop(0)
        try:
            _execute(name)
        except Exception as exc:  # its test fails with it, instead of waiting forever
            _DONE[name] = _Done(None, Path(), f"{name}: {exc!r}")
        finally:
            _QUEUED[name].set()


def queue(names: list[str]) -> None:
    """Run ``names``' processes one after another on a thread of their own."""
    with _LOCK:
        fresh = [n for n in dict.fromkeys(names) if n in LAUNCHES and n not in _QUEUED]
        for name in fresh:
            _QUEUED[name] = threading.Event()
            _LANE.append(name)
    if fresh:
        thread = threading.Thread(target=_lane, name="early-lane", daemon=True)
        _THREADS.append(thread)
        thread.start()


def finished(name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Wait for ``name``'s process: (its result as ``subprocess.run`` gives it, its scratch
    directory)."""
    queue([name])
    _QUEUED[name].wait()
    done = _DONE[name]
    if done.result is None or done.why:
        pytest.fail(done.why)
    return done.result, done.scratch


def stop_all() -> None:
    """End what is still running or queued (the session is over early: interrupted, or
    ``-x`` after a failure), and remove the processes' scratch directories."""
    _STOP.set()
    for thread in _THREADS:
        thread.join(timeout=15)
    for done in _DONE.values():  # the tests that read them are over
        if done.scratch.name.startswith("kubechaos-early-"):
            shutil.rmtree(done.scratch, ignore_errors=True)
