"""The kubelet's wait for the container runtime and the network after a reboot, for pods.

Upstream's sync loop starts no pod while the runtime has not answered (kubelet.go ``syncLoop``:
"Skipping pod synchronization" while ``runtimeState.runtimeErrors()``), and a pod's sync fails
before its sandbox while the network plugin is not ready (kubelet.go ``SyncPod``: event
``NetworkNotReady``, "network is not ready: container runtime network not ready: ..."; host-network
pods excepted, which the model has none of). The pod worker tries the failed sync again after its
back-off (pod_workers.go ``completeWork``: 10 s plus up to 50 %, :mod:`.timing`). See
:mod:`kubechaos.node.boot` for the boot's steps.
"""

from __future__ import annotations

from kubechaos.node.boot import POD_NETWORK_NOT_READY, BootTimeline
from kubechaos.node.kubelet.config import KubeletEvents
from kubechaos.node.kubelet.timers import TimerKind, TimerQueue
from kubechaos.node.kubelet.timing import KubeletTiming
from kubechaos.node.podstate import PodState
from kubechaos.sim.clock import now


class NetworkGate:
    """Holds pods' sandboxes back until the node's runtime and network are ready."""

    def __init__(
        self, boot: BootTimeline, timing: KubeletTiming, timers: TimerQueue, events: KubeletEvents
    ) -> None:
        self.boot = boot
        self.timing = timing
        self.timers = timers
        self.events = events

    def holds(self, ps: PodState) -> bool:
        """Whether ``ps``'s sandbox must wait; if so, its sync is tried again later."""
        t = now()
        if t >= self.boot.network_at:
            return False
        if t < self.boot.runtime_at:
            retry = self.boot.runtime_at  # the sync loop starts syncing pods once it is up
        else:
            self.events.pod(ps, "NetworkNotReady", POD_NETWORK_NOT_READY)
            delay = self.timing.resync_delay()
            retry = t + delay if delay is not None else self.boot.network_at
        ps.token += 1
        self.timers.at(retry, TimerKind.MOUNT_RETRY, ps, ps.token)
        return True


__all__ = ["NetworkGate"]
