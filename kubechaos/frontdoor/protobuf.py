"""The few Kubernetes protobuf bodies the front door decodes: ``Eviction`` and ``DeleteOptions``.

kubectl's typed clients send ``application/vnd.kubernetes.protobuf``: ``kubectl drain`` POSTs
each Eviction that way. A body is upstream's envelope (apimachinery/pkg/runtime/serializer/
protobuf: the magic ``k8s\\x00``, then a ``runtime.Unknown`` holding ``typeMeta`` = 1
(apiVersion = 1, kind = 2) and ``raw`` = 2), ``raw`` being the object's message with the field
numbers of k8s.io/api's ``generated.proto``. Only the messages listed here are decoded, into the
JSON shape the rest of the front door reads; any other kind is refused (415) with a message
saying to send JSON (what ``kubectl apply``/``create -f`` send).
"""

from __future__ import annotations

from typing import Any

from kubechaos.api import errors

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufUnsupported(errors.APIError):
    code = 415
    reason = "UnsupportedMediaType"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise errors.BadRequest("malformed protobuf body: truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes) -> dict[int, list[Any]]:
    """A message's fields by number: varints as ints, length-delimited ones as bytes."""
    out: dict[int, list[Any]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = int.from_bytes(data[at : at + size], "little"), at + size
        else:
            raise errors.BadRequest(f"malformed protobuf body: wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _text(found: dict[int, list[Any]], number: int) -> str:
    values = found.get(number)
    return values[-1].decode("utf-8", "replace") if values else ""


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def delete_options(raw: bytes) -> dict[str, Any]:
    """meta/v1 DeleteOptions: gracePeriodSeconds = 1, preconditions = 2 (uid = 1,
    resourceVersion = 2), orphanDependents = 3, propagationPolicy = 4, dryRun = 5."""
    found = fields(raw)
    out: dict[str, Any] = {}
    if 1 in found:
        out["gracePeriodSeconds"] = _signed(found[1][-1])
    if 2 in found:
        pre = fields(found[2][-1])
        out["preconditions"] = {"uid": _text(pre, 1), "resourceVersion": _text(pre, 2)}
    if 3 in found:
        out["orphanDependents"] = bool(found[3][-1])
    if 4 in found:
        out["propagationPolicy"] = _text(found, 4)
    if 5 in found:
        out["dryRun"] = [v.decode("utf-8", "replace") for v in found[5]]
    return out


def _eviction(raw: bytes) -> dict[str, Any]:
    """policy/v1 Eviction: metadata = 1 (ObjectMeta: name = 1, namespace = 3),
    deleteOptions = 2."""
    found = fields(raw)
    meta = fields(found[1][-1]) if 1 in found else {}
    out: dict[str, Any] = {"metadata": {"name": _text(meta, 1), "namespace": _text(meta, 3)}}
    if 2 in found:
        out["deleteOptions"] = delete_options(found[2][-1])
    return out


_DECODERS = {"Eviction": _eviction, "DeleteOptions": delete_options}


def decode(body: bytes) -> dict[str, Any]:
    """The object in a protobuf body, as JSON would carry it."""
    if not body.startswith(MAGIC):
        raise errors.BadRequest("malformed protobuf body: no k8s envelope")
    unknown = fields(body[len(MAGIC) :])
    type_meta = fields(unknown[1][-1]) if 1 in unknown else {}
    api_version, kind = _text(type_meta, 1), _text(type_meta, 2)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtobufUnsupported(
            f"kubechaos decodes protobuf request bodies only for {', '.join(_DECODERS)}; "
            f"send {kind or 'the object'} as application/json (kubectl apply/create -f do)"
        )
    raw = unknown[2][-1] if 2 in unknown else b""
    return {"apiVersion": api_version, "kind": kind, **decoder(raw)}


__all__ = ["MAGIC", "MEDIA_TYPE", "ProtobufUnsupported", "decode", "delete_options", "fields"]
