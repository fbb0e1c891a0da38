"""get, list and watch of Events, served from the run's event log (see :mod:`.events`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from kubechaos.api.watch import ObjectEvent
from kubechaos.frontdoor.events import EVENT_FIELDS, EventView, event_json
from kubechaos.frontdoor.fields import FieldFilter
from kubechaos.frontdoor.paths import BadQuery, ListQuery
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.tables import human_duration
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.frontdoor.watchstream import WATCH_BUFFER, WatchStreamer
from kubechaos.sim.clock import now
from kubechaos.sim.events import Event, EventLog

Receive = Callable[[], Awaitable[dict[str, Any]]]

_EVENT_COLUMNS = [
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "integer", 1),
    ("Name", "string", 1),
]


UidOf = Callable[[Event], str]


class LogWatch:
    """A watch on the event log, shaped as the model's watch streams are."""

    def __init__(self, source: EventSource, namespace: str | None) -> None:
        self._source = source
        log = self._log = source.log
        self._namespace = namespace
        self._send, self._receive = trio.open_memory_channel[ObjectEvent](WATCH_BUFFER)
        self.closed = False
        log.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        view = self._source.view(len(self._log) - 1)
        if self._namespace is not None and view.namespace != self._namespace:
            return
        try:
            self._send.send_nowait(ObjectEvent("ADDED", view, view.index + 1))
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.stop()

    async def next_batch(self) -> list[ObjectEvent]:
        first = await self._receive.receive()
        batch = [first]
        while True:
            try:
                batch.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return batch

    def stop(self) -> None:
        if not self.closed:
            self.closed = True
            self._log.unsubscribe(self._on_event)
            self._send.close()

    def __enter__(self) -> LogWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EventSource:
    """The event log as Events. The uid of each event's object is noted as the event is
    recorded (``kubectl describe`` selects an object's events by uid, and a StatefulSet pod's
    name outlives its incarnations); events from before the front door started get the uid
    of the object of that name when first served."""

    def __init__(self, log: EventLog, anchor: Anchor, uid_of: UidOf, speed: float = 1.0) -> None:
        self.speed = speed
        self.log = log
        self.anchor = anchor
        self._uid_of = uid_of
        self._uids: dict[int, str] = {}
        log.subscribe(self._note_uid)

    def _note_uid(self, event: Event) -> None:
        self._uids[len(self.log) - 1] = self._uid_of(event)

    def view(self, index: int) -> EventView:
        uid = self._uids.get(index)
        if uid is None:
            uid = self._uids[index] = self._uid_of(self.log[index])
        return EventView(index, self.log[index], uid)

    def encode(self, view: EventView) -> dict[str, Any]:
        return event_json(view, self.anchor)

    def field_filter(self, query: ListQuery) -> FieldFilter:
        return FieldFilter("events", query.field_terms, EVENT_FIELDS)

    def get(self, namespace: str | None, name: str) -> EventView | None:
        _, _, number = name.rpartition(".")
        try:
            index = int(number, 16)
        except ValueError:
            return None
        if not 0 <= index < len(self.log):
            return None
        view = self.view(index)
        if view.name != name or (namespace is not None and view.namespace != namespace):
            return None
        return view

    def views(self, namespace: str | None, fields: FieldFilter) -> list[EventView]:
        views = [self.view(i) for i in range(len(self.log))]
        return [
            v
            for v in views
            if (namespace is None or v.namespace == namespace) and (not fields or fields.matches(v))
        ]

    def page(self, views: list[EventView], query: ListQuery) -> tuple[list[EventView], str]:
        if query.continue_token:
            try:
                start = int(query.continue_token, 16)
            except ValueError:
                raise BadQuery("continue key is not valid") from None
            views = [v for v in views if v.index > start]
        if query.limit and len(views) > query.limit:
            views = views[: query.limit]
            return views, f"{views[-1].index:x}"
        return views, ""

    def list_body(
        self, views: list[EventView], query: ListQuery, accept: str, token: str
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(len(self.log))}
        if token:
            metadata["continue"] = token
        if "as=Table" in accept:
            return self._table(views, metadata, first=True)
        return {
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": metadata,
            "items": [self.encode(v) for v in views],
        }

    def _table(
        self, views: list[EventView], metadata: dict[str, Any], first: bool
    ) -> dict[str, Any]:
        t = now()
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "columnDefinitions": [
                {"name": n, "type": ty, "format": "", "description": "", "priority": p}
                for n, ty, p in _EVENT_COLUMNS
            ]
            if first
            else [],
            "rows": [{"cells": self._cells(v, t), "object": self._partial(v)} for v in views],
        }

    def _cells(self, view: EventView, t: float) -> list[Any]:
        event = view.event
        age = human_duration(t - event.time)
        return [
            age,
            view.type,
            event.reason,
            f"{event.kind.lower()}/{view.object_name}",
            "",
            event.component,
            event.message,
            age,
            1,
            view.name,
        ]

    def _partial(self, view: EventView) -> dict[str, Any]:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": event_json(view, self.anchor)["metadata"],
        }

    async def watch(
        self,
        namespace: str | None,
        fields: FieldFilter,
        query: ListQuery,
        accept: str,
        receive: Receive,
        response: Response,
    ) -> None:
        initial: list[ObjectEvent] = []
        start = len(self.log)
        if query.resource_version in ("", "0"):
            initial = [ObjectEvent("ADDED", v, v.index + 1) for v in self.views(namespace, fields)]
        else:
            try:
                start = int(query.resource_version)
            except ValueError:
                raise BadQuery(
                    f"resourceVersion: invalid value {query.resource_version!r}"
                ) from None
            # events recorded after the version asked for, then the live ones
            initial = [
                ObjectEvent("ADDED", v, v.index + 1)
                for v in self.views(namespace, fields)
                if v.index >= start
            ]
        as_table = "as=Table" in accept

        def encode(kind: str, view: Any, first: bool) -> bytes:
            if as_table:
                body = self._table([view], {"resourceVersion": str(view.index + 1)}, first)
            else:
                body = self.encode(view)
            return dumps({"type": kind, "object": body}) + b"\n"

        streamer = WatchStreamer(
            response,
            receive,
            encode=encode,
            matches=fields.matches if fields else None,
            bookmark=lambda rv: {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(rv)},
            },
            query=query,
            speed=self.speed,
        )
        with LogWatch(self, namespace) as stream:
            await streamer.run(stream, initial, len(self.log))


__all__ = ["EventSource", "LogWatch"]
