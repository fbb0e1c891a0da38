"""The kubelet's view of a pod's init sequence, and how it shows in ``Pod.status``.

A pod's ``initContainers`` are :class:`~kubechaos.node.podstate.ContainerRun` s like its app
containers, placed before them in ``PodState.runs`` and marked by their ``kind``: :data:`INIT`
(runs to completion) or :data:`SIDECAR` (``restartPolicy: Always``: keeps running). A pod
without init containers has no :class:`InitState` and pays nothing for any of this.

Phase, statuses and conditions follow upstream's v1.32 kubelet: ``getPhase``
(pkg/kubelet/kubelet_pods.go: a failed init container fails a ``restartPolicy: Never`` pod; a
pending one keeps the pod Pending; sidecars count as running containers, and a terminated
sidecar not at all), ``convertToAPIContainerStatuses`` (containers not created yet wait with
reason ``PodInitializing``; an init container that completed is ready) and
``GeneratePodInitializedCondition`` / ``GeneratePodReadyToStartContainersCondition``
(pkg/kubelet/status/generate.go).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from kubechaos.api.objects import ContainerStatus, Pod, PodCondition

APP, INIT, SIDECAR = "", "init", "sidecar"  # ContainerRun.kind
PODINITIALIZING = "PodInitializing"  # the waiting reason of a container not created yet
_RUNNING, _TERMINATED = "running", "terminated"


@attrs.define(slots=True)
class InitState:
    """A pod's init sequence: its ``count`` init containers are ``PodState.runs[:count]``."""

    count: int
    initialized: bool = False  # every init container done (or sidecar started), once
    completing: bool = False  # the app containers are done: the sidecars are being stopped
    deadline: float = 0.0  # when the grace period of a termination (or completion) ends


class ContainerRun(Protocol):
    """What this module reads of :class:`kubechaos.node.podstate.ContainerRun`."""

    kind: str
    state: str
    started: bool
    exit_code: int | None
    pending_restart: bool

    def has_terminated(self) -> bool: ...

    def status(self) -> ContainerStatus: ...


class PodState(Protocol):
    """What this module reads of :class:`kubechaos.node.podstate.PodState`."""

    @property
    def init(self) -> InitState | None: ...

    @property
    def runs(self) -> Sequence[ContainerRun]: ...

    @property
    def pod(self) -> Pod: ...


def satisfied(run: ContainerRun) -> bool:
    """An init container the next one need not wait for: completed (exit 0), or a sidecar
    that is running and started (its startup probe, if any, succeeded)."""
    if run.kind == SIDECAR:
        return run.state == _RUNNING and run.started
    return run.state == _TERMINATED and run.exit_code == 0 and not run.pending_restart


def initialized(ps: PodState) -> bool:
    """Every init container satisfied (sticky: a sidecar restarting later does not undo it,
    as upstream's ``hasPodInitialized`` once a regular container has run)."""
    init = ps.init
    if init is None or init.initialized:
        return True
    if all(satisfied(run) for run in ps.runs[: init.count]):
        init.initialized = True
    return init.initialized


def init_phase(ps: PodState) -> tuple[str, int, int]:
    """``getPhase``'s init half: ("Failed" | "Pending" | "", running sidecars, waiting
    sidecars). A regular init container that failed fails a ``restartPolicy: Never`` pod; one
    pending (not run yet, or running) keeps the pod Pending, as does a sidecar not yet started
    before the pod is initialized. Sidecars running or waiting to run for the first time count
    with the app containers; a terminated sidecar does not count."""
    pending = failed = pending_sidecars = running = waiting = 0
    assert ps.init is not None
    for run in ps.runs[: ps.init.count]:
        if run.kind == INIT:
            if run.state == _RUNNING:
                pending += 1
            elif run.state == _TERMINATED or run.has_terminated():
                failed += run.exit_code != 0
            else:
                pending += 1
        elif run.state == _RUNNING:
            pending_sidecars += not run.started
            running += 1
        elif run.state != _TERMINATED and not run.has_terminated():
            pending_sidecars += 1
            waiting += 1
    if failed and ps.pod.spec.restart_policy == "Never":
        return "Failed", running, waiting
    if pending or (pending_sidecars and not initialized(ps)):
        return "Pending", running, waiting
    return "", running, waiting


def init_statuses(ps: PodState) -> tuple[ContainerStatus, ...]:
    """``status.initContainerStatuses``: a completed init container is ready."""
    assert ps.init is not None
    out = []
    for run in ps.runs[: ps.init.count]:
        status = run.status()
        if run.kind == INIT and run.state == _TERMINATED and run.exit_code == 0:
            status = attrs.evolve(status, ready=True)
        out.append(status)
    return tuple(out)


def _carried(
    current: Sequence[PodCondition], type_: str, status: str, reason: str, at: float
) -> PodCondition:
    """A condition keeping its last transition time while its status holds."""
    for cond in current:
        if cond.type == type_ and cond.status == status:
            if cond.reason == reason and not cond.message:
                return cond  # the very condition it would build (they are immutable)
            return PodCondition(type_, status, cond.last_transition_time, reason)
    return PodCondition(type_, status, at, reason)


def initialized_condition(ps: PodState, at: float) -> PodCondition:
    """``Initialized``: False (ContainersNotInitialized) until the init sequence is done."""
    done = initialized(ps)
    return _carried(
        ps.pod.status.conditions,
        "Initialized",
        "True" if done else "False",
        "" if done else "ContainersNotInitialized",
        at,
    )


def ready_to_start_condition(ps: PodState, sandbox_ready: bool, at: float) -> PodCondition:
    """``PodReadyToStartContainers``: True while the pod's sandbox exists with its network
    (beta and on by default since v1.29, feature PodReadyToStartContainersCondition)."""
    status = "True" if sandbox_ready else "False"
    return _carried(ps.pod.status.conditions, "PodReadyToStartContainers", status, "", at)


__all__ = [
    "APP",
    "INIT",
    "PODINITIALIZING",
    "SIDECAR",
    "InitState",
    "init_phase",
    "init_statuses",
    "initialized",
    "initialized_condition",
    "ready_to_start_condition",
    "satisfied",
]
