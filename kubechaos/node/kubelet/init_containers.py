"""Init and sidecar containers in the kubelet: which container may start, when the pod is done.

Mirrors upstream's v1.32 ``pkg/kubelet/kuberuntime`` with the SidecarContainers feature on
(``computeInitContainerActions`` in kuberuntime_container.go, ``computePodActions`` and
``killContainersWithSyncResult`` in kuberuntime_manager.go):

* init containers start one after another, in order: the next once the previous one has
  completed (exit 0), or, for a sidecar, once it is started (its startup probe, if any,
  succeeded); the app containers once every init container is so (:func:`next_startable`);
* a regular init container that fails is restarted (with the CrashLoopBackOff) unless the pod's
  ``restartPolicy`` is Never, which fails the pod; a sidecar is restarted whenever it exits,
  whatever the pod's policy (:func:`should_restart`);
* the pod is done when its app containers are: its sidecars are then stopped and do not keep
  a Job's pod from completing; on termination the sidecars are stopped after the app
  containers, one at a time in reverse order, with what is left of the grace period (at least
  upstream's 2 s minimum) (:func:`next_sidecar_to_stop`);
* after a node reboot the sandbox is new, so the init containers run again
  (:func:`rerun_after_sandbox_loss`); after a kubelet restart the sandbox survived and a
  completed init container is not run again (:func:`note_adopted`).

A pod without init containers takes the one-test fast path of each function.
"""

from __future__ import annotations

from kubechaos.api.objects import Container, is_sidecar
from kubechaos.node.initstate import APP, INIT, SIDECAR, InitState, initialized, satisfied
from kubechaos.node.podstate import RUNNING, TERMINATED, ContainerRun, PodState
from kubechaos.sim.clock import now

# upstream kuberuntime minimumGracePeriodInSeconds: a container's grace period is never below
MINIMUM_GRACE_SECONDS = 2.0


def pod_containers(ps: PodState) -> list[tuple[Container, str]]:
    """The pod's containers in ``PodState.runs`` order with their kind; sets ``ps.init``."""
    spec = ps.pod.spec
    if not spec.init_containers:
        return [(c, APP) for c in spec.containers]
    ps.init = InitState(len(spec.init_containers))
    kinds = [(c, SIDECAR if is_sidecar(c) else INIT) for c in spec.init_containers]
    return kinds + [(c, APP) for c in spec.containers]


def may_start(ps: PodState, run: ContainerRun) -> bool:
    """Whether ``run`` may start now: every init container before it is satisfied."""
    if run.kind == APP:
        return initialized(ps)
    return all(satisfied(earlier) for earlier in ps.runs[: run.index])


def next_startable(ps: PodState) -> int | None:
    """Take from ``ps.start_queue`` the first container that may start (None: wait)."""
    queue = ps.start_queue
    if ps.init is None:
        return queue.pop(0)
    for position, index in enumerate(queue):
        if may_start(ps, ps.runs[index]):
            del queue[position]
            return index
    return None


def process_exit(run: ContainerRun) -> tuple[float, int] | None:
    """When this run of the container's process exits on its own, and with which code; a
    regular init container always runs to completion (see :mod:`kubechaos.node.behaviour`)."""
    assert run.behaviour is not None
    if run.kind == INIT:
        return run.behaviour.init_exits(run.restart_count)
    return run.behaviour.exits(run.restart_count)


def should_restart(ps: PodState, run: ContainerRun) -> bool:
    """computeInitContainerActions: a sidecar restarts on any exit (unless the pod is being
    completed); a regular init container only after a failure, unless restartPolicy Never."""
    if run.kind == SIDECAR:
        return ps.init is None or not ps.init.completing
    return run.exit_code != 0 and ps.pod.spec.restart_policy != "Never"


def init_failed(ps: PodState, run: ContainerRun) -> bool:
    """A regular init container failed for good (restartPolicy Never): the pod fails."""
    return run.kind == INIT and run.exit_code != 0 and not run.pending_restart


def begin_stop(ps: PodState, grace: float) -> None:
    """A termination (or the pod's completion) starts: its grace period runs out at once for
    every container; the sidecars get what the app containers left of it."""
    if ps.init is not None:
        ps.init.deadline = now() + grace


def cancel_sidecar_restarts(ps: PodState) -> None:
    """The pod is done: a sidecar waiting out its back-off (or queued) is not started again."""
    if ps.init is None:
        return
    for run in ps.runs[: ps.init.count]:
        if run.kind == SIDECAR and run.state != RUNNING and run.pending_restart:
            run.token += 1
            run.pending_restart = False
            if run.index in ps.start_queue:
                ps.start_queue.remove(run.index)


def sidecars_running(ps: PodState) -> bool:
    return ps.init is not None and any(
        run.kind == SIDECAR and run.state == RUNNING for run in ps.runs[: ps.init.count]
    )


def next_sidecar_to_stop(ps: PodState) -> tuple[ContainerRun, float] | None:
    """Once no app or regular init container runs, the last sidecar still running and its
    grace period; None while one is stopping already (they stop one at a time)."""
    init = ps.init
    if init is None:
        return None
    if any(run.state == RUNNING and run.kind != SIDECAR for run in ps.runs):
        return None
    for run in reversed(ps.runs[: init.count]):
        if run.kind == SIDECAR and run.state == RUNNING:
            if run.stop_at is not None:
                return None
            return run, max(init.deadline - now(), MINIMUM_GRACE_SECONDS)
    return None


def rerun_after_sandbox_loss(ps: PodState) -> None:
    """After a reboot the sandbox is new: the init sequence runs again from the start
    (computePodActions: a new sandbox starts the first init container), so completed init
    containers are queued again."""
    if ps.init is None or ps.terminal:
        return
    for run in ps.runs[: ps.init.count]:
        if run.state == TERMINATED and not run.pending_restart:
            run.pending_restart = True
            ps.start_queue.append(run.index)


def note_adopted(ps: PodState) -> None:
    """After a kubelet restart: a pod whose app containers were created was initialized
    (upstream's ``hasPodInitialized``); nothing of its init sequence runs again."""
    if ps.init is not None and any(
        run.container_id for run in ps.runs[ps.init.count :] if run.kind == APP
    ):
        ps.init.initialized = True


def restarts_after_exit(ps: PodState, run: ContainerRun) -> bool:
    """Whether ``run`` is restarted after its exit: an init container or sidecar by its own
    rules (:func:`should_restart`), an app container by the pod's restartPolicy."""
    if run.kind:
        return should_restart(ps, run)
    policy = ps.pod.spec.restart_policy
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return run.exit_code != 0 or run.kill_restart
    return False


__all__ = [
    "MINIMUM_GRACE_SECONDS",
    "begin_stop",
    "cancel_sidecar_restarts",
    "init_failed",
    "may_start",
    "next_sidecar_to_stop",
    "next_startable",
    "note_adopted",
    "pod_containers",
    "process_exit",
    "rerun_after_sandbox_loss",
    "restarts_after_exit",
    "should_restart",
    "sidecars_running",
]
