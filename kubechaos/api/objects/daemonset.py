"""apps/v1 DaemonSet: one pod of a template on every eligible node."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.apps import PodTemplate
from kubechaos.api.objects.meta import ObjectMeta
from kubechaos.api.selectors import LabelSelector


@attrs.frozen(slots=True)
class DaemonSetUpdateStrategy:
    """``spec.updateStrategy``: RollingUpdate (maxUnavailable 1, maxSurge 0 by default) or
    OnDelete (a pod is replaced only once someone deletes it)."""

    type: str = "RollingUpdate"  # RollingUpdate | OnDelete
    max_unavailable: int | str = 1
    max_surge: int | str = 0


@attrs.frozen(slots=True)
class DaemonSetSpec:
    selector: LabelSelector
    template: PodTemplate
    update_strategy: DaemonSetUpdateStrategy = DaemonSetUpdateStrategy()
    min_ready_seconds: int = 0
    revision_history_limit: int = 10


@attrs.frozen(slots=True)
class DaemonSetStatus:
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int = 0
    updated_number_scheduled: int = 0
    number_available: int = 0
    number_unavailable: int = 0


@attrs.frozen(slots=True)
class DaemonSet:
    KIND: ClassVar[str] = "DaemonSet"
    metadata: ObjectMeta
    spec: DaemonSetSpec
    status: DaemonSetStatus = DaemonSetStatus()
