"""policy/v1 PodDisruptionBudget: the budget the Eviction API and the disruption controller keep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from kubechaos.api.objects.apps import DeploymentCondition
from kubechaos.api.objects.meta import ObjectMeta
from kubechaos.api.selectors import LabelSelector

# ---------------------------------------------------------------------------- policy


@attrs.frozen(slots=True)
class PodDisruptionBudgetSpec:
    """policy/v1 ``PodDisruptionBudgetSpec``: exactly one of min_available / max_unavailable."""

    selector: LabelSelector | None = None
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    unhealthy_pod_eviction_policy: str = "IfHealthyBudget"  # IfHealthyBudget | AlwaysAllow


@attrs.frozen(slots=True)
class PodDisruptionBudgetStatus:
    observed_generation: int = 0
    # pod name -> when the Eviction API evicted it (upstream's ``disruptedPods``)
    disrupted_pods: Mapping[str, float] = attrs.field(factory=dict)
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: tuple[DeploymentCondition, ...] = ()

    def condition(self, type_: str) -> DeploymentCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class PodDisruptionBudget:
    KIND: ClassVar[str] = "PodDisruptionBudget"
    metadata: ObjectMeta
    spec: PodDisruptionBudgetSpec = PodDisruptionBudgetSpec()
    status: PodDisruptionBudgetStatus = PodDisruptionBudgetStatus()
