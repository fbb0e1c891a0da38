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
import heapq
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio
from trio._core import _run as _trio_run

T = TypeVar("T")

# Trio's per-thread run state (runner.clock, the running task), read directly on hot paths
RUN_CONTEXT = _trio_run.GLOBAL_RUN_CONTEXT


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

    The clock also keeps the model's own timers (:mod:`kubechaos.sim.timers`): a heap of
    ``(deadline, seq, task, aborts)`` entries, live while the task's ``custom_sleep_data`` is
    that entry (Trio's ``reschedule`` clears it, so a task woken or cancelled any other way leaves
    a dead entry, dropped when it reaches the top or when the heap is compacted). The jump goes to
    the earlier of Trio's deadline and the first live timer, and the due timers' tasks are
    rescheduled right there: they run in the same batch as the tasks whose Trio deadlines expire
    at that instant, as they would if they had slept on Trio's deadlines.
    """

    def __init__(self, speed: float | None = None, start: float = 0.0) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = start  # where time begins (a run resumed to serve its final state)
        self._now = start
        self.speed = None if speed is None or math.isinf(speed) else speed
        self._wall_start = 0.0
        self._timers: list[tuple[float, int, trio.lowlevel.Task, bool]] = []
        self._next_seq = itertools.count().__next__  # ties between equal deadlines: FIFO
        self._compact_at = TIMER_COMPACT_MIN
        self._reschedule: Callable[..., None] = trio.lowlevel.reschedule

    def start_clock(self) -> None:
        # Trio calls this from inside the run, with its runner in place: the jump reschedules
        # due timers' tasks through the runner's method itself, not trio.lowlevel's wrapper
        self._reschedule = RUN_CONTEXT.runner.reschedule
        # now() and the model's sleeps find this clock in one read of Trio's run context, whose
        # attributes Trio clears when the run ends (unrolled_run's finally): outside a run, or
        # under another clock, the read fails and they go through Trio's own functions
        RUN_CONTEXT.virtual_clock = self
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
        # Trio asks this once per pass of its loop with nothing runnable: one clock jump. The
        # jump, the firing of due timers and the dropping of dead ones are one function, with
        # the heap's functions and the reschedule bound to locals (430 k jumps at 1,000 nodes).
        timers = self._timers
        heappop = heapq.heappop
        while timers:
            head = timers[0]
            if head[2].custom_sleep_data is head:  # live: the earlier of it and Trio's deadline
                if head[0] < deadline:
                    deadline = head[0]
                break
            heappop(timers)
        if deadline == _INF:
            # nothing will ever wake: a deadlock shows as a hang, as under MockClock
            return _INF
        if self.speed is not None:
            # Paced: the jump to ``deadline`` waits until the wall clock has caught up with it.
            # Time still moves only in jumps to deadlines, so a paced run passes through exactly
            # the same virtual instants as an unpaced one: pacing never changes the result.
            behind = self._wall_start + (deadline - self._start) / self.speed - time.monotonic()
            if behind > 0:
                return behind
        at = self._now
        if deadline > at:
            self._now = at = deadline
        if not timers or timers[0][0] > at:
            return 0.0
        # Fire the due timers: their tasks run in this pass's batch, with the tasks whose Trio
        # deadlines expire at this instant.
        reschedule = self._reschedule
        while timers and timers[0][0] <= at:
            entry = heappop(timers)
            task = entry[2]
            if task.custom_sleep_data is not entry:
                continue  # woken or cancelled since: a dead entry
            if entry[3]:
                # Trio's own path for an expired deadline (Task._attempt_abort, as
                # _attempt_delivery_of_any_pending_cancel calls it), with a "cancel" that returns
                # normally: the wait's abort function forgets the task, which then resumes.
                task._attempt_abort(_timed_out)  # type: ignore[arg-type]
                task.custom_sleep_data = TIMED_OUT
            else:
                reschedule(task, WOKEN)  # a sleep: parked in kubechaos.sim.park.suspend
        return 0.0

    def add_timer(self, deadline: float, task: trio.lowlevel.Task, aborts: bool) -> None:
        """Wake ``task`` at ``deadline`` (> now), from a park it is about to enter: by
        ``reschedule`` (``aborts`` false: the park needs no clean-up; it must be
        :func:`kubechaos.sim.park.suspend`, which takes the shared ``WOKEN`` outcome) or through
        the park's own abort function, made to return instead of raise (``aborts``: a wait
        registered with an Event or a Wakeup, which must forget the task). See
        :mod:`kubechaos.sim.timers`."""
        entry = (deadline, self._next_seq(), task, aborts)
        task.custom_sleep_data = entry
        timers = self._timers
        heapq.heappush(timers, entry)
        if len(timers) > self._compact_at:
            self._compact_timers()

    def _compact_timers(self) -> None:
        """Drop the dead entries (tasks woken early, e.g. a Wakeup set long before its deadline):
        amortised, the heap never holds more than twice its live timers plus a constant."""
        live = [entry for entry in self._timers if entry[2].custom_sleep_data is entry]
        heapq.heapify(live)
        self._timers = live
        self._compact_at = max(TIMER_COMPACT_MIN, 2 * len(live))

    def live_timers(self) -> int:
        """How many model timers are armed (tests: a cancelled sleeper leaves none)."""
        return sum(1 for entry in self._timers if entry[2].custom_sleep_data is entry)


# A heap of at most this many timer entries is never compacted.
TIMER_COMPACT_MIN = 1024
_INF = math.inf


# What a task a timer wakes from a sleep resumes with (kubechaos.sim.park.WOKEN, which is this
# object: it lives here, below park, so that the clock need not import park)
WOKEN = outcome.Value(None)


class _TimedOut:
    """``custom_sleep_data`` of a task a model timer woke through its wait's abort function,
    until the task resumes and sees it."""

    def __repr__(self) -> str:
        return "TIMED_OUT"


TIMED_OUT = _TimedOut()


def _timed_out() -> None:
    """The "cancellation" a model timer delivers: nothing is raised, the wait returns."""


def now() -> float:
    """Virtual seconds since the start of the run.

    ``trio.current_time()`` without its two wrapper calls: the model asks the time about as
    often as it wakes a task (2.3 M times in a 1,000-node converge), and under the VirtualClock
    the answer is two attribute reads (the clock :meth:`VirtualClock.start_clock` put in Trio's
    run context, its time). Any other clock, or no run at all, goes through Trio's own function.
    """
    try:
        return RUN_CONTEXT.virtual_clock._now
    except AttributeError:
        return trio.current_time()  # another clock, or outside a run: Trio's RuntimeError


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
