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

import attrs

from kubechaos.api.objects import Pod, PodCondition, PodStatus

READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"
# pkg/kubelet/types/pod_status.go PodConditionByKubelet (and PodReadyToStartContainers)
KUBELET_CONDITIONS = frozenset(
    {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
)
# PodStatus's fields other than its conditions (same_by_kubelet compares them one by one)
_NOT_CONDITIONS = tuple(f.name for f in attrs.fields(PodStatus) if f.name != "conditions")


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
    same = previous is not None and previous.status == status
    since = previous.last_transition_time if previous is not None and same else at
    return PodCondition("Ready", status, since, reason, message)


def same_by_kubelet(api: PodStatus, posted: PodStatus) -> bool:
    """Whether the API's status differs from the kubelet's last post only in conditions the
    kubelet does not own (a gate's, set by a client): upstream's needsReconcile
    (isPodStatusByKubeletEqual, status_manager.go) then re-posts nothing."""
    if api is posted:
        return True
    # Field by field, then only the kubelet's conditions: the verdict of comparing two copies
    # with the foreign conditions dropped, without building the copies (the status manager
    # asks this on every sync of every pod, and a differing field usually answers at once).
    for name in _NOT_CONDITIONS:
        if getattr(api, name) != getattr(posted, name):
            return False
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
