"""A fault schedule: which fault, when, for how long, how often.

Each :class:`ScheduledFault` is injected at ``at`` (seconds from the start of the run); a lasting
fault with a ``duration`` is reverted that much later, one without stays until the run ends;
``every`` repeats the injection at that interval until the end. Repeats may overlap a still-active
earlier occurrence: seams stack faults, so each occurrence reverts only itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import trio

from kubechaos.faults.base import Fault
from kubechaos.faults.chaos import Chaos
from kubechaos.sim import timers


@attrs.frozen
class ScheduledFault:
    fault: Fault
    at: float = 0.0
    duration: float | None = None
    every: float | None = None

    def times(self, end: float) -> list[float]:
        """Injection times before ``end``."""
        if self.at >= end:
            return []
        if not self.every:
            return [self.at]
        count = int((end - self.at) // self.every) + 1
        return [t for t in (self.at + k * self.every for k in range(count)) if t < end]


async def run_schedule(chaos: Chaos, schedule: Sequence[ScheduledFault], end: float) -> None:
    """Inject and revert ``schedule`` on virtual time, measured from the run's start (time 0)."""
    occurrences = sorted(
        ((t, i, s) for i, s in enumerate(schedule) for t in s.times(end)),
        key=lambda o: (o[0], o[1]),
    )
    async with trio.open_nursery() as nursery:
        for when, _, scheduled in occurrences:
            await timers.sleep_until(when)
            # Its own task: an injection waits on the API server, and a slow one (say, under an
            # apiserver-latency fault) must not hold back the faults due after it.
            nursery.start_soon(_occur, chaos, scheduled, when)


async def _occur(chaos: Chaos, scheduled: ScheduledFault, when: float) -> None:
    injection = await chaos.inject(scheduled.fault)
    if injection is not None and scheduled.fault.lasting and scheduled.duration:
        await timers.sleep_until(when + scheduled.duration)
        await chaos.revert(injection)
