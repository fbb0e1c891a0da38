"""Parking a task without Trio's per-park wrappers (the model's hot wait primitive).

Every step of the model is a task woken from a park: a timer's sleep, a kubelet loop's Wakeup, a
controller worker waiting for its work queue. ``trio.lowlevel.wait_task_rescheduled(abort)`` is
an ``async def`` that builds a ``WaitTaskRescheduled`` message around ``abort`` and awaits a
second generator to yield it; ``ParkingLot.park`` adds a closure per park, ``unpark`` a
generator and a list, ``trio.lowlevel.reschedule`` a wrapper call. At 1,000 nodes those layers
cost more than a tenth of the run's CPU.

What Trio's run loop reads from a park is only the yielded message's ``abort_func``
(``_core/_run.py`` ``unrolled_run``: ``task._abort_func = msg.abort_func``), so a message is
built once per abort function (:func:`message`) and yielded as it is (:func:`suspend`), one
generator frame deep. Waking goes straight to the runner's ``reschedule``
(:func:`reschedule`). The steps are Trio's own: the same reschedule, into the same run queue,
in the same pass, so a run's batches and seeded shuffles are unchanged.

:class:`Waiters` is ``ParkingLot.park`` / ``unpark()`` (one task, first parked first woken)
for a work queue's few worker tasks: one message per worker task, built the first time it parks.

Relies on trio 0.35 internals (``trio._core._traps.WaitTaskRescheduled``, ``Runner.reschedule``);
``tests/test_cost_sim_steps.py`` and ``tests/test_sim_timers.py`` fail if they change.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import outcome
import trio
from trio._core._traps import WaitTaskRescheduled

from kubechaos.sim.clock import RUN_CONTEXT, WOKEN

AbortFn = Callable[[trio.lowlevel.RaiseCancelT], trio.lowlevel.Abort]

# outcome's Value: a park resumed with one returns its value without ``unwrap()``'s two calls.
# So the model's own wakeups share one (WOKEN, from the clock, whose timers wake sleeps with it):
# Trio's reschedule builds a Value(None) per wakeup. Sharing is safe because only suspend()
# receives it, and suspend never calls unwrap() (the call that marks an outcome used up).
VALUE = outcome.Value


def message(abort: AbortFn) -> WaitTaskRescheduled:
    """The message a park yields: ``abort`` is what a cancellation calls (it must forget the task
    and return ``Abort.SUCCEEDED``, or return ``Abort.FAILED`` and reschedule it later)."""
    return WaitTaskRescheduled(abort)


@types.coroutine
def suspend(msg: WaitTaskRescheduled) -> Generator[Any, Any, Any]:
    """Yield ``msg`` to Trio's run loop (``await suspend(msg)``: park until rescheduled); return
    the value the reschedule carries, or raise its error (``Cancelled``, ``KeyboardInterrupt``),
    as ``wait_task_rescheduled`` does, without ``unwrap()``'s two calls for a plain value."""
    resumed = yield msg
    if resumed.__class__ is VALUE:
        return resumed.value
    try:
        resumed.unwrap()
    finally:
        del resumed  # not left in this frame, which the error's traceback holds: no cycle


def reschedule(task: trio.lowlevel.Task) -> None:
    """``trio.lowlevel.reschedule(task)`` without the wrapper (inside a run only), for a task
    parked in :func:`suspend`."""
    RUN_CONTEXT.runner.reschedule(task, WOKEN)


# A Waiters keeps the messages of at most this many tasks (a queue's workers); past it they are
# rebuilt as tasks park (workers replaced over a long run leave no unbounded map behind).
MESSAGES_MAX = 64


class Waiters:
    """A FIFO of parked tasks: ``trio.lowlevel.ParkingLot``'s ``park`` and ``unpark()`` (wake the
    task parked longest), for a few long-lived tasks that park over and over."""

    __slots__ = ("_messages", "_parked")

    def __init__(self) -> None:
        # insertion order is park order, as the lot's OrderedDict
        self._parked: dict[trio.lowlevel.Task, None] = {}
        self._messages: dict[trio.lowlevel.Task, WaitTaskRescheduled] = {}

    def __len__(self) -> int:
        return len(self._parked)

    def park(self) -> Awaitable[None]:
        """``await waiters.park()``: queue the current task, then park it. A plain function
        returning :func:`suspend`'s generator, not a coroutine: no frame of its own between
        the waiting task and Trio on every resume."""
        task = RUN_CONTEXT.task
        msg = self._messages.get(task)
        if msg is None:
            if len(self._messages) >= MESSAGES_MAX:
                self._messages.clear()
            msg = self._messages[task] = WaitTaskRescheduled(self._abort_for(task))
        self._parked[task] = None
        return suspend(msg)

    def unpark(self) -> None:
        """Wake the task parked longest, if any (``ParkingLot.unpark()``)."""
        parked = self._parked
        if parked:
            task = next(iter(parked))
            del parked[task]
            RUN_CONTEXT.runner.reschedule(task, WOKEN)

    def _abort_for(self, task: trio.lowlevel.Task) -> AbortFn:
        parked = self._parked

        def abort(raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            del parked[task]  # cancelled while parked: forget it, as the lot's abort does
            return trio.lowlevel.Abort.SUCCEEDED

        return abort


__all__ = ["MESSAGES_MAX", "VALUE", "WOKEN", "Waiters", "message", "reschedule", "suspend"]
