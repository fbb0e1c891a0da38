"""A graceful deletion's mark: ``deletionTimestamp`` set, the object written back (upstream's
generic store, staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go,
``updateForGracefulDeletionAndFinalizers``), stamped with the resourceVersion the write commits
at (registry.stamp)."""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import APIObject, ObjectMeta
from kubechaos.api.objects.copying import replace
from kubechaos.control.etcd import Etcd, KeyValue
from kubechaos.control.registry.stamp import decode, next_version
from kubechaos.sim.clock import now


def mark_deleting(
    etcd: Etcd, resource: str, kv: KeyValue, grace: int, finalizers: tuple[str, ...] | None = None
) -> APIObject:
    """Set ``deletionTimestamp`` (a graceful deletion, or finalizers to run), unless a
    deletion already pending would end no later than this one."""
    obj: APIObject = kv.value
    meta = obj.metadata
    if meta.deletion_timestamp is not None:
        pending = meta.deletion_grace_period_seconds or 0
        if grace >= pending:
            if finalizers in (None, meta.finalizers):
                return decode(obj, kv.mod_revision)
            # a second delete changing the propagation policy: its finalizers, same deadline
            version = next_version(etcd)
            marked_meta = replace(meta, finalizers=finalizers, resource_version=version)
            return put_marked(etcd, resource, kv, replace(obj, metadata=marked_meta))
    marked = replace(
        obj,
        metadata=replace(
            meta,
            resource_version=next_version(etcd),
            deletion_timestamp=now() + grace,
            deletion_grace_period_seconds=grace,
            generation=meta.generation + 1 if meta.generation else 0,
            finalizers=meta.finalizers if finalizers is None else finalizers,
        ),
    )
    return put_marked(etcd, resource, kv, marked)


def put_marked(etcd: Etcd, resource: str, kv: KeyValue, marked: APIObject) -> APIObject:
    result = etcd.put_if_mod(kv.key, kv.mod_revision, marked)
    if not result.succeeded:
        raise errors.Conflict(f'{resource} "{marked.metadata.name}" was modified during deletion')
    return decode(marked, result.revision)


def finished_by_update(meta: ObjectMeta, delete_when_finalized: bool) -> bool:
    """Whether an update removes the object instead of writing it: it is being deleted and its
    last finalizer went (registry.ShouldDeleteDuringUpdate), unless its kind leaves the removal
    to someone else (pods: their kubelet's final delete, or at once when that delete already
    came, with grace period 0)."""
    return (
        meta.deletion_timestamp is not None
        and not meta.finalizers
        and (delete_when_finalized or meta.deletion_grace_period_seconds == 0)
    )


__all__ = ["finished_by_update", "mark_deleting", "put_marked"]
