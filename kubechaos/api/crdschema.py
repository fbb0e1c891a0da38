"""A custom object against its definition's structural schema: pruning, defaulting, validation.

Upstream's apiextensions-apiserver, for every write of a custom object
(staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/{pruning,defaulting} and
.../pkg/apiserver/validation):

- **pruning** drops every field the schema does not specify (unless
  ``x-kubernetes-preserve-unknown-fields: true`` or ``additionalProperties`` allow it); the
  client learns of each as a warning (``unknown field "spec.foo"``), or, asked for
  ``fieldValidation=Strict`` (what ``kubectl apply`` sends), gets 400 ``strict decoding error``;
- **defaulting** fills a missing field from its schema's ``default`` (a ``null`` in a field that
  is not ``nullable`` is dropped first, so its default applies);
- **validation** checks the rest against the OpenAPI schema (types, ``required``, ``enum``,
  ``minimum``/``maximum``, ``pattern``, lengths and item counts), each failure worded as the
  API server words it (``spec.replicas: Invalid value: "string": spec.replicas in body must be
  of type integer: "string"``).

``apiVersion``, ``kind`` and ``metadata`` are the API server's, never pruned or checked here.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

JSON = dict[str, Any]
_ENVELOPE = ("apiVersion", "kind", "metadata")
_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def prune(obj: JSON, schema: Mapping[str, Any]) -> tuple[JSON, list[str]]:
    """``obj`` without the fields ``schema`` does not specify, and their dotted paths."""
    pruned: list[str] = []
    out = {k: v for k, v in obj.items() if k in _ENVELOPE}
    body = {k: v for k, v in obj.items() if k not in _ENVELOPE}
    kept = _prune(body, schema, "", pruned)
    out.update(kept if isinstance(kept, dict) else {})
    return out, pruned


def _prune(value: Any, schema: Mapping[str, Any], path: str, pruned: list[str]) -> Any:
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_prune(v, items, f"{path}[{i}]", pruned) for i, v in enumerate(value)]
        return value
    if not isinstance(value, dict):
        return value
    if schema.get("x-kubernetes-embedded-resource"):
        value = dict(value)
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    out = {}
    for key, child in value.items():
        where = f"{path}.{key}" if path else key
        if key in properties:
            out[key] = _prune(child, properties[key], where, pruned)
        elif isinstance(extra, Mapping):
            out[key] = _prune(child, extra, where, pruned)
        elif (
            extra is True
            or preserve
            or (schema.get("x-kubernetes-embedded-resource") and key in _ENVELOPE)
        ):
            out[key] = child
        else:
            pruned.append(where)
    return out


def apply_defaults(obj: JSON, schema: Mapping[str, Any]) -> JSON:
    """``obj`` with every missing field that has a ``default`` in ``schema`` set to it."""
    out = _default(obj, schema)
    return out if isinstance(out, dict) else obj


def _default(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_default(v, items) for v in value]
        return value
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    out = dict(value)
    for key, sub in properties.items():
        if key in out and out[key] is None and not sub.get("nullable"):
            del out[key]
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if key in out:
            out[key] = _default(out[key], sub)
    if isinstance(extra, Mapping):
        for key in value:
            if key not in properties:
                out[key] = _default(out[key], extra)
    return out


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_to_json_schema(json.loads(schema_text)))


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3 schema -> JSON Schema draft 4 (``nullable``, int-or-string; ``format`` and
    the ``x-kubernetes-*`` extensions are not checked)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("format", "default")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-preserve-unknown-fields") or "properties" in node:
        pass
    return out


def schema_causes(obj: JSON, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``obj`` (pruned and defaulted) fails ``schema``, as the API server words it."""
    body = {k: v for k, v in obj.items() if k not in _ENVELOPE}
    root = {
        **schema,
        "properties": {
            k: v for k, v in (schema.get("properties") or {}).items() if k not in _ENVELOPE
        },
    }
    root["required"] = [r for r in schema.get("required") or () if r not in _ENVELOPE]
    if not root["required"]:
        del root["required"]
    validator = _validator(json.dumps(root, sort_keys=True))
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    return [_cause(e) for e in errors]


def _dotted(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _cause(error: jsonschema.ValidationError) -> str:
    path = _dotted(error.absolute_path)
    value = error.instance
    rule = error.validator_value
    where = path or "<root>"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(rule)
        return f"{path + '.' if path else ''}{missing}: Required value"
    if error.validator == "type":
        name = _TYPE_NAMES.get(type(value), "object")
        expected = rule if isinstance(rule, str) else rule[0]
        return f'{where}: Invalid value: "{name}": {where} in body must be of type {expected}: "{name}"'
    if error.validator == "enum":
        supported = ", ".join(_shown(v) for v in rule)
        return f"{where}: Unsupported value: {_shown(value)}: supported values: {supported}"
    if error.validator == "maximum":
        return (
            f"{where}: Invalid value: {_shown(value)}: {where} in body should be less than "
            f"or equal to {rule}"
        )
    if error.validator == "minimum":
        return (
            f"{where}: Invalid value: {_shown(value)}: {where} in body should be greater "
            f"than or equal to {rule}"
        )
    if error.validator == "pattern":
        return f"{where}: Invalid value: {_shown(value)}: {where} in body should match '{rule}'"
    if error.validator == "maxLength":
        return f"{where}: Too long: may not be more than {rule} bytes"
    if error.validator == "minLength":
        return (
            f"{where}: Invalid value: {_shown(value)}: {where} in body should be at least "
            f"{rule} chars long"
        )
    if error.validator == "maxItems":
        return f"{where}: Too many: {len(value)}: must have at most {rule} items"
    if error.validator == "minItems":
        return (
            f"{where}: Invalid value: {len(value)}: {where} in body should have at least "
            f"{rule} items"
        )
    return f"{where}: Invalid value: {_shown(value)}: {error.message}"


__all__ = ["apply_defaults", "prune", "schema_causes"]
