"""The ``pods/eviction`` subresource's decision: may this pod go, and what does its budget
become? Upstream's pkg/registry/core/pod/storage/eviction.go (v1.32), as pure functions; the API
server (:meth:`kubechaos.control.apiserver.APIServer.evict`) reads the pod and the budgets from
etcd, asks here, and writes the budget and the pod in one step.
"""

from __future__ import annotations

import attrs

from kubechaos.api import errors
from kubechaos.api.disruption import disruption_allowed_condition
from kubechaos.api.objects import Pod, PodCondition, PodDisruptionBudget
from kubechaos.sim.clock import now

VIOLATES_BUDGET = "Cannot evict pod as it would violate the pod's disruption budget."
# eviction.go MaxDisruptedPodSize: evictions the disruption controller has not yet confirmed.
MAX_DISRUPTED_POD_SIZE = 2000
# policy/v1 DisruptionBudgetCause: the status cause type naming the budget's numbers.
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
# eviction.go createTooManyRequestsError: the retry a budget not yet processed suggests.
STILL_PROCESSING_RETRY_AFTER = 10


def can_ignore_pdb(pod: Pod) -> bool:
    """eviction.go canIgnorePDB: a terminal or pending pod, or one already being deleted,
    is evicted without asking any budget."""
    return (
        pod.status.phase in ("Succeeded", "Failed", "Pending")
        or pod.metadata.deletion_timestamp is not None
    )


def matching_budgets(pod: Pod, budgets: list[PodDisruptionBudget]) -> list[PodDisruptionBudget]:
    """eviction.go getPodDisruptionBudgets: the pod's namespace's budgets whose selector
    matches its labels; a nil or empty selector matches nothing."""
    return [
        b
        for b in budgets
        if b.spec.selector is not None
        and not b.spec.selector.is_empty()
        and b.spec.selector.matches(pod.metadata.labels)
    ]


def decide(pod: Pod, budget: PodDisruptionBudget) -> PodDisruptionBudget | None:
    """The budget as the eviction leaves it (``None``: the eviction does not spend it), or
    429 TooManyRequests when it would violate it (eviction.go Create and checkAndDecrement)."""
    status = budget.status
    if not pod.is_ready():
        # An unhealthy pod does not count towards currentHealthy: AlwaysAllow lets it go; the
        # default (IfHealthyBudget) only while the application is not disrupted.
        if budget.spec.unhealthy_pod_eviction_policy == "AlwaysAllow":
            return None
        if status.current_healthy >= status.desired_healthy > 0:
            return None
    if status.observed_generation < budget.metadata.generation:
        raise _too_many(
            f"The disruption budget {budget.metadata.name} is still being processed by the server.",
            STILL_PROCESSING_RETRY_AFTER,
        )
    if status.disruptions_allowed < 0:
        raise _forbidden(budget, "pdb disruptions allowed is negative")
    if len(status.disrupted_pods) > MAX_DISRUPTED_POD_SIZE:
        raise _forbidden(
            budget, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        )
    if status.disruptions_allowed == 0:
        raise _too_many(
            f"The disruption budget {budget.metadata.name} needs "
            f"{status.desired_healthy} healthy pods and has {status.current_healthy} currently"
        )
    allowed = status.disruptions_allowed - 1
    conditions = status.conditions
    if allowed == 0:
        conditions = disruption_allowed_condition(conditions, False, now())
    return attrs.evolve(
        budget,
        status=attrs.evolve(
            status,
            disruptions_allowed=allowed,
            disrupted_pods={**status.disrupted_pods, pod.metadata.name: now()},
            conditions=conditions,
        ),
    )


def _forbidden(budget: PodDisruptionBudget, why: str) -> errors.Forbidden:
    """403 as eviction.go's ``errors.NewForbidden(policy.Resource("poddisruptionbudget"), ...)``
    words it."""
    return errors.Forbidden(
        f'poddisruptionbudget.policy "{budget.metadata.name}" is forbidden: {why}'
    )


def _too_many(cause: str, retry_after_seconds: int = 0) -> errors.TooManyRequests:
    """429 with upstream's message; the budget's numbers go in the status causes (type
    ``DisruptionBudget``), as upstream, not in the message kubectl prints. A budget that allows
    no disruption suggests no retry delay (``NewTooManyRequests(..., 0)``: no ``Retry-After``);
    one not yet processed suggests 10 s (createTooManyRequestsError)."""
    exc = errors.TooManyRequests(VIOLATES_BUDGET, retry_after_seconds)
    exc.status_causes = [{"reason": DISRUPTION_BUDGET_CAUSE, "message": cause}]
    return exc


def with_disruption_target(pod: Pod) -> Pod:
    """The pod with ``DisruptionTarget`` True, reason ``EvictionByEvictionAPI`` (eviction.go
    addConditionAndDeletePod), set before the pod is deleted."""
    cond = PodCondition("DisruptionTarget", "True", now(), "EvictionByEvictionAPI")
    kept = tuple(c for c in pod.status.conditions if c.type != "DisruptionTarget")
    return attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=(*kept, cond)))
