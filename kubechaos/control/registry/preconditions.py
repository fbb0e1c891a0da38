"""Preconditions a client puts on a write (``metav1.Preconditions``), checked as upstream's
generic store checks them (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go,
``checkPreconditions`` / ``Preconditions.Check`` in apiserver/pkg/storage/interfaces.go)."""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import APIObject, ObjectMeta


def check(
    obj: APIObject, revision: int, uid: str | None, resource_version: str | None, name: str
) -> None:
    """409 Conflict when ``obj`` (stored at ``revision``) is not the one the client means."""
    if uid is not None and obj.metadata.uid != uid:
        raise errors.Conflict(
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{obj.metadata.uid}"
        )
    if resource_version is not None and str(revision) != resource_version:
        raise errors.Conflict(
            f"Precondition failed: ResourceVersion in precondition: {resource_version}, "
            f"ResourceVersion in object meta: {revision}"
        )


def check_update(resource: str, meta: ObjectMeta, stored: APIObject, revision: int) -> None:
    """409 Conflict when an update's object names another version (its resourceVersion, if
    set, is not the stored ``revision``) or another object (its uid) than the stored one."""
    if meta.resource_version and meta.resource_version != str(revision):
        raise errors.Conflict(
            f'Operation cannot be fulfilled on {resource} "{meta.name}": the object has '
            "been modified; please apply your changes to the latest version and try again"
        )
    if meta.uid and meta.uid != stored.metadata.uid:
        raise errors.Conflict(f'{resource} "{meta.name}": UID precondition failed')


__all__ = ["check", "check_update"]
