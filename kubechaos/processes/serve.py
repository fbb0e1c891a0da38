"""A run's API served for its external processes (on a free loopback port unless the run
already serves it), and their supervisor attached: what ``kubechaos run --exec`` and the
pytest harness's ``processes`` share."""

from __future__ import annotations

from collections.abc import Sequence

from kubechaos.frontdoor.server import APIEndpoint, APIService
from kubechaos.processes.supervisor import Supervisor
from kubechaos.scenario.procspec import ProcessSpec
from kubechaos.scenario.runner import Run


def serve_processes(
    the_run: Run, specs: Sequence[ProcessSpec], speed: float, service: APIService | None = None
) -> APIService:
    """Start ``specs`` with ``the_run``, against ``service`` or a new loopback one (bound now:
    raises :class:`~kubechaos.frontdoor.server.APIServeError` if it cannot be)."""
    if service is None:
        service = APIService(APIEndpoint("127.0.0.1", 0), speed, None, the_run.scenario.name)
        service.bind()
        served = service
        the_run.services.append(lambda: served.run(the_run.cluster.api, the_run.events))
        the_run.served_api = service.endpoint.url
    Supervisor(the_run, service, specs)
    return service


__all__ = ["serve_processes"]
