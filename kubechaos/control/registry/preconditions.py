"""Preconditions a client puts on a write (``metav1.Preconditions``), checked as upstream's
generic store checks them (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go,
``checkPreconditions`` / ``Preconditions.Check`` in apiserver/pkg/storage/interfaces.go)."""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import APIObject


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


__all__ = ["check"]
