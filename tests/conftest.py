"""Every async test runs on virtual time with Trio's scheduler seeded.

pytest-trio runs a test on the wall clock unless the test asks for a clock fixture; the model must
never see the wall clock, so every test here gets an autojumping :class:`trio.testing.MockClock`
(virtual time that jumps to the next deadline when all tasks are blocked) and a seeded scheduler.
A test may still ask for ``autojump_clock`` to reach the clock itself.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_trio.plugin
import trio
import trio.testing

from kubechaos.sim.clock import seed_trio_scheduler


def _run_on_virtual_time(fn: Any, *args: Any, clock: Any = None, **kwargs: Any) -> Any:
    seed_trio_scheduler(0)
    if clock is None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, *args, clock=clock, **kwargs)


pytest_trio.plugin.choose_run = lambda config: _run_on_virtual_time


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)
