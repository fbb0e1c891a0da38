"""Shared fixtures: every test runs on Trio's virtual clock with a seeded scheduler."""

from __future__ import annotations

import pytest
import trio.testing

from kubechaos.sim.clock import seed_trio_scheduler


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    seed_trio_scheduler(0)
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture
def mock_clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock
