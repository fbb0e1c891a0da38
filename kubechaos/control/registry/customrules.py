"""The write rules of CustomResourceDefinitions and custom objects (pure: no etcd, no clock).

Upstream's apiextensions-apiserver strategies:
staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/{strategy.go,
status_strategy.go} for custom objects and .../pkg/registry/customresourcedefinition/strategy.go
for definitions, and the naming and establishing controllers
(.../pkg/controller/status/naming_controller.go, .../pkg/controller/establish) that set a new
definition's ``NamesAccepted`` and ``Established`` conditions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from kubechaos.api import errors
from kubechaos.api.crd import CRDInfo, CRDVersion
from kubechaos.api.crdschema import apply_defaults, prune, schema_causes
from kubechaos.api.validation import (
    LABEL_KEY_RULE,
    LABEL_VALUE_RULE,
    is_dns1123_subdomain,
    validate_label_key,
    validate_label_value,
)

JSON = dict[str, Any]
# metadata the API server owns: what a client sends is replaced on every write
SERVER_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
)


class CustomInvalid(errors.Invalid):
    """422 as upstream words it for these kinds: ``Kind.group "name" is invalid: cause`` (one
    cause) or ``[cause, cause]`` (several: an aggregate's string)."""

    def __init__(self, qualified_kind: str, name: str, causes: list[str]) -> None:
        super().__init__(qualified_kind, name, causes)
        shown = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
        self.message = f'{qualified_kind} "{name}" is invalid: {shown}'
        self.qualified_kind = qualified_kind
        self.name = name
        self.args = (self.message,)


class StrictDecodingError(errors.BadRequest):
    """``fieldValidation=Strict``: unknown fields are an error (400), not a warning."""


def qualified_kind(info: CRDInfo) -> str:
    return f"{info.kind}.{info.group}"


def unknown_field_warnings(paths: Iterable[str]) -> list[str]:
    return [f'unknown field "{p}"' for p in paths]


def checked_content(
    info: CRDInfo, version: CRDVersion, content: JSON, field_validation: str
) -> tuple[JSON, list[str]]:
    """Prune, default and validate a custom object's JSON; the warnings the client gets."""
    pruned, unknown = prune(content, version.schema)
    if unknown and field_validation == "Strict":
        shown = ", ".join(f'unknown field "{p}"' for p in unknown)
        raise StrictDecodingError(f"strict decoding error: {shown}")
    warnings = [] if field_validation == "Ignore" else unknown_field_warnings(unknown)
    defaulted = apply_defaults(pruned, version.schema)
    name = str((defaulted.get("metadata") or {}).get("name", ""))
    causes = meta_causes(defaulted)
    causes += schema_causes(defaulted, version.schema)
    if causes:
        raise CustomInvalid(qualified_kind(info), name, causes)
    return defaulted, warnings


def meta_causes(content: JSON) -> list[str]:
    """ObjectMeta validation (apimachinery ValidateObjectMeta): the name, labels, annotations."""
    meta = content.get("metadata") or {}
    name = meta.get("name", "")
    causes = []
    if not isinstance(name, str):
        causes.append("metadata.name: Invalid value: must be a string")
    elif not name:
        causes.append("metadata.name: Required value: name or generateName is required")
    elif not is_dns1123_subdomain(name):
        causes.append(
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
            "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character"
        )
    for field in ("labels", "annotations"):
        held = meta.get(field)
        if held is not None and (
            not isinstance(held, Mapping) or not all(isinstance(v, str) for v in held.values())
        ):
            causes.append(f"metadata.{field}: Invalid value: must be a map of strings")
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            if not validate_label_key(str(key)):
                causes.append(f'metadata.labels: Invalid value: "{key}": {LABEL_KEY_RULE}')
            if isinstance(value, str) and not validate_label_value(value):
                causes.append(f'metadata.labels: Invalid value: "{value}": {LABEL_VALUE_RULE}')
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        causes.append("metadata.finalizers: Invalid value: must be a list of strings")
    return causes


def check_envelope(info: CRDInfo, version: str, content: Any, namespace: str) -> JSON:
    """The request body's apiVersion, kind and namespace against the URL's (400 on mismatch,
    as upstream's decoder and rest.BeforeCreate refuse them)."""
    if not isinstance(content, Mapping):
        raise errors.BadRequest("the body of the request must be a JSON object")
    expected = f"{info.group}/{version}"
    got = content.get("apiVersion")
    if got != expected:
        raise errors.BadRequest(
            f"the API version in the data ({got}) does not match the expected API version "
            f"({expected})"
        )
    if content.get("kind") != info.kind:
        raise errors.BadRequest(
            f"the kind in the data ({content.get('kind')}) does not match the expected kind "
            f"({info.kind})"
        )
    body: JSON = copy.deepcopy(dict(content))
    meta = body.get("metadata")
    if meta is None:
        meta = body["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata: must be an object")
    if info.namespaced:
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace or given or "default"
    else:
        meta.pop("namespace", None)
    return body


def generation_changed(info_status: bool, old: JSON, new: JSON) -> bool:
    """Upstream bumps a custom object's generation when anything but metadata changed (and
    status, when the status subresource is enabled: status writes go through /status)."""
    skip = ("metadata", "status") if info_status else ("metadata",)
    left = {k: v for k, v in old.items() if k not in skip}
    right = {k: v for k, v in new.items() if k not in skip}
    return left != right


def merged_update(old: JSON, new: JSON, status_subresource: bool, subresource: str) -> JSON:
    """``new`` over ``old`` for an update: the server's metadata kept; with a status
    subresource, the main resource keeps the old status and ``/status`` takes only the new
    status (status_strategy.go: "update is only allowed to set status")."""
    old_meta = old.get("metadata") or {}
    if subresource == "status":
        out = copy.deepcopy(old)
        if "status" in new:
            out["status"] = new["status"]
        else:
            out.pop("status", None)
        return out
    out = copy.deepcopy(new)
    meta = dict(out.get("metadata") or {})
    for key in SERVER_META:
        meta.pop(key, None)
        if key in old_meta and key != "resourceVersion":
            meta[key] = old_meta[key]
    meta["name"] = old_meta.get("name", "")
    if "namespace" in old_meta:
        meta["namespace"] = old_meta["namespace"]
    out["metadata"] = meta
    if status_subresource:
        if "status" in old:
            out["status"] = old["status"]
        else:
            out.pop("status", None)
    return out


# ---------------------------------------------------------------------------- definitions
ESTABLISHED = "Established"
NAMES_ACCEPTED = "NamesAccepted"
TERMINATING = "Terminating"


def names_conflict(info: CRDInfo, others: Iterable[CRDInfo]) -> tuple[str, str]:
    """What the naming controller finds already in use in the same group: ``(reason,
    message)``, or ``("", "")``. Resource names (plural, singular, short names) and kind names
    (kind, listKind) are checked against the other definitions' of each sort, in that order;
    the last conflict found is the one reported (naming_controller.go
    calculateNamesAndConditions, and its tests)."""
    resources: set[str] = set()
    kinds: set[str] = set()
    for other in others:
        if other.group == info.group and other.name != info.name:
            resources |= {other.plural, other.singular, *other.short_names}
            kinds |= {other.kind, other.list_kind}
    found = ("", "")
    checks = (
        ("PluralConflict", (info.plural,), resources),
        ("SingularConflict", (info.singular,), resources),
        ("ShortNamesConflict", info.short_names, resources),
        ("KindConflict", (info.kind,), kinds),
        ("ListKindConflict", (info.list_kind,), kinds),
    )
    for reason, names, taken in checks:
        for name in names:
            if name in taken:
                found = (reason, f'"{name}" is already in use')
    return found


def condition(kind: str, status: bool, reason: str, message: str, at: float) -> JSON:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "lastTransitionTime": at,
        "reason": reason,
        "message": message,
    }


def naming_status(content: JSON, conflict: tuple[str, str], at: float) -> JSON:
    """The naming controller's status: NamesAccepted, acceptedNames, and Established False
    (Installing until the establishing controller runs, NotAccepted on a conflict)."""
    spec = content["spec"]
    storage = [v["name"] for v in spec["versions"] if v.get("storage")]
    if conflict[0]:
        conditions = [
            condition(NAMES_ACCEPTED, False, conflict[0], conflict[1], at),
            condition(ESTABLISHED, False, "NotAccepted", "not all names are accepted", at),
        ]
        accepted: JSON = {}
    else:
        conditions = [
            condition(NAMES_ACCEPTED, True, "NoConflicts", "no conflicts found", at),
            condition(ESTABLISHED, False, "Installing", "the initial names have been accepted", at),
        ]
        accepted = dict(spec["names"])
    return {"conditions": conditions, "acceptedNames": accepted, "storedVersions": storage}


def established(status: JSON, at: float) -> JSON:
    """The establishing controller's write (pkg/controller/establish): Established True."""
    conditions = [c for c in status["conditions"] if c["type"] != ESTABLISHED]
    conditions.append(
        condition(
            ESTABLISHED, True, "InitialNamesAccepted", "the initial names have been accepted", at
        )
    )
    return {**status, "conditions": conditions}


def is_established(content: Mapping[str, Any]) -> bool:
    for cond in (content.get("status") or {}).get("conditions") or ():
        if cond.get("type") == ESTABLISHED:
            return cond.get("status") == "True"
    return False


def with_terminating(
    content: JSON,
    at: float,
    reason: str = "InstanceDeletionInProgress",
    message: str = "CustomResource deletion is in progress",
    status_: bool = True,
) -> JSON:
    """The definition with its ``Terminating`` condition set (crd_finalizer.go's words)."""
    status = dict(content.get("status") or {})
    old = [c for c in status.get("conditions") or () if c.get("type") == TERMINATING]
    conditions = [c for c in status.get("conditions") or () if c.get("type") != TERMINATING]
    if old and old[0].get("status") == ("True" if status_ else "False"):
        at = old[0].get("lastTransitionTime", at)  # SetCRDCondition keeps the transition time
    conditions.append(condition(TERMINATING, status_, reason, message, at))
    status["conditions"] = conditions
    return {**content, "status": status}


__all__ = [
    "ESTABLISHED",
    "NAMES_ACCEPTED",
    "CustomInvalid",
    "StrictDecodingError",
    "check_envelope",
    "checked_content",
    "established",
    "generation_changed",
    "is_established",
    "merged_update",
    "names_conflict",
    "naming_status",
    "qualified_kind",
    "with_terminating",
]


class MethodNotAllowed(errors.APIError):
    code = 405
    reason = "MethodNotAllowed"


def json_path_get(content: Mapping[str, Any], path: str) -> Any:
    """The value at a simple JSONPath (``.spec.replicas``), or None."""
    node: Any = content
    for part in path.strip(".").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def json_path_set(content: JSON, path: str, value: Any) -> JSON:
    """A copy of ``content`` with ``value`` at a simple JSONPath (parents created)."""
    out = copy.deepcopy(content)
    node = out
    parts = path.strip(".").split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
    return out
