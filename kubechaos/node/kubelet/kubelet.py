"""The :class:`Kubelet`: one per node, a thin composition of the managers of this package.

Mirrors upstream's ``pkg/kubelet/kubelet.go``, whose ``Kubelet`` struct likewise wires a status
manager, a node lease controller, pod workers, a prober manager and a container runtime, and
whose ``Run`` starts their loops. It holds no pod or node state of its own: each manager owns
its own, and this class builds them, connects them and starts their tasks in a fixed order (the
order is part of what makes a run reproducible).
"""

from __future__ import annotations

import trio

from kubechaos.client.context import Context
from kubechaos.node.boot import BootTimeline
from kubechaos.node.kubelet.admission import Admission
from kubechaos.node.kubelet.config import KubeletEvents, NodeConfig
from kubechaos.node.kubelet.configrefs import ConfigSource
from kubechaos.node.kubelet.containers import ContainerLifecycle
from kubechaos.node.kubelet.netgate import NetworkGate
from kubechaos.node.kubelet.node_status import NodeHeartbeat
from kubechaos.node.kubelet.pod_lifecycle import PodLifecycle
from kubechaos.node.kubelet.pod_workers import PodWorkers
from kubechaos.node.kubelet.restore import Restorer
from kubechaos.node.kubelet.status_manager import PodStatusManager
from kubechaos.node.kubelet.timers import TimerQueue
from kubechaos.node.kubelet.timing import KubeletTiming
from kubechaos.node.network import PodNetwork
from kubechaos.node.podstate import PodState
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now


class Kubelet:
    """The kubelet process of one node: run it until cancelled (cancelling it is the process
    dying; what happens to the containers is the runtime's business)."""

    def __init__(
        self,
        ctx: Context,
        config: NodeConfig,
        network: PodNetwork,
        runtime: ContainerRuntime,
        fresh_boot: bool = True,
        boot: BootTimeline | None = None,
    ) -> None:
        """``fresh_boot`` False: the machine did not reboot since the last kubelet ran (a kubelet
        restart), so re-registering is no ``Rebooted`` event. ``boot``: the reboot this kubelet
        starts in (None: the machine, its runtime and network are up already)."""
        self.boot = boot
        self.name = config.name
        self.network = network
        self.runtime = runtime
        self.events = KubeletEvents(ctx.events)
        self.pods: dict[str, PodState] = {}  # by UID; written by the pod workers only
        timers = TimerQueue()
        self.heartbeat = NodeHeartbeat(
            ctx.api,
            ctx.settings,
            config,
            self.events,
            fresh_boot,
            runtime.images,
            ctx.stream(f"heartbeat/{config.name}"),
            boot,
            lambda: runtime.images_version,
        )
        self.status = PodStatusManager(ctx.api, self.pods, config.address)
        self.admission = Admission(config, lambda: self.heartbeat.node)
        self.config_source = ConfigSource(ctx)
        self.lifecycle = PodLifecycle(
            config.name,
            config.pod_cidr,
            ctx.settings,
            network,
            runtime,
            timers,
            self.admission,
            self.status,
            self.events,
            self.config_source,
        )
        timing = KubeletTiming(ctx.settings, ctx.stream(f"kubelet/{config.name}"))
        if boot is not None:
            self.lifecycle.network_gate = NetworkGate(boot, timing, timers, self.events)
        self.containers = ContainerLifecycle(
            ctx.settings,
            runtime,
            timers,
            self.lifecycle,
            self.status,
            self.events,
            timing,
            self.config_source,
        )
        self.restorer = Restorer(
            config, network, runtime, timers, self.lifecycle, self.containers, self.events
        )
        self.pod_workers = PodWorkers(
            ctx,
            config.name,
            self.pods,
            runtime,
            timers,
            self.admission,
            self.lifecycle,
            self.containers,
            self.restorer,
            self.status,
            self.events,
        )

    # ------------------------------------------------------------------ read-only figures
    def running_pods(self) -> int:
        """Pods with a running sandbox (``kubelet_running_pods``)."""
        return self.lifecycle.sandboxes

    @property
    def pod_start_durations(self) -> list[float]:
        """``kubelet_pod_start_duration`` samples: creation to first Ready, in seconds."""
        return self.lifecycle.pod_start_durations

    @property
    def loop_wakeups(self) -> int:
        return self.pod_workers.loop_wakeups

    @property
    def status_writes(self) -> int:
        return self.status.writes

    # ------------------------------------------------------------------ the process
    async def run(self) -> None:
        """Run the kubelet until cancelled (cancellation is the process dying).

        It starts from what the runtime holds: nothing after a reboot, running pods to adopt
        after a kubelet restart (see :mod:`kubechaos.node.kubelet.restore`).
        """
        if self.boot is not None:
            await trio.sleep_until(self.boot.kubelet_at)  # the machine's OS is booting
        self.containers.timing.relist_origin = now()  # PLEG's relist loop starts now
        self.restorer.find_survivors()
        self.runtime.unseen_exits.clear()  # adoption reads the containers' states directly
        self.runtime.listener = self.pod_workers.poke
        self.restorer.clear_stale_endpoints()
        self.network.set_node_up(self.name, True)
        self.events.node(self.name, "Starting", "Starting kubelet.")
        if self.boot is not None:
            await trio.sleep_until(self.boot.api_at)  # the kubelet initialises
        async with trio.open_nursery() as nursery:
            self.config_source.bind(nursery)
            self.config_source.poke = self.pod_workers.poke
            nursery.start_soon(self.heartbeat.run)
            nursery.start_soon(self.pod_workers.informer.run)
            nursery.start_soon(self.pod_workers.run)
            nursery.start_soon(self.status.run)
            if self.restorer.adoptable:
                nursery.start_soon(self.pod_workers.wake_when_listed)
