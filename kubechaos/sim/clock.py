"""Virtual time.

The model runs under :class:`VirtualClock`: when every task is blocked, the clock jumps straight
to the next deadline, so an hour of cluster time passes in however long the work in it takes.
Nothing in the model reads the wall clock; it calls :func:`now`, which is ``trio.current_time()``
under that clock (seconds since the run began).

Determinism: Trio shuffles each batch of runnable tasks with a module-level ``random.Random``.
Its Hypothesis integration makes that shuffle reproducible by sorting the batch by task creation
order and seeding the generator; :func:`run_virtual` does the same with the scenario seed, so the
interleaving of tasks woken at the same instant is a function of the seed alone.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from trio._core import _run as _trio_run

T = TypeVar("T")


class VirtualClock(trio.abc.Clock):
    """Virtual time that jumps to the next deadline the moment no task can run.

    Trio asks the clock how long to sleep only when nothing is runnable; this clock answers by
    moving time to that deadline and saying "not at all", so the task whose deadline it is runs in
    the same pass of the run loop. :class:`trio.testing.MockClock` with ``autojump_threshold=0``
    gives the same times, but jumps one idle pass later: every sleep costs the run loop two passes
    instead of one, which at 1,000 nodes is a fifth of the whole run.

    With ``speed`` the clock is paced: virtual time runs at most ``speed`` times the wall clock
    (for a live ``/metrics`` endpoint a person or Prometheus watches). This is the one place the
    model's time meets the wall clock.

    Trio's ``wait_all_tasks_blocked`` is not supported (time moves before such waiters would wake);
    the model does not use it.
    """

    def __init__(self, speed: float | None = None, start: float = 0.0) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = start  # where time begins (a run resumed to serve its final state)
        self._now = start
        self.speed = None if speed is None or math.isinf(speed) else speed
        self._wall_start = 0.0

    def start_clock(self) -> None:
        self._wall_start = time.monotonic()

    def pace(self, speed: float | None) -> None:
        """From now on run at most ``speed`` times the wall clock (None: as fast as possible);
        a benchmark converges a cluster at full speed, then serves clients in real time."""
        self._start = self._now
        self._wall_start = time.monotonic()
        self.speed = speed

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        if deadline == math.inf:
            # nothing will ever wake: a deadlock shows as a hang, as under MockClock
            return math.inf
        if self.speed is not None:
            # Paced: the jump to ``deadline`` waits until the wall clock has caught up with it.
            # Time still moves only in jumps to deadlines, so a paced run passes through exactly
            # the same virtual instants as an unpaced one: pacing never changes the result.
            behind = self._wall_start + (deadline - self._start) / self.speed - time.monotonic()
            if behind > 0:
                return behind
        if deadline > self._now:
            self._now = deadline
        return 0.0


def now() -> float:
    """Virtual seconds since the start of the run."""
    return trio.current_time()


def seed_trio_scheduler(seed: int) -> None:
    """Make Trio's tie-breaking among simultaneously runnable tasks a function of ``seed``."""
    _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    _trio_run._r.seed(_scheduler_seed(seed))


def _scheduler_seed(seed: int) -> int:
    return random.Random(f"trio-scheduler:{seed}").getrandbits(64)


# How often (virtual seconds) the objects that survived so far are moved out of the cyclic GC's
# reach. A large cluster keeps millions of long-lived, acyclic objects (API objects, informer
# stores); letting every full collection rescan them costs a third of a 1,000-node run.
GC_FREEZE_INTERVAL = 60.0
# Young-generation collections every 20,000 allocations instead of 700: a run allocates short-lived
# API objects by the million, almost none of them in reference cycles.
GC_THRESHOLDS = (20_000, 20, 50)


def run_virtual(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    seed: int = 0,
    speed: float | None = None,
    start: float = 0.0,
) -> T:
    """Run ``fn(*args)`` on virtual time with Trio's scheduler seeded from ``seed``, as fast as
    possible or (``speed``) paced to that multiple of the wall clock, from virtual ``start``."""
    seed_trio_scheduler(seed)
    clock = VirtualClock(speed, start)
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        return trio.run(_with_gc_freezing, fn, args, clock=clock, strict_exception_groups=True)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # what the run left behind is ordinary garbage again


async def _with_gc_freezing(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    async def freeze_periodically() -> None:
        while True:
            await trio.sleep(GC_FREEZE_INTERVAL)
            gc.freeze()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(freeze_periodically, name="gc-freeze")
        result = await fn(*args)
        nursery.cancel_scope.cancel()
    return result
