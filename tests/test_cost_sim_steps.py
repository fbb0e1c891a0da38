"""Work counting: the cost of one task step in the model's own waits (kubechaos.sim.park,
kubechaos.sim.timers, kubechaos.sim.clock, the kubelet's Wakeup, the work queue's waiters).

Almost every step of a run is a task woken from one of these parks, so what a park, a wakeup and
a clock jump do per step is counted here: Python calls (what a profiler hook sees), objects built,
frames a resume passes through. Each count fails if the old path comes back (Trio's
``wait_task_rescheduled`` building a message per park, ``ParkingLot`` building a closure per
park, ``trio.lowlevel.reschedule``'s wrapper, a separate function per jump to fire timers).
The behaviour these paths must keep is Trio's (trio 0.35 ``_core/_run.py``, ``_core/_traps.py``,
``_core/_parking_lot.py``) and is specified in tests/test_sim_timers.py; the goldens prove a
run's steps are unchanged.
"""

from __future__ import annotations

import gc
import importlib.util
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import trio

from kubechaos.client.workqueue import WorkQueue
from kubechaos.defaults import Settings
from kubechaos.node.kubelet.wakeup import Wakeup
from kubechaos.sim import park, timers
from kubechaos.sim.clock import VirtualClock, run_virtual


class Calls:
    """Python function calls (and generator/coroutine resumes, which a profile hook reports as
    calls too) seen by ``sys.setprofile`` while active, by function name."""

    def __init__(self) -> None:
        self.by_name: Counter[str] = Counter()
        self.total = 0

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            self.total += 1
            code = frame.f_code
            self.by_name[f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"] += 1

    def named(self, part: str) -> int:
        return sum(n for name, n in self.by_name.items() if part in name)

    @contextmanager
    def counting(self) -> Iterator[None]:
        sys.setprofile(self.hook)
        try:
            yield
        finally:
            sys.setprofile(None)


def _run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """A run on the VirtualClock with only the test's tasks (run_virtual adds a gc-freeze task
    that sleeps on Trio's own sleep), with the cyclic collector off: a collection that happened
    to start inside a counted call would add the finalizers of earlier tests' objects (Trio's
    ``__del__``s) to its count."""
    gc.collect()
    gc.disable()
    try:
        return trio.run(fn, *args, clock=VirtualClock(), strict_exception_groups=True)
    finally:
        gc.enable()


# ------------------------------------------------------------------------------------ a sleep


def test_a_sleep_builds_no_park_message_and_no_wrapper_frames() -> None:
    """trio._core._traps.wait_task_rescheduled builds a WaitTaskRescheduled per park and awaits
    a second generator to yield it; the model's sleep yields one message built at import
    (timers.SLEEP) from one generator (park.suspend). A task sleeping alone: each sleep is one
    clock jump, one timer fired, one step."""
    sleeps = 200

    async def main(calls: Calls) -> None:
        await timers.sleep(1.0)  # warm up: the first park of a task
        with calls.counting():
            for _ in range(sleeps):
                await timers.sleep(1.0)

    calls = Calls()
    _run(main, calls)
    assert calls.named("WaitTaskRescheduled") == 0, "a message built per sleep"
    assert calls.named(":wait_task_rescheduled") == 0
    assert calls.named(":_park_until") == 0, "a coroutine frame between sleep and its park"
    assert calls.named("_generated_run.py:reschedule") == 0, "trio.lowlevel.reschedule's wrapper"
    assert calls.named(":suspend") == 2 * sleeps  # entered, then resumed once per sleep
    # Everything per sleep, Trio's run loop included: main resumed (1), the sleep and suspend,
    # each called and resumed (4), add_timer, the jump (deadline_to_sleep_time), Runner.reschedule
    # with the shared park.WOKEN (no outcome.Value built), and Trio's own per pass and step
    # (unrolled_run, next_deadline, get_events, process_events, current_time, expire, the
    # pending-cancel check, five instrument lookups, UserDict.__contains__): 20 (+2 this
    # counter). Before: 32 (_park_until, wait_task_rescheduled, _real_async_yield each called
    # and resumed, WaitTaskRescheduled and Value built, the _fire_due_timers call, the
    # trio.lowlevel.reschedule wrapper, Value.unwrap and _set_unwrapped).
    assert calls.total <= 22 * sleeps + 10, calls.by_name.most_common(12)


def test_a_parked_sleeper_is_two_frames_below_its_caller() -> None:
    """Every resume of a task passes through each frame of its await chain: main awaits
    timers.sleep, which awaits park.suspend, the generator that yields to Trio (trio.sleep and
    the old path had two more: _park_until and wait_task_rescheduled over _real_async_yield)."""

    def await_chain(task: trio.lowlevel.Task) -> list[str]:
        names, obj = [], task.coro
        while obj is not None:
            names.append(getattr(obj, "__name__", type(obj).__name__))
            obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
        return names

    async def main() -> list[str]:
        async with trio.open_nursery() as nursery:
            sleeper = await nursery.start(_sleeper)
            await timers.sleep(0.5)
            chain = await_chain(sleeper)
            nursery.cancel_scope.cancel()
        return chain

    async def _sleeper(task_status: trio.TaskStatus[trio.lowlevel.Task]) -> None:
        task_status.started(trio.lowlevel.current_task())
        await timers.sleep(10.0)

    assert _run(main) == ["_sleeper", "sleep", "suspend"]


# ------------------------------------------------------------------------------------ a jump


def test_a_clock_jump_fires_each_due_timer_with_one_reschedule_call() -> None:
    """A jump (VirtualClock.deadline_to_sleep_time, which Trio calls when nothing is runnable)
    moves the clock and reschedules the due timers' tasks in the same call, each through the
    runner's own reschedule, with the one shared park.WOKEN outcome: one Python call per woken
    task (and Trio's instrument check in it), and none for the jump itself (it was a _fire_due_timers call and a
    trio.lowlevel.reschedule wrapper and an outcome.Value per task before)."""
    tasks, rounds = 5, 40
    inner = Calls()

    async def main() -> None:
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, VirtualClock)
        jump = clock.deadline_to_sleep_time

        def counted_jump(deadline: float) -> float:
            sys.setprofile(inner.hook)
            try:
                return jump(deadline)
            finally:
                sys.setprofile(None)

        clock.deadline_to_sleep_time = counted_jump  # type: ignore[method-assign]

        async def sleeper() -> None:
            for _ in range(rounds):
                await timers.sleep(1.0)  # all five due at each whole second: one jump

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(sleeper)

    _run(main)
    jumps = inner.named(":deadline_to_sleep_time")
    assert rounds <= jumps <= rounds + 2, jumps
    assert inner.named(":_fire_due_timers") == 0, "a call per jump to fire its timers"
    assert inner.named("_generated_run.py:reschedule") == 0, "trio.lowlevel.reschedule's wrapper"
    woken = inner.named("_run.py:reschedule")
    assert woken == tasks * rounds
    assert inner.named("outcome._impl.Value") == 0, "an outcome built per wakeup (park.WOKEN)"
    # the jump itself, and per woken task Runner.reschedule and its instrument check (Trio's
    # Instruments is a UserDict: "task_scheduled" in it is a Python call)
    assert inner.total == jumps + 2 * woken, inner.by_name.most_common(8)


# ------------------------------------------------------------------------ Wakeup and the queue


def test_a_wakeup_builds_its_park_message_once() -> None:
    """The kubelet loops' Wakeup: one message per Wakeup (its abort forgets the waiter), where
    wait_task_rescheduled(self._abort) built a bound method and a message per wait; waits that
    time out and waits that are set both yield it."""
    waits = 100

    async def main(calls: Calls) -> None:
        wake = Wakeup()

        async def setter() -> None:
            for _ in range(waits):
                await timers.sleep(0.5)
                wake.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            await timers.sleep(0.1)  # Trio's own system task has parked (its one message)
            with calls.counting():
                for k in range(waits):
                    wake.clear()
                    if k % 2:
                        await wake.wait()
                    else:
                        await wake.wait_until(trio.current_time() + 0.25)  # times out

    calls = Calls()
    _run(main, calls)
    assert calls.named("WaitTaskRescheduled") == 0, "a message built per wait"
    assert calls.named(":wait_task_rescheduled") == 0
    assert calls.named("_generated_run.py:reschedule") == 0
    assert calls.named("wakeup.py:_abort") == waits // 2  # the timed-out waits' abort


def test_work_queue_workers_park_without_a_closure_per_park() -> None:
    """A controller's workers wait in WorkQueue.get (client-go util/workqueue/queue.go: Get waits
    on a sync.Cond, Add signals it): ParkingLot.park built an abort closure per park and unpark a
    generator and a list per call; park.Waiters builds one message per worker task, ever."""
    keys, workers = 200, 3
    queue = WorkQueue("q", Settings())
    done: list[str] = []

    async def worker() -> None:
        while True:
            key = await queue.get()
            done.append(key)
            queue.done(key)

    async def main(calls: Calls) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker)
            await timers.sleep(1.0)
            with calls.counting():
                for k in range(keys):
                    queue.add(f"k{k}")
                    await timers.sleep(0.1)
            nursery.cancel_scope.cancel()

    calls = Calls()
    _run(main, calls)
    assert len(done) == keys
    assert calls.named("_parking_lot.py") == 0, "a ParkingLot in the work queue"
    assert calls.named("WaitTaskRescheduled") == 0, "a message built per park"
    assert calls.named("workqueue.py:get") == 2 * keys  # each get parks once: called, resumed
    assert len(queue._waiters._messages) == workers


def test_waiters_wake_the_longest_parked_and_forget_a_cancelled_one() -> None:
    """park.Waiters is ParkingLot.park/unpark() (trio _core/_parking_lot.py: FIFO, a cancelled
    parker removed by its abort) as client-go's work queue needs it (Add: cond.Signal() wakes
    one waiter, Go's sync.Cond in ticket order, runtime/sema.go notifyListNotifyOne)."""
    woken: list[str] = []
    waiters = park.Waiters()

    async def parker(name: str, scope: trio.CancelScope | None = None) -> None:
        if scope is None:
            await waiters.park()
            woken.append(name)
            return
        with scope:
            await waiters.park()
            woken.append(name)
        if scope.cancelled_caught:
            woken.append(f"{name} cancelled")

    async def main() -> None:
        scope = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            for name in ("a", "b"):
                nursery.start_soon(parker, name)
                await timers.sleep(0.1)
            nursery.start_soon(parker, "c", scope)
            await timers.sleep(0.1)
            nursery.start_soon(parker, "d")
            await timers.sleep(0.1)
            assert len(waiters) == 4
            scope.cancel()
            await timers.sleep(0.1)
            assert len(waiters) == 3
            for _ in range(3):
                waiters.unpark()
                await timers.sleep(0.1)
            waiters.unpark()  # nobody left: nothing happens

    _run(main)
    assert woken == ["c cancelled", "a", "b", "d"]


def test_a_waiters_map_of_messages_stays_bounded() -> None:
    """Workers replaced over a long run (a controller restarted) leave no unbounded map: past
    park.MESSAGES_MAX tasks the messages are rebuilt as tasks park."""
    waiters = park.Waiters()

    async def once() -> None:
        await waiters.park()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(park.MESSAGES_MAX + 10):
                nursery.start_soon(once)
                await timers.sleep(0.1)
                waiters.unpark()
                await timers.sleep(0.1)

    _run(main)
    assert len(waiters._messages) <= park.MESSAGES_MAX


def test_a_cancelled_park_leaves_no_reference_cycle() -> None:
    """A park cancelled raises Cancelled from park.suspend; the outcome it resumed with is not
    left in a frame the exception's traceback holds (outcome's Error.unwrap does the same), so a
    cancellation makes no cyclic garbage (at a node crash hundreds of tasks are cancelled)."""

    async def main(cancels: int) -> None:
        wake = Wakeup()
        for _ in range(cancels):
            with trio.move_on_after(0.5):
                await wake.wait()
            with trio.move_on_after(0.5):
                await timers.sleep(5.0)

    def garbage_in_cycles(cancels: int) -> int:
        gc.collect()
        gc.disable()
        try:
            run_virtual(main, cancels, seed=3)
            return gc.collect()
        finally:
            gc.enable()

    assert garbage_in_cycles(100) == garbage_in_cycles(0)  # the run's own, whatever it cancels


def test_the_counter_sees_trios_own_parks() -> None:
    """The instrument sees what the tests above must not find: trio.sleep's park builds a
    WaitTaskRescheduled, a ParkingLot's park and unpark run its methods."""

    async def main(calls: Calls) -> None:
        lot = trio.lowlevel.ParkingLot()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lot.park)
            await timers.sleep(0.1)  # Trio's own system task has parked (its one message)
            with calls.counting():
                await trio.sleep(1.0)
                lot.unpark()

    calls = Calls()
    _run(main, calls)
    assert calls.named("WaitTaskRescheduled") == 1
    assert calls.named(":wait_task_rescheduled") == 2  # the sleep's: called, resumed
    assert calls.named("_parking_lot.py:unpark") == 1


# ------------------------------------------------------------------------- the benchmark's count


def _scale_module() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_step_counter_counts_every_step_without_a_hook_per_step() -> None:
    """benchmarks/scale.py's StepCounter reads Trio's own per-task count of steps
    (Task._schedule_points, trio _core/_run.py unrolled_run) instead of a before_task_step hook
    per step: the same number, read mid-run and at the end, with tasks exiting between."""
    counter = _scale_module().StepCounter()

    class Hook(trio.abc.Instrument):
        steps = 0

        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            Hook.steps += 1

    reads: list[tuple[int, int]] = []

    async def short(k: int) -> None:
        for _ in range(k):
            await timers.sleep(0.3)

    async def main() -> None:
        await timers.sleep(1.0)
        counter.install()
        trio.lowlevel.add_instrument(Hook())
        async with trio.open_nursery() as nursery:
            for k in range(6):
                nursery.start_soon(short, k)
            await timers.sleep(0.5)
            reads.append((counter.steps, Hook.steps))
            await trio.lowlevel.checkpoint()
            reads.append((counter.steps, Hook.steps))

    _run(main)
    reads.append((counter.steps, Hook.steps))
    assert reads[-1][1] > 20
    assert all(ours == hooked for ours, hooked in reads), reads
