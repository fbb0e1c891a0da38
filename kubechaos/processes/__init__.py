"""External processes of a run (``kubechaos run --exec``, ``spec.processes``): the controller
under test, run for real against the run's API. See :mod:`.supervisor`."""
