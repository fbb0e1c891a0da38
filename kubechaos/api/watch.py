"""What a watch delivers, as apimachinery's ``pkg/watch`` defines it for servers and clients alike.

The API server's watch cache produces these events and informers consume them; neither needs
the other's code to agree on what an event is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@attrs.frozen(slots=True)
class ObjectEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: Any  # the resource's class; Any so typed informers need no casts
    resource_version: int


class WatchStream(Protocol):
    """A client's end of a watch (upstream's ``watch.Interface``): batches of events until
    stopped; a stream the server closed raises ``trio.EndOfChannel``."""

    closed: bool

    async def next_batch(self) -> list[ObjectEvent]: ...

    def stop(self) -> None: ...

    def __enter__(self) -> WatchStream: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class SinkStream(WatchStream, Protocol):
    """A watch that can feed its client synchronously (the model's in-process watches): after
    :meth:`attach`, each event is handed to ``sink`` the moment the watch cache delivers it, and
    the client's task sleeps in :meth:`wait_closed` until the stream ends (raising what the sink
    raised, if it did)."""

    def attach(self, sink: Callable[[ObjectEvent], None]) -> None: ...

    async def wait_closed(self) -> None: ...
