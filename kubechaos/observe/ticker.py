"""One task wakes every observer, so what is watching never changes what happens.

Trio breaks ties between tasks woken at the same instant with a seeded shuffle; a task that
wakes every second (a recorder, a progress bar, a live exporter's snapshot) joins those batches
and reshuffles them, so merely asking for ``--openmetrics`` would change a run. Instead every
observer — steady state, SLOs, history, invariant checks, and whatever the edges attach — is a
callback on one :class:`Ticker`, whose single task wakes at the same instants whatever is
attached. Attaching a recorder then changes what is written, never what is run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

from kubechaos.sim import timers

DEFAULT_INTERVAL = 1.0

Hook = Callable[[float], None]


class Ticker:
    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._hooks: list[tuple[int, Hook]] = []

    def every(self, seconds: float, hook: Hook) -> None:
        """Call ``hook(now)`` at the first tick and then every ``seconds`` (a whole number of
        ticks), in the order hooks were attached."""
        ticks = round(seconds / self.interval)
        if ticks < 1 or not math.isclose(ticks * self.interval, seconds):
            raise ValueError(
                f"{seconds:g}s is not a whole multiple of the observer tick ({self.interval:g}s)"
            )
        self._hooks.append((ticks, hook))

    async def run(self) -> None:
        tick = 0
        while True:
            now = trio.current_time()
            for ticks, hook in self._hooks:
                if tick % ticks == 0:
                    hook(now)
            tick += 1
            await timers.sleep_until(tick * self.interval)
