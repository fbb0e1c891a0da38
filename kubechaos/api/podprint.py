"""The STATUS column of ``kubectl get pods``: a pod's one-word state as people read it.

Follows kubectl's ``printPod`` (``pkg/printers/internalversion/printers.go``, v1.32): the phase
(or ``status.reason``), overridden by the first init container not done (``Init:N/M`` while
it waits or runs, ``Init:<reason>`` when it failed or waits with a reason, e.g.
``Init:CrashLoopBackOff``, ``Init:Error``), then, once initialization is over, by the last app
container with a waiting or terminated reason (``PodInitializing``, ``ContainerCreating``,
``CrashLoopBackOff``, ``Completed``...); ``Terminating`` for a pod being deleted. A completed
init container and a started sidecar are done.
"""

from __future__ import annotations

from kubechaos.api.objects import ContainerStatus, Pod, is_sidecar


def _init_reason(pod: Pod) -> str | None:
    """The STATUS while initializing, or None once initialization is over."""
    statuses = pod.status.init_container_statuses
    sidecars = {c.name for c in pod.spec.init_containers if is_sidecar(c)}
    for i, cs in enumerate(statuses):
        if cs.state == "terminated" and cs.exit_code == 0:
            continue
        if cs.name in sidecars and cs.state == "running" and cs.started:
            continue
        if cs.state == "terminated":
            return f"Init:{cs.reason}" if cs.reason else f"Init:ExitCode:{cs.exit_code}"
        if cs.state == "waiting" and cs.reason and cs.reason != "PodInitializing":
            return f"Init:{cs.reason}"
        return f"Init:{i}/{len(pod.spec.init_containers)}"
    return None


def _app_reason(statuses: tuple[ContainerStatus, ...], reason: str, has_ready: bool) -> str:
    has_running = False
    for cs in reversed(statuses):
        if cs.state in ("waiting", "terminated") and cs.reason:
            reason = cs.reason
        elif cs.state == "terminated":
            reason = f"ExitCode:{cs.exit_code}"
        elif cs.state == "running" and cs.ready:
            has_running = True
    if reason == "Completed" and has_running:
        return "Running" if has_ready else "NotReady"
    return reason


def pod_display_status(pod: Pod) -> str:
    """What ``kubectl get pods`` shows in its STATUS column for ``pod``."""
    status = pod.status
    reason = status.reason or status.phase
    init = _init_reason(pod)
    initialized = status.condition("Initialized")
    if init is None or (initialized is not None and initialized.status == "True"):
        reason = _app_reason(status.container_statuses, reason, pod.is_ready())
    else:
        reason = init
    if pod.metadata.deletion_timestamp is not None:
        if status.reason == "NodeLost":
            return "Unknown"
        if status.phase not in ("Succeeded", "Failed"):
            return "Terminating"
    return reason


__all__ = ["pod_display_status"]
