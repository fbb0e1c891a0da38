"""Foreground and orphan deletion: what the garbage collector does for an owner being deleted
with the ``foregroundDeletion`` or ``orphan`` finalizer (pkg/controller/garbagecollector/
garbagecollector.go ``attemptToDeleteItem`` / ``orphanDependents``, and the API server's
``propagationPolicy`` in apiserver/pkg/registry/generic/registry/store.go, which puts the
finalizer on the owner and sets its ``deletionTimestamp``):

- ``orphan``: every dependent loses its owner reference to the owner, then the finalizer goes
  and the owner with it; the dependents live on (a ReplicaSet without its Deployment);
- ``foregroundDeletion``: every dependent is deleted (in the foreground too when it has
  dependents of its own: a Deployment's ReplicaSet waits for its pods), and the owner stays (``deletionTimestamp``
  set, ``kubectl get`` shows it) until the last is gone; then the finalizer goes and the owner
  with it. Upstream waits for dependents whose reference has ``blockOwnerDeletion``, which the
  controllers set on every reference they write; the model waits for all of them.

An owner without these finalizers costs nothing here: :func:`pending` is one truth test on its
(usually empty) finalizers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import APIObject

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
OWNER_KEY = "owner:"  # work queue keys of owners whose dependents are to be handled


class Collector(Protocol):
    """What the garbage collector offers this module."""

    informers: dict[str, Any]
    live: dict[str, str]
    dependents: dict[str, dict[str, None]]
    api: Any
    events: Any
    name: str

    def enqueue(self, key: str) -> None: ...


def pending(obj: APIObject) -> bool:
    """Whether ``obj`` is being deleted with a propagation finalizer to honour."""
    meta = obj.metadata
    return (
        bool(meta.finalizers)
        and meta.deletion_timestamp is not None
        and (ORPHAN in meta.finalizers or FOREGROUND in meta.finalizers)
    )


def on_dependent_gone(gc: Collector, dependent: APIObject) -> None:
    """A dependent went: its owners deleting in the foreground may now finish."""
    for ref in dependent.metadata.owner_references:
        owner_key = gc.live.get(ref.uid)
        if owner_key is None:
            continue
        resource, obj_key = owner_key.split("/", 1)
        owner = gc.informers[resource].get(obj_key)
        if owner is not None and pending(owner):
            gc.enqueue(OWNER_KEY + owner_key)


async def sync_owner(gc: Collector, work_key: str) -> None:
    """Orphan or delete the dependents of one owner, then let the owner go."""
    resource, obj_key = work_key.split("/", 1)
    informer = gc.informers.get(resource)
    owner = informer.get(obj_key) if informer is not None else None
    if owner is None or not pending(owner):
        return
    uid = owner.metadata.uid
    dependents = list(gc.dependents.get(uid, ()))
    if ORPHAN in owner.metadata.finalizers:
        for dependent in dependents:
            await _patch(gc, dependent, _without_owner(uid))
        await _patch(gc, work_key, _without_finalizer(ORPHAN, uid))
        return
    waiting = False
    for dependent in dependents:
        dep_resource, dep_key = dependent.split("/", 1)
        obj = gc.informers[dep_resource].get(dep_key)
        if obj is None:
            continue
        waiting = True
        if obj.metadata.deletion_timestamp is None:
            if gc.dependents.get(obj.metadata.uid):  # it has dependents: in the foreground too
                await _patch(gc, dependent, _with_finalizer(FOREGROUND, obj.metadata.uid))
            namespace, _, name = dep_key.rpartition("/")
            try:
                await gc.api.delete(dep_resource, namespace, name, uid=obj.metadata.uid)
            except (errors.NotFound, errors.Conflict):
                continue
    if not waiting:
        await _patch(gc, work_key, _without_finalizer(FOREGROUND, uid))


async def _patch(gc: Collector, work_key: str, mutate: Callable[[Any], Any]) -> None:
    resource, obj_key = work_key.split("/", 1)
    namespace, _, name = obj_key.rpartition("/")
    try:
        await gc.api.patch(resource, namespace, name, mutate)
    except errors.NotFound:
        return


def _without_owner(uid: str) -> Callable[[Any], Any]:
    def mutate(obj: APIObject) -> APIObject:
        refs = tuple(r for r in obj.metadata.owner_references if r.uid != uid)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))

    return mutate


def _with_finalizer(finalizer: str, uid: str) -> Callable[[Any], Any]:
    def mutate(obj: APIObject) -> APIObject:
        if obj.metadata.uid != uid:
            raise errors.Conflict(f"{obj.metadata.name}: UID precondition failed")
        if finalizer in obj.metadata.finalizers:
            return obj
        finalizers = (*obj.metadata.finalizers, finalizer)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, finalizers=finalizers))

    return mutate


def _without_finalizer(finalizer: str, uid: str) -> Callable[[Any], Any]:
    def mutate(obj: APIObject) -> APIObject:
        if obj.metadata.uid != uid:
            raise errors.Conflict(f"{obj.metadata.name}: UID precondition failed")
        kept = tuple(f for f in obj.metadata.finalizers if f != finalizer)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, finalizers=kept))

    return mutate


__all__ = ["FOREGROUND", "ORPHAN", "OWNER_KEY", "on_dependent_gone", "pending", "sync_owner"]
