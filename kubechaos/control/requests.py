"""What the API server's request hooks (the request faults) see of a request, and how they act."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from kubechaos.api import errors


@attrs.frozen
class Request:
    """What a request hook sees of a request."""

    verb: str
    resource: str
    client: str


RequestHook = Callable[[Request], float]
"""Called for every request while attached: returns latency to add (seconds), or raises an
:class:`~kubechaos.api.errors.APIError`, which the client receives after the latency."""


def run_hooks(
    hooks: Sequence[RequestHook], request: Request, latency: float
) -> tuple[float, errors.APIError | None]:
    """``latency`` plus what every hook adds to ``request``, and the first refusal among them if
    any."""
    refused: errors.APIError | None = None
    for hook in list(hooks):
        try:
            latency += hook(request)
        except errors.APIError as exc:
            refused = refused or exc
    return latency, refused
