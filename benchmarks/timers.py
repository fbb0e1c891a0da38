"""Micro-benchmark: CPU microseconds per model sleep (kubechaos.sim.timers) versus per Trio sleep.

``TASKS`` tasks each sleep ``SLEEPS`` times under the model's VirtualClock, with durations that
spread their deadlines (most instants wake a few tasks, as the model's do). Each way of sleeping
runs in its own seeded run with the step counter of benchmarks/scale.py installed:

- ``timers.sleep``: the model sleep (a timer in the clock's heap, no cancel scope);
- ``trio.sleep``: Trio's (a CancelScope per sleep, woken by raising Cancelled);
- ``Wakeup.wait_until``: a kubelet loop's wait that times out, on a model timer;
- ``move_on_at + wait``: the same wait inside Trio's ``move_on_at``, as it was;

- ``one sleeper (jump)``: one task sleeping alone, so every sleep is one clock jump (the jump,
  its timer firing, the reschedule and the task's step);

then the model's waits that are not timers, each a hand-over between two tasks (one park and one
unpark per step): ``WorkQueue add/get`` (two client-go style work queues ping-ponging a key, as a
controller's worker waits for its queue) and ``Wakeup set/wait`` (the kubelet loops' flag);
and, for scale, the floor of benchmarks/scale.py: one bare Trio task wakeup (two tasks handing a
token through memory channels). Nothing is asserted (tests/test_cost_sim_steps.py and
tests/test_sim_timers.py count work).

    python benchmarks/timers.py [--tasks 100] [--sleeps 2000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from kubechaos.client.workqueue import WorkQueue
from kubechaos.defaults import Settings
from kubechaos.node.kubelet.wakeup import Wakeup
from kubechaos.sim import timers
from kubechaos.sim.clock import run_virtual

sys.path.insert(0, str(Path(__file__).parent))
from scale import StepCounter, trio_wakeup_floor


async def _scoped_wait_until(wake: Wakeup, deadline: float) -> None:
    """Wakeup.wait_until as it was before the model timers."""
    if deadline == math.inf:
        await wake.wait()
        return
    with trio.move_on_at(deadline):
        await wake.wait()


def _sleeper(sleep: Callable[[float], Awaitable[None]]) -> Callable[[int], Awaitable[None]]:
    async def task(i: int, sleeps: int) -> None:
        for k in range(sleeps):
            await sleep(0.1 * (1 + (i * 7 + k) % 13))

    return task  # type: ignore[return-value]


def _waiter(wait_until: Callable[[Wakeup, float], Awaitable[None]]) -> Callable[..., Awaitable]:
    async def task(i: int, sleeps: int) -> None:
        wake = Wakeup()
        for k in range(sleeps):
            wake.clear()
            await wait_until(wake, trio.current_time() + 0.1 * (1 + (i * 7 + k) % 13))

    return task


def measure(task: Callable[..., Awaitable[None]], tasks: int, sleeps: int) -> tuple[float, int]:
    """CPU microseconds per sleep, and Trio task steps per sleep."""
    counter = StepCounter()

    async def main() -> None:
        counter.install()
        async with trio.open_nursery() as nursery:
            for i in range(tasks):
                nursery.start_soon(task, i, sleeps)

    started = time.process_time()
    run_virtual(main, seed=1)
    cpu = time.process_time() - started
    return cpu / (tasks * sleeps) * 1e6, counter.steps


def measure_jumps(sleeps: int) -> tuple[float, int]:
    """CPU microseconds per clock jump: one task sleeping alone (each sleep is one jump)."""
    return measure(_sleeper(timers.sleep), 1, sleeps)


def measure_handovers(rounds: int, kind: str) -> tuple[float, int]:
    """CPU microseconds per hand-over (one park, one unpark, one step) between two tasks."""
    counter = StepCounter()

    async def main() -> None:
        counter.install()
        async with trio.open_nursery() as nursery:
            if kind == "queue":
                ping, pong = WorkQueue("ping", Settings()), WorkQueue("pong", Settings())

                async def echo_queue() -> None:
                    for _ in range(rounds):
                        key = await ping.get()
                        ping.done(key)
                        pong.add(key)

                nursery.start_soon(echo_queue)
                for _ in range(rounds):
                    ping.add("key")
                    pong.done(await pong.get())
            else:
                there, back = Wakeup(), Wakeup()

                async def echo_wakeup() -> None:
                    for _ in range(rounds):
                        await there.wait()
                        there.clear()
                        back.set()

                nursery.start_soon(echo_wakeup)
                for _ in range(rounds):
                    there.set()
                    await back.wait()
                    back.clear()

    started = time.process_time()
    run_virtual(main, seed=1)
    cpu = time.process_time() - started
    return cpu / (2 * rounds) * 1e6, counter.steps


async def _model_wait(wake: Wakeup, deadline: float) -> None:
    await wake.wait_until(deadline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--sleeps", type=int, default=2000)
    args = parser.parse_args()
    ways: list[tuple[str, Callable[..., Awaitable[None]]]] = [
        ("timers.sleep", _sleeper(timers.sleep)),
        ("trio.sleep", _sleeper(trio.sleep)),
        ("Wakeup.wait_until", _waiter(_model_wait)),
        ("move_on_at + wait", _waiter(_scoped_wait_until)),
    ]
    floor = trio_wakeup_floor()
    print(f"{'sleep':<20} {'us/sleep':>9} {'x floor':>8} {'steps':>9}")
    for name, task in ways:
        us, steps = measure(task, args.tasks, args.sleeps)
        print(f"{name:<20} {us:>9.2f} {us / floor:>7.1f}x {steps:>9}")
    us, steps = measure_jumps(args.tasks * args.sleeps // 4)
    print(f"{'one sleeper (jump)':<20} {us:>9.2f} {us / floor:>7.1f}x {steps:>9}")
    print(f"{'hand-over':<20} {'us/park':>9} {'x floor':>8} {'steps':>9}")
    for name, kind in (("WorkQueue add/get", "queue"), ("Wakeup set/wait", "wakeup")):
        us, steps = measure_handovers(args.tasks * args.sleeps // 2, kind)
        print(f"{name:<20} {us:>9.2f} {us / floor:>7.1f}x {steps:>9}")
    print(f"{'floor (wakeup)':<20} {floor:>9.2f}")


if __name__ == "__main__":
    main()
