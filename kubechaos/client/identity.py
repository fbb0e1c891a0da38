"""Who is asking: the client name every request carries, as credentials and User-Agent do upstream.

Each process sets its name once (``kube-scheduler``, ``kube-controller-manager``,
``kubelet/<node>``, ``kube-proxy``) and Trio's context inheritance carries it to the tasks it
spawns, so request faults can pick their victims without every call site passing a name.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("kubechaos_client", default="")
# whether this task's requests go through the model's client-go (see kubechaos.client.retry)
_RETRIES: contextvars.ContextVar[bool] = contextvars.ContextVar("kubechaos_retries", default=False)


def set_client(name: str) -> None:
    """Name the client of every request made by this task and the tasks it starts from now on:
    one of the model's components, whose client-go retries what the API server asks it to."""
    _CLIENT.set(name)
    _RETRIES.set(True)


def retries_requests() -> bool:
    """Whether this task's requests are a model component's (client-go retries them)."""
    return _RETRIES.get()


def current_client() -> str:
    """The name requests made by this task carry ("" if none was set)."""
    return _CLIENT.get()


@contextlib.contextmanager
def as_client(name: str) -> Iterator[None]:
    """Make this task's requests as ``name`` for the duration of the block (an outside client's,
    such as the front door's: no retrying on its behalf)."""
    token = _CLIENT.set(name)
    retries = _RETRIES.set(False)
    try:
        yield
    finally:
        _RETRIES.reset(retries)
        _CLIENT.reset(token)
