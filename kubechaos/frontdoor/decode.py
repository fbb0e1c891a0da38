"""A write's request body into the model's object, through the same readers as a scenario file.

Upstream's handlers (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,update}.go)
decode the body with the URL's group-version-kind as the default, check it against the request
(kind, namespace, name), and report fields the schema does not know as ``fieldValidation``
asks: ``Strict`` refuses them (400, ``strict decoding error: unknown field "spec.foo"``),
``Warn`` (the default) answers ``Warning: 299 - "unknown field \\"spec.foo\\""``, ``Ignore``
says nothing. The model adds its own class of field: one Kubernetes knows but the model does not
act on (:mod:`kubechaos.api.modelled`), always warned about whatever ``fieldValidation`` says,
in the words the scenario loader uses. The object itself comes from
:func:`kubechaos.api.manifest.read_manifest`: a manifest applied through ``kubectl`` becomes the
same object as the same manifest in a scenario file.

An update is applied as what the client changed, seen through the reader:
:func:`overlay` takes the stored object and replaces, field by field, only what differs between
the reader's view of the stored object (encoded as the client saw it) and its view of the
client's body. Whatever the reader does not read (a field the model holds but a client cannot
write, such as a pod's scheduling decisions) is kept as stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import yaml

from kubechaos.api import errors
from kubechaos.api.fieldreader import ManifestError, format_path
from kubechaos.api.manifest import SUPPORTED_KINDS, read_manifest
from kubechaos.api.modelled import NOT_MODELLED, unmodelled_fields
from kubechaos.api.objects import Taint
from kubechaos.api.objects.custom import owner_references
from kubechaos.api.schema import schema_errors
from kubechaos.frontdoor import protobuf
from kubechaos.frontdoor.paths import ResourcePath

JSON_TYPES = frozenset({"", "application/json", "*/*"})
YAML_TYPES = frozenset({"application/yaml", "application/apply-patch+yaml", "text/yaml"})
FIELD_VALIDATIONS = ("Strict", "Warn", "Ignore")


class UnsupportedMediaType(errors.APIError):
    code = 415
    reason = "UnsupportedMediaType"


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class MethodNotAllowed(errors.APIError):
    code = 405
    reason = "MethodNotAllowed"


def dry_run(params: Mapping[str, str]) -> bool:
    """``dryRun=All``: admitted and validated, not stored (anything else is refused)."""
    value = params.get("dryRun", "")
    if value not in ("", "All"):
        raise errors.BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return value == "All"


def conflict(resource: str, name: str) -> errors.Conflict:
    """upstream's 409 for a stale ``resourceVersion`` (errors.NewConflict)."""
    return errors.Conflict(f'Operation cannot be fulfilled on {resource} "{name}": {MODIFIED}')


class StrictDecoding(errors.BadRequest):
    """Unknown or duplicate fields with ``fieldValidation=Strict``."""


class InvalidObject(Exception):
    """422 Invalid with upstream's ``details.causes``: (field path, message) pairs; ``kind``
    group-qualified, as upstream's message names it (``Deployment.apps``)."""

    def __init__(self, kind: str, name: str, causes: tuple[tuple[str, str], ...]) -> None:
        self.kind = kind
        self.name = name
        self.causes = causes
        shown = "; ".join(f"{field}: {text}" if field else text for field, text in causes)
        self.message = f'{kind} "{name}" is invalid: {shown}'
        super().__init__(self.message)


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in out:
            seen.append(key)
        out[key] = value
    out.duplicates = tuple(seen)
    return out


class _YAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader, its mappings as :class:`_Object` s that remember duplicate keys
    (PyYAML itself keeps the last silently; upstream's strict decoding reports them)."""


def _yaml_mapping(loader: _YAMLLoader, node: yaml.MappingNode) -> _Object:
    loader.flatten_mapping(node)
    return _pairs(
        [(loader.construct_object(k, deep=True), loader.construct_object(v, deep=True))
         for k, v in node.value]
    )  # fmt: skip


_YAMLLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _yaml_mapping)


def parse_body(body: bytes, content_type: str) -> Any:
    """The document in ``body``: JSON, or YAML where upstream accepts it (400 if malformed,
    415 for a media type upstream does not decode)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        raise errors.BadRequest("the request body is empty: an object is expected")
    if media == protobuf.MEDIA_TYPE:
        return protobuf.decode(body)
    if media in YAML_TYPES:
        try:
            return yaml.load(body.decode("utf-8"), Loader=_YAMLLoader)  # a SafeLoader
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            shown = " ".join(str(exc).split())
            raise errors.BadRequest(f"error converting YAML to JSON: {shown}") from None
    if media in JSON_TYPES or media.endswith("+json"):
        try:
            return json.loads(body, object_pairs_hook=_pairs)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.BadRequest(f"the body of the request is not valid JSON: {exc}") from None
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (got {media!r})"
    )


def duplicate_fields(doc: Any, path: tuple[Any, ...] = ()) -> list[str]:
    """``duplicate field "spec.replicas"`` for each key a JSON object was given twice."""
    found: list[str] = []
    if isinstance(doc, _Object):
        found += [f'duplicate field "{format_path((*path, key))}"' for key in doc.duplicates]
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            found += duplicate_fields(value, (*path, key))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found += duplicate_fields(item, (*path, i))
    return found


def field_validation(params: Mapping[str, str]) -> str:
    value = params.get("fieldValidation", "") or "Warn"
    if value not in FIELD_VALIDATIONS:
        raise errors.BadRequest(
            f"fieldValidation parameter unsupported: {value}; "
            f"supported values are {', '.join(FIELD_VALIDATIONS)}"
        )
    return value


def unknown_fields(doc: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Paths and messages of the fields upstream's v1.32 schema does not know, then of the
    duplicate ones (``unknown field "spec.foo"``)."""
    paths: list[tuple[Any, ...]] = []
    messages: list[str] = []
    for error in schema_errors(doc):
        if error.message.startswith("unknown field"):
            paths.append(error.path)
            messages.append(f'unknown field "{format_path(error.path)}"')
    return paths, messages + duplicate_fields(doc)


def check_fields(
    doc: Mapping[str, Any],
    validation: str,
    kind: str,
    version: str,
    before: Mapping[str, Any] | None = None,
    served: Mapping[str, Any] | None = None,
) -> list[str]:
    """Warnings for ``doc``'s fields (unknown ones as ``validation`` asks, unmodelled ones
    always); :class:`StrictDecoding` for unknown ones under Strict. With ``before`` (the
    object a patch was applied to), only what the patch brought counts. With ``served`` (the
    stored object as the front door serves it), a field the server itself serves is not
    unknown to it (what ``kubectl get -o yaml | kubectl replace -f -`` sends back)."""
    unknown_paths, unknown = unknown_fields(doc)
    if before is not None or served is not None:
        had_paths, had = unknown_fields(before if before is not None else served or {})
        unknown_paths = [p for p in unknown_paths if p not in had_paths]
        unknown = [m for m in unknown if m not in had]
    if unknown and validation == "Strict":
        raise StrictDecoding(
            f'{kind} in version "{version}" cannot be handled as a {kind}: '
            f"strict decoding error: {', '.join(unknown)}"
        )
    warnings = unknown if validation == "Warn" else []
    skipped = set(unknown_paths)
    old = set(unmodelled_fields(before)) if before is not None else set()
    skipped |= set(unmodelled_fields(served)) if served is not None else set()
    for path in unmodelled_fields(doc):
        if path not in skipped and path not in old and path not in HONOURED_META:
            warnings.append(f"{format_path(path)}: {NOT_MODELLED}")
    return warnings


# What a client's object keeps though a scenario's manifest does not (with_meta_extras): the
# garbage collector and the finalizers act on them, so they are not "not modelled" here.
HONOURED_META = frozenset({("metadata", "ownerReferences"), ("metadata", "finalizers")})


def qualified_kind(target: ResourcePath) -> str:
    group = target.resource.group_version.rpartition("/")[0]
    return f"{target.resource.kind}.{group}" if group else target.resource.kind


def expect_object(doc: Any, target: ResourcePath, name_from_url: bool) -> dict[str, Any]:
    """``doc`` as an object of ``target``'s kind: kind and apiVersion default to the URL's and
    must match it, and so must the namespace (and the name, for an update), as upstream's
    create.go/update.go check them (400)."""
    if not isinstance(doc, Mapping):
        raise errors.BadRequest(f"the body must be a {target.resource.kind} object")
    out = dict(doc)
    resource = target.resource
    out.setdefault("kind", resource.kind)
    out.setdefault("apiVersion", resource.group_version)
    if out["kind"] != resource.kind or out["apiVersion"] != resource.group_version:
        raise errors.BadRequest(
            f"the API version in the data ({out['apiVersion']}) does not match the expected "
            f"API version ({resource.group_version}) and kind ({resource.kind})"
        )
    meta = out.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise errors.BadRequest("metadata must be an object")
    meta = dict(meta)
    if resource.namespaced:
        given = meta.get("namespace") or target.namespace or "default"
        if target.namespace and given != target.namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = given
    if name_from_url:
        given = meta.get("name") or target.name
        if given != target.name:
            raise errors.BadRequest(
                f"the name of the object ({given}) does not match the name on the URL "
                f"({target.name})"
            )
        meta["name"] = given
    out["metadata"] = meta
    return out


def read_object(doc: Mapping[str, Any], target: ResourcePath) -> Any:
    """``doc`` through the kind's reader (422 with every cause); kinds with no reader get
    :func:`read_unread_kind`."""
    if target.resource.kind not in SUPPORTED_KINDS:
        raise errors.APIError("no reader")  # pragma: no cover - the caller routes these
    meta = doc.get("metadata") or {}
    try:
        obj = read_manifest(doc, str(meta.get("namespace", "") or ""))
    except ManifestError as exc:
        raise InvalidObject(
            qualified_kind(target),
            str(meta.get("name", "") or meta.get("generateName", "")),
            tuple((e.dotted(), e.message) for e in exc.errors),
        ) from None
    return obj


def mapping(value: Any, path: str) -> Mapping[str, Any]:
    """``value`` if it is an object (None: empty), else 400 naming ``path``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise errors.BadRequest(f"{path}: expected an object, not {type(value).__name__}")
    return value


def sequence(value: Any, path: str) -> list[Any]:
    """``value`` if it is a list (None: empty), else 400 naming ``path``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.BadRequest(f"{path}: expected a list, not {type(value).__name__}")
    return value


def with_meta_extras(obj: Any, doc: Mapping[str, Any]) -> Any:
    """``obj`` with the metadata a scenario's reader leaves out but an update of a stored object
    carries: ``finalizers`` and ``ownerReferences`` (a client removing a finalizer)."""
    meta = mapping(doc.get("metadata"), "metadata")
    given = sequence(meta.get("finalizers"), "metadata.finalizers")
    finalizers = tuple(str(f) for f in given if isinstance(f, str))
    owners = owner_references(sequence(meta.get("ownerReferences"), "metadata.ownerReferences"))
    return attrs.evolve(
        obj, metadata=attrs.evolve(obj.metadata, finalizers=finalizers, owner_references=owners)
    )


def _node_spec(obj: Any, doc: Mapping[str, Any]) -> Any:
    spec = mapping(doc.get("spec"), "spec")
    taints = tuple(
        Taint(str(t.get("key", "")), str(t.get("effect", "")), str(t.get("value", "") or ""))
        for t in sequence(spec.get("taints"), "spec.taints")
        if isinstance(t, Mapping)
    )
    old = obj.spec
    kept = {t.key + "/" + t.effect: t for t in old.taints}
    taints = tuple(
        attrs.evolve(t, time_added=kept[t.key + "/" + t.effect].time_added)
        if t.key + "/" + t.effect in kept
        else t
        for t in taints
    )
    new_spec = attrs.evolve(
        old, unschedulable=bool(spec.get("unschedulable", False)), taints=taints
    )
    return attrs.evolve(obj, spec=new_spec)


# What a client can change of a kind the scenario reader does not read (beyond metadata).
_UNREAD_KIND_FIELDS: dict[str, tuple[frozenset[str], Callable[[Any, Mapping[str, Any]], Any]]] = {
    "Node": (frozenset({"spec.unschedulable", "spec.taints"}), _node_spec),
}
_WRITABLE_META = frozenset(
    {"labels", "annotations", "finalizers", "ownerReferences", "resourceVersion"}
)


def read_unread_kind(current: Any, doc: Mapping[str, Any]) -> Any:
    """A kind without a scenario reader (a Node): labels, annotations, finalizers and owner
    references, plus what :data:`_UNREAD_KIND_FIELDS` lists (a node's ``unschedulable`` and
    ``taints``, what ``kubectl cordon`` and ``kubectl taint`` write)."""
    meta = mapping(doc.get("metadata"), "metadata")
    labels = mapping(meta.get("labels"), "metadata.labels")
    annotations = mapping(meta.get("annotations"), "metadata.annotations")
    obj = attrs.evolve(
        current,
        metadata=attrs.evolve(
            current.metadata,
            labels={str(k): str(v) for k, v in labels.items()},
            annotations={str(k): str(v) for k, v in annotations.items()},
        ),
    )
    obj = with_meta_extras(obj, doc)
    extra = _UNREAD_KIND_FIELDS.get(type(current).__name__)
    return extra[1](obj, doc) if extra is not None else obj


def ignored_changes(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Warnings for what a client changed in a kind without a reader that the model does not
    take from clients (the shallowest changed path of each branch)."""
    writable = _UNREAD_KIND_FIELDS.get(kind, (frozenset(), None))[0]
    found: list[tuple[Any, ...]] = []
    _diff(before, after, (), found)
    out = []
    for path in found:
        dotted = format_path(path)
        if dotted in writable or (
            path[:1] == ("metadata",) and path[1:2] and path[1] in _WRITABLE_META
        ):
            continue
        if path[:1] == ("status",) or dotted in ("metadata.managedFields",):
            continue
        out.append(f"{dotted}: {NOT_MODELLED}")
    return out


def _diff(a: Any, b: Any, path: tuple[Any, ...], found: list[tuple[Any, ...]]) -> None:
    if a == b:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            _diff(a.get(key), b.get(key), (*path, key), found)
        return
    found.append(path)


def overlay(current: Any, base: Any, new: Any) -> Any:
    """``current`` with what changed from ``base`` to ``new`` (all three of one class): field by
    field down attrs classes, whole values below them."""
    if base == new:
        return current
    cls = type(current)
    if not (attrs.has(cls) and type(base) is cls and type(new) is cls):
        return new
    changes = {}
    for field in attrs.fields(cls):
        if not field.init:
            continue
        b, n = getattr(base, field.name), getattr(new, field.name)
        if b != n:
            changes[field.alias or field.name] = overlay(getattr(current, field.name), b, n)
    return attrs.evolve(current, **changes) if changes else current


__all__ = [
    "FIELD_VALIDATIONS",
    "MODIFIED",
    "InvalidObject",
    "MethodNotAllowed",
    "StrictDecoding",
    "UnsupportedMediaType",
    "check_fields",
    "conflict",
    "dry_run",
    "duplicate_fields",
    "expect_object",
    "field_validation",
    "ignored_changes",
    "mapping",
    "overlay",
    "parse_body",
    "qualified_kind",
    "read_object",
    "read_unread_kind",
    "sequence",
    "unknown_fields",
    "with_meta_extras",
]
