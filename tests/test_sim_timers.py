"""Model sleeps (kubechaos.sim.timers) on VirtualClock's own timer heap.

Each sleep must behave as ``trio.sleep`` / ``trio.sleep_until`` / ``move_on_at`` do (trio's
``_timeouts.py`` and ``_core/_run.py``: a deadline wakes the task in the pass of the run loop
where the clock reaches it, any enclosing cancelled scope still cancels it, a deadline already
reached is a checkpoint, KeyboardInterrupt reaches a parked main task through its abort
function), while building no CancelScope: that machinery was a fifth of a 1,000-node run.
The model's analogue upstream is client-go's delaying queue (``util/workqueue/delaying_queue.go``:
one heap of ``waitFor`` entries and a single timer for the earliest, not a timer per item).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from kubechaos.node.kubelet.wakeup import Wakeup
from kubechaos.sim import timers
from kubechaos.sim.clock import VirtualClock, now, run_virtual
from tests.harness import running


class Passes(trio.abc.Instrument):
    """Numbers the passes of Trio's run loop (one batch of runnable tasks each)."""

    def __init__(self) -> None:
        self.count = 0

    def after_io_wait(self, timeout: float) -> None:
        self.count += 1


def run(fn: Callable[..., Awaitable[Any]], *args: Any, clock: trio.abc.Clock | None = None) -> Any:
    return trio.run(fn, *args, clock=clock or VirtualClock(), strict_exception_groups=True)


def live_timers() -> int:
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, VirtualClock)
    return clock.live_timers()


def count_cancel_scopes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count CancelScope entries (trio.sleep, move_on_at and every nursery make one)."""
    entered = [0]
    original = trio.CancelScope.__enter__

    def counting(self: trio.CancelScope) -> trio.CancelScope:
        entered[0] += 1
        return original(self)

    monkeypatch.setattr(trio.CancelScope, "__enter__", counting)
    return entered


# ---------------------------------------------------------------------------------- deadlines


def test_a_sleep_wakes_at_exactly_its_deadline() -> None:
    """trio._timeouts.sleep: the deadline is current_time() + seconds, and the task wakes when
    the clock reaches it, not before and not after."""

    async def main() -> list[float]:
        woke = []
        await timers.sleep_until(2.5)
        woke.append(trio.current_time())
        await timers.sleep(0.1)
        woke.append(trio.current_time())
        await timers.sleep(1e-9)
        woke.append(trio.current_time())
        return woke

    assert run(main) == [2.5, 2.5 + 0.1, 2.5 + 0.1 + 1e-9]


def test_timers_wake_in_deadline_order_and_equal_deadlines_in_one_batch() -> None:
    """_core/_run.py unrolled_run: every task whose deadline the clock reached is runnable in the
    same pass; a model timer at the same instant as a Trio deadline joins that same batch."""
    passes = Passes()
    woke: list[tuple[str, float, int]] = []

    async def sleeper(name: str, deadline: float, on_trio: bool) -> None:
        await (trio.sleep_until if on_trio else timers.sleep_until)(deadline)
        woke.append((name, trio.current_time(), passes.count))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i, deadline in enumerate([3.0, 1.0, 2.0, 1.0, 3.0, 2.0]):
                nursery.start_soon(sleeper, f"model-{i}", deadline, False)
            nursery.start_soon(sleeper, "trio", 2.0, True)

    trio.run(main, clock=VirtualClock(), instruments=[passes])
    assert [t for _, t, _ in woke] == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0]
    batch_of = {name: p for name, _, p in woke}
    assert batch_of["model-1"] == batch_of["model-3"]
    assert batch_of["model-2"] == batch_of["model-5"] == batch_of["trio"]
    assert batch_of["model-0"] == batch_of["model-4"]
    assert len({batch_of["model-1"], batch_of["model-2"], batch_of["model-0"]}) == 3


def test_a_deadline_already_reached_is_a_checkpoint_and_a_cancellation_point() -> None:
    """trio._timeouts.sleep_until: "May be in the past, in which case this function executes a
    checkpoint but does not block": other tasks run, time does not move, a cancelled scope
    raises there."""

    async def main() -> tuple[float, bool]:
        with trio.testing.assert_checkpoints():
            await timers.sleep_until(trio.current_time() - 1)
        with trio.testing.assert_checkpoints():
            await timers.sleep_until(trio.current_time())
        with trio.testing.assert_checkpoints():
            await timers.wait_until(trio.Event().wait, trio.current_time())
        with trio.CancelScope() as scope:
            scope.cancel()
            await timers.sleep_until(0.0)
            raise AssertionError("not reached")
        return trio.current_time(), scope.cancelled_caught

    assert run(main) == (0.0, True)


# ---------------------------------------------------------------------------------- cancellation


def test_an_outer_timeout_cancels_a_sleeper_and_its_timer_never_fires() -> None:
    """A model sleep inside move_on_after is cancelled at the scope's deadline (Cancelled, as
    trio.sleep is: CancelScope._cancel -> Task._attempt_abort), and leaves no live timer."""

    async def main() -> tuple[float, bool, int, float]:
        with trio.move_on_after(1.0) as scope:
            await timers.sleep(5.0)
        left = live_timers()
        at = trio.current_time()
        await timers.sleep(10.0)  # past the dead timer's instant: nothing else wakes this task
        return at, scope.cancelled_caught, left, trio.current_time()

    assert run(main) == (1.0, True, 0, 11.0)


def test_a_timer_due_with_its_enclosing_deadline_raises_cancelled_as_trio_sleep_does() -> None:
    """When a sleep's own deadline and an enclosing scope's fall at the same instant, trio.sleep
    raises Cancelled (the inner scope does not catch what its cancelled parent owes,
    CancelScope._close); the model sleep must too, and run none of the code after it."""

    async def main(sleep: Callable[[float], Awaitable[None]]) -> tuple[bool, bool, float]:
        after = False
        with trio.move_on_at(2.0) as scope:
            await sleep(2.0)
            after = True
        return after, scope.cancelled_caught, trio.current_time()

    assert run(main, timers.sleep) == run(main, trio.sleep) == (False, True, 2.0)


def test_a_nursery_cancelled_takes_every_sleeper_and_leaves_no_timer() -> None:
    async def main() -> tuple[list[str], int, float]:
        done: list[str] = []

        async def sleeper(i: int) -> None:
            try:
                await timers.sleep(10.0 + i)
            except trio.Cancelled:
                done.append(f"cancelled-{i}")
                raise

        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(sleeper, i)
            await timers.sleep(4.0)
            assert live_timers() == 3
            nursery.cancel_scope.cancel()
        return sorted(done), live_timers(), trio.current_time()

    assert run(main) == (["cancelled-0", "cancelled-1", "cancelled-2"], 0, 4.0)


def _tasks_alive() -> set[trio.lowlevel.Task]:
    alive: set[trio.lowlevel.Task] = set()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is None:
            continue
        alive.add(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return alive


def _timer_tasks() -> set[trio.lowlevel.Task]:
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, VirtualClock)
    return {entry[2] for entry in clock._timers if entry[2].custom_sleep_data is entry}


async def test_a_crashed_nodes_sleeping_tasks_die_with_their_timers() -> None:
    """A killed component (a node crash stops its kubelet, heartbeat and kube-proxy) is
    cancelled out of its model sleeps: no live timer is left to a task that has exited, and the
    run goes on (a dead timer firing would reschedule a finished task)."""
    async with running(nodes=2, seed=4) as cluster:
        await trio.sleep(30)
        before = _timer_tasks()
        cluster.nodes["worker-0"].crash()
        await trio.sleep(1)
        alive = _tasks_alive()
        killed = before - alive
        assert killed, "the crash ended tasks that were parked on model timers"
        assert not _timer_tasks() - alive
        await trio.sleep(60)
        assert not _timer_tasks() - _tasks_alive()


def test_keyboard_interrupt_reaches_a_main_task_parked_on_a_model_timer() -> None:
    """_core/_run.py Runner._deliver_ki_cb -> Task._attempt_delivery_of_pending_ki: a parked main
    task gets KeyboardInterrupt through its abort function; the timer dies with it."""
    clock = VirtualClock()

    @trio.lowlevel.enable_ki_protection
    def interrupt() -> None:
        signal.raise_signal(signal.SIGINT)  # protected: Trio delivers it to the main task

    async def interrupt_soon() -> None:
        await timers.sleep(1.0)
        interrupt()
        for _ in range(5):
            await timers.sleep(1.0)  # keeps the clock stepping while KI is delivered

    async def main() -> None:
        trio.lowlevel.spawn_system_task(interrupt_soon)
        await timers.sleep_until(1e9)

    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=clock)
    assert clock.current_time() < 10, "delivered to the parked main task, not at its deadline"
    assert clock.live_timers() == 0


# ---------------------------------------------------------------------------------- wakeups


def test_a_wakeup_set_before_the_deadline_wins_and_drops_the_timer() -> None:
    """Wakeup.wait_until (the kubelet's loops): set() reschedules the waiter at once, as
    Event.set unparks it; the timer is dead and never wakes the task's next wait."""

    async def main() -> list[tuple[str, float]]:
        wake = Wakeup()
        seen: list[tuple[str, float]] = []

        async def setter() -> None:
            await timers.sleep(2.0)
            wake.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            await wake.wait_until(5.0)
            seen.append(("set", trio.current_time()))
            seen.append(("live", live_timers()))
            wake.clear()
            await wake.wait_until(8.0)  # the dead 5.0 timer must not cut this short
            seen.append(("deadline", trio.current_time()))
        return seen

    assert run(main) == [("set", 2.0), ("live", 0), ("deadline", 8.0)]


def test_wait_until_on_an_event_is_move_on_at_without_the_scope() -> None:
    """timers.wait_until(event.wait, d) returns at d (the Event forgets the waiter: a later
    set() wakes nobody twice) or when set, whichever is first, as move_on_at(d) around it."""

    async def main(wait_until: Callable[[trio.Event, float], Awaitable[None]]) -> list[Any]:
        seen: list[Any] = []
        event = trio.Event()
        await wait_until(event, 3.0)
        seen.append(trio.current_time())
        event.set()  # nobody waits any more
        await wait_until(trio.Event(), 4.0)
        seen.append(trio.current_time())
        event = trio.Event()

        async def setter() -> None:
            await trio.sleep(1.0)
            event.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            await wait_until(event, 10.0)
            seen.append(trio.current_time())
        await trio.sleep(20)
        seen.append(trio.current_time())
        return seen

    async def model(event: trio.Event, deadline: float) -> None:
        await timers.wait_until(event.wait, deadline)

    async def scoped(event: trio.Event, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await event.wait()

    assert run(main, model) == run(main, scoped) == [3.0, 4.0, 5.0, 25.0]


def test_a_wait_that_raises_before_parking_leaves_no_timer() -> None:
    """If ``wait`` fails before it parks (a second waiter on a Wakeup), its timer must not
    outlive it and cut short the task's next, unrelated wait."""

    async def refuse() -> None:
        raise ValueError("no")

    async def main() -> float:
        with pytest.raises(ValueError):
            await timers.wait_until(refuse, 2.0)
        event = trio.Event()

        async def setter() -> None:
            await timers.sleep(5.0)
            event.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            await event.wait()  # a plain Event wait: the 2.0 timer must not abort it
            woke = trio.current_time()
        return woke

    assert run(main) == 5.0


def test_dead_timers_are_compacted() -> None:
    """A loop woken long before its deadline, time after time, leaves dead entries; the heap is
    compacted so it never holds more than twice its live timers plus a constant."""

    async def main() -> tuple[int, int]:
        wake = Wakeup()
        peak = 0

        async def setter() -> None:
            for _ in range(5000):
                await trio.lowlevel.checkpoint()
                wake.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            for _ in range(5000):
                wake.clear()
                await wake.wait_until(1000.0)
                clock = trio.lowlevel.current_clock()
                assert isinstance(clock, VirtualClock)
                peak = max(peak, len(clock._timers))
        return peak, live_timers()

    peak, live = run(main)
    assert live == 0
    assert peak <= 2 * 1 + 1024 + 1


# ---------------------------------------------------------------------------------- clocks


def test_a_paced_run_still_waits_for_the_wall_clock() -> None:
    """VirtualClock(speed=10): the jump to a model timer waits for the wall clock as a jump to a
    Trio deadline does (deadline_to_sleep_time answers how long Trio must wait)."""
    waits: list[float] = []

    class Waits(trio.abc.Instrument):
        def before_io_wait(self, timeout: float) -> None:
            if timeout > 0:
                waits.append(timeout)

    async def main() -> float:
        for _ in range(4):
            await timers.sleep(0.05)  # 0.2 virtual seconds: 0.02 wall seconds at speed 10
        await timers.sleep_until(2.0)  # 1.8 more: 0.18 wall seconds
        return trio.current_time()

    started = time.monotonic()
    assert trio.run(main, clock=VirtualClock(speed=10), instruments=[Waits()]) == 2.0
    elapsed = time.monotonic() - started
    assert elapsed >= 0.19, elapsed
    assert elapsed < 10, elapsed
    # The last jump (1.8 virtual s: 0.18 wall s) always waits; the four short ones wait only
    # if the machine reaches them early enough (under load their 5 ms may already be past,
    # and a paced clock owes no wait for time already gone)
    assert waits and max(waits) > 0.1, waits


def test_under_mock_clock_the_sleeps_are_trios_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another clock (trio.testing.MockClock, the real clock): trio.sleep, sleep_until and
    move_on_at, cancel scopes and all."""
    entered = count_cancel_scopes(monkeypatch)

    async def main() -> list[float]:
        seen = []
        await timers.sleep(1.5)
        seen.append(trio.current_time())
        await timers.sleep_until(4.0)
        seen.append(trio.current_time())
        await timers.wait_until(trio.Event().wait, 6.0)
        seen.append(trio.current_time())
        return seen

    assert run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == [1.5, 4.0, 6.0]
    assert entered[0] >= 3


def test_a_model_sleep_builds_no_cancel_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the module: under VirtualClock sleep, sleep_until, wait_until and
    Wakeup.wait_until enter no CancelScope (trio.sleep enters one per call)."""

    async def main(n: int) -> float:
        wake = Wakeup()
        for _ in range(n):
            await timers.sleep(1.0)
            await timers.sleep_until(trio.current_time() + 1.0)
            await timers.wait_until(trio.Event().wait, trio.current_time() + 1.0)
            wake.clear()
            await wake.wait_until(trio.current_time() + 1.0)
        return trio.current_time()

    def scopes_for(n: int) -> int:
        entered = count_cancel_scopes(monkeypatch)
        assert run(main, n) == 4.0 * n
        return entered[0]

    assert scopes_for(100) == scopes_for(0), "a model sleep entered a CancelScope"

    async def on_trio() -> None:
        for _ in range(10):
            await trio.sleep(1.0)

    entered = count_cancel_scopes(monkeypatch)
    run(on_trio)
    assert entered[0] >= 10, "the counter sees trio.sleep's scopes"


# ---------------------------------------------------------------------------------- determinism


async def _crowd(sleep: Callable[[float], Awaitable[None]], order: list[str]) -> None:
    """Twenty tasks sleeping to shared instants, plus a Wakeup and an Event or two."""
    wake = Wakeup()

    async def worker(i: int) -> None:
        for step in range(6):
            await sleep(0.5 * ((i + step) % 3 + 1))
            order.append(f"{i}:{step}@{trio.current_time()}")
            if i % 7 == 0:
                wake.set()

    async def waiter() -> None:
        for _ in range(8):
            wake.clear()
            await wake.wait_until(trio.current_time() + 0.5)
            order.append(f"waiter@{trio.current_time()}")

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(worker, i)
        nursery.start_soon(waiter)


def _order(seed: int, sleep: Callable[[float], Awaitable[None]]) -> list[str]:
    order: list[str] = []
    run_virtual(_crowd, sleep, order, seed=seed)
    return order


def test_the_same_seed_gives_the_same_interleaving_as_trios_own_sleeps() -> None:
    """Trio sorts each batch by task creation order before its seeded shuffle
    (_ALLOW_DETERMINISTIC_SCHEDULING): the same tasks in the same batches give the same order.
    Model sleeps land in exactly the batches trio.sleep would, so a seed's interleaving is the
    same either way (which keeps every golden event log byte-identical)."""
    assert _order(7, timers.sleep) == _order(7, timers.sleep)
    assert _order(7, timers.sleep) == _order(7, trio.sleep)
    assert _order(7, timers.sleep) != _order(8, timers.sleep), "the seed decides ties"


def test_now_reads_the_virtual_clock_without_trios_wrappers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sim.clock.now() is trio.current_time() (the run's clock), read straight off a
    VirtualClock; under another clock it asks that clock, outside a run it fails as Trio does."""
    asked = [0]
    original = trio.current_time

    def counting() -> float:
        asked[0] += 1
        return original()

    monkeypatch.setattr(trio, "current_time", counting)

    async def main() -> tuple[float, float]:
        await timers.sleep(2.5)
        return now(), original()

    assert run(main) == (2.5, 2.5)
    assert asked[0] == 0, "now() went through trio.current_time"
    assert run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == (2.5, 2.5)
    with pytest.raises(RuntimeError):
        now()
