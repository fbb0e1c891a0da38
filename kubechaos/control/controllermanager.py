"""kube-controller-manager: the controllers of the model, run together as one process.

Like upstream, the controllers share the process and its informers (one watch per resource, see
:class:`~kubechaos.client.informer.InformerFactory`), each with its own work queue. Cancelling
:meth:`run` is the process dying: in-memory state is lost and a new ControllerManager relists
from scratch.
"""

from __future__ import annotations

import trio

from kubechaos.client.context import Context
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.deployment import DeploymentController
from kubechaos.control.controllers.disruption import DisruptionController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.garbagecollector import GarbageCollector
from kubechaos.control.controllers.nodelifecycle import NodeLifecycleController
from kubechaos.control.controllers.replicaset import ReplicaSetController
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


class ControllerManager:
    """The controllers; the disruption controller only once a budget exists.

    Upstream runs the disruption controller always; here it starts with the first
    PodDisruptionBudget applied (``disruption=True``, or :meth:`enable_disruption` while running),
    as if ``--controllers`` named it then, so a run without budgets makes no request for it and
    pays nothing per pod event.
    """

    def __init__(self, ctx: Context, disruption: bool = False) -> None:
        ctx = ctx.sharing_informers("kube-controller-manager")
        self.ctx = ctx
        self.deployment = DeploymentController(ctx)
        self.replicaset = ReplicaSetController(ctx)
        self.endpoints = EndpointsController(ctx)
        self.node_lifecycle, self.taint_eviction = node_lifecycle_controllers(ctx)
        self.garbage_collector = GarbageCollector(ctx)
        self.disruption: DisruptionController | None = None
        self._nursery: trio.Nursery | None = None
        if disruption:
            self.enable_disruption()

    def enable_disruption(self) -> None:
        """Run the disruption controller from now on (idempotent)."""
        if self.disruption is None:
            self.disruption = DisruptionController(self.ctx)
            if self._nursery is not None:
                self._nursery.start_soon(self.disruption.run)

    def controllers(self) -> list[object]:
        optional = [self.disruption] if self.disruption is not None else []
        return [
            self.deployment,
            self.replicaset,
            self.endpoints,
            self.node_lifecycle,
            self.garbage_collector,
            *optional,
        ]

    def queues(self) -> list[Controller]:
        """The controllers with work queues (for workqueue_* metrics)."""
        queued = [c for c in self.controllers() if isinstance(c, Controller)]
        return [*queued, self.taint_eviction]

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for controller in self.controllers():
                    nursery.start_soon(controller.run)  # type: ignore[attr-defined]
        finally:
            self._nursery = None
