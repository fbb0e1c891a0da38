"""A client's ``status`` (JSON, as it PUTs or PATCHes it to ``/status``) read back into the model's
status class: what the status strategy then stores (:mod:`kubechaos.control.registry.statuswrite`).

Only what the client changed is read: each top-level status field whose JSON differs from what the
front door serves for the stored object is decoded into the model's field; an unchanged one keeps
the stored value exactly (so a client's read-modify-write of one condition leaves the rest as the
model holds them, to the sub-second). A changed field is read when the model holds it in
upstream's shape: strings, integers, booleans, times (RFC 3339) and lists of such structures (the
``conditions`` of every kind). One the model holds compressed or derived (container statuses,
capacity, ``podIPs``, ``qosClass``, ``nodeInfo``, an HPA's ``currentMetrics``) or does not hold at
all is not taken, and answered with a Warning naming it, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from kubechaos.api import errors
from kubechaos.api.objects import Namespace, OwnerReference
from kubechaos.frontdoor.encoding import camel
from kubechaos.frontdoor.timefmt import Anchor

NOT_TAKEN = "not modelled as written by clients (ignored): the model derives it"
_TIME_SUFFIXES = ("_time", "_timestamp", "_at")
_SCALARS: dict[Any, type] = {str: str, int: int, float: float, bool: bool}
# Fields the model holds in its own shape or derives from its own truth (the pod's network, the
# node's runtime): a client's change to them is not taken.
_DERIVED = frozenset(
    {
        "container_statuses",
        "init_container_statuses",
        "pod_ip",
        "host_ip",
        "images",
        "current_metrics",
        "uncounted_succeeded",
        "uncounted_failed",
        "disrupted_pods",
    }
)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def parse_time(value: Any, anchor: Anchor, path: str) -> float:
    """An RFC 3339 time (``metav1.Time`` / ``MicroTime``) as the run's virtual seconds."""
    if not isinstance(value, str):
        raise errors.BadRequest(f"{path}: expected an RFC 3339 time, not {value!r}")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise errors.BadRequest(f'{path}: parsing time "{value}": not RFC 3339') from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - anchor.epoch


def _is_time(name: str) -> bool:
    return name == "time_added" or name.endswith(_TIME_SUFFIXES)


def _decode(hint: Any, name: str, value: Any, anchor: Anchor, path: str) -> Any:
    """``value`` as the model's field ``name`` of type ``hint``; raises LookupError when the model
    does not hold the field in upstream's shape."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    optional = (origin is typing.Union or origin is types.UnionType) and type(None) in args
    if optional:
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)] or [Any]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_time(name) and hint is float:
        return 0.0 if value is None else parse_time(value, anchor, path)
    if hint in _SCALARS:
        return _scalar(hint, value, path)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and attrs.has(args[0]):
        if value is None:
            return ()
        if not isinstance(value, list):
            raise errors.BadRequest(f"{path}: expected a list, not {type(value).__name__}")
        return tuple(
            _structure(args[0], item, anchor, f"{path}[{i}]") for i, item in enumerate(value)
        )
    raise LookupError(path)


def _scalar(hint: type, value: Any, path: str) -> Any:
    if value is None:
        return hint()
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise errors.BadRequest(f"{path}: expected an integer, not {value!r}")
    if not isinstance(value, hint):
        kind = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}[hint]
        raise errors.BadRequest(f"{path}: expected {kind}, not {value!r}")
    return value


def _structure(cls: type, value: Any, anchor: Anchor, path: str) -> Any:
    """One element of a list of structures (a condition), every field read."""
    if not isinstance(value, Mapping):
        raise errors.BadRequest(f"{path}: expected an object, not {type(value).__name__}")
    hints = _hints(cls)
    given: dict[str, Any] = {}
    for field in attrs.fields(cls):
        key = camel(field.name)
        if key in value:
            given[field.name] = _decode(
                hints[field.name], field.name, value[key], anchor, f"{path}.{key}"
            )
        elif field.default is attrs.NOTHING:
            given[field.name] = _decode(hints[field.name], field.name, None, anchor, path)
    return cls(**given)


def read_status(
    current: Any,
    served: Mapping[str, Any],
    wanted: Mapping[str, Any],
    anchor: Anchor,
    warnings: list[str],
) -> Any:
    """``current`` (the stored status) with each top-level field the client changed from
    ``served`` to ``wanted`` (both upstream's JSON) read in; a Warning for each it cannot take."""
    cls = type(current)
    fields = {camel(f.name): f for f in attrs.fields(cls)}
    hints = _hints(cls)
    changes: dict[str, Any] = {}
    for key in sorted(set(served) | set(wanted)):
        before, after = served.get(key), wanted.get(key)
        if before == after:
            continue
        field = fields.get(key)
        if field is None or field.name in _DERIVED:
            warnings.append(f"status.{key}: {NOT_TAKEN}")
            continue
        try:
            value = _decode(hints[field.name], field.name, after, anchor, f"status.{key}")
            if isinstance(value, tuple) and isinstance(before, list) and isinstance(after, list):
                value = _kept_items(getattr(current, field.name), before, after, value)
        except LookupError:
            warnings.append(f"status.{key}: {NOT_TAKEN}")
            continue
        changes[field.name] = value
    return attrs.evolve(current, **changes) if changes else current


def _kept_items(
    held: tuple[Any, ...], served: list[Any], wanted: list[Any], read: tuple[Any, ...]
) -> tuple[Any, ...]:
    """``read`` with each item the client sent back as it was served replaced by the item the
    model holds (its times to the sub-second, which JSON's whole seconds would round off)."""
    if len(held) != len(served):
        return read
    model: dict[bytes, Any] = {}
    for item, value in zip(served, held, strict=True):
        model.setdefault(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), value)
    out = []
    for item, value in zip(wanted, read, strict=True):
        out.append(model.get(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), value))
    return tuple(out)


def read_object_status(
    current: Any,
    served: Mapping[str, Any],
    wanted: Mapping[str, Any],
    anchor: Anchor,
    warnings: list[str],
) -> Any:
    """``current`` (a stored object) with the status of the client's ``wanted`` object read in
    (``served``: the stored object's JSON); what the request holds outside status is left for the
    status strategy to drop. A Namespace's status is its ``phase``; a Service's
    (``loadBalancer``) is not held by the model, so a change to it is a Warning."""
    before = _status_json(served)
    after = _status_json(wanted)
    meta = _metadata(current, wanted)
    if isinstance(current, Namespace):
        phase = after.get("phase", current.phase)
        if not isinstance(phase, str):
            raise errors.BadRequest(f"status.phase: expected a string, not {phase!r}")
        for key in sorted(set(before) | set(after)):
            if key != "phase" and before.get(key) != after.get(key):
                warnings.append(f"status.{key}: {NOT_TAKEN}")
        return attrs.evolve(current, metadata=meta, phase=phase)
    if not hasattr(current, "status"):
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                warnings.append(f"status.{key}: {NOT_TAKEN}")
        return attrs.evolve(current, metadata=meta)
    status = read_status(current.status, before, after, anchor, warnings)
    return attrs.evolve(current, metadata=meta, status=status)


def _status_json(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    status = doc.get("status")
    if status is None:
        return {}
    if not isinstance(status, Mapping):
        raise errors.BadRequest(f"status: expected an object, not {type(status).__name__}")
    return status


def _metadata(current: Any, wanted: Mapping[str, Any]) -> Any:
    """The metadata a status strategy may take from the request: labels, annotations,
    finalizers and owner references (which of them it keeps is the registry's business)."""
    meta = wanted.get("metadata")
    if not isinstance(meta, Mapping):
        return current.metadata
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if not isinstance(labels, Mapping) or not isinstance(annotations, Mapping):
        raise errors.BadRequest("metadata.labels and metadata.annotations must be objects")
    owners = tuple(
        OwnerReference(
            str(ref.get("kind", "")),
            str(ref.get("name", "")),
            str(ref.get("uid", "")),
            bool(ref.get("controller", False)),
        )
        for ref in meta.get("ownerReferences") or ()
        if isinstance(ref, Mapping)
    )
    finalizers = tuple(str(f) for f in meta.get("finalizers") or () if isinstance(f, str))
    return attrs.evolve(
        current.metadata,
        labels={str(k): str(v) for k, v in labels.items()},
        annotations={str(k): str(v) for k, v in annotations.items()},
        finalizers=finalizers,
        owner_references=owners,
    )


__all__ = ["NOT_TAKEN", "parse_time", "read_object_status", "read_status"]
