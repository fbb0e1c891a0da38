"""The three patch types upstream's PATCH accepts, applied to an object's JSON.

- ``application/merge-patch+json``: RFC 7386 (a ``null`` deletes, objects merge, anything else
  replaces), as ``jsonpatch.MergePatch`` in staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
  patch.go applies it;
- ``application/json-patch+json``: RFC 6902 operations, through the ``jsonpatch`` library;
- ``application/strategic-merge-patch+json``: apimachinery/pkg/util/strategicpatch. Lists merge
  as the kind's schema says (``x-kubernetes-patch-strategy: merge`` with
  ``x-kubernetes-patch-merge-key``: containers by ``name``, ports by ``containerPort``; a merge
  list of scalars, such as ``finalizers``, as a set); other lists are replaced. The directives:
  ``$patch: replace|delete`` (on a map, or on a list item to replace the list / delete the item
  with that key), ``$setElementOrder/<list>``, ``$retainKeys`` and
  ``$deleteFromPrimitiveList/<list>``. The schema is upstream's v1.32 OpenAPI, the one the front
  door serves to ``kubectl explain``.

Malformed patches are 400 BadRequest; a patch that cannot apply (an RFC 6902 ``test`` that fails,
a path that does not exist) is 422, as upstream answers.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import jsonpatch

from kubechaos.api import errors
from kubechaos.frontdoor.openapi import definitions, kind_definitions

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE, JSON_PATCH, STRATEGIC)

_REF = "#/components/schemas/"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchFailed(errors.APIError):
    code = 422
    reason = "Invalid"


def apply_patch(
    patch_type: str, original: dict[str, Any], patch: Any, kind: str, group_version: str
) -> dict[str, Any]:
    """``original`` (an object's JSON) with ``patch`` applied; ``original`` is not changed."""
    if patch_type == JSON_PATCH:
        return _json_patch(original, patch)
    if not isinstance(patch, Mapping):
        raise errors.BadRequest("the patch must be a JSON object")
    if patch_type == MERGE:
        merged = merge_patch(original, patch)
    else:
        schema = _root_schema(kind, group_version)
        merged = strategic_merge(copy.deepcopy(original), patch, schema)
    if not isinstance(merged, dict):
        raise PatchFailed("the patch deletes the whole object")
    return merged


def _json_patch(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, list) or not all(isinstance(op, Mapping) for op in patch):
        raise errors.BadRequest("a JSON patch must be a list of operations")
    try:
        result = jsonpatch.JsonPatch([dict(op) for op in patch]).apply(copy.deepcopy(original))
    except jsonpatch.InvalidJsonPatch as exc:
        raise errors.BadRequest(f"invalid JSON patch: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise PatchFailed(
            f"the server rejected our request due to an error in our request: {exc}"
        ) from None
    if not isinstance(result, dict):
        raise PatchFailed("the patch replaces the object with a value that is not an object")
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# ---------------------------------------------------------------------- strategic merge patch
@functools.cache
def _root_schema(kind: str, group_version: str) -> str | None:
    return kind_definitions(group_version).get(kind)


def _resolve(schema: Any) -> Mapping[str, Any]:
    """A schema node with its ``$ref`` (or ``allOf: [$ref]``) followed."""
    if isinstance(schema, str):
        return definitions().get(schema, {})
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if ref is None and isinstance(schema.get("allOf"), list) and schema["allOf"]:
        ref = schema["allOf"][0].get("$ref")
    if isinstance(ref, str):
        return {**definitions().get(ref.removeprefix(_REF), {}), **schema}
    return schema


def _field_schema(schema: Any, key: str) -> Mapping[str, Any]:
    node = _resolve(schema)
    props = node.get("properties")
    if isinstance(props, Mapping) and key in props:
        return _resolve(props[key])
    extra = node.get("additionalProperties")
    return _resolve(extra) if isinstance(extra, Mapping) else {}


def strategic_merge(original: Any, patch: Mapping[str, Any], schema: Any) -> Any:
    """``original`` (a map) with the strategic merge ``patch`` applied, as strategicpatch's
    mergeMap does; None if the patch deletes the map."""
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise errors.BadRequest(f"Unknown patch type: {directive}")
    out: dict[str, Any] = dict(original) if isinstance(original, Mapping) else {}
    retain = patch.get("$retainKeys")
    orders = {}
    for key, value in patch.items():
        if key in ("$retainKeys", "$patch"):
            continue
        if key.startswith(_ORDER):
            orders[key.removeprefix(_ORDER)] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key.removeprefix(_DELETE_PRIMITIVE)
            if not isinstance(value, list):
                raise errors.BadRequest("Invalid patch: $deleteFromPrimitiveList must be a list")
            out[field] = [v for v in out.get(field) or [] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
            continue
        child = _field_schema(schema, key)
        current = out.get(key)
        if isinstance(value, Mapping):
            merged = strategic_merge(current if isinstance(current, Mapping) else {}, value, child)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(current if isinstance(current, list) else [], value, child)
        else:
            out[key] = value
    if retain is not None:
        if not isinstance(retain, list):
            raise errors.BadRequest("Invalid patch: $retainKeys must be a list")
        out = {k: v for k, v in out.items() if k in retain}
    for field, order in orders.items():
        if isinstance(out.get(field), list) and isinstance(order, list):
            out[field] = _ordered(out[field], order, _field_schema(schema, field))
    return out


def _merge_list(current: list[Any], patch: list[Any], schema: Mapping[str, Any]) -> list[Any]:
    if schema.get("x-kubernetes-patch-strategy", "") not in ("merge", "merge,retainKeys"):
        return [_strip(item) for item in patch]
    key = schema.get("x-kubernetes-patch-merge-key")
    if key is None:  # a merge list of scalars: a set
        return [*current, *(v for v in patch if v not in current)]
    items = _resolve(schema.get("items", {}))
    if any(isinstance(p, Mapping) and p.get("$patch") == "replace" for p in patch):
        return [_strip(p) for p in patch if not (isinstance(p, Mapping) and "$patch" in p)]
    out = [dict(item) if isinstance(item, Mapping) else item for item in current]
    for item in patch:
        if not isinstance(item, Mapping) or key not in item:
            raise errors.BadRequest(f"map: {item} does not contain declared merge key: {key}")
        at = next(
            (i for i, v in enumerate(out) if isinstance(v, Mapping) and v.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
            continue
        if at is None:
            out.append(strategic_merge({}, item, items))
        else:
            out[at] = strategic_merge(out[at], item, items)
    return out


def _strip(item: Any) -> Any:
    """A value taken whole, without directives."""
    if isinstance(item, Mapping):
        return {k: _strip(v) for k, v in item.items() if not k.startswith("$")}
    return item


def _ordered(values: list[Any], order: list[Any], schema: Mapping[str, Any]) -> list[Any]:
    key = schema.get("x-kubernetes-patch-merge-key")

    def ident(value: Any) -> Any:
        return value.get(key) if key is not None and isinstance(value, Mapping) else value

    wanted = [ident(v) for v in order]
    position = {repr(v): i for i, v in enumerate(wanted)}
    return sorted(values, key=lambda v: position.get(repr(ident(v)), len(position)))


__all__ = [
    "APPLY",
    "JSON_PATCH",
    "MERGE",
    "PATCH_TYPES",
    "STRATEGIC",
    "PatchFailed",
    "apply_patch",
    "merge_patch",
    "strategic_merge",
]
