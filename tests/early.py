"""Slow checks that are one subprocess each (mypy over the package, import-linter, the example
kopf operator's paced run), started as soon as collection is over, so that they run on the
machine's second core while the rest of the suite runs on the first.

A test names its process with ``@pytest.mark.early("name")`` and registers a :class:`Launch`
under that name with :func:`register`; tests/conftest.py starts the launches of the selected
tests when collection is over and moves those tests to the end of the session, and the test
calls :func:`finished`, which waits for its process (starting it first if nothing did: the test
run on its own) and hands back what ``subprocess.run`` would have. The assertions are the
test's own, on the process's exit code and output, as before.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Launch:
    """``argv(scratch)``: the command, given a directory of its own for its files; ``cwd``;
    ``timeout``: seconds from its start after which it is killed and its test fails."""

    argv: Callable[[Path], list[str]]
    cwd: Path
    timeout: float


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    args: list[str]
    scratch: Path
    started: float


LAUNCHES: dict[str, Launch] = {}
_RUNNING: dict[str, _Running] = {}
_FAILED: dict[str, str] = {}  # name -> why it could not be started


def register(name: str, launch: Launch) -> None:
    LAUNCHES[name] = launch


def start(name: str) -> None:
    """Start ``name``'s process (once)."""
    if name in _RUNNING or name in _FAILED:
        return
    launch = LAUNCHES[name]
    scratch = Path(tempfile.mkdtemp(prefix=f"kubechaos-early-{name}-"))
    try:
        args = launch.argv(scratch)
        with open(scratch / "stdout", "wb") as out, open(scratch / "stderr", "wb") as err:
            process = subprocess.Popen(
                args, cwd=launch.cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
    except (OSError, pytest.fail.Exception) as exc:  # a tool missing: its test says so
        _FAILED[name] = str(exc)
        return
    _RUNNING[name] = _Running(process, args, scratch, time.monotonic())


def finished(name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Wait for ``name``'s process: (its result as ``subprocess.run`` gives it, its scratch
    directory)."""
    start(name)
    if name in _FAILED:
        pytest.fail(_FAILED[name])
    running = _RUNNING[name]
    left = LAUNCHES[name].timeout - (time.monotonic() - running.started)
    try:
        running.process.wait(timeout=max(left, 0.1))
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        pytest.fail(f"{' '.join(running.args)} took over {LAUNCHES[name].timeout:g} s")
    out = (running.scratch / "stdout").read_text(errors="replace")
    err = (running.scratch / "stderr").read_text(errors="replace")
    code = running.process.returncode
    return subprocess.CompletedProcess(running.args, code, out, err), running.scratch


def stop_all() -> None:
    """End every process still running (the session is over: a test interrupted, deselected
    after it started)."""
    for running in _RUNNING.values():
        if running.process.poll() is None:
            running.process.terminate()
            try:
                running.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
