"""A whole cluster, assembled from a spec: the wiring and nothing else.

::

    etcd ── kube-apiserver (watch cache) ──┬── kube-scheduler
                                          ├── kube-controller-manager
                                          │     (deployment, replicaset, endpoints,
                                          │      node lifecycle + taint eviction, GC)
                                          └── per node: kubelet ── container runtime
                                                         kube-proxy (one fleet, a view per node)
                                  pod network (data plane: which IP answers) ── traffic
                                       └── metrics-server (with the first HPA: each pod's CPU
                                           from the requests it served, every 15 s)

Every component gets a :class:`~kubechaos.client.context.Context` and talks only to the API
server. Processes run in their own cancel scopes so a later fault can kill one (losing its memory)
and start a fresh one, which must recover by relisting, as upstream processes do.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.crd import KIND as CRD_KIND
from kubechaos.api.discovery import resource_of
from kubechaos.api.objects import (
    APIObject,
    Namespace,
    ObjectMeta,
    Resources,
    Service,
    Taint,
    key_of,
)
from kubechaos.api.objects.custom import Unstructured
from kubechaos.client.context import Context
from kubechaos.client.identity import set_client
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.controlplane import ControlPlane
from kubechaos.control.etcd import Etcd
from kubechaos.control.leaderelection import ElectedComponent
from kubechaos.control.scheduler import Scheduler
from kubechaos.defaults import CLUSTER_CIDR, Settings
from kubechaos.node.boot import BootTimeline
from kubechaos.node.kubelet import Kubelet
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.metricsserver import MetricsServer
from kubechaos.node.network import PodNetwork, node_pod_cidr
from kubechaos.node.proxy import ProxyFleet
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now
from kubechaos.sim.events import EventLog

NODE_NETWORK = ipaddress.ip_network("172.16.0.0/12")
APPLY_CONFLICT_RETRIES = 5
# Add-ons that start with the first object of a kind that needs them (as the controllers of
# ON_FIRST_OBJECT do): a run without an HPA runs no metrics-server and scrapes nothing.
ADDONS_ON_FIRST_OBJECT = {"HorizontalPodAutoscaler": "metrics-server"}


@attrs.frozen
class NodeGroupSpec:
    name: str
    count: int = 1
    capacity: Resources = Resources(4000, 16 * 2**30, 110)
    labels: dict[str, str] = attrs.field(factory=dict)
    taints: tuple[Taint, ...] = ()

    def node_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{i}" for i in range(self.count))

    def node_labels(self, node: str) -> dict[str, str]:
        """The labels node ``node`` of this group carries: its hostname, its group, and the
        group's own labels."""
        return {"kubernetes.io/hostname": node, "kubechaos.io/node-group": self.name, **self.labels}


@attrs.frozen
class ClusterSpec:
    node_groups: tuple[NodeGroupSpec, ...]
    settings: Settings = Settings()
    control_plane_nodes: int = 1  # spec.cluster.controlPlane.nodes (see control/controlplane)

    def node_count(self) -> int:
        return sum(g.count for g in self.node_groups)


class Process:
    """A component running in its own cancel scope: it can be killed and started afresh."""

    def __init__(
        self,
        name: str,
        factory: Callable[[], Callable[[], Awaitable[None]]],
        election: ElectedComponent | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._scope: trio.CancelScope | None = None
        self.instance: object | None = None
        # leader-elected (kube-scheduler, kube-controller-manager): a fresh component per term
        self.election = election

    @property
    def running(self) -> bool:
        return self._scope is not None

    @property
    def acting(self) -> bool:
        """Running and, if leader-elected, leading: its component does its work."""
        return self._scope is not None and (self.election is None or self.election.leading)

    def start(self, nursery: trio.Nursery) -> None:
        if self._scope is not None:
            return
        scope = trio.CancelScope()
        self._scope = scope
        election = self.election
        if election is not None:
            self.instance = None  # a component exists only while it leads

        async def main() -> None:
            set_client(self.name)
            with scope:
                await (election.run(self._fresh) if election else self._fresh()())

        nursery.start_soon(main, name=self.name)

    def _fresh(self) -> Callable[[], Awaitable[None]]:
        run = self._factory()
        self.instance = getattr(run, "__self__", None)
        return run

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None


class NodeAgent:
    """One node's agents: its kubelet process and container runtime; its proxy is in the fleet.

    The machine can fail in two ways, each held by a count so overlapping faults stack (the
    node comes back when the last one lets go):

    * :meth:`crash` / :meth:`boot` -- the whole machine. A crash kills the kubelet, every
      container (the runtime forgets its workloads: a rebooted node's runtime is empty, its
      images stay on disk) and kube-proxy; the node's pod IPs stop answering. A boot starts
      kube-proxy (with empty rules until its first sync) and a fresh kubelet, which registers
      again and restarts the pods still bound to the node.
    * :meth:`stop_kubelet` / :meth:`start_kubelet` -- the kubelet process only. Containers keep
      running and serving; no heartbeats, no status, no reaction to pod changes. The kubelet
      started afterwards adopts the running containers.

    The kubelet runs only while neither is held. A machine that boots while its kubelet is held
    stopped stays dark (nothing answers at its pod IPs) until the kubelet starts.

    :attr:`cordon_holds` counts node drains in force and :attr:`cordoned_by_fault` says whether
    they cordoned it (it was schedulable before): the last drain to end uncordons only then.
    """

    def __init__(self, cluster: Cluster, config: NodeConfig) -> None:
        self.config = config
        self._cluster = cluster
        self.runtime = self._new_runtime()
        self.process = Process(f"kubelet/{config.name}", self._new_kubelet)
        self.crash_holds = 0
        self.kubelet_stop_holds = 0
        self.cordon_holds = 0
        self.cordoned_by_fault = False
        self._fresh_boot = True  # the machine booted since the last kubelet started
        self.boot_timeline: BootTimeline | None = None  # the last reboot's (None: booted at start)

    def _new_runtime(self) -> ContainerRuntime:
        ctx = self._cluster.ctx
        return ContainerRuntime(
            ctx.settings, ctx.stream(f"runtime/{self.config.name}"), self.config.name
        )

    def _new_kubelet(self) -> Callable[[], Awaitable[None]]:
        ctx = self._cluster.ctx
        boot = self.boot_timeline if self._fresh_boot else None
        kubelet = Kubelet(
            ctx, self.config, self._cluster.network, self.runtime, self._fresh_boot, boot
        )
        self._fresh_boot = False
        return kubelet.run

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def up(self) -> bool:
        """The machine is running (it may still have its kubelet stopped)."""
        return self.crash_holds == 0

    def crash(self) -> None:
        """The machine dies (or stays dead one more hold): kubelet, containers, kube-proxy."""
        self.crash_holds += 1
        if self.crash_holds > 1:
            return
        cluster = self._cluster
        self.process.stop()
        self.runtime.forget_workloads()
        cluster.network.set_node_up(self.name, False)
        proxy = cluster.proxies.get(self.name)
        if proxy is not None:
            proxy.stop()

    def boot(self, nursery: trio.Nursery | None = None) -> None:
        """Let go of one :meth:`crash`; the last one boots the machine."""
        if self.crash_holds == 0:
            return
        self.crash_holds -= 1
        if self.crash_holds:
            return
        cluster = self._cluster
        self._fresh_boot = True
        self.boot_timeline = BootTimeline.after_power_on(cluster.ctx.settings, now())
        proxy = cluster.proxies.get(self.name)
        if proxy is not None:
            proxy.start(kernel_rules_kept=False)
        if self.kubelet_stop_holds == 0:
            self.process.start(nursery or cluster.nursery)

    def stop_kubelet(self) -> None:
        """The kubelet process dies (or stays dead one more hold); containers keep running."""
        self.kubelet_stop_holds += 1
        if self.kubelet_stop_holds == 1:
            self.process.stop()

    def start_kubelet(self, nursery: trio.Nursery | None = None) -> None:
        """Let go of one :meth:`stop_kubelet`; the last one starts a kubelet (if the machine is
        up), which adopts the containers that kept running."""
        if self.kubelet_stop_holds == 0:
            return
        self.kubelet_stop_holds -= 1
        if self.kubelet_stop_holds == 0 and self.crash_holds == 0:
            self.process.start(nursery or self._cluster.nursery)

    @property
    def kubelet(self) -> Kubelet | None:
        return self.process.instance if isinstance(self.process.instance, Kubelet) else None


class Cluster:
    def __init__(self, spec: ClusterSpec, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed
        self.etcd: Etcd
        self.api: APIServer
        self.ctx: Context
        self.etcd, self.api, self.ctx = control_plane(seed, spec.settings)
        self.network = PodNetwork()
        self.proxies = ProxyFleet(self.ctx)
        self.control_plane = ControlPlane(spec.control_plane_nodes, self.etcd, self.api, self.ctx)
        # one candidate of each per control-plane node; one leads, the others stand by
        self.schedulers = self._candidates("kube-scheduler", lambda: Scheduler(self.ctx).run)
        self.controller_managers = self._candidates(
            "kube-controller-manager", lambda: ControllerManager(self.ctx, self.kinds_in_use).run
        )
        # kinds applied so far: their on-demand controllers run (see controllermanager)
        self.kinds_in_use: set[str] = set()
        self.api.custom.on_serve.append(lambda: self.use_kind(CRD_KIND))  # the first CRD
        self.addons = {
            "metrics-server": Process(
                "metrics-server",
                lambda: MetricsServer(self.ctx, self.network, self._kubelet_answers).run,
            )
        }
        self.nodes: dict[str, NodeAgent] = {}
        index = 0
        for group in spec.node_groups:
            for name in group.node_names():
                labels = group.node_labels(name)
                config = NodeConfig(
                    name=name,
                    capacity=group.capacity,
                    labels=labels,
                    taints=group.taints,
                    pod_cidr=node_pod_cidr(CLUSTER_CIDR, index),
                    address=str(NODE_NETWORK.network_address + index + 2),
                )
                self.nodes[name] = NodeAgent(self, config)
                index += 1
        self._nursery: trio.Nursery | None = None

    def _candidates(
        self, name: str, factory: Callable[[], Callable[[], Awaitable[None]]]
    ) -> list[Process]:
        plane = self.control_plane
        return [
            Process(plane.client_name(name, i), factory, self._election(name, host))
            for i, host in enumerate(plane.hosts)
        ]

    def _election(self, name: str, host: str) -> ElectedComponent | None:
        """The component's leader election on ``host`` (None under ``leaderElect: false``)."""
        ctx = self.ctx
        if not ctx.settings.leader_elect:
            return None
        stream = f"leaderelection/{name}" + (f"/{host}" if self.control_plane.ha else "")
        return ElectedComponent(ctx.api, ctx.events, ctx.settings, name, ctx.stream(stream), host)

    @staticmethod
    def _acting(candidates: list[Process]) -> Process:
        """The candidate that leads (or else the first running one, or the first)."""
        if len(candidates) == 1:
            return candidates[0]
        for process in candidates:
            if process.acting:
                return process
        return next((p for p in candidates if p.running), candidates[0])

    @property
    def scheduler(self) -> Process:
        """The kube-scheduler that acts (with several candidates, the leader)."""
        return self._acting(self.schedulers)

    @property
    def controller_manager(self) -> Process:
        """The kube-controller-manager that acts (with several candidates, the leader)."""
        return self._acting(self.controller_managers)

    @property
    def events(self) -> EventLog:
        return self.ctx.events

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Boot the cluster and run it until cancelled; ``started`` once every process is up."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.etcd.run_lease_expiry, name="etcd-lessor")
            nursery.start_soon(self.api.run_compaction, name="apiserver-compaction")
            self.api.custom.spawn = nursery.start_soon  # the CRD finalizer, when one is deleted
            await bootstrap(self.ctx)
            self.ctx.events.record(
                "cluster", "Cluster", "", "Booting", f"{len(self.nodes)} nodes, seed {self.seed}"
            )
            for process in (*self.schedulers, *self.controller_managers):
                process.start(nursery)
            nursery.start_soon(self._run_proxies, name="kube-proxy")
            for name, agent in self.nodes.items():
                self.proxies.register(name)
                agent.process.start(nursery)
            for kind in self.kinds_in_use:
                self._start_addon(kind)
            task_status.started()

    def _start_addon(self, kind: str) -> None:
        addon = ADDONS_ON_FIRST_OBJECT.get(kind)
        if addon is not None and self._nursery is not None:
            self.addons[addon].start(self._nursery)

    def _kubelet_answers(self, node: str) -> bool:
        """Whether ``node``'s kubelet answers (a metrics scrape, for one)."""
        agent = self.nodes.get(node)
        return agent is not None and agent.up and agent.kubelet_stop_holds == 0

    async def _run_proxies(self) -> None:
        set_client("kube-proxy")
        await self.proxies.run()

    @property
    def nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("the cluster is not running")
        return self._nursery

    def use_kind(self, kind: str) -> None:
        """A first object of ``kind`` is coming: start what it needs (its controller, its
        add-on), once. Also what the front door calls before a client creates one."""
        if kind in self.kinds_in_use:
            return
        self.kinds_in_use.add(kind)
        for process in self.controller_managers:  # every candidate, leader or standby
            manager = process.instance
            if process.running and isinstance(manager, ControllerManager):
                manager.enable(kind)
        self._start_addon(kind)

    async def apply(self, objects: Iterable[APIObject]) -> list[APIObject]:
        """Create ``objects`` through the API server, or update those that exist, as
        ``kubectl apply`` does: an existing object gets the manifest's spec, labels and
        annotations (a new Deployment template starts a rollout).

        Namespaces the objects live in are created first when missing.
        """
        applied = []
        ensured: dict[str, None] = {}  # namespaces this call made sure of: one request each
        for obj in objects:
            if isinstance(obj, Unstructured):  # a CustomResourceDefinition or a custom object
                applied.append(await self._apply_custom(obj, ensured))
                continue
            self.use_kind(type(obj).__name__)
            namespace = obj.metadata.namespace
            if namespace and not isinstance(obj, Namespace) and namespace not in ensured:
                with contextlib.suppress(errors.AlreadyExists):
                    await self.ctx.api.create(Namespace(ObjectMeta(name=namespace)))
                ensured[namespace] = None
            verb = "created"
            try:
                applied.append(await self.ctx.api.create(obj))
            except errors.AlreadyExists:
                if isinstance(obj, Namespace):
                    continue
                applied.append(await self._update(obj))
                verb = "configured"
            self.ctx.events.record(
                "kubectl", type(obj).__name__, key_of(obj), "Applied", f"{resource_of(obj)} {verb}"
            )
        return applied

    async def _apply_custom(self, obj: Unstructured, ensured: dict[str, None]) -> Any:
        namespace = obj.metadata.namespace
        if namespace and namespace not in ensured:
            with contextlib.suppress(errors.AlreadyExists):
                await self.ctx.api.create(Namespace(ObjectMeta(name=namespace)))
            ensured[namespace] = None
        done, verb = await self.api.custom.apply(obj)
        key = f"{namespace}/{obj.metadata.name}" if namespace else obj.metadata.name
        self.ctx.events.record("kubectl", obj.kind, key, "Applied", f"{obj.kind} {verb}")
        return done

    async def _update(self, obj: APIObject) -> APIObject:
        resource = resource_of(obj)
        for _ in range(APPLY_CONFLICT_RETRIES):
            current = await self.ctx.api.get(resource, obj.metadata.namespace, obj.metadata.name)
            meta = attrs.evolve(
                current.metadata, labels=obj.metadata.labels, annotations=obj.metadata.annotations
            )
            spec = getattr(obj, "spec", None)
            if isinstance(obj, Service) and not obj.spec.cluster_ip:
                spec = attrs.evolve(obj.spec, cluster_ip=current.spec.cluster_ip)  # allocated
            # objects without a spec (ConfigMap, Secret, ...) get the manifest's other fields
            fields = {"spec": spec} if spec else _content(obj)
            updated = attrs.evolve(current, metadata=meta, **fields)
            try:
                return await self.ctx.api.update(updated)
            except errors.Conflict:
                continue  # someone wrote it meanwhile: read again, as kubectl retries
        raise errors.Conflict(f"{resource} {key_of(obj)} kept changing while being applied")


def _content(obj: APIObject) -> dict[str, object]:
    """The fields of a spec-less object besides its metadata, as the manifest has them."""
    return {f.name: getattr(obj, f.name) for f in attrs.fields(type(obj)) if f.name != "metadata"}
