"""kube-controller-manager: the controllers of the model, run together as one process.

Like upstream, the controllers share the process and its informers (one watch per resource, see
:class:`~kubechaos.client.informer.InformerFactory`), each with its own work queue. Cancelling
:meth:`run` is the process dying: in-memory state is lost and a new ControllerManager relists
from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio

from kubechaos.client.context import Context
from kubechaos.client.identity import current_client, set_client
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.daemon import DaemonSetController
from kubechaos.control.controllers.deployment import DeploymentController
from kubechaos.control.controllers.disruption import DisruptionController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.garbagecollector import GarbageCollector
from kubechaos.control.controllers.job import JobController
from kubechaos.control.controllers.nodelifecycle import NodeLifecycleController
from kubechaos.control.controllers.podautoscaler import HorizontalController
from kubechaos.control.controllers.podgc import PodGCController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.statefulset import StatefulSetController
from kubechaos.control.controllers.tainteviction import TaintEvictionController


def node_lifecycle_controllers(
    ctx: Context,
) -> tuple[NodeLifecycleController, TaintEvictionController]:
    """The node lifecycle controller and the taint eviction controller on its caches.

    Upstream (v1.29+) starts them as two controllers over shared informers. Here the taint
    eviction controller reads the node lifecycle controller's node and pod informers and its
    pods-by-node index, and the node lifecycle controller starts it once those have synced: run
    the first, and the second runs with it.
    """
    node_lifecycle = NodeLifecycleController(ctx)
    taint_eviction = TaintEvictionController(
        ctx, node_lifecycle.nodes, node_lifecycle.pods, node_lifecycle.pods_by_node
    )
    node_lifecycle.start_once_synced(taint_eviction)
    return node_lifecycle, taint_eviction


# Controllers that start with the first object of their kind, by kind. Upstream runs every
# controller from the start; here one whose kind the scenario never uses does not run, so a run
# pays nothing for kinds it does not use (no list, no watch, no handler per pod event) and its
# event log is the same as before the kind existed (same seed, same run). Once its kind appears
# (``ControllerManager(kinds_in_use=...)`` or :meth:`ControllerManager.enable` while running)
# it runs as upstream's would, having listed and synced what exists.
ON_FIRST_OBJECT: dict[str, Callable[[Context], Controller]] = {
    "PodDisruptionBudget": DisruptionController,
    "DaemonSet": DaemonSetController,
    "HorizontalPodAutoscaler": HorizontalController,
    "StatefulSet": StatefulSetController,
    "Job": JobController,
}


class ControllerManager:
    """The controllers; those in :data:`ON_FIRST_OBJECT` once an object of their kind exists."""

    def __init__(self, ctx: Context, kinds_in_use: Iterable[str] = ()) -> None:
        ctx = ctx.sharing_informers("kube-controller-manager")
        self.ctx = ctx
        self.deployment = DeploymentController(ctx)
        self.replicaset = ReplicaSetController(ctx)
        self.endpoints = EndpointsController(ctx)
        self.endpointslice = EndpointSliceController(ctx)
        self.node_lifecycle, self.taint_eviction = node_lifecycle_controllers(ctx)
        self.garbage_collector = GarbageCollector(ctx)
        # on the node lifecycle controller's informers and index; its pass starts on demand
        self.pod_gc = PodGCController(
            ctx,
            self.node_lifecycle.nodes,
            self.node_lifecycle.pods,
            self.node_lifecycle.pods_by_node,
        )
        self.on_demand: dict[str, Controller] = {}  # kind -> its controller, once started
        self._client = "kube-controller-manager"  # the name its controllers' requests carry
        self._nursery: trio.Nursery | None = None
        for kind in kinds_in_use:
            self.enable(kind)

    def enable(self, kind: str) -> None:
        """Run the controller of ``kind`` from now on, if it has one that starts on demand
        (idempotent)."""
        factory = ON_FIRST_OBJECT.get(kind)
        if factory is None or kind in self.on_demand:
            self.garbage_collector.watch_kind(kind)  # owners and dependents of any kind in use
            return
        controller = self.on_demand[kind] = factory(self.ctx)
        self.garbage_collector.watch_kind(kind)
        if self._nursery is not None:
            # as this manager's client, not the caller's (a front-door request's, which
            # trio's context copy would hand the controller's task)
            self._nursery.start_soon(self._run_as_manager, controller)

    async def _run_as_manager(self, controller: Controller) -> None:
        set_client(self._client)
        await controller.run()

    def controller_for(self, kind: str) -> Controller | None:
        """The running on-demand controller of ``kind``, if it started."""
        return self.on_demand.get(kind)

    def controllers(self) -> list[object]:
        return [
            self.deployment,
            self.replicaset,
            self.endpoints,
            self.endpointslice,
            self.node_lifecycle,
            self.garbage_collector,
            *self.on_demand.values(),
        ]

    def queues(self) -> list[Controller]:
        """The controllers with work queues (for workqueue_* metrics)."""
        queued = [c for c in self.controllers() if isinstance(c, Controller)]
        # controllers an on-demand one runs beside it (the job controller's TTL controller)
        companions = [q for c in self.on_demand.values() for q in getattr(c, "companions", ())]
        return [*queued, self.taint_eviction, *companions]

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._client = current_client() or self._client
                self._nursery = nursery
                self.pod_gc.attach(nursery, trio.current_time())
                for controller in self.controllers():
                    nursery.start_soon(controller.run)  # type: ignore[attr-defined]
        finally:
            self._nursery = None
