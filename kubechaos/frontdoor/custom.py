"""CustomResourceDefinitions and custom objects over HTTP, every verb.

``/apis/apiextensions.k8s.io/v1/customresourcedefinitions[/<name>[/status]]`` and, once a
definition is established, ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>
[/status|/scale]]``: get, list (label selectors; field selectors ``metadata.name`` and
``metadata.namespace``, the only ones upstream serves for custom kinds), watch (from a version,
with bookmarks, as the typed kinds), create, update, patch and delete, as
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,update,patch,delete}.go serve them.

Patches: ``application/merge-patch+json`` and ``application/json-patch+json``. A strategic merge
patch of a custom object is refused with 415 UnsupportedMediaType, as upstream refuses it (custom
kinds have no Go struct to carry patch strategies); a definition (a built-in kind upstream)
takes one as a merge patch, which is what it amounts to for its fields. Server-side apply
(``application/apply-patch+yaml``) is not modelled: 415 too. Unknown fields are pruned with a
``Warning`` header, or refused with ``?fieldValidation=Strict`` (what ``kubectl apply`` and
``kubectl create`` send).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubechaos.api import errors
from kubechaos.api.crd import GROUP
from kubechaos.api.objects.custom import Unstructured
from kubechaos.client.identity import current_client
from kubechaos.control.registry import customrules as rules
from kubechaos.frontdoor import customdocs
from kubechaos.frontdoor.customwrite import CustomWrites, Target, dry_run_of, json_body
from kubechaos.frontdoor.paths import BadQuery, ListQuery, parse_query
from kubechaos.frontdoor.reads import (
    TooLargeResourceVersion,
    object_key,
    page,
    wants_table,
    watch_start,
)
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.watchstream import WatchStreamer
from kubechaos.sim.clock import now

Receive = Callable[[], Awaitable[dict[str, Any]]]
JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
_NOT_FOUND = "the server could not find the requested resource"
_FIELDS = ("metadata.name", "metadata.namespace")
_CAUSE_REASONS = {
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Duplicate value": "FieldValueDuplicate",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
}


class CustomDoor(CustomWrites):
    """The apiextensions part of the front door: routing, discovery, reads (writes:
    :class:`~kubechaos.frontdoor.customwrite.CustomWrites`)."""

    def claims(self, path: str) -> bool:
        """Whether ``path`` is the apiextensions group's or a custom group's."""
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "apis":
            return False
        return parts[1] == GROUP or any(
            i.group == parts[1] for i in self.store.definitions.values()
        )

    # ------------------------------------------------------------------ entry point
    async def handle(
        self,
        method: str,
        path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes,
        receive: Receive,
        response: Response,
    ) -> None:
        try:
            query, params = parse_query(query_string)
            parts = [p for p in path.split("/") if p]
            if len(parts) <= 3:
                await self._discovery(method, parts, response)
                return
            target = self._target(parts)
            await self._serve(method, target, query, params, headers, body, receive, response)
        except BadQuery as exc:
            await response.status(400, "BadRequest", str(exc))
        except errors.APIError as exc:
            await self._error(exc, parts, response)

    async def _error(self, exc: errors.APIError, parts: list[str], response: Response) -> None:
        details: JSON = {}
        if len(parts) >= 4:
            details["group"] = parts[1]
        if isinstance(exc, rules.CustomInvalid):
            details = {
                "name": exc.name,
                "group": exc.qualified_kind.partition(".")[2],
                "kind": exc.qualified_kind.partition(".")[0],
                "causes": [_cause(c) for c in exc.causes],
            }
        await response.status(exc.code, exc.reason, exc.message, details or None)

    async def _discovery(self, method: str, parts: list[str], response: Response) -> None:
        if method not in ("GET", "HEAD"):
            await response.status(405, "MethodNotAllowed", "the server does not allow this method")
            return
        infos = self.store.served()
        group = parts[1]
        if len(parts) == 2:
            await response.json(200, customdocs.api_group(group, infos))
            return
        listing = customdocs.resource_list(f"{group}/{parts[2]}", infos)
        if not listing["resources"]:
            await response.status(404, "NotFound", _NOT_FOUND)
            return
        await response.json(200, listing)

    def _target(self, parts: list[str]) -> Target:
        group, version, rest = parts[1], parts[2], parts[3:]
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        served = self.store.resolve(group, version, rest[0])
        if served is None or len(rest) > 3:
            raise errors.NotFound(_NOT_FOUND)
        if namespace is not None and not served.info.namespaced:
            raise errors.NotFound(_NOT_FOUND)
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and not (
            (sub == "status" and served.has_status) or (sub == "scale" and served.version.scale)
        ):
            raise errors.NotFound(_NOT_FOUND)
        if served.info.namespaced and name and namespace is None:
            raise errors.NotFound(_NOT_FOUND)
        return Target(served, namespace, name, sub)

    async def _serve(
        self,
        method: str,
        target: Target,
        query: ListQuery,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        receive: Receive,
        response: Response,
    ) -> None:
        accept = headers.get("accept", "")
        validation = params.get("fieldValidation", "")
        dry_run = dry_run_of(params)
        if method in ("GET", "HEAD") and target.name:
            await self._get(target, query, accept, response)
        elif method in ("GET", "HEAD"):
            await self._collection(target, query, accept, receive, response)
        elif method == "POST" and not target.name:
            obj, warnings = await self.store.create(
                target.served, json_body(body), target.namespace or "", validation, dry_run
            )
            await self._written(201, obj, warnings, response, target.served)
        elif method == "PUT" and target.name:
            await self._put(target, json_body(body), validation, response, dry_run)
        elif method == "PATCH" and target.name:
            content_type = headers.get("content-type", "")
            await self._patch(target, content_type, body, validation, response, dry_run)
        elif method == "DELETE" and target.name:
            content_type = headers.get("content-type", "")
            obj, gone = await self._delete(target, params, content_type, body)
            await self._delete_answer(target, obj, gone, response)
        elif method == "DELETE" and not target.subresource:
            items, _ = await self._list(target, query, _field_matcher(query))
            content_type = headers.get("content-type", "")
            await self._delete_collection(target, items, params, content_type, body, response)
        else:
            await response.status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )

    # ------------------------------------------------------------------ reads
    async def _get(self, target: Target, query: ListQuery, accept: str, response: Response) -> None:
        obj = await self.store.get(target.served, target.namespace or "", target.name)
        if target.subresource == "scale":
            await response.json(200, self._scale(target.served, obj))
        elif wants_table(accept):
            await response.json(
                200, self._table(target, [obj], query, obj.metadata.resource_version)
            )
        else:
            await response.json(200, self.encode(obj, target.served))

    def _table(
        self, target: Target, items: list[Unstructured], query: ListQuery, rv: str, token: str = ""
    ) -> JSON:
        def row(obj: Unstructured) -> JSON:
            if query.include_object == "Object":
                return self.encode(obj, target.served)
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": self.encode(obj)["metadata"],
            }

        served = target.served
        return customdocs.table(
            served.info, served.version, items, now(), row, self.anchor, rv, token
        )

    async def _collection(
        self, target: Target, query: ListQuery, accept: str, receive: Receive, response: Response
    ) -> None:
        match = _field_matcher(query)
        if query.watch:
            await self._watch(target, query, match, accept, receive, response)
            return
        items, revision = await self._list(target, query, match)
        items, token = page(items, query, revision)
        if wants_table(accept):
            await response.json(200, self._table(target, items, query, str(revision), token))
            return
        info = target.served.info
        metadata: JSON = {"resourceVersion": str(revision)}
        if token:
            metadata["continue"] = token
        await response.json(
            200,
            {
                "apiVersion": f"{info.group}/{target.served.version.name}",
                "kind": info.list_kind,
                "metadata": metadata,
                "items": [self.encode(o, target.served) for o in items],
            },
        )

    async def _list(
        self, target: Target, query: ListQuery, match: Callable[[Any], bool] | None
    ) -> tuple[list[Unstructured], int]:
        text = query.resource_version
        if text not in ("", "0"):
            try:
                wanted = int(text)
            except ValueError:
                raise BadQuery(f"resourceVersion: invalid value {text!r}") from None
            current = self.store.cache(target.served).revision
            if wanted > current:
                raise TooLargeResourceVersion(
                    f"Too large resource version: {wanted}, current: {current}"
                )
        items, revision = await self.store.list(
            target.served, target.namespace, query.label_selector
        )
        if match is not None:
            items = [o for o in items if match(o)]
        items.sort(key=object_key)  # the order continue tokens count in
        return items, revision

    async def _watch(
        self,
        target: Target,
        query: ListQuery,
        match: Callable[[Any], bool] | None,
        accept: str,
        receive: Receive,
        response: Response,
    ) -> None:
        initial, revision = await watch_start(query, lambda: self._list(target, query, match))
        info, version = target.served.info, target.served.version.name
        table = wants_table(accept)

        def encode(kind: str, obj: Any, first: bool) -> bytes:
            if table:
                out = self._table(target, [obj], query, obj.metadata.resource_version)
                if not first:
                    out["columnDefinitions"] = []
                return dumps({"type": kind, "object": out}) + b"\n"
            return dumps({"type": kind, "object": self.encode(obj, target.served)}) + b"\n"

        streamer = WatchStreamer(
            response,
            receive,
            encode=encode,
            matches=match,
            bookmark=lambda rv: {
                "kind": info.kind,
                "apiVersion": f"{info.group}/{version}",
                "metadata": {"resourceVersion": str(rv)},
            },
            query=query,
            speed=self.speed,
        )
        try:
            stream = await self.store.watch(
                target.served,
                target.namespace,
                query.label_selector,
                revision,
                current_client(),
                self.api.watch_hooks,
            )
        except errors.Gone as exc:
            await streamer.expired(exc)
            return
        with stream:
            await streamer.run(stream, initial, revision)


def _field_matcher(query: ListQuery) -> Callable[[Any], bool] | None:
    """Custom kinds serve field selectors on ``metadata.name`` and ``metadata.namespace`` only
    (apiextensions-apiserver registry/customresource/strategy.go GetAttrs)."""
    if not query.field_terms:
        return None
    for term in query.field_terms:
        if term.field not in _FIELDS:
            raise BadQuery(
                f'"{term.field}" is not a known field selector: only "metadata.name", '
                '"metadata.namespace"'
            )

    def matches(obj: Any) -> bool:
        meta = obj.metadata
        for term in query.field_terms:
            value = meta.name if term.field == "metadata.name" else meta.namespace
            if (value == term.value) == term.negated:
                return False
        return True

    return matches


def _cause(text: str) -> JSON:
    field, _, message = text.partition(": ")
    reason = "FieldValueInvalid"
    for prefix, name in _CAUSE_REASONS.items():
        if message.startswith(prefix):
            reason = name
    return {"reason": reason, "message": message, "field": field}


__all__ = ["CustomDoor"]
