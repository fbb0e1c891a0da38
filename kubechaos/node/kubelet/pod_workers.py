"""The pod workers: the node loop that owns every pod bound to the node and drives its lifecycle.

Mirrors upstream's ``pkg/kubelet/pod_workers.go`` (one worker per pod: sync, terminating,
terminated), with the pod source of ``pkg/kubelet/config`` (an informer on the pods bound to the
node) and ``HandlePodAdditions`` (admission in creation order). Upstream runs a goroutine per pod
and per probe, plus a PLEG relisting the runtime every second; at 150,000 pods that shape would
cost millions of task wakeups per virtual minute. So one task, the **node loop**, owns all pod
and container state and the node's timer heap (:mod:`.timers`): it wakes once per distinct
instant with work (a timer due, an informer change, a container killed behind the kubelet's
back), handles everything due and sleeps. A healthy container costs nothing after it is ready.

The pod-level steps are :class:`~.pod_lifecycle.PodLifecycle`, the container-level ones
:class:`~.containers.ContainerLifecycle`, and what a starting kubelet finds is
:class:`~.restore.Restorer`; this module decides which of them happens when.
"""

from __future__ import annotations

from typing import cast

from kubechaos.api.objects import Pod
from kubechaos.api.selectors import FieldSelector
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.node.behaviour import BehaviourError, behaviour_for
from kubechaos.node.initstate import SIDECAR
from kubechaos.node.kubelet import init_containers as ic
from kubechaos.node.kubelet.admission import Admission
from kubechaos.node.kubelet.config import COMPONENT, KubeletEvents
from kubechaos.node.kubelet.containers import ContainerLifecycle
from kubechaos.node.kubelet.pod_lifecycle import PodLifecycle
from kubechaos.node.kubelet.restore import Restorer
from kubechaos.node.kubelet.status_manager import PodStatusManager
from kubechaos.node.kubelet.timers import Timer, TimerKind, TimerQueue
from kubechaos.node.kubelet.wakeup import Wakeup
from kubechaos.node.podstate import (
    RUNNING,
    SANDBOX_CREATING,
    SANDBOX_READY,
    ContainerRun,
    PodState,
)
from kubechaos.node.readinessgates import gate_conditions_changed
from kubechaos.node.runtime import KILLED_EXIT_CODE, ContainerRuntime
from kubechaos.sim.clock import now


class PodWorkers:
    """The node loop and the pods it owns, by UID."""

    def __init__(
        self,
        ctx: Context,
        node_name: str,
        pods: dict[str, PodState],
        runtime: ContainerRuntime,
        timers: TimerQueue,
        admission: Admission,
        lifecycle: PodLifecycle,
        containers: ContainerLifecycle,
        restorer: Restorer,
        status: PodStatusManager,
        events: KubeletEvents,
    ) -> None:
        """``pods`` is the node's pod table: this class is its only writer."""
        self.pods = pods
        self.runtime = runtime
        self.timers = timers
        self.admission = admission
        self.lifecycle = lifecycle
        self.containers = containers
        self.restorer = restorer
        self.status = status
        self.events = events
        self.informer: Informer[Pod] = Informer(
            ctx.api,
            "pods",
            component=COMPONENT,
            events=ctx.events,
            field_selector=FieldSelector(node_name),
        )
        self.informer.add_handler(Handler(self._on_add, self._on_update, self._on_delete))
        self._pending: dict[str, Pod | None] = {}  # informer changes for the loop, by UID
        self._wake = Wakeup()
        self.loop_wakeups = 0  # read by tests: the loop must stay cheap

    def poke(self) -> None:
        """Something has news for the node loop (the runtime: a container killed from outside)."""
        self._wake.set()

    async def wake_when_listed(self) -> None:
        """Once the first pod list is in, the node loop removes what nobody adopted."""
        await self.informer.synced.wait()
        self._wake.set()

    # ------------------------------------------------------------------ informer handlers
    def _on_add(self, pod: Pod) -> None:
        self._pending[pod.metadata.uid] = pod
        self._wake.set()

    def _on_delete(self, pod: Pod) -> None:
        self._pending[pod.metadata.uid] = None
        self._wake.set()

    def _on_update(self, old: Pod, new: Pod) -> None:
        uid = new.metadata.uid
        if old.metadata.uid != uid:
            self._on_delete(old)
            self._on_add(new)
            return
        ps = self.pods.get(uid)
        if ps is None or uid in self._pending:
            self._on_add(new)
            return
        ps.pod = new
        if (
            new.metadata.deletion_timestamp != old.metadata.deletion_timestamp
            or new.metadata.deletion_grace_period_seconds
            != old.metadata.deletion_grace_period_seconds
        ):
            self._on_add(new)
        elif gate_conditions_changed(old, new):
            self.status.mark_dirty(ps)  # Ready follows the gate (GeneratePodReadyCondition)
        else:
            self.status.note_update(ps, new)

    # ------------------------------------------------------------------ the node loop
    async def run(self) -> None:
        while True:
            self.loop_wakeups += 1
            if self.runtime.unseen_exits:
                self._runtime_exits()
            self._run_due()
            if self.restorer.adoptable and self.informer.synced.is_set():
                # every listed pod has been added (and adopted) by now
                self.restorer.remove_orphans()
            deadline = self.timers.deadline()
            self._wake.clear()
            await self._wake.wait_until(deadline)

    def _run_due(self) -> None:
        while True:
            if self._pending:
                self._process_pending()
            elif (timer := self.timers.pop_due(now())) is not None:
                self._dispatch(timer)
            else:
                return

    def _process_pending(self) -> None:
        pending, self._pending = self._pending, {}
        fresh: list[Pod] = []
        for uid, pod in pending.items():
            ps = self.pods.get(uid)
            if pod is None:
                if ps is not None:
                    self._forget(ps)
            elif ps is None:
                fresh.append(pod)
            else:
                ps.pod = pod
                if pod.metadata.deletion_timestamp is not None:
                    self._terminate(ps)
        # admit in creation order, as HandlePodAdditions does
        fresh.sort(key=lambda p: (p.metadata.creation_timestamp or 0.0, p.metadata.name))
        for pod in fresh:
            self._add_pod(pod)

    def _runtime_exits(self) -> None:
        """PLEG: containers the runtime saw die outside the kubelet's own doing."""
        ids, self.runtime.unseen_exits = self.runtime.unseen_exits, []
        for container_id in ids:
            container = self.runtime.containers.get(container_id)
            if container is None:
                continue
            ps = self.pods.get(container.pod_uid)
            if ps is None:
                continue
            for run in ps.runs:
                if run.container_id == container_id and run.state == RUNNING:
                    code = KILLED_EXIT_CODE if container.exit_code is None else container.exit_code
                    died = now() if container.finished_at is None else container.finished_at
                    self.containers.unseen_exit(run, code, died)

    def _dispatch(self, timer: Timer) -> None:
        """Handle a due timer, unless its target moved on (stale token) or left the node."""
        if timer.kind is TimerKind.SANDBOX:
            ps = cast(PodState, timer.target)
            # sandbox_ready is False while no IP is free: it set a timer to try again
            if ps.token == timer.token and ps.uid in self.pods and self.lifecycle.sandbox_ready(ps):
                self.containers.advance_start(ps)
            return
        if timer.kind is TimerKind.MOUNT_RETRY:
            ps = cast(PodState, timer.target)
            if ps.token == timer.token and ps.uid in self.pods:
                self.lifecycle.create_sandbox(ps)
            return
        run = cast(ContainerRun, timer.target)
        if run.token != timer.token or run.pod.uid not in self.pods:
            return
        self.containers.handle(timer, run)

    # ------------------------------------------------------------------ a pod's life
    def _add_pod(self, pod: Pod) -> None:
        if pod.is_terminal():
            return  # finished before this kubelet saw it: nothing to run
        ps = PodState(pod)
        self.pods[ps.uid] = ps
        for index, (container, kind) in enumerate(ic.pod_containers(ps)):
            try:
                behaviour = behaviour_for(pod.metadata.annotations, container.name)
            except BehaviourError as exc:
                behaviour = None
                self.events.pod(ps, "FailedBehaviour", str(exc))
            ps.runs.append(ContainerRun(ps, index, container, behaviour, kind))
        ps.ready_since = now()
        survivor = self.restorer.take(ps.uid)
        if pod.metadata.deletion_timestamp is not None:
            if survivor is not None:
                # deleted while the kubelet was down, still running: stop it gracefully now
                self.restorer.adopt(ps, survivor)
                self._terminate(ps)
                self.lifecycle.refresh(ps)
                return
            # deleted while this node was down: nothing runs, finish the deletion
            ps.terminating = ps.finished = True
            self.status.mark_dirty(ps)
            return
        # a pod the previous kubelet admitted and left running is not admitted again
        rejection = None if survivor is not None else self.admission.failure(ps)
        if rejection is not None:
            ps.rejected = rejection
            ps.terminal = True
            self.events.pod(ps, rejection[0], rejection[1])
            self.status.mark_dirty(ps)
            return
        self.admission.hold(ps)
        # kubelet_pod_start_duration: only for pods no kubelet had started before (a pod
        # re-synced after a reboot is not a new pod start)
        ps.start_recorded = ps.start_time is not None
        if ps.start_time is None:
            ps.start_time = now()
        if survivor is not None:
            self.restorer.adopt(ps, survivor)
            if ps.all_done():
                self.lifecycle.completed(ps)
            self.lifecycle.refresh(ps)
            return
        self.restorer.restore(ps)
        if ps.all_done():
            self.lifecycle.completed(ps)
        else:
            if pod.status.pod_ip:
                self.events.pod(
                    ps, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created."
                )
            ps.ip = ""
            self.lifecycle.create_sandbox(ps)
        self.lifecycle.refresh(ps)

    def _terminate(self, ps: PodState) -> None:
        """Graceful deletion: SIGTERM every running container, start nothing more."""
        if ps.finished or (ps.terminal and ps.sandbox != SANDBOX_READY):
            ps.terminating = ps.finished = True
            self.status.mark_dirty(ps)
            return
        meta = ps.pod.metadata
        grace = meta.deletion_grace_period_seconds
        if grace is None:
            grace = ps.pod.spec.termination_grace_period_seconds
        ps.terminating = True
        ps.start_queue.clear()
        if ps.sandbox == SANDBOX_CREATING:
            ps.token += 1
        ps.starting = None
        ic.begin_stop(ps, grace)
        for run in ps.runs:
            self.containers.abort_post_start(run)
            if run.kind == SIDECAR and run.state == RUNNING and run.stop_at is None:
                continue  # stopped after the app containers (stop_next_sidecar below)
            if run.state == RUNNING:
                if run.stop_at is None:
                    self.events.pod(ps, "Killing", f"Stopping container {run.name}")
                self.containers.stop(run, grace, override=True)
            else:
                run.token += 1  # no pending start, restart or pull retry
                run.pending_restart = False
        self.containers.stop_next_sidecar(ps)
        self.lifecycle.check_terminated(ps)

    def _forget(self, ps: PodState) -> None:
        """The pod is gone from the API: kill whatever runs at once and clean up."""
        self.containers.kill_all(ps)
        self.lifecycle.teardown_sandbox(ps)
        del self.pods[ps.uid]
        self.status.forget(ps.uid)
