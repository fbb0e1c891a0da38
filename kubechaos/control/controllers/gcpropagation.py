"""The garbage collector's part in foreground deletion and orphaning, for typed and custom
objects alike.

Upstream (``pkg/controller/garbagecollector/garbagecollector.go``): an owner deleted with
``propagationPolicy: Orphan`` carries the ``orphan`` finalizer; the collector removes the owner's
reference from each of its dependents (``orphanDependents``), then the finalizer, and the owner
goes. One deleted with ``Foreground`` carries ``foregroundDeletion`` and stays, with its
``deletionTimestamp``, while the collector deletes its dependents (``attemptToDeleteItem``: a
dependent that has dependents of its own in the foreground too, the others in the background; a
dependent with another owner that is not being deleted, a "solid" owner, only loses its
reference to this one); the owner waits only for the dependents whose reference to it says
``blockOwnerDeletion: true`` (``processDeletingDependentsItem``: ``blockingDependents``), and
once none is left the finalizer goes and so does the owner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import APIObject
from kubechaos.api.objects.custom import Unstructured
from kubechaos.api.propagation import FOREGROUND, ORPHAN

FINALIZE = "finalize:"  # work-queue key prefix of an owner whose deletion waits on the collector

ClientOf = Callable[[str], Any]  # resource -> the client that serves it (typed or custom)


def needs_collector(obj: APIObject) -> bool:
    """An owner being deleted with a finalizer the collector removes."""
    meta = obj.metadata
    return meta.deletion_timestamp is not None and (
        ORPHAN in meta.finalizers or FOREGROUND in meta.finalizers
    )


def kind_of(obj: Any) -> str:
    return obj.kind if isinstance(obj, Unstructured) else type(obj).__name__


def blocks(dependent: Any, owner_uid: str) -> bool:
    """Whether ``dependent``'s reference to the owner says ``blockOwnerDeletion``."""
    return any(r.uid == owner_uid and r.blocks for r in dependent.metadata.owner_references)


async def finalize(
    client_of: ClientOf,
    resource: str,
    owner: Any,
    dependents: Iterable[tuple[str, Any]],
    has_dependents: Callable[[str], bool],
    solid: Callable[[Any, str], bool],
) -> None:
    """Orphan or delete ``owner``'s dependents (``(resource, object)`` pairs as the informers
    hold them), and remove its finalizer once that is done. ``solid(dependent, owner_uid)``:
    whether the dependent has another owner that is not being deleted."""
    meta = owner.metadata
    if ORPHAN in meta.finalizers:
        for dep_resource, dep in dependents:
            await _patch(client_of, dep_resource, dep, without_owners({meta.uid}))
        await _patch(client_of, resource, owner, without_finalizer(ORPHAN, meta.uid))
        return
    blocking = 0
    for dep_resource, dep in dependents:
        if dep.metadata.deletion_timestamp is not None:
            blocking += blocks(dep, meta.uid)  # already going: it blocks until it is gone
            continue
        if solid(dep, meta.uid):  # another owner keeps it: it only loses this reference
            await _patch(client_of, dep_resource, dep, without_owners({meta.uid}))
            continue
        policy = "Foreground" if has_dependents(dep.metadata.uid) else "Background"
        try:
            await client_of(dep_resource).delete(
                dep_resource,
                dep.metadata.namespace,
                dep.metadata.name,
                uid=dep.metadata.uid,
                propagation_policy=policy,
            )
        except (errors.NotFound, errors.Conflict):
            continue
        blocking += blocks(dep, meta.uid)
    if not blocking:
        await _patch(client_of, resource, owner, without_finalizer(FOREGROUND, meta.uid))


async def _patch(
    client_of: ClientOf, resource: str, obj: Any, mutate: Callable[[Any], Any]
) -> None:
    try:
        await client_of(resource).patch(resource, obj.metadata.namespace, obj.metadata.name, mutate)
    except (errors.NotFound, errors.Conflict):
        return


def without_finalizer(name: str, uid: str, *more: str) -> Callable[[Any], Any]:
    """A patch removing finalizers ``name`` (and ``more``) from the object of ``uid`` (409 if
    the name now holds another object)."""
    gone = {name, *more}

    def mutate(obj: Any) -> Any:
        if obj.metadata.uid != uid:
            raise errors.Conflict(f'"{obj.metadata.name}": UID precondition failed')
        kept = tuple(f for f in obj.metadata.finalizers if f not in gone)
        if isinstance(obj, Unstructured):
            return obj.with_meta(finalizers=list(kept) or None)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, finalizers=kept))

    return mutate


def without_owners(uids: set[str]) -> Callable[[Any], Any]:
    """A patch removing the owner references to ``uids`` (upstream's JSON merge patch of
    ``ownerReferences``)."""

    def mutate(obj: Any) -> Any:
        if isinstance(obj, Unstructured):
            refs = obj.content.get("metadata", {}).get("ownerReferences") or []
            kept = [r for r in refs if not isinstance(r, dict) or r.get("uid") not in uids]
            return obj.with_meta(ownerReferences=kept or None)
        refs = tuple(r for r in obj.metadata.owner_references if r.uid not in uids)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))

    return mutate


__all__ = [
    "FINALIZE",
    "blocks",
    "finalize",
    "kind_of",
    "needs_collector",
    "without_finalizer",
    "without_owners",
]
