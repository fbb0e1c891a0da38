"""A re-armable wake-up flag for the one task that waits on it (the node loop, the status manager).

Those loops used to wait on a fresh :class:`trio.Event` each time round: one object, one parking
lot and its bookkeeping per wait, tens of thousands of times per node over a run. This does the
same with one object per loop: :meth:`Wakeup.clear` where a fresh Event was made, :meth:`set`
where it was set. It must schedule exactly as the Event did (a run replays the same steps in the
same order): ``set`` reschedules the waiting task at once, as ``Event.set`` unparks it, and a
cancellation (the loop's deadline, or the kubelet dying) takes the task back as the parking
lot's abort does.
"""

from __future__ import annotations

import math

import trio

from kubechaos.sim import park, timers
from kubechaos.sim.clock import RUN_CONTEXT, TIMED_OUT


class Wakeup:
    """``set`` wakes the task waiting in :meth:`wait` (or lets its next wait return at once)."""

    __slots__ = ("_flag", "_msg", "_task")

    def __init__(self) -> None:
        self._flag = False
        self._task: trio.lowlevel.Task | None = None
        # what each wait yields to Trio (its abort forgets the task): built once per Wakeup,
        # where wait_task_rescheduled(self._abort) built a bound method and a message per wait
        self._msg = park.message(self._abort)

    def set(self) -> None:
        self._flag = True
        task = self._task
        if task is not None:
            self._task = None
            park.reschedule(task)

    def clear(self) -> None:
        """Forget earlier ``set`` calls (a fresh Event, as the loops made before each wait)."""
        self._flag = False

    async def wait(self) -> None:
        """Return once set (a checkpoint if it is already); one waiter at a time."""
        if self._flag:
            await trio.lowlevel.checkpoint()
            return
        assert self._task is None, "a Wakeup has one waiter"
        self._task = RUN_CONTEXT.task
        await park.suspend(self._msg)

    async def wait_until(self, deadline: float) -> None:
        """:meth:`wait`, given up at ``deadline`` (virtual time), on a model timer
        (:func:`kubechaos.sim.timers.wait_until`): no cancel scope to set up and tear down."""
        if deadline == math.inf:
            await self.wait()
            return
        try:
            clock = RUN_CONTEXT.virtual_clock  # (VirtualClock.start_clock)
        except AttributeError:
            clock = None
        if clock is None or not deadline > clock._now or self._flag:
            # Trio's move_on_at (another clock, a deadline reached), or set already: a
            # checkpoint, whose reschedule kills the timer timers.wait_until arms first
            await timers.wait_until(self.wait, deadline)
            return
        # timers.wait_until(self.wait, deadline) written out, as one park (the loops' hot path):
        # a timer that aborts the wait at ``deadline`` (TIMED_OUT), or set() reschedules it
        assert self._task is None, "a Wakeup has one waiter"
        task = self._task = RUN_CONTEXT.task
        clock.add_timer(deadline, task, True)
        await park.suspend(
            self._msg
        )  # a cancellation raises here (its reschedule killed the timer)
        woken_by = task.custom_sleep_data
        task.custom_sleep_data = None
        if woken_by is TIMED_OUT and task._cancel_status.effectively_cancelled:
            timers.raise_pending_cancel(task)  # due with an enclosing scope's cancellation

    def _abort(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED


__all__ = ["Wakeup"]
