"""Pod readiness gates: the kubelet's Ready also waits for conditions other components set.

Upstream's ``GeneratePodReadyCondition`` (pkg/kubelet/status/generate.go): while the containers
are not all ready, Ready is ContainersReady's verdict; once they are, each of
``spec.readinessGates`` must name a condition of the pod whose status is ``True`` (a load balancer
controller sets it once the pod is registered with its target group), else Ready is ``False``
with reason ``ReadinessGatesNotReady`` and one message per unmet gate, joined by ", ". The
kubelet computes it from the pod's conditions as the API server holds them, so a client's
status write of the gate's condition flips Ready at the kubelet's next status sync, which the
pod's update event causes.
"""

from __future__ import annotations

from operator import attrgetter

import attrs

from kubechaos.api.objects import Pod, PodCondition, PodStatus

READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"
# pkg/kubelet/types/pod_status.go PodConditionByKubelet (and PodReadyToStartContainers)
KUBELET_CONDITIONS = frozenset(
    {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
)
# PodStatus's fields but for the three same_by_kubelet compares first, read in one call
_FIRST = ("phase", "container_statuses", "conditions")
_rest = attrgetter(*(f.name for f in attrs.fields(PodStatus) if f.name not in _FIRST))


def unmet_gates(pod: Pod) -> list[str]:
    """One message per gate whose condition is missing or not True, in the spec's order."""
    messages = []
    for gate in pod.spec.readiness_gates:
        cond = pod.status.condition(gate)
        if cond is None:
            messages.append(
                f'corresponding condition of pod readiness gate "{gate}" does not exist.'
            )
        elif cond.status != "True":
            messages.append(
                f'the status of pod readiness gate "{gate}" is not "True", but {cond.status}'
            )
    return messages


def gated_ready(pod: Pod, at: float) -> PodCondition:
    """The Ready condition of a pod with readiness gates whose containers are all ready; its
    transition time is kept while its status stays (the status manager's
    updateLastTransitionTime)."""
    messages = unmet_gates(pod)
    if messages:
        status, reason, message = "False", READINESS_GATES_NOT_READY, ", ".join(messages)
    else:
        status, reason, message = "True", "", ""
    previous = pod.status.condition("Ready")
    if previous is None or previous.status != status:
        return PodCondition("Ready", status, at, reason, message)
    if previous.reason == reason and previous.message == message:
        return previous  # the very condition it would build (they are immutable)
    return PodCondition("Ready", status, previous.last_transition_time, reason, message)


def same_by_kubelet(api: PodStatus, posted: PodStatus) -> bool:
    """Whether the API's status differs from the kubelet's last post only in conditions the
    kubelet does not own (a gate's, set by a client): upstream's needsReconcile
    (isPodStatusByKubeletEqual, status_manager.go) then re-posts nothing."""
    if api is posted:
        return True
    # The fields a pod's life changes first (a sync that writes usually differs there), the
    # others as two tuples compared in C, then the conditions: equal tuples (the kubelet's
    # build keeps the pod's own tuple when its conditions did not change, so often the very
    # same one) answer at once; only when they differ are the foreign conditions dropped,
    # without building copies of the statuses. The status manager asks this on every sync
    # that has posted before, and on other writers' updates of its pods.
    if api.phase != posted.phase or api.container_statuses != posted.container_statuses:
        return False
    if _rest(api) != _rest(posted):
        return False
    if api.conditions == posted.conditions:
        return True
    return _own(api) == _own(posted)


def _own(status: PodStatus) -> tuple[PodCondition, ...]:
    return tuple(c for c in status.conditions if c.type in KUBELET_CONDITIONS)


def gate_conditions_changed(old: Pod, new: Pod) -> bool:
    """Whether ``new`` changes a gate's condition (the kubelet then syncs the pod's status)."""
    gates = new.spec.readiness_gates
    if not gates or old.status.conditions == new.status.conditions:
        return False
    return any(old.status.condition(g) != new.status.condition(g) for g in gates)


__all__ = [
    "KUBELET_CONDITIONS",
    "READINESS_GATES_NOT_READY",
    "gate_conditions_changed",
    "gated_ready",
    "same_by_kubelet",
    "unmet_gates",
]
