"""Every async test runs on virtual time with Trio's scheduler seeded.

pytest-trio runs a test on the wall clock unless the test asks for a clock fixture; the model must
never see the wall clock, so every test here runs under the model's own
:class:`~kubechaos.sim.clock.VirtualClock` (time jumps to the next deadline whenever all tasks are
blocked) with a seeded scheduler, exactly as ``kubechaos run`` does.
"""

from __future__ import annotations

from typing import Any

import pytest_trio.plugin
import trio

from kubechaos.sim.clock import VirtualClock, seed_trio_scheduler


def _run_on_virtual_time(fn: Any, *args: Any, clock: Any = None, **kwargs: Any) -> Any:
    seed_trio_scheduler(0)
    return trio.run(fn, *args, clock=clock or VirtualClock(), **kwargs)


pytest_trio.plugin.choose_run = lambda config: _run_on_virtual_time
