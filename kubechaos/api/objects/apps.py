"""apps/v1 workloads: the pod template, ReplicaSet and Deployment."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.core import PodSpec
from kubechaos.api.objects.meta import ObjectMeta
from kubechaos.api.selectors import LabelSelector

# ---------------------------------------------------------------------------- workloads


@attrs.frozen(slots=True)
class PodTemplate:
    metadata: ObjectMeta
    spec: PodSpec


@attrs.frozen(slots=True)
class ReplicaSetSpec:
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    min_ready_seconds: int = 0


@attrs.frozen(slots=True)
class ReplicaSetStatus:
    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0


@attrs.frozen(slots=True)
class ReplicaSet:
    KIND: ClassVar[str] = "ReplicaSet"
    metadata: ObjectMeta
    spec: ReplicaSetSpec
    status: ReplicaSetStatus = ReplicaSetStatus()


@attrs.frozen(slots=True)
class DeploymentStrategy:
    type: str = "RollingUpdate"  # RollingUpdate | Recreate
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"


@attrs.frozen(slots=True)
class DeploymentCondition:
    type: str  # Available | Progressing | ReplicaFailure
    status: str
    reason: str = ""
    message: str = ""
    last_update_time: float = 0.0
    last_transition_time: float = 0.0


@attrs.frozen(slots=True)
class DeploymentSpec:
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    strategy: DeploymentStrategy = DeploymentStrategy()
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600
    paused: bool = False


@attrs.frozen(slots=True)
class DeploymentStatus:
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[DeploymentCondition, ...] = ()

    def condition(self, type_: str) -> DeploymentCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class Deployment:
    KIND: ClassVar[str] = "Deployment"
    metadata: ObjectMeta
    spec: DeploymentSpec
    status: DeploymentStatus = DeploymentStatus()
