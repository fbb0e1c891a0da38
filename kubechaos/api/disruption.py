"""A PodDisruptionBudget's ``DisruptionAllowed`` condition, as both writers of its status set it:
the disruption controller and the Eviction API (upstream's pkg/apis/policy/util or
``pdbhelper.UpdateDisruptionAllowedCondition``)."""

from __future__ import annotations

from kubechaos.api.objects import DeploymentCondition


def disruption_allowed_condition(
    conditions: tuple[DeploymentCondition, ...], allowed: bool, at: float
) -> tuple[DeploymentCondition, ...]:
    """pdb/util UpdateDisruptionAllowedCondition: ``DisruptionAllowed`` True with reason
    SufficientPods, or False with reason InsufficientPods."""
    status = "True" if allowed else "False"
    reason = "SufficientPods" if allowed else "InsufficientPods"
    kept = tuple(c for c in conditions if c.type != "DisruptionAllowed")
    old = next((c for c in conditions if c.type == "DisruptionAllowed"), None)
    if old is not None and old.status == status and old.reason == reason:
        return conditions
    return (*kept, DeploymentCondition("DisruptionAllowed", status, reason, "", at, at))
