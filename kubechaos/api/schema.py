"""Structure and types of a manifest, checked against upstream's own v1.32 schemas.

``kubectl apply --validate=strict`` asks the API server to reject fields its OpenAPI schema does
not know; a typo such as ``replcias`` or ``readinesProbe`` is then an error instead of a default
silently taking its place. The same schemas, converted to JSON Schema with strict variants
(``additionalProperties: false`` on every object), ship in the ``kubernetes-validate`` package;
this module checks each manifest against the v1.32 strict schema of its kind and reports every
problem with its path, so the loader can point at the file, line and field, with a "did you
mean" for unknown fields. The model's own checks (:mod:`kubechaos.api.manifest`,
:mod:`kubechaos.api.validation`) stay in charge of semantics: names, quantities, selectors.

A kind with no upstream schema (a custom resource) is not checked here.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs
import jsonschema
from referencing import Registry, Resource

SCHEMA_RELEASE = "v1.32.0"
_SCHEMAS = f"kubernetes-json-schema/{SCHEMA_RELEASE}-local-strict"
_MAX_SHOWN = 40  # characters of an offending value shown in a message


@attrs.frozen
class SchemaError:
    path: tuple[str | int, ...]
    message: str


def _read(name: str) -> Any:
    text = resources.files("kubernetes_validate").joinpath(f"{_SCHEMAS}/{name}").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _definitions() -> Any:
    return _read("_definitions.json")


@functools.cache
def _registry() -> Registry:
    return Resource.from_contents(_definitions()) @ Registry()


def definition_properties(name: str) -> dict[str, tuple[str | None, bool]]:
    """The fields upstream's v1.32 schema gives the object ``name``
    (``io.k8s.api.core.v1.PodSpec``), each with the definition it holds when that is an object
    with fields of its own (else None) and whether the field is a list of them."""
    found: dict[str, tuple[str | None, bool]] = {}
    for field, schema in _definitions()["$defs"][name].get("properties", {}).items():
        is_list = "items" in schema
        ref = (schema["items"] if is_list else schema).get("$ref", "")
        held = ref.rpartition("/")[2] or None
        has_fields = held is not None and "properties" in _definitions()["$defs"].get(held, {})
        found[field] = (held if has_fields else None, is_list)
    return found


def _schema_file(kind: str, api_version: str) -> str:
    # kubernetes-validate's naming: apps/v1 Deployment -> deployment-apps-v1.json;
    # rbac.authorization.k8s.io/v1 -> rbac-v1; v1 -> v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator | None:
    try:
        schema = _read(_schema_file(kind, api_version))
    except (FileNotFoundError, OSError):
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def has_schema(kind: str, api_version: str) -> bool:
    """Whether upstream v1.32 has a schema for ``kind`` in ``api_version``."""
    return _validator(kind, api_version) is not None


def schema_errors(doc: Mapping[str, Any]) -> list[SchemaError]:
    """Every structural or type problem of ``doc`` against its kind's upstream schema, in
    document order; none when the kind has no upstream schema."""
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return []
    validator = _validator(kind, api_version)
    if validator is None:
        return []
    found: list[SchemaError] = []
    for error in validator.iter_errors(doc):
        found += _explain(error)
    return sorted(found, key=lambda e: [str(part) for part in e.path])


def _explain(error: jsonschema.ValidationError) -> list[SchemaError]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted(schema.get("properties", {}))
        return [
            SchemaError((*path, key), _unknown_field(str(key), known))
            for key in error.instance
            if key not in known
        ]
    if error.validator == "required":
        missing = re.match(r"'([^']*)'", error.message)
        field = missing.group(1) if missing else "?"
        return [SchemaError((*path, field), "required field is missing")]
    if error.validator == "type":
        return [
            SchemaError(
                path, f"expected {_types(error.validator_value)}, not {_shown(error.instance)}"
            )
        ]
    if error.validator == "oneOf":
        options = [_types(option.get("type")) for option in error.validator_value]
        return [SchemaError(path, f"expected {' or '.join(options)}, not {_shown(error.instance)}")]
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value if v is not None)
        return [SchemaError(path, f"must be one of {allowed}, not {_shown(error.instance)}")]
    return [SchemaError(path, error.message[:200])]


def _unknown_field(key: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if hint:
        return f'unknown field "{key}"; did you mean "{hint[0]}"?'
    return f'unknown field "{key}"'


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
}


def _types(value: Any) -> str:
    names = [value] if isinstance(value, str) else list(value or [])
    shown = [_TYPE_NAMES.get(name, name) for name in names if name != "null"]
    return " or ".join(shown) or "null"


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, default=str)  # a YAML date or timestamp shows as written
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
