"""What a fault's recovery was measured on, in words, for the report: a recovery read on nothing
watched is not a recovery of 0 s, it is nothing measured (a ``recoveryWithin`` on it fails as
not measured rather than passing)."""

from __future__ import annotations

NOTHING = "nothing"

_PLURALS = {"Deployment": "Deployments", "StatefulSet": "StatefulSets", "DaemonSet": "DaemonSets",
            "Job": "Jobs"}  # fmt: skip


def _kind(kind: str, n: int) -> str:
    """``3 Deployments``, ``1 WebApp.example.com``."""
    if n == 1:
        return f"1 {kind}"
    return f"{n} {_PLURALS.get(kind, kind + (' objects' if '.' in kind else 's'))}"


def cluster_wide(counts: dict[str, int], services: int) -> str:
    """The cluster-wide steady state as it stood: the objects of each kind it judged and the
    Services with traffic; :data:`NOTHING` when there were none."""
    parts = [_kind(kind, n) for kind, n in sorted(counts.items()) if n]
    if services:
        parts.append(f"{services} Service{'s' if services != 1 else ''} with traffic")
    if not parts:
        return NOTHING
    return "cluster-wide steady state: " + ", ".join(parts)


def per_object(objects: list[str]) -> str:
    """The objects a fault disturbed, each followed to its replacements."""
    return f"per object: {len(objects)} pod{'s' if len(objects) != 1 else ''} it disturbed"


__all__ = ["NOTHING", "cluster_wide", "per_object"]
