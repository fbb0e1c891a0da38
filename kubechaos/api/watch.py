"""What a watch delivers, as apimachinery's ``pkg/watch`` defines it for servers and clients alike.

The API server's watch cache produces these events and informers consume them; neither needs
the other's code to agree on what an event is.
"""

from __future__ import annotations

from typing import Any, Protocol

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
