"""The harness's ``processes``: real programs (the controller under test) started with a test's
cluster, against its API served on loopback, as ``kubechaos run --exec`` starts them."""

from __future__ import annotations

from collections.abc import Iterable

import trio

from kubechaos.frontdoor.server import APIServeError
from kubechaos.processes.serve import program_problem, serve_processes
from kubechaos.scenario.procspec import ProcessSpec, name_problem
from kubechaos.scenario.runner import Run
from kubechaos.sim.clock import VirtualClock
from kubechaos.testing import HarnessError


def start_processes(the_run: Run, processes: Iterable[ProcessSpec]) -> None:
    """Attach ``processes`` (and the scenario's own) to ``the_run`` before it starts. Real
    processes answer in wall time, so the test's virtual clock is paced from now on (1x unless
    it already was)."""
    __tracebackhide__ = True
    specs = (*the_run.scenario.processes, *processes)
    if not specs:
        return
    names = [spec.name for spec in specs]
    for spec in specs:
        problem = name_problem(spec.name)
        if problem is not None:
            raise HarnessError(f"process name: {problem}")
        if names.count(spec.name) > 1:
            raise HarnessError(f"process {spec.name!r} is given twice")
        if not spec.command:
            raise HarnessError(f"process {spec.name!r}: command is empty")
        problem = program_problem(spec)
        if problem is not None:
            raise HarnessError(f"process {spec.name!r}: {problem}")
    clock = trio.lowlevel.current_clock()
    speed = 1.0
    if isinstance(clock, VirtualClock):
        if clock.speed is None:
            clock.pace(1.0)
        speed = clock.speed or 1.0
    try:
        serve_processes(the_run, specs, speed)
    except APIServeError as exc:
        raise HarnessError(f"cannot serve the API for the processes: {exc}") from None


__all__ = ["ProcessSpec", "start_processes"]
