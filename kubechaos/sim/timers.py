"""Model sleeps without Trio's cancel-scope machinery.

Almost every step of the model is a task woken from a sleep: each API request sleeps its latency,
the kubelet's loops wait for a wakeup or a deadline, heartbeats sleep until their next renewal,
queues and controllers wait with deadlines. ``trio.sleep`` builds a CancelScope and a
CancelStatus for each, registers the deadline, and wakes the task by raising and catching
``Cancelled``: at 1,000 nodes that machinery was a fifth of the whole run's own time.

Under :class:`~kubechaos.sim.clock.VirtualClock` these functions park the task in
``trio.lowlevel.wait_task_rescheduled`` (its one-frame form, :func:`kubechaos.sim.park.suspend`)
with a timer in the clock's heap instead; the clock wakes it when it jumps to that instant (see
``VirtualClock.deadline_to_sleep_time``). What they must agree with, so that a run's event log is
the same whichever way a task sleeps:

- **The same batches.** Trio runs a batch of tasks per pass of its loop (sorted by creation order,
  then shuffled with the seeded generator). A timer's task is rescheduled in the same pass, and
  so the same batch, as a task whose Trio deadline falls at the same instant; a deadline already
  reached (``<= now``) takes Trio's own path (``trio.sleep_until`` and ``move_on_at``: a
  checkpoint, a pass later, exactly as before; rare).
- **Cancellation.** A sleeper is still cancelled by any enclosing scope (an outer ``move_on_at``,
  a nursery cancelled, a component killed): the park's abort function lets Trio reschedule it
  with ``Cancelled`` (or ``KeyboardInterrupt``, for the main task), and the dead timer never
  fires. A task woken by its timer while an enclosing scope is cancelled (at the same instant,
  or by a task earlier in the batch) raises ``Cancelled`` as it resumes, where a sleep on Trio's
  own deadline would have raised it from the wait.
- **Other clocks.** Under ``trio.testing.MockClock`` or the real clock they are
  ``trio.sleep``, ``trio.sleep_until`` and ``move_on_at``.

This module relies on Trio internals (``Task._attempt_abort``, ``Task._cancel_status``,
``Cancelled._create``), checked against trio 0.35's ``_core/_run.py``;
``tests/test_sim_timers.py`` fails if they change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from kubechaos.sim.clock import RUN_CONTEXT, TIMED_OUT, VirtualClock
from kubechaos.sim.park import message, suspend


def virtual_clock() -> VirtualClock | None:
    """The run's clock if it is a VirtualClock (VirtualClock.start_clock put it in Trio's run
    context; outside a run, or under another clock, there is none: Trio's functions apply)."""
    try:
        return RUN_CONTEXT.virtual_clock
    except AttributeError:
        return None


def _abort_sleep(raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.SUCCEEDED  # the timer dies with the reschedule Trio makes


# What a sleep yields to Trio's run loop: built once, not per sleep (kubechaos.sim.park)
SLEEP = message(_abort_sleep)


def raise_pending_cancel(task: trio.lowlevel.Task) -> NoReturn:
    """Raise the Cancelled an enclosing, cancelled scope owes ``task`` (Trio's own
    ``Task._attempt_delivery_of_any_pending_cancel`` builds it the same way)."""
    reason = task._cancel_status._scope._cancel_reason
    if reason is None:
        raise trio.Cancelled._create(source="unknown", reason="misnesting")
    raise trio.Cancelled._create(
        source=reason.source, reason=reason.reason, source_task=reason.source_task
    )


async def sleep_until(deadline: float) -> None:
    """``trio.sleep_until(deadline)`` for the model: wake at ``deadline`` (virtual seconds)."""
    try:
        clock = RUN_CONTEXT.virtual_clock  # (VirtualClock.start_clock)
    except AttributeError:
        clock = None
    if clock is None or not deadline > clock._now:
        await trio.sleep_until(deadline)  # other clocks, no run, a deadline reached, NaN
        return
    # the park of sleep() below, written out: this is one of the model's hottest paths
    task = RUN_CONTEXT.task
    if deadline != _INF:
        clock.add_timer(deadline, task, False)
    await suspend(SLEEP)
    if task._cancel_status.effectively_cancelled:
        raise_pending_cancel(task)


async def sleep(seconds: float) -> None:
    """``trio.sleep(seconds)`` for the model (0: a checkpoint, as Trio's)."""
    try:
        clock = RUN_CONTEXT.virtual_clock  # (VirtualClock.start_clock)
    except AttributeError:
        clock = None
    if clock is None or not seconds > 0:
        await trio.sleep(seconds)  # other clocks, no run, 0, negative or NaN: Trio's own
        return
    deadline = clock._now + seconds  # as trio.sleep: current_time() + seconds
    if not deadline > clock._now:  # too small to move a large clock
        await trio.sleep_until(deadline)
        return
    # Park until the clock's timer at ``deadline`` (> now) wakes it: one frame (suspend) below
    # this one, where trio.lowlevel.wait_task_rescheduled took two and a message per sleep.
    task = RUN_CONTEXT.task
    if deadline != _INF:
        clock.add_timer(deadline, task, False)
    await suspend(SLEEP)
    if task._cancel_status.effectively_cancelled:
        # the timer woke it, but an enclosing scope was cancelled meanwhile (same instant, or
        # by a task earlier in the batch): a sleep on Trio's deadline would raise here
        raise_pending_cancel(task)


async def wait_until(wait: Callable[[], Awaitable[object]], deadline: float) -> None:
    """``with trio.move_on_at(deadline): await wait()`` for the model, without the scope.

    ``wait`` must park the task at most once, with an abort function that always succeeds and
    leaves ``custom_sleep_data`` alone, and return when rescheduled: ``trio.Event.wait`` and
    :meth:`~kubechaos.node.kubelet.wakeup.Wakeup.wait` qualify (a memory channel or a ParkingLot
    does not). At ``deadline`` the timer aborts the wait as a cancellation would, except that
    the wait returns instead of raising.
    """
    if deadline == _INF:  # no deadline: what a scope that never expires would leave
        await wait()
        return
    clock = virtual_clock()
    if clock is None or not deadline > clock._now:
        with trio.move_on_at(deadline):
            await wait()
        return
    task = RUN_CONTEXT.task
    clock.add_timer(deadline, task, True)
    try:
        await wait()
    finally:
        # However wait() ended (woken, timed out, cancelled, or raising before it parked),
        # no live timer is left to abort a later, unrelated wait of this task.
        woken_by = task.custom_sleep_data
        task.custom_sleep_data = None
    if woken_by is TIMED_OUT and task._cancel_status.effectively_cancelled:
        raise_pending_cancel(task)


_INF = float("inf")

__all__ = ["SLEEP", "raise_pending_cancel", "sleep", "sleep_until", "virtual_clock", "wait_until"]
