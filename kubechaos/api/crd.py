"""CustomResourceDefinitions (apiextensions.k8s.io/v1): defaulting, validation, and the facts
the API server serves a custom kind by.

Upstream: the v1 types and defaults in
staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/{types.go,defaults.go} and
the validation in .../pkg/apis/apiextensions/validation/validation.go
(``ValidateCustomResourceDefinition``). The essentials are modelled: the name is
``<plural>.<group>``, the group a domain with a dot, the names DNS-1035 labels (the kind and
listKind as lower case), scope ``Namespaced`` or ``Cluster``, the versions unique with exactly
one storage version, and (v1) an ``openAPIV3Schema`` of type object for
each version. Causes are ``field: message`` as the API server words them (a 422 over HTTP, a
located error in a scenario).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.validation import is_dns1035_label, is_dns1123_subdomain

GROUP = "apiextensions.k8s.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "CustomResourceDefinition"
PLURAL = "customresourcedefinitions"
SCOPES = ("Cluster", "Namespaced")
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
JSON = dict[str, Any]


@attrs.frozen
class ScaleSpec:
    """``subresources.scale``: where a scale subresource reads and writes replicas."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str = ""


@attrs.frozen
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"


@attrs.frozen
class CRDVersion:
    name: str
    served: bool
    storage: bool
    schema: JSON  # openAPIV3Schema ({} when absent)
    status: bool  # the status subresource is enabled
    scale: ScaleSpec | None
    printer_columns: tuple[PrinterColumn, ...] = ()


@attrs.frozen
class CRDInfo:
    """A definition's facts, read once from its (valid, defaulted) JSON."""

    name: str
    group: str
    plural: str
    singular: str
    kind: str
    list_kind: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    namespaced: bool
    versions: tuple[CRDVersion, ...]

    def version(self, name: str) -> CRDVersion | None:
        for version in self.versions:
            if version.name == name and version.served:
                return version
        return None

    @property
    def served_versions(self) -> tuple[CRDVersion, ...]:
        return tuple(v for v in self.versions if v.served)


def with_defaults(content: JSON) -> JSON:
    """v1 defaulting (defaults.go): ``listKind`` = kind + "List", ``singular`` = lower-case
    kind, ``conversion.strategy`` None."""
    raw = content.get("spec")
    if not isinstance(raw, Mapping):
        return dict(content)
    spec = dict(raw)
    names = dict(spec["names"]) if isinstance(spec.get("names"), Mapping) else {}
    kind = names.get("kind")
    if isinstance(kind, str) and kind:
        names.setdefault("listKind", kind + "List")
        names.setdefault("singular", kind.lower())
    if names:
        spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    return {**content, "spec": spec}


def validate_crd(content: Mapping[str, Any]) -> list[str]:
    """Every cause that makes a (defaulted) CustomResourceDefinition invalid."""
    spec = content.get("spec")
    if not isinstance(spec, Mapping):
        return ["spec: Required value"]
    causes: list[str] = []
    group = spec.get("group")
    if not isinstance(group, str) or not group:
        causes.append("spec.group: Required value")
    elif "." not in group:
        causes.append(
            f'spec.group: Invalid value: "{group}": should be a domain with at least one dot'
        )
    elif not is_dns1123_subdomain(group):
        causes.append(f'spec.group: Invalid value: "{group}": a lowercase RFC 1123 subdomain')
    names = spec.get("names")
    names = names if isinstance(names, Mapping) else {}
    causes += _names_causes(names)
    plural = names.get("plural")
    name = str((content.get("metadata") or {}).get("name", ""))
    if isinstance(plural, str) and isinstance(group, str) and name != f"{plural}.{group}":
        causes.insert(
            0,
            f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
        )
    scope = spec.get("scope")
    if not scope:
        causes.append("spec.scope: Required value")
    elif scope not in SCOPES:
        causes.append(
            f'spec.scope: Unsupported value: "{scope}": supported values: "Cluster", "Namespaced"'
        )
    causes += _versions_causes(spec.get("versions"))
    return causes


def _names_causes(names: Mapping[str, Any]) -> list[str]:
    causes = []
    for field in ("plural", "singular", "kind", "listKind"):
        value = names.get(field)
        path = f"spec.names.{field}"
        if not isinstance(value, str) or not value:
            causes.append(f"{path}: Required value")
            continue
        mixed = field in ("kind", "listKind")
        if not is_dns1035_label(value.lower() if mixed else value):
            rule = ("may have mixed case, but should otherwise match: " if mixed else "") + (
                DNS1035_RULE
            )
            causes.append(f'{path}: Invalid value: "{value}": {rule}')
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        causes.append(
            f'spec.names.listKind: Invalid value: "{names["listKind"]}": kind and listKind may '
            "not be the same"
        )
    for field in ("shortNames", "categories"):
        listed = names.get(field) or []
        if not isinstance(listed, list):
            causes.append(f"spec.names.{field}: Invalid value: must be a list of names")
            continue
        for i, name in enumerate(listed):
            if not isinstance(name, str) or not is_dns1035_label(name):
                causes.append(f'spec.names.{field}[{i}]: Invalid value: "{name}": {DNS1035_RULE}')
    return causes


def _versions_causes(versions: Any) -> list[str]:
    if not isinstance(versions, list) or not versions:
        return [
            "spec.versions: Invalid value: null: must have exactly one version marked as "
            "storage version"
        ]
    causes = []
    seen: set[str] = set()
    unique = True
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(version, Mapping):
            causes.append(f"{path}: Invalid value: must be an object")
            continue
        name = version.get("name")
        if not isinstance(name, str) or not name:
            causes.append(f"{path}.name: Required value")
        elif not is_dns1035_label(name):
            causes.append(f'{path}.name: Invalid value: "{name}": {DNS1035_RULE}')
        elif name in seen:
            unique = False
        seen.add(str(name))
        causes += _schema_causes(version, path)
    if not unique:
        causes.append(
            f"spec.versions: Invalid value: {_shown_versions(versions)}: must contain unique "
            "version names"
        )
    storage = sum(1 for v in versions if isinstance(v, Mapping) and v.get("storage") is True)
    if storage != 1:
        causes.append(
            "spec.versions: Invalid value: "
            f"{_shown_versions(versions)}: must have exactly one version marked as storage version"
        )
    return causes


def _shown_versions(versions: list[Any]) -> str:
    return "[" + ", ".join(str(v.get("name", "")) for v in versions if isinstance(v, Mapping)) + "]"


def _schema_causes(version: Mapping[str, Any], path: str) -> list[str]:
    schema = version.get("schema")
    root = schema.get("openAPIV3Schema") if isinstance(schema, Mapping) else None
    where = f"{path}.schema.openAPIV3Schema"
    if not isinstance(root, Mapping):
        return [f"{where}: Required value: schemas are required"]
    kind = root.get("type")
    if not kind:
        return [f"{where}.type: Required value: must not be empty at the root"]
    if kind != "object":
        return [f'{where}.type: Invalid value: "{kind}": must be object at the root']
    return []


def update_causes(new: Mapping[str, Any], old: Mapping[str, Any], established: bool) -> list[str]:
    """ValidateCustomResourceDefinitionSpecUpdate: the group and plural never change (they
    make the resource's name); scope and kind not once the definition is established."""
    fields = [("group",), ("names", "plural")]
    if established:
        fields += [("scope",), ("names", "kind")]
    causes = []
    for path in fields:
        now, before = new.get("spec"), old.get("spec")
        for part in path:
            now = now.get(part) if isinstance(now, Mapping) else None
            before = before.get(part) if isinstance(before, Mapping) else None
        if now != before:
            causes.append(f'spec.{".".join(path)}: Invalid value: "{now}": field is immutable')
    return causes


def crd_info(content: Mapping[str, Any]) -> CRDInfo:
    """The facts of a valid, defaulted definition."""
    spec = content["spec"]
    names = spec["names"]
    versions = []
    for version in spec["versions"]:
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        versions.append(
            CRDVersion(
                name=version["name"],
                served=bool(version.get("served")),
                storage=bool(version.get("storage")),
                schema=dict((version.get("schema") or {}).get("openAPIV3Schema") or {}),
                status="status" in subresources,
                scale=ScaleSpec(
                    scale.get("specReplicasPath", ".spec.replicas"),
                    scale.get("statusReplicasPath", ".status.replicas"),
                    scale.get("labelSelectorPath", ""),
                )
                if isinstance(scale, Mapping)
                else None,
                printer_columns=tuple(
                    PrinterColumn(c["name"], c["jsonPath"], c.get("type", "string"))
                    for c in version.get("additionalPrinterColumns") or ()
                    if isinstance(c, Mapping) and "name" in c and "jsonPath" in c
                ),
            )
        )
    return CRDInfo(
        name=content["metadata"]["name"],
        group=spec["group"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        list_kind=names.get("listKind") or names["kind"] + "List",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        namespaced=spec["scope"] == "Namespaced",
        versions=tuple(versions),
    )


__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "CRDInfo",
    "CRDVersion",
    "PrinterColumn",
    "ScaleSpec",
    "crd_info",
    "update_causes",
    "validate_crd",
    "with_defaults",
]
