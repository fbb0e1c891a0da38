"""OpenAPI v3 for the served kinds, so ``kubectl explain`` works against a model.

The schemas are upstream's v1.32 definitions as the ``kubernetes-validate`` package ships them
(JSON Schema, generated from the API server's own OpenAPI), converted back to OpenAPI 3:
references point into ``components/schemas``, and a nullable type (``["string", "null"]``) is
the plain type with ``nullable``. ``/openapi/v3`` lists one document per group-version
(``api/v1``, ``apis/apps/v1``, ...), each holding the definitions its kinds reach, found by
their ``x-kubernetes-group-version-kind`` as kubectl finds them. Built once, on first request.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from kubechaos.api.discovery import APIResource
from kubechaos.api.schema import SCHEMA_RELEASE
from kubechaos.frontdoor.paths import group_versions

_DEFINITIONS = f"kubernetes-json-schema/{SCHEMA_RELEASE}-local/_definitions.json"
_REF_FROM = "#/$defs/"
_REF_TO = "#/components/schemas/"


@functools.cache
def _definitions() -> dict[str, Any]:
    text = resources.files("kubernetes_validate").joinpath(_DEFINITIONS).read_text("utf-8")
    defs: dict[str, Any] = json.loads(text)["$defs"]
    return {name: _to_openapi(schema) for name, schema in defs.items()}


def _to_openapi(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _REF_TO + value.removeprefix(_REF_FROM)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
            if "null" in value:
                out["nullable"] = True
        else:
            out[key] = _to_openapi(value)
    return out


def root_definition(api_version: str, kind: str) -> dict[str, Any] | None:
    """The schema of a served kind's objects (``apps/v1``, ``Deployment``), or None."""
    name = kind_definitions(api_version).get(kind)
    return _definitions()[name] if name is not None else None


def _group_version_path(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


@functools.cache
def _roots(group_version: str) -> dict[str, str]:
    """Kind -> the name of its definition, for the kinds served under ``group_version``."""
    group, _, version = group_version.rpartition("/")
    kinds = {r.kind for r in group_versions().get(group_version, [])}
    roots: dict[str, str] = {}
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if gvk.get("group", "") == group and gvk["version"] == version and gvk["kind"] in kinds:
                roots[gvk["kind"]] = name
    return roots


def definitions() -> dict[str, Any]:
    """Every definition, by name (what a strategic merge patch reads its list strategies from)."""
    return _definitions()


@functools.cache
def kind_definitions(group_version: str) -> dict[str, str]:
    """Kind -> the name of its definition, for the kinds served under ``group_version``."""
    return _roots(group_version)


def _paths(
    group_version: str, roots: dict[str, str], served: list[APIResource] | None = None
) -> dict[str, Any]:
    """The read operations of each served resource, carrying its group-version-kind (how
    ``kubectl explain`` finds a resource's schema: ``explain/v2/templates/plaintext.tmpl``)."""
    group, _, version = group_version.rpartition("/")
    prefix = "/" + _group_version_path(group_version)
    paths: dict[str, Any] = {}
    for resource in group_versions().get(group_version, []) if served is None else served:
        definition = roots.get(resource.kind)
        if definition is None:
            continue
        gvk = {"group": group, "version": version, "kind": resource.kind}
        scope = f"{prefix}/namespaces/{{namespace}}" if resource.namespaced else prefix
        for path, action in (
            (f"{scope}/{resource.name}", "list"),
            (f"{scope}/{resource.name}/{{name}}", "get"),
        ):
            schema_name = f"{definition}List" if action == "list" else definition
            paths[path] = {
                "get": {
                    "operationId": f"{action}{resource.kind}",
                    "x-kubernetes-action": action,
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {"schema": {"$ref": _REF_TO + schema_name}}
                            },
                        }
                    },
                },
                **_write_operations(action, resource.kind, gvk),
            }
    return paths


# The query parameters of every write (kubectl looks for fieldValidation on a kind's PATCH
# operation before it asks the server to validate: cli-runtime query_param_verifier_v3.go).
_WRITE_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def _write_operations(action: str, kind: str, gvk: dict[str, str]) -> dict[str, Any]:
    """The writes the front door serves on a collection (create) or one object."""
    verbs = {"post": "create"} if action == "list" else {"put": "replace", "patch": "patch"}
    return {
        method: {
            "operationId": f"{verb}{kind}",
            "x-kubernetes-action": "post" if verb == "create" else method,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": _WRITE_PARAMETERS,
            "responses": {"200": {"description": "OK"}},
        }
        for method, verb in verbs.items()
    }


def _reachable(roots: list[str]) -> dict[str, Any]:
    defs = _definitions()
    seen: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen[name] = defs[name]
        todo.extend(_refs(defs[name]))
    return dict(sorted(seen.items()))


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            found.append(value.removeprefix(_REF_TO))
        else:
            found += _refs(value)
    return found


@functools.cache
def document(group_version: str) -> bytes:
    """The OpenAPI v3 document of one group-version, serialized."""
    return document_of(group_version, _roots(group_version))


def document_of(
    group_version: str, roots: dict[str, str], served: list[APIResource] | None = None
) -> bytes:
    """The document of ``roots`` (kind -> definition) served under ``group_version``
    (``served``: the resources, when they are not the typed kinds')."""
    names = [*roots.values(), *(f"{name}List" for name in roots.values())]
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"{SCHEMA_RELEASE}"},
        "paths": _paths(group_version, roots, served),
        "components": {"schemas": _reachable(names)},
    }
    return json.dumps(spec, separators=(",", ":")).encode()


def reachable(roots: list[str]) -> dict[str, Any]:
    """These definitions and every definition they refer to."""
    return _reachable(roots)


@functools.cache
def index() -> bytes:
    """``/openapi/v3``: each group-version's document, with a hash for client caches."""
    paths = {}
    for group_version in group_versions():
        path = _group_version_path(group_version)
        digest = hashlib.sha256(document(group_version)).hexdigest()[:32].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


def document_for_path(path: str) -> bytes | None:
    """The document at ``/openapi/v3/<path>`` (``api/v1``, ``apis/apps/v1``), or None."""
    for group_version in group_versions():
        if _group_version_path(group_version) == path:
            return document(group_version)
    return None


__all__ = [
    "definitions",
    "document",
    "document_for_path",
    "document_of",
    "index",
    "kind_definitions",
    "reachable",
    "root_definition",
]
