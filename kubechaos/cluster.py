"""A whole cluster, assembled from a spec: the wiring and nothing else.

::

    etcd ── kube-apiserver (watch cache) ──┬── kube-scheduler
                                          ├── kube-controller-manager
                                          │     (deployment, replicaset, endpoints,
                                          │      node lifecycle + taint eviction, GC)
                                          └── per node: kubelet ── container runtime
                                                         kube-proxy (one fleet, a view per node)
                                  pod network (data plane: which IP answers) ── traffic

Every component gets a :class:`~kubechaos.control.context.Context` and talks only to the API
server. Processes run in their own cancel scopes so a later fault can kill one (losing its memory)
and start a fresh one, which must recover by relisting, as upstream processes do.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import APIObject, Namespace, ObjectMeta, Resources, Taint, key_of
from kubechaos.control.apiserver import APIServer, resource_of, set_client
from kubechaos.control.context import Context, bootstrap, new_control_plane
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.etcd import Etcd
from kubechaos.control.scheduler import Scheduler
from kubechaos.defaults import CLUSTER_CIDR, Settings
from kubechaos.node.kubelet import Kubelet, NodeConfig
from kubechaos.node.network import PodNetwork, node_pod_cidr
from kubechaos.node.proxy import ProxyFleet
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.events import EventLog

NODE_NETWORK = ipaddress.ip_network("172.16.0.0/12")


@attrs.frozen
class NodeGroupSpec:
    name: str
    count: int = 1
    capacity: Resources = Resources(4000, 16 * 2**30, 110)
    labels: dict[str, str] = attrs.field(factory=dict)
    taints: tuple[Taint, ...] = ()

    def node_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{i}" for i in range(self.count))


@attrs.frozen
class ClusterSpec:
    node_groups: tuple[NodeGroupSpec, ...]
    settings: Settings = Settings()

    def node_count(self) -> int:
        return sum(g.count for g in self.node_groups)


class Process:
    """A component running in its own cancel scope: it can be killed and started afresh."""

    def __init__(self, name: str, factory: Callable[[], Callable[[], Awaitable[None]]]) -> None:
        self.name = name
        self._factory = factory
        self._scope: trio.CancelScope | None = None
        self.instance: object | None = None

    @property
    def running(self) -> bool:
        return self._scope is not None

    def start(self, nursery: trio.Nursery) -> None:
        if self._scope is not None:
            return
        scope = trio.CancelScope()
        self._scope = scope
        run = self._factory()
        self.instance = getattr(run, "__self__", None)

        async def main() -> None:
            set_client(self.name)
            with scope:
                await run()

        nursery.start_soon(main, name=self.name)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None


class NodeAgent:
    """One node's agents: its kubelet process and container runtime; its proxy is in the fleet."""

    def __init__(self, cluster: Cluster, config: NodeConfig) -> None:
        self.config = config
        self._cluster = cluster
        self.runtime = self._new_runtime()
        self.process = Process(f"kubelet/{config.name}", self._new_kubelet)

    def _new_runtime(self) -> ContainerRuntime:
        ctx = self._cluster.ctx
        return ContainerRuntime(
            ctx.settings, ctx.stream(f"runtime/{self.config.name}"), self.config.name
        )

    def _new_kubelet(self) -> Callable[[], Awaitable[None]]:
        ctx = self._cluster.ctx
        kubelet = Kubelet(ctx, self.config, self._cluster.network, self.runtime)
        return kubelet.run

    @property
    def kubelet(self) -> Kubelet | None:
        return self.process.instance if isinstance(self.process.instance, Kubelet) else None


class Cluster:
    def __init__(self, spec: ClusterSpec, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed
        self.etcd: Etcd
        self.ctx: Context
        self.etcd, self.ctx = new_control_plane(seed, spec.settings)
        self.network = PodNetwork()
        self.proxies = ProxyFleet(self.ctx)
        self.scheduler = Process("kube-scheduler", lambda: Scheduler(self.ctx).run)
        self.controller_manager = Process(
            "kube-controller-manager", lambda: ControllerManager(self.ctx).run
        )
        self.nodes: dict[str, NodeAgent] = {}
        index = 0
        for group in spec.node_groups:
            for name in group.node_names():
                labels = {"kubernetes.io/hostname": name, "kubechaos.io/node-group": group.name}
                labels.update(group.labels)
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

    @property
    def api(self) -> APIServer:
        return self.ctx.api

    @property
    def events(self) -> EventLog:
        return self.ctx.events

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Boot the cluster and run it until cancelled; ``started`` once every process is up."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.etcd.run_lease_expiry, name="etcd-lessor")
            nursery.start_soon(self.ctx.api.run_compaction, name="apiserver-compaction")
            await bootstrap(self.ctx)
            self.ctx.events.record(
                "cluster", "Cluster", "", "Booting", f"{len(self.nodes)} nodes, seed {self.seed}"
            )
            self.scheduler.start(nursery)
            self.controller_manager.start(nursery)
            nursery.start_soon(self._run_proxies, name="kube-proxy")
            for name, agent in self.nodes.items():
                self.proxies.register(name)
                agent.process.start(nursery)
            task_status.started()

    async def _run_proxies(self) -> None:
        set_client("kube-proxy")
        await self.proxies.run()

    @property
    def nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("the cluster is not running")
        return self._nursery

    async def apply(self, objects: Iterable[APIObject]) -> list[APIObject]:
        """Create ``objects`` through the API server, as ``kubectl apply`` would for new objects.

        Namespaces the objects live in are created first when missing.
        """
        created = []
        ensured: dict[str, None] = {}  # namespaces this call made sure of: one request each
        for obj in objects:
            namespace = obj.metadata.namespace
            if namespace and not isinstance(obj, Namespace) and namespace not in ensured:
                with contextlib.suppress(errors.AlreadyExists):
                    await self.ctx.api.create(Namespace(ObjectMeta(name=namespace)))
                ensured[namespace] = None
            try:
                created.append(await self.ctx.api.create(obj))
            except errors.AlreadyExists:
                if not isinstance(obj, Namespace):
                    raise
            self.ctx.events.record(
                "kubectl", type(obj).__name__, key_of(obj), "Applied", f"{resource_of(obj)} created"
            )
        return created
