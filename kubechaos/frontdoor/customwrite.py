"""Writes of CustomResourceDefinitions and custom objects over HTTP (create is in
:mod:`.custom`'s dispatch): update, patch (merge and JSON patches; a strategic merge patch of a
custom object is 415), the scale subresource, delete, and ``dryRun``, as
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{update,patch,delete}.go serve them."""

from __future__ import annotations

import json
from typing import Any

from kubechaos.api import errors
from kubechaos.api.objects.custom import Unstructured
from kubechaos.control.apiserver import APIServer
from kubechaos.control.registry import customrules as rules
from kubechaos.control.registry.customresource import Served
from kubechaos.frontdoor import customdocs
from kubechaos.frontdoor.patches import json_patch, merge_patch
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.frontdoor.writes import delete_options

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class Target:
    """What a custom path names."""

    def __init__(self, served: Served, namespace: str | None, name: str, sub: str) -> None:
        self.served, self.namespace, self.name, self.subresource = served, namespace, name, sub


class CustomWrites:
    """What the apiextensions front door writes, and how it shows an object."""

    def __init__(self, api: APIServer, anchor: Anchor, speed: float = 1.0) -> None:
        self.api = api
        self.store = api.custom
        self.anchor = anchor
        self.speed = speed

    def encode(self, obj: Unstructured, served: Served | None = None) -> JSON:
        """``obj`` as served at ``served``'s version (conversion strategy None: the stored
        JSON with that version's apiVersion)."""
        out = customdocs.encode(obj, self.anchor)
        if served is not None:
            out["apiVersion"] = f"{served.info.group}/{served.version.name}"
        return out

    async def _written(
        self, code: int, obj: Unstructured, warnings: list[str], response: Response, served: Served
    ) -> None:
        headers = [(b"warning", _warning(w)) for w in warnings]
        await response.body(code, dumps(self.encode(obj, served)), headers=headers)

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
        patch = json_body(body)
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

    async def _delete(
        self, target: Target, params: dict[str, str], content_type: str, body: bytes
    ) -> tuple[Unstructured, bool]:
        """DELETE of one object with its ``DeleteOptions`` (body and query, as the typed
        kinds': preconditions, ``propagationPolicy``, ``orphanDependents``, ``dryRun``)."""
        options = delete_options(params, content_type, body)
        return await self.store.delete(
            target.served,
            target.namespace or "",
            target.name,
            options.get("uid"),
            options["dryRun"],
            options.get("resourceVersion"),
            options.get("propagationPolicy"),
        )

    async def _delete_answer(
        self, target: Target, obj: Unstructured, gone: bool, response: Response
    ) -> None:
        """The object while finalizers hold it, else a Success Status (finalizeDelete)."""
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

    async def _delete_collection(
        self,
        target: Target,
        items: list[Unstructured],
        params: dict[str, str],
        content_type: str,
        body: bytes,
        response: Response,
    ) -> None:
        """deletecollection: each listed object deleted with the request's options (the
        generic store's DeleteCollection); the answer lists them as the deletes left them."""
        deleted = []
        for obj in items:
            one = Target(target.served, obj.metadata.namespace or None, obj.metadata.name, "")
            try:
                done, _ = await self._delete(one, params, content_type, body)
            except errors.NotFound:
                continue
            deleted.append(self.encode(done, target.served))
        info = target.served.info
        await response.json(
            200,
            {
                "apiVersion": f"{info.group}/{target.served.version.name}",
                "kind": info.list_kind,
                "metadata": {},
                "items": deleted,
            },
        )


def dry_run_of(params: dict[str, str]) -> bool:
    """``dryRun``: ``All`` is the only value upstream accepts (handlers/rest.go)."""
    value = params.get("dryRun", "")
    if value not in ("", "All"):
        raise errors.BadRequest(f'Invalid dry run value: unsupported dry run value "{value}"')
    return value == "All"


def json_body(body: bytes) -> Any:
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


def _warning(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'.encode()
