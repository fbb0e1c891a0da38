"""What clients read of CustomResourceDefinitions and custom objects: their JSON, Tables,
discovery entries and OpenAPI v3 documents.

- JSON: the stored map, with ``creationTimestamp``/``deletionTimestamp`` (and a definition's
  condition times) written as wall-clock RFC 3339 times;
- Tables: ``NAME`` and ``AGE`` plus the version's ``additionalPrinterColumns`` for custom
  objects, ``NAME`` and ``CREATED AT`` for definitions (upstream's default table convertor,
  staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor);
- discovery: each established definition's group and served versions, with its names, verbs
  and subresources, in the legacy and the aggregated (apidiscovery.k8s.io/v2) forms;
- OpenAPI v3: one document per custom group-version built from the versions' schemas, with
  ``apiVersion``, ``kind`` and ``metadata`` (ObjectMeta) added as upstream's builder
  (pkg/controller/openapi/builder) adds them, so ``kubectl explain`` reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from kubechaos.api.crd import GROUP, KIND, PLURAL, CRDInfo, CRDVersion
from kubechaos.api.discovery import APIResource
from kubechaos.api.objects.custom import Unstructured
from kubechaos.control.registry.customrules import json_path_get
from kubechaos.frontdoor import openapi
from kubechaos.frontdoor.ages import human_duration
from kubechaos.frontdoor.timefmt import Anchor

JSON = dict[str, Any]
CUSTOM_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
CRD_DEFINITION = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"


# ---------------------------------------------------------------------------- objects
def encode(obj: Unstructured, anchor: Anchor) -> JSON:
    content = obj.content
    meta = dict(content.get("metadata") or {})
    if obj.created is not None:
        meta["creationTimestamp"] = anchor.time(obj.created)
    if obj.deleting is not None:
        meta["deletionTimestamp"] = anchor.time(obj.deleting)
    out = {**content, "metadata": meta}
    status = content.get("status")
    if content.get("kind") == "CustomResourceDefinition" and isinstance(status, dict):
        conditions = [
            {**c, "lastTransitionTime": anchor.time(c["lastTransitionTime"])}
            if isinstance(c.get("lastTransitionTime"), float | int)
            else c
            for c in status.get("conditions") or ()
        ]
        out["status"] = {**status, "conditions": conditions}
    return out


def table(
    info: CRDInfo,
    version: CRDVersion,
    objects: Sequence[Unstructured],
    now: float,
    row_object: Callable[[Unstructured], JSON],
    anchor: Anchor,
    resource_version: str,
    continue_token: str = "",
) -> JSON:
    if info.group == GROUP:
        columns = [("Name", "string", "name"), ("Created At", "date", "date")]
    else:
        columns = [("Name", "string", "name")]
        columns += [(c.name, c.type, "") for c in version.printer_columns]
        columns.append(("Age", "date", ""))
    metadata: JSON = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token

    def cells(obj: Unstructured) -> list[Any]:
        created = obj.created or 0.0
        row: list[Any] = [obj.metadata.name]
        if info.group == GROUP:
            return [*row, anchor.time(created)]
        shown = encode(obj, anchor) if version.printer_columns else {}
        for column in version.printer_columns:
            value = json_path_get(shown, column.json_path)
            if column.type == "date" and isinstance(value, str):
                value = _age(value, anchor.epoch + now)
            row.append(value)
        return [*row, human_duration(now - created)]

    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": "", "priority": 0}
            for n, t, f in columns
        ],
        "rows": [{"cells": cells(o), "object": row_object(o)} for o in objects],
    }


def _age(stamp: str, wall_now: float) -> str:
    """A ``date`` column's timestamp as an age, as upstream's table convertor shows it
    (apiextensions-apiserver registry/customresource/tableconvertor)."""
    try:
        when = dt.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return stamp
    return human_duration(wall_now - when)


# ---------------------------------------------------------------------------- discovery
def _version_key(version: str) -> tuple[int, int, int, str]:
    """Kube-aware version order (GA before beta before alpha, higher first):
    apimachinery's version.CompareKubeAwareVersionStrings."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {"": 0, "beta": 1, "alpha": 2}[stage or ""]
    return (rank, -int(major), -int(minor or 0), version)


def group_versions(infos: Sequence[CRDInfo]) -> dict[str, list[str]]:
    groups: dict[str, set[str]] = {}
    for info in infos:
        groups.setdefault(info.group, set()).update(v.name for v in info.served_versions)
    return {g: sorted(vs, key=_version_key) for g, vs in groups.items()}


def _group(name: str, versions: list[str]) -> JSON:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def extend_group_list(doc: JSON, infos: Sequence[CRDInfo]) -> JSON:
    groups = [_group(g, vs) for g, vs in group_versions(infos).items()]
    return {**doc, "groups": [*doc["groups"], *groups]}


def api_group(name: str, infos: Sequence[CRDInfo]) -> JSON:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, group_versions(infos)[name])}


def _entry(info: CRDInfo) -> JSON:
    entry: JSON = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(CUSTOM_VERBS),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def resource_list(group_version: str, infos: Sequence[CRDInfo]) -> JSON:
    group, _, version = group_version.partition("/")
    resources: list[JSON] = []
    for info in infos:
        served = info.version(version)
        if info.group != group or served is None:
            continue
        resources.append(_entry(info))
        if served.status:
            resources.append(_sub(info, "status", info.kind, SUBRESOURCE_VERBS))
        if served.scale is not None:
            scale = _sub(info, "scale", "Scale", SUBRESOURCE_VERBS)
            resources.append({**scale, "group": "autoscaling", "version": "v1"})
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _sub(info: CRDInfo, name: str, kind: str, verbs: list[str]) -> JSON:
    return {
        "name": f"{info.plural}/{name}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": kind,
        "verbs": list(verbs),
    }


def extend_aggregated(doc: JSON, infos: Sequence[CRDInfo]) -> JSON:
    """``/apis`` in the aggregated form, with the custom groups after the built-in ones."""
    items = list(doc["items"])
    for group, versions in group_versions(infos).items():
        listed = []
        for version in versions:
            resources = [
                _discovered(info, info.version(version))  # type: ignore[arg-type]
                for info in infos
                if info.group == group and info.version(version) is not None
            ]
            listed.append({"version": version, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group}, "versions": listed})
    return {**doc, "items": items}


def _discovered(info: CRDInfo, version: CRDVersion) -> JSON:
    kind = {"group": info.group, "version": version.name, "kind": info.kind}
    out: JSON = {
        "resource": info.plural,
        "responseKind": kind,
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(CUSTOM_VERBS),
    }
    if info.short_names:
        out["shortNames"] = list(info.short_names)
    if info.categories:
        out["categories"] = list(info.categories)
    subs = []
    if version.status:
        subs.append({"subresource": "status", "responseKind": kind, "verbs": SUBRESOURCE_VERBS})
    if version.scale is not None:
        scale = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        subs.append({"subresource": "scale", "responseKind": scale, "verbs": SUBRESOURCE_VERBS})
    if subs:
        out["subresources"] = subs
    return out


# ---------------------------------------------------------------------------- OpenAPI v3
def _schema_name(info: CRDInfo, version: str) -> str:
    return ".".join(reversed(info.group.split("."))) + f".{version}.{info.kind}"


def _kind_schema(info: CRDInfo, version: CRDVersion) -> JSON:
    schema = json.loads(json.dumps(version.schema))
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an "
        "object.",
    }
    properties["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object "
        "represents.",
    }
    properties["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
        "description": "Standard object's metadata.",
    }
    gvk = [{"group": info.group, "version": version.name, "kind": info.kind}]
    return {**schema, "properties": properties, "x-kubernetes-group-version-kind": gvk}


def _list_schema(info: CRDInfo, version: CRDVersion, item: str) -> JSON:
    gvk = [{"group": info.group, "version": version.name, "kind": info.list_kind}]
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "metadata": {"allOf": [{"$ref": f"#/components/schemas/{LIST_META}"}]},
        },
        "x-kubernetes-group-version-kind": gvk,
    }


def _operation(action: str, info: CRDInfo, version: str, schema: str) -> JSON:
    gvk = {"group": info.group, "version": version, "kind": info.kind}
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {
        "get": {
            "operationId": f"{action}{info.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"description": "OK", "content": content}},
        }
    }


_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Ignore, Warn or Strict: what to do with unknown or duplicate fields.",
    "schema": {"type": "string", "uniqueItems": True},
}


def _with_writes(paths: JSON, group: str, version: str, kind: str) -> JSON:
    """The write operations beside the reads: kubectl looks for ``fieldValidation`` among a
    PATCH operation's parameters to know the server validates fields itself
    (cli-runtime resource/query_param_verifier_v3.go); without it, it validates on its own
    from OpenAPI v2."""
    gvk = {"group": group, "version": version, "kind": kind}
    out: JSON = {}
    for path, item in paths.items():
        item = dict(item)
        verbs = ("patch", "put", "delete") if path.endswith("{name}") else ("post",)
        for verb in verbs:
            item[verb] = {
                "operationId": f"{verb}{kind}",
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [] if verb == "delete" else [_FIELD_VALIDATION],
                "responses": {"200": {"description": "OK"}},
            }
        out[path] = item
    return out


def document(group_version: str, infos: Sequence[CRDInfo]) -> bytes | None:
    """The OpenAPI v3 document of a custom group-version (or apiextensions.k8s.io/v1)."""
    group, _, version = group_version.partition("/")
    if group_version == f"{GROUP}/v1":
        crds = APIResource(PLURAL, KIND, group_version, namespaced=False)
        typed = json.loads(openapi.document_of(group_version, {KIND: CRD_DEFINITION}, [crds]))
        typed["paths"] = _with_writes(typed["paths"], group, version, KIND)
        return json.dumps(typed, separators=(",", ":")).encode()
    schemas: JSON = {}
    paths: JSON = {}
    for info in infos:
        served = info.version(version)
        if info.group != group or served is None:
            continue
        name = _schema_name(info, version)
        schemas[name] = _kind_schema(info, served)
        schemas[name + "List"] = _list_schema(info, served, name)
        prefix = f"/apis/{group}/{version}"
        scope = f"{prefix}/namespaces/{{namespace}}" if info.namespaced else prefix
        reads = {
            f"{scope}/{info.plural}": _operation("list", info, version, name + "List"),
            f"{scope}/{info.plural}/{{name}}": _operation("get", info, version, name),
        }
        paths.update(_with_writes(reads, group, version, info.kind))
    if not schemas:
        return None
    schemas.update(openapi.reachable([OBJECT_META, LIST_META]))
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    return json.dumps(spec, separators=(",", ":")).encode()


def extend_index(index: bytes, infos: Sequence[CRDInfo]) -> bytes:
    """``/openapi/v3`` with the custom group-versions (hashes change with their schemas)."""
    doc = json.loads(index)
    for group, versions in group_versions(infos).items():
        for version in versions:
            body = document(f"{group}/{version}", infos)
            if body is None:
                continue
            digest = hashlib.sha256(body).hexdigest()[:32].upper()
            path = f"apis/{group}/{version}"
            doc["paths"][path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return json.dumps(doc, separators=(",", ":")).encode()


__all__ = [
    "CUSTOM_VERBS",
    "api_group",
    "document",
    "encode",
    "extend_aggregated",
    "extend_group_list",
    "extend_index",
    "resource_list",
    "table",
]
