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

import json
from collections.abc import Awaitable, Callable
from typing import Any

from kubechaos.api import errors
from kubechaos.api.crd import GROUP
from kubechaos.api.objects.custom import Unstructured
from kubechaos.api.watch import ObjectEvent
from kubechaos.client.identity import current_client
from kubechaos.control.apiserver import APIServer
from kubechaos.control.registry import customrules as rules
from kubechaos.control.registry.customresource import Served
from kubechaos.frontdoor import customdocs
from kubechaos.frontdoor.patches import json_patch, merge_patch
from kubechaos.frontdoor.paths import BadQuery, ListQuery, parse_query
from kubechaos.frontdoor.reads import TooLargeResourceVersion, object_key, page, wants_table
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.timefmt import Anchor
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


class Target:
    """What a custom path names."""

    def __init__(self, served: Served, namespace: str | None, name: str, sub: str) -> None:
        self.served, self.namespace, self.name, self.subresource = served, namespace, name, sub


class CustomDoor:
    """The apiextensions part of the front door."""

    def __init__(self, api: APIServer, anchor: Anchor, speed: float = 1.0) -> None:
        self.api = api
        self.store = api.custom
        self.anchor = anchor
        self.speed = speed

    def claims(self, path: str) -> bool:
        """Whether ``path`` is the apiextensions group's or a custom group's."""
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "apis":
            return False
        return parts[1] == GROUP or any(
            i.group == parts[1] for i in self.store.definitions.values()
        )

    def encode(self, obj: Unstructured, served: Served | None = None) -> JSON:
        """``obj`` as served at ``served``'s version (conversion strategy None: the stored
        JSON with that version's apiVersion)."""
        out = customdocs.encode(obj, self.anchor)
        if served is not None:
            out["apiVersion"] = f"{served.info.group}/{served.version.name}"
        return out

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
        dry_run = _dry_run(params)
        if method in ("GET", "HEAD") and target.name:
            await self._get(target, query, accept, response)
        elif method in ("GET", "HEAD"):
            await self._collection(target, query, accept, receive, response)
        elif method == "POST" and not target.name:
            obj, warnings = await self.store.create(
                target.served, _json_body(body), target.namespace or "", validation, dry_run
            )
            await self._written(201, obj, warnings, response, target.served)
        elif method == "PUT" and target.name:
            await self._put(target, _json_body(body), validation, response, dry_run)
        elif method == "PATCH" and target.name:
            content_type = headers.get("content-type", "")
            await self._patch(target, content_type, body, validation, response, dry_run)
        elif method == "DELETE" and target.name:
            await self._delete(target, body, response, dry_run)
        else:
            await response.status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )

    async def _written(
        self, code: int, obj: Unstructured, warnings: list[str], response: Response, served: Served
    ) -> None:
        headers = [(b"warning", _warning(w)) for w in warnings]
        await response.body(code, dumps(self.encode(obj, served)), headers=headers)

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

    def _scale(self, served: Served, obj: Unstructured) -> JSON:
        scale = served.version.scale
        assert scale is not None
        meta = self.encode(obj)["metadata"]
        status: JSON = {
            "replicas": rules.json_path_get(obj.content, scale.status_replicas_path) or 0
        }
        if scale.label_selector_path:
            selector = rules.json_path_get(obj.content, scale.label_selector_path)
            if selector:
                status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": rules.json_path_get(obj.content, scale.spec_replicas_path) or 0},
            "status": status,
        }

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
        initial: list[ObjectEvent] = []
        if query.resource_version in ("", "0"):
            items, revision = await self._list(target, query, match)
            initial = [ObjectEvent("ADDED", o, revision) for o in items]
        else:
            try:
                revision = int(query.resource_version)
            except ValueError:
                raise BadQuery(
                    f"resourceVersion: invalid value {query.resource_version!r}"
                ) from None
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

    # ------------------------------------------------------------------ writes
    async def _put(
        self, target: Target, body: Any, validation: str, response: Response, dry_run: bool
    ) -> None:
        served, ns = target.served, target.namespace or ""
        if target.subresource == "scale":
            replicas = _scale_replicas(body)
            await self._set_scale(target, replicas, response, dry_run)
            return
        if isinstance(body, dict):
            body_name = (body.get("metadata") or {}).get("name")
            if body_name and body_name != target.name:
                raise errors.BadRequest(
                    "the name of the object "
                    f"({body_name}) does not match the name on the URL ({target.name})"
                )
        obj, warnings = await self.store.update(
            served, ns, target.name, body, target.subresource, validation, dry_run
        )
        await self._written(200, obj, warnings, response, target.served)

    async def _set_scale(
        self, target: Target, replicas: int, response: Response, dry_run: bool = False
    ) -> None:
        scale = target.served.version.scale
        assert scale is not None

        def set_replicas(content: JSON) -> JSON:
            return rules.json_path_set(content, scale.spec_replicas_path, replicas)

        obj, _ = await self.store.patch(
            target.served, target.namespace or "", target.name, set_replicas, dry_run=dry_run
        )
        await response.json(200, self._scale(target.served, obj))

    async def _patch(
        self,
        target: Target,
        content_type: str,
        body: bytes,
        validation: str,
        response: Response,
        dry_run: bool,
    ) -> None:
        media = content_type.split(";")[0].strip().lower()
        if media == STRATEGIC_PATCH and target.served.is_crd:
            media = MERGE_PATCH
        if media not in (MERGE_PATCH, JSON_PATCH):
            await response.status(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {JSON_PATCH}, {MERGE_PATCH}",
            )
            return
        patch = _json_body(body)
        if target.subresource == "scale":
            current = self._scale(
                target.served,
                await self.store.get(target.served, target.namespace or "", target.name),
            )
            wanted = _apply(media, current, patch)
            await self._set_scale(target, _scale_replicas(wanted), response, dry_run)
            return

        def apply(content: JSON) -> Any:
            return _apply(media, content, patch)

        obj, warnings = await self.store.patch(
            target.served,
            target.namespace or "",
            target.name,
            apply,
            target.subresource,
            validation,
            dry_run,
        )
        await self._written(200, obj, warnings, response, target.served)

    async def _delete(self, target: Target, body: bytes, response: Response, dry_run: bool) -> None:
        options = _json_body(body) if body.strip() else {}
        uid = None
        if isinstance(options, dict):
            uid = (options.get("preconditions") or {}).get("uid")
        obj, gone = await self.store.delete(
            target.served, target.namespace or "", target.name, uid, dry_run
        )
        if not gone:
            await response.json(200, self.encode(obj, target.served))
            return
        info = target.served.info
        details = {
            "name": target.name,
            "group": info.group,
            "kind": info.plural,
            "uid": obj.metadata.uid,
        }
        await response.json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )


def _dry_run(params: dict[str, str]) -> bool:
    """``dryRun``: ``All`` is the only value upstream accepts (handlers/rest.go)."""
    value = params.get("dryRun", "")
    if value not in ("", "All"):
        raise errors.BadRequest(f'Invalid dry run value: unsupported dry run value "{value}"')
    return value == "All"


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, RecursionError) as exc:
        raise errors.BadRequest(f"the body of the request is not valid JSON: {exc}") from None


def _apply(media: str, content: JSON, patch: Any) -> Any:
    if media == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.BadRequest("a merge patch must be a JSON object")
        return merge_patch(content, patch)
    return json_patch(content, patch)  # 400 if malformed, 422 if it cannot apply


def _scale_replicas(body: Any) -> int:
    replicas = (body.get("spec") or {}).get("replicas") if isinstance(body, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.Invalid(
            "Scale",
            "",
            [f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"],
        )
    return replicas


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


def _warning(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'.encode()


def _cause(text: str) -> JSON:
    field, _, message = text.partition(": ")
    reason = "FieldValueInvalid"
    for prefix, name in _CAUSE_REASONS.items():
        if message.startswith(prefix):
            reason = name
    return {"reason": reason, "message": message, "field": field}


__all__ = ["CustomDoor"]
