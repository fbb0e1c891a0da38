"""The garbage collector's part in foreground deletion and orphaning.

Upstream (``pkg/controller/garbagecollector/garbagecollector.go``): an owner deleted with
``propagationPolicy: Orphan`` carries the ``orphan`` finalizer; the collector removes the owner's
reference from each of its dependents (``orphanDependents``), then the finalizer, and the owner
goes. One deleted with ``Foreground`` carries ``foregroundDeletion`` and stays, with its
``deletionTimestamp``, while the collector deletes its dependents (a dependent that has
dependents of its own in the foreground too, the others in the background:
``attemptToDeleteItem``); once no dependent is left (``processDeletingDependentsItem``) the
finalizer goes and so does the owner. Upstream waits only for dependents whose reference says
``blockOwnerDeletion: true``; the model's controllers' references are the only ones it holds
and upstream's controllers set that on all of them, so every dependent blocks here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import APIObject
from kubechaos.api.propagation import FOREGROUND, ORPHAN
from kubechaos.client.interface import APIClient

FINALIZE = "finalize:"  # work-queue key prefix of an owner whose deletion waits on the collector


def needs_collector(obj: APIObject) -> bool:
    """An owner being deleted with a finalizer the collector removes."""
    meta = obj.metadata
    return meta.deletion_timestamp is not None and (
        ORPHAN in meta.finalizers or FOREGROUND in meta.finalizers
    )


async def finalize(
    api: APIClient,
    resource: str,
    owner: APIObject,
    dependents: Iterable[tuple[str, Any]],
    has_dependents: Callable[[str], bool],
) -> None:
    """Orphan or delete ``owner``'s dependents (``(resource, object)`` pairs as the informers
    hold them), and remove its finalizer once that is done."""
    meta = owner.metadata
    if ORPHAN in meta.finalizers:
        for dep_resource, dep in dependents:
            try:
                await api.patch(
                    dep_resource,
                    dep.metadata.namespace,
                    dep.metadata.name,
                    _without_owner(meta.uid),
                )
            except errors.NotFound:
                continue
        await _remove_finalizer(api, resource, owner, ORPHAN)
        return
    remaining = 0
    for dep_resource, dep in dependents:
        remaining += 1
        if dep.metadata.deletion_timestamp is not None:
            continue  # already going: it still blocks until it is gone
        policy = "Foreground" if has_dependents(dep.metadata.uid) else "Background"
        try:
            await api.delete(
                dep_resource,
                dep.metadata.namespace,
                dep.metadata.name,
                uid=dep.metadata.uid,
                propagation_policy=policy,
            )
        except (errors.NotFound, errors.Conflict):
            remaining -= 1
    if not remaining:
        await _remove_finalizer(api, resource, owner, FOREGROUND)


async def _remove_finalizer(api: APIClient, resource: str, owner: APIObject, name: str) -> None:
    uid = owner.metadata.uid

    def mutate(obj: Any) -> Any:
        if obj.metadata.uid != uid:
            raise errors.Conflict(f'{resource} "{obj.metadata.name}": UID precondition failed')
        kept = tuple(f for f in obj.metadata.finalizers if f != name)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, finalizers=kept))

    try:
        await api.patch(resource, owner.metadata.namespace, owner.metadata.name, mutate)
    except (errors.NotFound, errors.Conflict):
        return


def _without_owner(uid: str) -> Callable[[Any], Any]:
    def mutate(obj: Any) -> Any:
        refs = tuple(r for r in obj.metadata.owner_references if r.uid != uid)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))

    return mutate


__all__ = ["FINALIZE", "finalize", "needs_collector"]
