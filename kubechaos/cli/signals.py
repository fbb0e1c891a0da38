"""SIGINT, SIGTERM and SIGHUP stop a command the same way, as Ctrl-C always did.

CI timeouts and Kubernetes send SIGTERM, a closed terminal sends SIGHUP: each stops a run as
Ctrl-C does, so every report asked for is still written, marked incomplete. Only the command
line sees signals (the model never does): :func:`stops_on_signals` wraps a command so that
SIGTERM and SIGHUP are handed to whatever handles SIGINT at that moment. During a run that is
Trio's own handler, which raises ``KeyboardInterrupt`` into the run where that is safe (and at
the next checkpoint where it is not), so the run is cancelled cleanly; outside a run it is
Python's, which raises it at once. A run that gets no signal is exactly the run it was before.

The command exits as a shell reports a process stopped by a signal, ``128 + signum``: ``130``
for SIGINT, ``143`` for SIGTERM, ``129`` for SIGHUP (:func:`exit_status`). A second signal
while the reports are written stops the writing; a report not yet written keeps its previous
content (every report is written to a temporary file and renamed, see ``report/files.py``).

A second signal never changes the exit code. When the command is the whole process
(:func:`exit_quietly_when_stopped`) and a signal stopped it, the stop signals stay ignored from
the moment it ends: handing Python's handler back there let a second Ctrl-C land in click's
unwinding, which click turned into "Aborted!" and exit 1. A ``KeyboardInterrupt`` that reaches
click anyway (a signal before the command started) is still a stop, exit ``128 + signum``.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from kubechaos.cli.common import EXIT_INTERRUPTED

F = TypeVar("F", bound=Callable[..., Any])

# The signals that stop a command as Ctrl-C does, and the exit statuses they give.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
EXIT_SIGHUP = 128 + signal.SIGHUP  # 129


class _Received:
    """The signals this command has received, and the one that stopped it."""

    def __init__(self) -> None:
        self.pending: list[int] = []  # SIGTERM / SIGHUP seen, not yet taken as the stop signal
        self.stopped_by: int | None = None

    def note_stop(self) -> int:
        """The signal that stopped the command: fixed at the first ``KeyboardInterrupt`` that
        is caught (a SIGTERM or SIGHUP that raised it, else Ctrl-C)."""
        if self.stopped_by is None:
            self.stopped_by = self.pending[-1] if self.pending else signal.SIGINT
        return self.stopped_by


_received = _Received()
_whole_process = False  # set by exit_quietly_when_stopped: no caller gets the handlers back


def stop_signal() -> int:
    """The signal that stopped the command (SIGINT when Ctrl-C did, or nothing recorded why)."""
    return _received.note_stop()


def exit_status(status: int) -> int:
    """``status``, with "interrupted" (130) made the shell's ``128 + signum`` of the signal that
    stopped the command."""
    return 128 + stop_signal() if status == EXIT_INTERRUPTED else status


def exit_quietly_when_stopped(program: Callable[[], object]) -> None:
    """Run ``program`` as the whole process: when it ends stopped by a signal, the stop
    signals stay ignored while Python shuts down. Python resets its own handlers to the
    default action at shutdown, so a second Ctrl-C there (joining threads, ending workers)
    would kill the process by the signal and change how it ended."""
    global _whole_process
    _whole_process = True
    try:
        try:
            program()
        except KeyboardInterrupt:  # escaped every command and click: still a stop, one line
            stopped()
    except SystemExit as done:
        if done.code in (EXIT_INTERRUPTED, EXIT_SIGTERM, EXIT_SIGHUP):
            quiet()
        raise
    finally:
        _whole_process = False


def stopped() -> NoReturn:
    """A ``KeyboardInterrupt`` ended the command: say which signal, exit ``128 + signum``."""
    if _whole_process:
        quiet()  # exiting now: a further signal changes nothing
    stop_signal()
    name = signal.Signals(stop_signal()).name
    click.echo(
        f"interrupted ({name}): stopped; a report not written keeps its previous content", err=True
    )
    sys.exit(128 + stop_signal())


def quiet() -> None:
    """The command was stopped and is finishing up (writing what it found): the signal that
    stopped it is settled and further stop signals are ignored, so they neither cut the writing
    short nor change the exit code."""
    while True:
        try:
            stop_signal()
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
            return
        except KeyboardInterrupt:  # one arrived before they were ignored (signal.signal() runs
            continue  # the pending handlers): it changes nothing, so ignore them all the same


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM / SIGHUP: do what SIGINT would do now (Trio's handler during a run)."""
    _received.pending.append(signum)
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint):
        on_sigint(signal.SIGINT, frame)
    else:  # SIGINT ignored or default: still stop, as Ctrl-C would in a plain Python program
        raise KeyboardInterrupt


def stops_on_signals(command: F) -> F:
    """Wrap a command: SIGTERM and SIGHUP stop it as SIGINT does, and a ``KeyboardInterrupt``
    that escapes it (a signal before the run started, or a second one while reports were
    written) is one line and exit ``128 + signum``, never a traceback."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        global _received
        _received = _Received()
        if threading.current_thread() is not threading.main_thread():
            return command(*args, **kwargs)  # signals reach the main thread only
        previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        if not callable(previous[signal.SIGINT]):
            # A background job of a script starts with SIGINT ignored; then Trio would not take
            # it over and SIGTERM and SIGHUP could not stop a run cleanly. Ctrl-C stops it too.
            signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if previous[signum] is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                signal.signal(signum, _as_interrupt)
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            quiet()  # handed back below unless the process ends here
            stopped()
        finally:
            _hand_back(previous)

    return wrapped  # type: ignore[return-value]


def _hand_back(previous: dict[signal.Signals, Any]) -> None:
    """The command ended: give the handlers back to a longer-lived process (a test) that ran it;
    but a process that ends now, stopped by a signal, keeps ignoring the stop signals (given
    back, Python's handler would raise a second Ctrl-C in click, which exits 1)."""
    if _whole_process and _received.stopped_by is not None:
        quiet()
        return
    for signum, handler in previous.items():
        if handler is not None:
            signal.signal(signum, handler)


__all__ = [
    "EXIT_SIGHUP",
    "EXIT_SIGTERM",
    "STOP_SIGNALS",
    "exit_quietly_when_stopped",
    "exit_status",
    "quiet",
    "stop_signal",
    "stopped",
    "stops_on_signals",
]
