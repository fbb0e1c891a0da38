"""The ``resourceVersion`` stamp: a write copies its object once, with the new version in it.

Upstream never stores ``resourceVersion`` in the object: etcd3's store clears it before encoding
(``versioner.PrepareObjectForStorage``) and sets it from the key's ``mod_revision`` on every
decode (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go, ``decode``;
``APIObjectVersioner.UpdateObject``). The model keeps that promise, what a client sees: every
object served carries its key's mod revision (:func:`decode`). It does not need upstream's
bytes, so it saves the copy a decode would make: a write predicts the revision its transaction
commits at (:func:`next_version`: etcd bumps its one revision by one per write transaction) and
the one copy it makes anyway (the strategy's merge, the server's metadata on create, the
binding) carries that version already. The watch cache's decode of the commit then finds the
stamp right and hands on the stored object itself, which is also the write's answer.

A prediction that misses (a write hook lost the write, another write came between: nothing the
model does today) costs a copy, never a wrong version: :func:`decode` restamps whatever does
not carry its key's mod revision.

Because the stored object carries its version, "did this update change anything?" (the generic
store's GuaranteedUpdate writes nothing when the new bytes equal the stored ones) is
:func:`unchanged`: equality of every field but ``metadata.resourceVersion``, as attrs' ``==``
compares them (field by field, in order, ``is`` before ``==``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import attrs

from kubechaos.api.objects import APIObject, ObjectMeta, with_meta
from kubechaos.control.etcd import Etcd

# every ObjectMeta field but resource_version, read at once (compared as one tuple)
_META_BUT_VERSION = operator.attrgetter(
    *(f.name for f in attrs.fields(ObjectMeta) if f.name != "resource_version")
)
# class -> its fields but metadata, read at once (None: not an attrs class with metadata)
_BODIES: dict[type, Callable[[Any], Any] | None] = {}


def next_version(etcd: Etcd) -> str:
    """The resourceVersion the next write transaction commits at."""
    return str(etcd.store.revision + 1)


def decode(value: APIObject, revision: int) -> APIObject:
    """The stored object with its ``resourceVersion``: the etcd key's mod revision (a copy only
    when the write did not stamp it: a deletion's revision, a missed prediction)."""
    rv = str(revision)
    if value.metadata.resource_version == rv:
        return value
    return with_meta(value, resource_version=rv)


def _body(cls: type) -> Callable[[Any], Any] | None:
    getter: Callable[[Any], Any] | None = None
    if attrs.has(cls):
        names = [f.name for f in attrs.fields(cls) if f.eq]
        if "metadata" in names:
            names.remove("metadata")
            getter = operator.attrgetter(*names) if names else (lambda obj: ())
    _BODIES[cls] = getter
    return getter


def unchanged(new: Any, stored: Any) -> bool:
    """Whether writing ``new`` over ``stored`` would store nothing new: equal but for
    ``metadata.resourceVersion`` (the fields after metadata first: where an update differs)."""
    if new is stored:
        return True
    cls = type(new)
    if cls is not type(stored):
        return False
    body = _BODIES[cls] if cls in _BODIES else _body(cls)
    if body is None:  # pragma: no cover - every typed kind is an attrs class with metadata
        return bool(new == stored)
    if body(new) != body(stored):
        return False
    meta, old_meta = new.metadata, stored.metadata
    return meta is old_meta or _META_BUT_VERSION(meta) == _META_BUT_VERSION(old_meta)


__all__ = ["decode", "next_version", "unchanged"]
