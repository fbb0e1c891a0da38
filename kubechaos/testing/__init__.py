"""Resilience tests in Python: kubechaos as a pytest plugin, and the harness a test drives.

:mod:`kubechaos.testing.plugin` is what pytest loads (entry point ``pytest11``): options, hooks,
the ``kubechaos`` fixture and the runner that puts a test on virtual time.
:mod:`kubechaos.testing.harness` is the fixture's object, which boots a cluster, breaks it and
measures it with the same machinery as ``kubechaos run``; :mod:`kubechaos.testing.manifests`
turns what ``apply`` is given into API objects. The package sits on the top floor with the CLI:
it drives a whole run, and nothing in the model imports it.

:class:`HarnessError` lives here, not in a submodule, because both the harness and its manifest
reader raise it.
"""


class HarnessError(RuntimeError):
    """The ``kubechaos`` fixture was used in a way that cannot work; the message says how to."""


__all__ = ["HarnessError"]
