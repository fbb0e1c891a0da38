"""Progress bars on the terminal: over virtual time for one run, over completed runs for many.

A single run's bar follows virtual time and appears only once the run has taken more than a
moment; a sweep's or comparison's bar counts finished runs (many go at once, so virtual time
says little) and how many did not pass, so a bad sweep shows itself early. Both are transient:
they vanish when done, leaving the report.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBar:
    """A bar over virtual time, drawn only once a run has taken more than a moment."""

    DELAY = 0.5  # wall seconds before a bar appears: short runs finish without one

    def __init__(self, console: Console, duration: float) -> None:
        self.console = console
        self.duration = duration
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()

    def update(self, now: float) -> None:
        """Advance the bar (a hook on the run's observer ticker)."""
        if self._progress is None and time.monotonic() - self._started > self.DELAY:
            self._progress = Progress(
                TextColumn("[bold]virtual time"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f}s"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._progress.add_task("run", total=self.duration)
            self._progress.start()
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=now)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextlib.contextmanager
def runs_progress(
    console: Console, total: int, show: bool
) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """A bar over completed runs (not virtual time: many runs go at once), with a failure
    count so a bad sweep shows itself early."""
    if not show or total == 0:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} not passed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("runs", total=total, failed=0)
    failed = 0

    def on_result(result: dict[str, Any]) -> None:
        nonlocal failed
        failed += result["verdict"] != "passed"
        progress.update(task, advance=1, failed=failed)

    with progress:
        yield on_result
