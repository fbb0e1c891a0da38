"""apps/v1 StatefulSet: pods with stable names ``<name>-<ordinal>``, created and replaced one
ordinal at a time (k8s.io/api/apps/v1/types.go)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.apps import PodTemplate
from kubechaos.api.objects.meta import ObjectMeta
from kubechaos.api.selectors import LabelSelector

ORDERED_READY = "OrderedReady"
PARALLEL = "Parallel"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"


@attrs.frozen(slots=True)
class StatefulSetUpdateStrategy:
    type: str = ROLLING_UPDATE  # RollingUpdate | OnDelete
    partition: int = 0  # rollingUpdate.partition (defaulted to 0 for RollingUpdate)


@attrs.frozen(slots=True)
class StatefulSetSpec:
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    service_name: str = ""
    pod_management_policy: str = ORDERED_READY  # OrderedReady | Parallel
    update_strategy: StatefulSetUpdateStrategy = StatefulSetUpdateStrategy()
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    ordinals_start: int = 0  # spec.ordinals.start (StatefulSetStartOrdinal, GA in v1.31)
    # persistentVolumeClaimRetentionPolicy (whenDeleted, whenScaled): kept, but no volumes exist
    pvc_retention: tuple[str, str] = ("Retain", "Retain")
    volume_claim_templates: tuple[str, ...] = ()  # the claims' names only (not modelled)


@attrs.frozen(slots=True)
class StatefulSetStatus:
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""
    collision_count: int = 0


@attrs.frozen(slots=True)
class StatefulSet:
    KIND: ClassVar[str] = "StatefulSet"
    metadata: ObjectMeta
    spec: StatefulSetSpec
    status: StatefulSetStatus = StatefulSetStatus()
