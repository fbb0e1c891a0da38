"""Streaming one watch to an HTTP client without letting it hold the model back.

A watch is a chunked response of JSON lines ``{"type": ..., "object": ...}`` (``encode`` gives
each line, so a line every watcher is sent is serialized once). Two tasks meet at
a bounded buffer: one takes the model's events as they come (never waiting on the client), the
other writes them to the socket at whatever pace the client reads. A client that falls
:data:`WATCH_BUFFER` events behind is dropped, as the API server's watch cache closes an
unresponsive watcher (``cacheWatcher``: "Forcing watcher close due to unresponsiveness"); the
client relists and watches again, as every informer does. The watch ends at ``timeoutSeconds``
(default: upstream's ``--min-request-timeout`` of 1800 s), or when the client goes. These are a
client's wall-clock seconds: on a run paced at ``speed`` they last ``speed`` times as long in
virtual time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from kubechaos.api import errors
from kubechaos.api.watch import ObjectEvent, WatchStream
from kubechaos.frontdoor import documents
from kubechaos.frontdoor.paths import ListQuery
from kubechaos.frontdoor.response import Response, dumps

WATCH_BUFFER = 1000
_MAX_BATCH = 256  # events written to the socket as one chunk
BOOKMARK_INTERVAL = 60.0  # the watch cache sends bookmarks about once a minute
DEFAULT_WATCH_TIMEOUT = 1800.0  # kube-apiserver --min-request-timeout

Receive = Callable[[], Awaitable[dict[str, Any]]]


class WatchStreamer:
    def __init__(
        self,
        response: Response,
        receive: Receive,
        encode: Callable[[str, Any, bool], bytes],
        matches: Callable[[Any], bool] | None,
        bookmark: Callable[[int], dict[str, Any]],
        query: ListQuery,
        speed: float = 1.0,
    ) -> None:
        self.speed = speed
        self.response = response
        self.receive = receive
        self.encode = encode
        self.matches = matches
        self.bookmark = bookmark
        self.query = query
        self.dropped = False  # the client fell too far behind
        self.sent = 0
        self._revision = 0

    async def expired(self, exc: errors.Gone) -> None:
        """A watch from a compacted version: 200, then one ERROR event with the 410 Status."""
        await self.response.start(200)
        status = documents.status(410, "Expired", exc.message)
        await self.response.chunk(dumps({"type": "ERROR", "object": status}) + b"\n")
        await self.response.end()

    async def run(self, stream: WatchStream, initial: Sequence[ObjectEvent], revision: int) -> None:
        self._revision = revision
        await self.response.start(200)
        send, receive = trio.open_memory_channel[ObjectEvent](WATCH_BUFFER)
        timeout = self.query.timeout_seconds
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pull, stream, send)
            nursery.start_soon(self._until_disconnect, nursery.cancel_scope)
            wall = DEFAULT_WATCH_TIMEOUT if timeout is None else timeout
            with trio.move_on_after(wall * self.speed):
                await self._write(initial, receive)
            nursery.cancel_scope.cancel()
        try:
            await self.response.end()
        except Exception:  # the client is gone: nothing left to tell it
            return

    async def _pull(self, stream: WatchStream, send: trio.MemorySendChannel[ObjectEvent]) -> None:
        async with send:
            while True:
                try:
                    batch = await stream.next_batch()
                except trio.EndOfChannel:
                    return
                for event in batch:
                    try:
                        send.send_nowait(event)
                    except trio.WouldBlock:
                        self.dropped = True
                        stream.stop()
                        return

    async def _until_disconnect(self, scope: trio.CancelScope) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return

    async def _write(
        self, initial: Sequence[ObjectEvent], receive: trio.MemoryReceiveChannel[ObjectEvent]
    ) -> None:
        """Events as they come, each batch that is waiting written as one chunk."""
        await self._send(initial)
        while True:
            with trio.move_on_after(BOOKMARK_INTERVAL * self.speed) as waited:
                try:
                    batch = [await receive.receive()]
                except trio.EndOfChannel:
                    return
            if waited.cancelled_caught:
                if self.query.allow_bookmarks:
                    line = {"type": "BOOKMARK", "object": self.bookmark(self._revision)}
                    await self.response.chunk(dumps(line) + b"\n")
                continue
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            await self._send(batch)

    async def _send(self, events: Sequence[ObjectEvent]) -> None:
        lines = []
        for event in events:
            self._revision = max(self._revision, event.resource_version)
            if self.matches is not None and not self.matches(event.object):
                continue
            lines.append(self.encode(event.type, event.object, self.sent == 0))
            self.sent += 1
        if lines:
            await self.response.chunk(b"".join(lines))


__all__ = ["BOOKMARK_INTERVAL", "DEFAULT_WATCH_TIMEOUT", "WATCH_BUFFER", "WatchStreamer"]
