"""Which finalizers a delete request leaves on an object, by its ``propagationPolicy``.

Upstream: the generic registry's ``deletionFinalizersForGarbageCollection``
(``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``): ``Orphan`` adds the
``orphan`` finalizer (and drops ``foregroundDeletion``), ``Foreground`` adds
``foregroundDeletion`` (and drops ``orphan``), ``Background`` drops both; no policy keeps what
the object has, the kind's default being background for every kind the model serves (the
apps/v1, batch/v1 and core/v1 strategies' ``DefaultGarbageCollectionPolicy``; custom kinds'
strategy has none, so the generic store's ``DeleteDependents``: background too). The garbage
collector then orphans or deletes the dependents and removes the finalizer, and the object goes
once no finalizer is left.
"""

from __future__ import annotations

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
POLICIES = ("Background", "Foreground", "Orphan")


def deletion_finalizers(existing: tuple[str, ...], policy: str | None) -> tuple[str, ...]:
    """The finalizers an object keeps when deleted with ``policy`` (None: the default)."""
    if policy is None:
        return existing
    kept = tuple(f for f in existing if f not in (ORPHAN, FOREGROUND))
    if policy == "Orphan":
        return (*kept, ORPHAN)
    if policy == "Foreground":
        return (*kept, FOREGROUND)
    return kept


__all__ = ["FOREGROUND", "ORPHAN", "POLICIES", "deletion_finalizers"]
