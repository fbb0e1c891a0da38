"""A run's API served for its external processes (on a free loopback port unless the run
already serves it), and their supervisor attached: what ``kubechaos run --exec`` and the
pytest harness's ``processes`` share."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from kubechaos.frontdoor.server import APIEndpoint, APIService
from kubechaos.processes.supervisor import Supervisor
from kubechaos.scenario.procspec import ProcessSpec
from kubechaos.scenario.runner import Run


def program_problem(spec: ProcessSpec) -> str | None:
    """Why ``spec``'s program cannot be started (not found, not executable), or None: said
    before the run rather than failing it once it has begun."""
    program = spec.command[0] if spec.command else ""
    if program in ("python", "python3"):
        return None  # the interpreter running kubechaos
    if "/" in program:
        path = Path(spec.cwd or ".") / program
        if path.is_file() and os.access(path, os.X_OK):
            return None
        return f"program {program!r} is not an executable file"
    if shutil.which(program) is None:
        return f"program {program!r} is not on PATH"
    return None


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


__all__ = ["program_problem", "serve_processes"]
