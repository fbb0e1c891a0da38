"""The pod-level half of the pod lifecycle: the sandbox, the pod's Ready, and the pod's end.

Mirrors upstream's ``pkg/kubelet/kuberuntime/kuberuntime_sandbox.go`` (the sandbox and its IP
from the network plugin) and the pod-level parts of ``kubelet_pods.go`` and ``pod_workers.go``
(a pod is Succeeded or Failed once every container is done; a terminating pod is finished once
nothing runs; its sandbox is then torn down and its resources given back).

The container half (:mod:`kubechaos.node.kubelet.containers`) rolls every container change up
into :meth:`PodLifecycle.refresh`, :meth:`~PodLifecycle.completed` and
:meth:`~PodLifecycle.check_terminated`; the pod workers (:mod:`kubechaos.node.kubelet.pod_workers`)
drive both halves. Keeping this half below the container half is what lets either be read alone.
"""

from __future__ import annotations

from kubechaos.defaults import Settings
from kubechaos.node.kubelet.admission import Admission
from kubechaos.node.kubelet.config import KubeletEvents
from kubechaos.node.kubelet.configrefs import CONFIG_RETRY_SECONDS, ConfigSource
from kubechaos.node.kubelet.netgate import NetworkGate
from kubechaos.node.kubelet.status_manager import PodStatusManager
from kubechaos.node.kubelet.timers import TimerKind, TimerQueue
from kubechaos.node.network import NodeIPAM, PodNetwork
from kubechaos.node.podstate import (
    NO_SANDBOX,
    RUNNING,
    SANDBOX_CREATING,
    SANDBOX_GONE,
    SANDBOX_READY,
    PodState,
)
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.node.serving import PodAnswerer
from kubechaos.sim.clock import now


class PodLifecycle:
    """Sandboxes (IP, endpoint, runtime sandbox) and the pod-level state derived from containers."""

    def __init__(
        self,
        node_name: str,
        pod_cidr: str,
        settings: Settings,
        network: PodNetwork,
        runtime: ContainerRuntime,
        timers: TimerQueue,
        admission: Admission,
        status: PodStatusManager,
        events: KubeletEvents,
        config: ConfigSource | None = None,
    ) -> None:
        self.name = node_name
        self.config = config
        self.settings = settings
        self.network = network
        self.runtime = runtime
        self.timers = timers
        self.admission = admission
        self.status = status
        self.events = events
        self.ipam = NodeIPAM(pod_cidr)
        self.sandboxes = 0  # running sandboxes (kubelet_running_pods)
        self.pod_start_durations: list[float] = []  # kubelet_pod_start_duration samples
        self.network_gate: NetworkGate | None = None  # set for a kubelet starting in a reboot

    # ------------------------------------------------------------------ sandbox
    def create_sandbox(self, ps: PodState) -> None:
        """Ask the runtime for a sandbox: it is ready (:meth:`sandbox_ready`) when its timer is.

        Its configMap and secret volumes come first, as upstream's ``SyncPod`` waits in
        ``volumeManager.WaitForAttachAndMount`` before the sandbox: while one is missing the pod
        stays ContainerCreating with a ``FailedMount`` event, tried again after the pod
        workers' back-off (see :mod:`.configrefs`)."""
        if ps.terminating:
            return
        if self.network_gate is not None and self.network_gate.holds(ps):
            return  # after a reboot: the runtime or the network is not ready yet
        if ps.pod.spec.volume_refs and not self._volumes_ready(ps):
            return
        ps.sandbox = SANDBOX_CREATING
        ps.token += 1
        self.timers.at(now() + self.runtime.sandbox_duration(), TimerKind.SANDBOX, ps, ps.token)

    def _volumes_ready(self, ps: PodState) -> bool:
        if self.config is None:
            return True
        token = ps.token = ps.token + 1
        for ref in ps.pod.spec.volume_refs:
            error = self.config.error(
                ps.pod.metadata.namespace, (ref,), lambda: self._retry_mount(ps, token)
            )
            if error == "":
                return False  # the cache is being listed: tried again once it is
            if error is not None:
                self.events.pod(
                    ps,
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{ref.volume}" : {error}',
                )
                self.timers.at(now() + CONFIG_RETRY_SECONDS, TimerKind.MOUNT_RETRY, ps, ps.token)
                return False
        return True

    def _retry_mount(self, ps: PodState, token: int) -> None:
        self.timers.at(now(), TimerKind.MOUNT_RETRY, ps, token)
        if self.config is not None:
            self.config.poke()

    def sandbox_ready(self, ps: PodState) -> bool:
        """The sandbox is created: give it an IP. False: none free, try again after a backoff."""
        try:
            ip = self.ipam.allocate()
        except RuntimeError as exc:
            self.events.pod(
                ps,
                "FailedCreatePodSandBox",
                f"Failed to create pod sandbox: failed to allocate an IP: {exc}",
            )
            ps.token += 1
            self.timers.at(
                now() + self.settings.crash_loop_backoff_initial, TimerKind.SANDBOX, ps, ps.token
            )
            return False
        stale = self.network.lookup(ip)
        if stale is not None and stale.node == self.name:
            # left by this node's previous incarnation (its containers died with it); an IP
            # held on another node is a real conflict, which the network refuses
            self.network.detach(ip)
        ps.endpoint = self.network.attach(ip, self.name, ps.key)
        ps.endpoint.answerer = PodAnswerer(ps)
        ps.ip = ip
        ps.sandbox = SANDBOX_READY
        self.sandboxes += 1
        self.runtime.run_pod_sandbox(ps.uid, ip)
        return True

    def adopt_sandbox(self, ps: PodState, ip: str) -> None:
        """Take over a sandbox a previous kubelet left running at ``ip``, with its endpoint."""
        self.ipam.reserve(ip)
        endpoint = self.network.lookup(ip)
        if endpoint is None or endpoint.node != self.name or endpoint.pod != ps.key:
            if endpoint is not None:
                self.network.detach(ip)
            endpoint = self.network.attach(ip, self.name, ps.key)
        ps.endpoint, ps.ip, ps.sandbox = endpoint, ip, SANDBOX_READY
        endpoint.answerer = PodAnswerer(ps)
        endpoint.changed()
        self.sandboxes += 1

    def teardown_sandbox(self, ps: PodState) -> None:
        """Remove the sandbox (or stop its creation) and give back what the pod held."""
        if ps.sandbox == SANDBOX_READY:
            self.network.detach(ps.ip)
            self.ipam.release(ps.ip)
            self.runtime.remove_pod_sandbox(ps.uid)
            self.sandboxes -= 1
        ps.endpoint = None
        if ps.sandbox != NO_SANDBOX:
            ps.sandbox = SANDBOX_GONE
        ps.token += 1  # a sandbox still being created never completes
        self.admission.release(ps)

    # ------------------------------------------------------------------ pod-level state
    def completed(self, ps: PodState) -> None:
        """Every container is terminated for good: the pod is Succeeded or Failed."""
        ps.terminal = True
        self.teardown_sandbox(ps)
        self.status.mark_dirty(ps)

    def check_terminated(self, ps: PodState) -> None:
        """A terminating pod whose last container stopped is finished: tear it down."""
        if ps.terminating and not ps.finished and not any(r.state == RUNNING for r in ps.runs):
            ps.finished = True
            self.teardown_sandbox(ps)
            self.refresh(ps)

    def refresh(self, ps: PodState) -> None:
        """Derive pod-level truth after a container change: network flags, Ready, dirty."""
        running, ready = ps.running_and_ready() if ps.sandbox == SANDBOX_READY else (False, False)
        if ps.endpoint is not None:
            ps.endpoint.running = running
            ps.endpoint.ready = ready
            ps.endpoint.changed()
        status = "True" if ready else "False"
        if status != ps.ready_status:
            ps.ready_status = status
            ps.ready_since = now()
        if ready and not ps.start_recorded:
            ps.start_recorded = True
            created = ps.pod.metadata.creation_timestamp
            if created is not None:
                self.pod_start_durations.append(now() - created)
        self.status.mark_dirty(ps)
