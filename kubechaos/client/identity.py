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


def set_client(name: str) -> None:
    """Name the client of every request made by this task and the tasks it starts from now on."""
    _CLIENT.set(name)


def current_client() -> str:
    """The name requests made by this task carry ("" if none was set)."""
    return _CLIENT.get()


@contextlib.contextmanager
def as_client(name: str) -> Iterator[None]:
    """Make this task's requests as ``name`` for the duration of the block."""
    token = _CLIENT.set(name)
    try:
        yield
    finally:
        _CLIENT.reset(token)
