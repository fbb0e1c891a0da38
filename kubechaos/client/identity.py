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
# the subresource this task is writing through ("scale"), for who-wrote-what bookkeeping
_SUBRESOURCE: contextvars.ContextVar[str] = contextvars.ContextVar(
    "kubechaos_subresource", default=""
)


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


def current_subresource() -> str:
    """The subresource this task's write goes through ("" for the object itself)."""
    return _SUBRESOURCE.get()


@contextlib.contextmanager
def writing_subresource(name: str) -> Iterator[None]:
    """Mark the writes made in the block as writes of subresource ``name`` (the HPA's writes
    of ``<resource>/scale``): the request is the same, who owns the written field differs."""
    token = _SUBRESOURCE.set(name)
    try:
        yield
    finally:
        _SUBRESOURCE.reset(token)


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
