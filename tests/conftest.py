"""Every async test runs on virtual time with Trio's scheduler seeded.

pytest-trio runs a test on the wall clock unless the test asks for a clock fixture; the model must
never see the wall clock. kubechaos' own pytest plugin (:mod:`kubechaos.testing.plugin`) runs tests
under the model's :class:`~kubechaos.sim.clock.VirtualClock` (time jumps to the next deadline
whenever all tasks are blocked) with a seeded scheduler, exactly as ``kubechaos run`` does; the ini
setting ``kubechaos_all_async_tests = true`` in pyproject.toml extends that from the tests that use
its ``kubechaos`` fixture to every async test here. The seed is 0 unless a test's
``@pytest.mark.kubechaos(seed=N)`` (or ``--kubechaos-seed``) says otherwise.

Tests marked ``early`` (mypy, import-linter, the kopf operator's paced run: tests/early.py) have
their subprocess started as soon as collection is over and run last, so that it runs on the
second core beside the rest of the suite.
"""

from __future__ import annotations

import pytest

from tests import early


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "early(name): the test's slow subprocess starts when collection is over (tests/early.py)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests whose process starts early run last, so that it has the suite's length to run in
    on the other core."""
    items.sort(key=lambda item: item.get_closest_marker("early") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    markers = [item.get_closest_marker("early") for item in session.items]
    early.queue([marker.args[0] for marker in markers if marker is not None])


def pytest_sessionfinish() -> None:
    early.stop_all()
