"""Virtual time.

The model runs under Trio's :class:`trio.testing.MockClock` with ``autojump_threshold=0``: when
every task is blocked, the clock jumps straight to the next deadline, so an hour of cluster time
passes in however long the work in it takes. Nothing in the model reads the wall clock; it calls
:func:`now`, which is ``trio.current_time()`` under that clock (seconds since the run began).

Determinism: Trio shuffles each batch of runnable tasks with a module-level ``random.Random``.
Its Hypothesis integration makes that shuffle reproducible by sorting the batch by task creation
order and seeding the generator; :func:`run_virtual` does the same with the scenario seed, so the
interleaving of tasks woken at the same instant is a function of the seed alone.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing
from trio._core import _run as _trio_run

T = TypeVar("T")


def now() -> float:
    """Virtual seconds since the start of the run."""
    return trio.current_time()


def seed_trio_scheduler(seed: int) -> None:
    """Make Trio's tie-breaking among simultaneously runnable tasks a function of ``seed``."""
    _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    _trio_run._r.seed(_scheduler_seed(seed))


def _scheduler_seed(seed: int) -> int:
    return random.Random(f"trio-scheduler:{seed}").getrandbits(64)


def run_virtual(fn: Callable[..., Awaitable[T]], *args: Any, seed: int = 0) -> T:
    """Run ``fn(*args)`` on virtual time with Trio's scheduler seeded from ``seed``."""
    seed_trio_scheduler(seed)
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, *args, clock=clock, strict_exception_groups=True)
