"""Every async test runs on virtual time with Trio's scheduler seeded.

pytest-trio runs a test on the wall clock unless the test asks for a clock fixture; the model must
never see the wall clock. kubechaos' own pytest plugin (:mod:`kubechaos.testing.plugin`) runs tests
under the model's :class:`~kubechaos.sim.clock.VirtualClock` (time jumps to the next deadline
whenever all tasks are blocked) with a seeded scheduler, exactly as ``kubechaos run`` does; the ini
setting ``kubechaos_all_async_tests = true`` in pyproject.toml extends that from the tests that use
its ``kubechaos`` fixture to every async test here. The seed is 0 unless a test's
``@pytest.mark.kubechaos(seed=N)`` (or ``--kubechaos-seed``) says otherwise.
"""
