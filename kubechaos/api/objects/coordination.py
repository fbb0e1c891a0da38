"""coordination.k8s.io/v1 Lease: node heartbeats and leader election (kube-system/kube-scheduler,
kube-system/kube-controller-manager)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.meta import ObjectMeta

# ---------------------------------------------------------------------------- coordination


@attrs.frozen(slots=True)
class LeaseSpec:
    holder_identity: str = ""
    lease_duration_seconds: int = 40
    acquire_time: float | None = None
    renew_time: float | None = None
    lease_transitions: int | None = None  # leader election: times the holder changed


@attrs.frozen(slots=True)
class Lease:
    KIND: ClassVar[str] = "Lease"
    metadata: ObjectMeta
    spec: LeaseSpec = LeaseSpec()
