"""get, list and watch of the model's objects, as the API server's REST handlers serve them.

Lists and watches go through the model's API server (its watch cache, its latency, its faults);
this module adds what only an HTTP client needs: field selectors beyond ``spec.nodeName``,
``limit``/``continue`` paging, ``resourceVersion`` semantics, Tables, and streaming a watch
without ever letting a slow client hold the model back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kubechaos.api import errors
from kubechaos.api.watch import ObjectEvent
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor.encoding import Encoder, api_version_of
from kubechaos.frontdoor.eventlist import EventSource
from kubechaos.frontdoor.fields import FieldFilter
from kubechaos.frontdoor.paths import BadQuery, ListQuery, ResourcePath
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.tables import table
from kubechaos.frontdoor.watchstream import WatchStreamer
from kubechaos.sim.clock import now

Receive = Callable[[], Awaitable[dict[str, Any]]]


class TooLargeResourceVersion(errors.APIError):
    """A list at a version the cache has not reached (the cacher waits, then gives up)."""

    code = 504
    reason = "Timeout"


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def include_object(query: ListQuery) -> bool:
    return query.include_object == "Object"


def encode_continue(resource_version: int, last_key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": last_key})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> str:
    """The key a continued list starts after; 400 for a token this server did not issue."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        start = data["start"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadQuery("continue key is not valid") from None
    if not isinstance(start, str):
        raise BadQuery("continue key is not valid")
    return start


def object_key(obj: Any) -> str:
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}"


def page(items: list[Any], query: ListQuery, revision: int) -> tuple[list[Any], str]:
    """``limit``/``continue``: the items of this page (sorted by key) and the next token.

    Upstream serves every page of a list from the snapshot of its first page; the model keeps
    no snapshots, so a later page is read from the current state after the last key served
    (objects created meanwhile may appear, deleted ones do not): documented in the README.
    """
    if query.continue_token:
        start = decode_continue(query.continue_token)
        items = [o for o in items if object_key(o) > start]
    if query.limit and len(items) > query.limit:
        items = items[: query.limit]
        return items, encode_continue(revision, object_key(items[-1]))
    return items, ""


async def watch_start(
    query: ListQuery, list_now: Callable[[], Awaitable[tuple[list[Any], int]]]
) -> tuple[list[ObjectEvent], int]:
    """Where a watch starts: with ``resourceVersion`` unset or "0" ("start at most recent" /
    "any"), the current state first, as ADDED events; else after the given revision."""
    if query.resource_version in ("", "0"):
        items, revision = await list_now()
        return [ObjectEvent("ADDED", o, revision) for o in items], revision
    try:
        return [], int(query.resource_version)
    except ValueError:
        raise BadQuery(f"resourceVersion: invalid value {query.resource_version!r}") from None


class ResourceReads:
    def __init__(
        self, api: APIServer, encoder: Encoder, events: EventSource, speed: float = 1.0
    ) -> None:
        self.speed = speed  # virtual seconds per wall second: clients' timeouts are wall time
        self.watching = 0  # watches being streamed now
        self.api = api
        self.encoder = encoder
        self.event_source = events

    def _row_object(self, query: ListQuery) -> Callable[[Any], dict[str, Any]]:
        if include_object(query):
            return self.encoder.object
        return self._partial

    def _partial(self, obj: Any) -> dict[str, Any]:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": self.encoder.value(obj.metadata),
        }

    # ------------------------------------------------------------------ entry point
    async def serve(
        self,
        target: ResourcePath,
        query: ListQuery,
        accept: str,
        receive: Receive,
        response: Response,
    ) -> None:
        resource = target.resource.name
        if target.name:
            obj = await self.api.get(
                resource, target.namespace or "", target.name, query.resource_version
            )
            if wants_table(accept):
                await response.json(
                    200,
                    table(
                        resource,
                        [obj],
                        now(),
                        self._row_object(query),
                        obj.metadata.resource_version,
                    ),
                )
            else:
                await response.json(200, self.encoder.object(obj))
            return
        fields = FieldFilter(resource, query.field_terms)
        if query.watch:
            await self._watch(target, query, fields, accept, receive, response)
            return
        items, revision = await self._list(target, query, fields)
        items, token = page(items, query, revision)
        await response.json(200, self._list_body(target, query, accept, items, revision, token))

    async def _list(
        self, target: ResourcePath, query: ListQuery, fields: FieldFilter
    ) -> tuple[list[Any], int]:
        self._check_resource_version(target, query)
        items, revision = await self.api.list(
            target.resource.name, target.namespace, query.label_selector, fields.model_selector
        )
        if fields:
            items = [o for o in items if fields.matches(o)]
        items.sort(key=object_key)
        return items, revision

    def _check_resource_version(self, target: ResourcePath, query: ListQuery) -> None:
        """``resourceVersion``: "" (most recent) and "0" (any) are served from the cache; an
        exact version only while it is the current one (the model keeps no history of
        lists), a future one is refused as upstream refuses it."""
        text = query.resource_version
        if text in ("", "0"):
            return
        try:
            wanted = int(text)
        except ValueError:
            raise BadQuery(f"resourceVersion: invalid value {text!r}") from None
        current = self.api.cache(target.resource.name).revision
        if wanted > current:
            raise TooLargeResourceVersion(
                f"Too large resource version: {wanted}, current: {current}"
            )
        if query.resource_version_match == "Exact" and wanted != current:
            raise errors.Gone(f"too old resource version: {wanted} ({current})")

    def _list_body(
        self,
        target: ResourcePath,
        query: ListQuery,
        accept: str,
        items: Sequence[Any],
        revision: int,
        token: str,
    ) -> dict[str, Any]:
        if wants_table(accept):
            return table(
                target.resource.name, items, now(), self._row_object(query), str(revision), token
            )
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if token:
            metadata["continue"] = token
        kind = target.resource.kind
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version_of(kind),
            "metadata": metadata,
            "items": [self.encoder.object(o) for o in items],
        }

    # ------------------------------------------------------------------ watch
    async def _watch(
        self,
        target: ResourcePath,
        query: ListQuery,
        fields: FieldFilter,
        accept: str,
        receive: Receive,
        response: Response,
    ) -> None:
        resource = target.resource.name
        initial, revision = await watch_start(query, lambda: self._list(target, query, fields))
        streamer = WatchStreamer(
            response,
            receive,
            encode=self._event_encoder(target, query, accept),
            matches=fields.matches if fields else None,
            bookmark=lambda rv: {
                "kind": target.resource.kind,
                "apiVersion": api_version_of(target.resource.kind),
                "metadata": {"resourceVersion": str(rv)},
            },
            query=query,
            speed=self.speed,
        )
        try:
            stream = await self.api.watch(
                resource, target.namespace, query.label_selector, fields.model_selector, revision
            )
        except errors.Gone as exc:
            await streamer.expired(exc)
            return
        self.watching += 1
        try:
            with stream:
                await streamer.run(stream, initial, revision)
        finally:
            self.watching -= 1

    def _event_encoder(
        self, target: ResourcePath, query: ListQuery, accept: str
    ) -> Callable[[str, Any, bool], bytes]:
        if not wants_table(accept):
            return lambda kind, obj, first: self.encoder.event_line(kind, obj)
        row_object = self._row_object(query)

        def as_table(kind: str, obj: Any, first: bool) -> bytes:
            out = table(
                target.resource.name, [obj], now(), row_object, obj.metadata.resource_version
            )
            if not first:
                out["columnDefinitions"] = []  # sent with the first event only, as upstream
            return dumps({"type": kind, "object": out}) + b"\n"

        return as_table

    # ------------------------------------------------------------------ events
    async def events(
        self,
        target: ResourcePath,
        query: ListQuery,
        accept: str,
        receive: Receive,
        response: Response,
    ) -> None:
        source = self.event_source
        if target.name:
            view = source.get(target.namespace, target.name)
            if view is None:
                raise errors.NotFound(f'events "{target.name}" not found')
            await response.json(200, source.encode(view))
            return
        fields = source.field_filter(query)
        views = source.views(target.namespace, fields)
        if query.watch:
            await source.watch(target.namespace, fields, query, accept, receive, response)
            return
        views, token = source.page(views, query)
        await response.json(200, source.list_body(views, query, accept, token))


__all__ = [
    "ResourceReads",
    "decode_continue",
    "encode_continue",
    "page",
    "wants_table",
    "watch_start",
]
