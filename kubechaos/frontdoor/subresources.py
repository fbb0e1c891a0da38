"""The subresources a client writes: ``scale``, ``status``, ``eviction`` and ``binding``.

- ``scale`` (GET, PUT, PATCH) on Deployments, ReplicaSets and StatefulSets: an
  ``autoscaling/v1`` Scale (pkg/registry/apps/{deployment,replicaset,statefulset}/storage
  ScaleREST): ``spec.replicas`` written to the workload, ``status.replicas`` and the selector as
  a string read from it; a PUT's ``resourceVersion`` is a precondition;
- ``eviction`` (POST a ``policy/v1`` Eviction): the model's PodDisruptionBudget-aware evict
  (pkg/registry/core/pod/storage/eviction.go): 429 with upstream's message when a budget forbids;
- ``binding`` (POST a ``v1`` Binding): the model's bind, so a scheduler of the user's own can
  place pods the model's scheduler leaves alone (those naming another ``schedulerName``);
- ``status`` (PUT, PATCH with the three patch types): the client's status stored as upstream's
  status strategies store it (the spec kept, see :mod:`kubechaos.control.registry.statuswrite`);
  the model's controllers and kubelets then overwrite what they own at their next sync, as
  upstream's do. A status field the model derives (container statuses, ``podIPs``) is not taken
  and answered with a Warning (:mod:`.statusdecode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.identity import current_client
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor import decode, patches, statusdecode
from kubechaos.frontdoor.applying import FieldManagers
from kubechaos.frontdoor.decode import MethodNotAllowed, conflict, dry_run
from kubechaos.frontdoor.encoding import Encoder
from kubechaos.frontdoor.paths import ResourcePath

SCALABLE = frozenset({"deployments", "replicasets", "statefulsets"})
_SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def selector_string(selector: LabelSelector) -> str:
    """A label selector as ``metav1.FormatLabelSelector`` writes it (``app=web,tier in (a,b)``)."""
    parts = [f"{k}={v}" for k, v in sorted(selector.match_labels.items())]
    for req in selector.match_expressions:
        values = ",".join(sorted(req.values))
        if req.operator == "In":
            parts.append(f"{req.key} in ({values})")
        elif req.operator == "NotIn":
            parts.append(f"{req.key} notin ({values})")
        elif req.operator == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts)


class Subresources:
    def __init__(self, api: APIServer, encoder: Encoder, managers: FieldManagers) -> None:
        self.api = api
        self.encoder = encoder
        self.managers = managers  # a scale write is an Update of the workload's spec.replicas

    async def serve(
        self,
        method: str,
        target: ResourcePath,
        params: Mapping[str, str],
        content_type: str,
        body: bytes,
        warnings: list[str],
    ) -> tuple[int, Any]:
        sub, resource = target.subresource, target.resource.name
        if sub == "scale" and resource in SCALABLE:
            if method == "GET":
                return 200, self.scale(await self._get(target))
            if method in ("PUT", "PATCH"):
                return await self._write_scale(method, target, params, content_type, body)
        if sub == "status" and method in ("PUT", "PATCH"):
            return await self._write_status(method, target, params, content_type, body, warnings)
        if sub == "eviction" and resource == "pods" and method == "POST":
            return await self._evict(target, params, content_type, body)
        if sub == "binding" and resource == "pods" and method == "POST":
            return await self._bind(target, content_type, body)
        if sub in ("scale", "status", "eviction", "binding"):
            raise MethodNotAllowed(
                f"the server does not allow this method on the requested resource "
                f"({method} {resource}/{sub})"
            )
        raise errors.NotFound("the server could not find the requested resource")

    async def _get(self, target: ResourcePath) -> Any:
        return await self.api.get(target.resource.name, target.namespace or "", target.name)

    # ------------------------------------------------------------------ scale
    def scale(self, obj: Any) -> dict[str, Any]:
        meta = self.encoder.value(obj.metadata)
        kept = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in kept if k in meta},
            "spec": {"replicas": obj.spec.replicas},
            "status": {
                "replicas": obj.status.replicas,
                "selector": selector_string(obj.spec.selector),
            },
        }

    async def _write_scale(
        self,
        method: str,
        target: ResourcePath,
        params: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> tuple[int, Any]:
        dry = dry_run(params)
        given = decode.parse_body(body, "application/json" if method == "PATCH" else content_type)
        patch_type = content_type.split(";", 1)[0].strip().lower()
        if method == "PATCH" and patch_type not in patches.PATCH_TYPES:
            raise decode.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(patches.PATCH_TYPES)}"
            )

        before: list[Any] = []

        def mutate(current: Any) -> Any:
            before.append(current)
            scale = self.scale(current)
            if method == "PATCH":
                scale = patches.apply_patch(patch_type, scale, given, "Scale", "autoscaling/v1")
                version = ""
            else:
                if not isinstance(given, Mapping):
                    raise errors.BadRequest("the body must be a Scale object")
                scale = dict(given)
                meta = decode.mapping(scale.get("metadata"), "metadata")
                version = str(meta.get("resourceVersion") or "")
            if version and version != current.metadata.resource_version:
                raise conflict(target.resource.name, target.name)
            replicas = decode.mapping(scale.get("spec"), "spec").get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise errors.BadRequest(f"spec.replicas: expected an integer, not {replicas!r}")
            return attrs.evolve(current, spec=attrs.evolve(current.spec, replicas=replicas))

        verb = "patch" if method == "PATCH" else "update"
        try:
            stored = await self.api.patch(
                target.resource.name, target.namespace or "", target.name, mutate, verb, dry
            )
        except errors.Invalid as exc:  # upstream names the Scale in the message
            raise decode.InvalidObject(
                "Scale.autoscaling",
                target.name,
                tuple(_scale_cause(c) for c in exc.causes),
            ) from None
        if not dry and before:
            manager = params.get("fieldManager") or current_client() or "unknown"
            self.managers.updated(target, before[-1], stored, manager, "scale")
        return 200, self.scale(stored)

    # ------------------------------------------------------------------ status
    async def _write_status(
        self,
        method: str,
        target: ResourcePath,
        params: Mapping[str, str],
        content_type: str,
        body: bytes,
        warnings: list[str],
    ) -> tuple[int, Any]:
        """A PUT or PATCH of ``/status``: the request's status (what it changed of the served
        JSON, :func:`.statusdecode.read_status`) stored by the kind's status strategy
        (:mod:`kubechaos.control.registry.statuswrite`); a ``resourceVersion`` in the body is a
        precondition (409), ``dryRun=All`` stores nothing."""
        dry = dry_run(params)
        patch_type = content_type.split(";", 1)[0].strip().lower()
        if method == "PATCH" and patch_type == patches.APPLY:
            raise decode.UnsupportedMediaType(
                "server-side apply of a status subresource is not modelled by kubechaos: send a "
                "merge, JSON or strategic merge patch (kubectl patch --subresource=status)"
            )
        if method == "PATCH" and patch_type not in patches.PATCH_TYPES:
            raise decode.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(patches.PATCH_TYPES)}"
            )
        given = decode.parse_body(body, "application/json" if method == "PATCH" else content_type)
        kind, gv = target.resource.kind, target.resource.group_version
        before: list[Any] = []

        def mutate(current: Any) -> Any:
            encoded = self.encoder.plain(current)
            if method == "PATCH":
                wanted = patches.apply_patch(patch_type, encoded, given, kind, gv)
                wanted = decode.expect_object(wanted, target, True)
            else:
                wanted = decode.expect_object(given, target, True)
            meta = decode.mapping(wanted.get("metadata"), "metadata")
            version = str(meta.get("resourceVersion") or "")
            if version and version != current.metadata.resource_version:
                raise conflict(target.resource.name, target.name)
            before.append(current)
            return statusdecode.read_object_status(
                current, encoded, wanted, self.encoder.anchor, warnings
            )

        verb = "patch" if method == "PATCH" else "update"
        stored = await self.api.patch(
            target.resource.name, target.namespace or "", target.name, mutate, verb, dry, True
        )
        if not dry and before:
            manager = params.get("fieldManager") or current_client() or "unknown"
            self.managers.updated(target, before[-1], stored, manager, "status")
        return 200, self.encoder.object(stored)

    # ------------------------------------------------------------------ eviction, binding
    async def _evict(
        self, target: ResourcePath, params: Mapping[str, str], content_type: str, body: bytes
    ) -> tuple[int, Any]:
        doc = decode.parse_body(body, content_type)
        if not isinstance(doc, Mapping):
            raise errors.BadRequest("the body must be a policy/v1 Eviction")
        name = decode.mapping(doc.get("metadata"), "metadata").get("name") or target.name
        if name != target.name:
            raise errors.BadRequest("name in URL does not match name in Eviction object")
        options = decode.mapping(doc.get("deleteOptions"), "deleteOptions")
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise errors.BadRequest("deleteOptions.gracePeriodSeconds: expected an integer")
        dry = dry_run(params) or "All" in decode.sequence(options.get("dryRun"), "dryRun")
        if dry:
            await self._get(target)
            return 201, _SUCCESS
        await self.api.evict(target.namespace or "", target.name, grace)
        return 201, _SUCCESS

    async def _bind(self, target: ResourcePath, content_type: str, body: bytes) -> tuple[int, Any]:
        doc = decode.parse_body(body, content_type)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("target"), Mapping):
            raise errors.BadRequest("the body must be a v1 Binding with a target")
        name = decode.mapping(doc.get("metadata"), "metadata").get("name") or target.name
        if name != target.name:
            raise errors.BadRequest("name in URL does not match name in Binding object")
        node = doc["target"].get("name", "")
        if not node or doc["target"].get("kind", "Node") != "Node":
            raise decode.InvalidObject(
                "Binding", target.name, (("target.name", "Required value: a Node to bind to"),)
            )
        await self.api.bind(target.namespace or "", target.name, str(node))
        return 201, _SUCCESS


def _scale_cause(cause: str) -> tuple[str, str]:
    field, sep, message = cause.partition(": ")
    if not sep:
        return "", cause
    return ("spec.replicas" if field.endswith("replicas") else field), message


__all__ = ["SCALABLE", "Subresources", "selector_string"]
