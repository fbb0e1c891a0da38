"""The pod garbage collector (pkg/controller/podgc/gc_controller.go): force-deleting the pods
no kubelet will ever finish.

Every ``gcCheckPeriod`` (20 s) upstream's pass lists every pod and:

- gcTerminating: a pod being deleted on a node that is not Ready and carries the
  ``node.kubernetes.io/out-of-service`` taint (any effect) is marked Failed and force-deleted
  (grace 0): the non-graceful node shutdown cure, so a StatefulSet pod on a dead node can be
  replaced without ``kubectl delete --force``;
- gcOrphaned: a pod bound to a node the node informer does not know is put in quarantine for
  ``quarantineTime`` (40 s); after it, a GET asks the API server whether the node is truly gone,
  and if so each of its pods gets ``DisruptionTarget`` (reason ``DeletionByPodGC``), is marked
  Failed and force-deleted;
- gcUnscheduledTerminating: a pod being deleted that was never bound is marked Failed and
  force-deleted.

gcTerminated (the ``--terminated-pod-gc-threshold`` of 12500 terminated pods) is not modelled:
a simulated cluster does not reach it.

The model does not scan every pod: the handlers on the controller manager's shared pod and node
informers note, in O(1) per event, the candidates of each rule (nodes deleted or never seen,
nodes with the out-of-service taint, unbound terminating pods), and the pass looks only at them
and at their pods through the pods-by-node index. The periodic pass itself starts with the first
candidate (a run that never deletes a node, applies the taint or deletes an unbound pod with a
finalizer runs no extra task, so its event log is unchanged); its passes are then aligned on the
controller manager's start, as upstream's ``wait.Until`` loop from the controller's start.
"""

from __future__ import annotations

import math

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Node, Pod, PodCondition, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controllers.podsbynode import PodsByNode
from kubechaos.defaults import POD_GC_CHECK_PERIOD, POD_GC_QUARANTINE, TAINT_OUT_OF_SERVICE
from kubechaos.sim import timers
from kubechaos.sim.clock import now


def _ready(node: Node) -> bool:
    """nodeutil.IsNodeReady: the Ready condition is True."""
    cond = node.status.condition("Ready")
    return cond is not None and cond.status == "True"


def _out_of_service(node: Node) -> bool:
    """taints.TaintKeyExists(node.Spec.Taints, v1.TaintNodeOutOfService): any effect."""
    return any(t.key == TAINT_OUT_OF_SERVICE for t in node.spec.taints)


def _failed(pod: Pod, condition: PodCondition | None) -> Pod:
    """The pod marked Failed, with ``condition`` set (markFailedAndDeletePodWithCondition)."""
    conditions = pod.status.conditions
    if condition is not None:
        kept = tuple(c for c in conditions if c.type != condition.type)
        conditions = (*kept, condition)
    return attrs.evolve(pod, status=attrs.evolve(pod.status, phase="Failed", conditions=conditions))


class PodGCController:
    """Upstream's PodGCController over the controller manager's shared informers."""

    name = "pod-garbage-collector-controller"

    def __init__(
        self,
        ctx: Context,
        nodes: Informer[Node],
        pods: Informer[Pod],
        pods_by_node: PodsByNode,
    ) -> None:
        self.api = ctx.api
        self.events = ctx.events
        self.nodes = nodes
        self.pods = pods
        self.pods_by_node = pods_by_node
        self.absent: dict[str, None] = {}  # nodes pods are bound to that the informer lacks
        self.unverified: dict[str, None] = {}  # such nodes, seen before the nodes had synced
        self.quarantine: dict[str, float] = {}  # node -> when the GET may be made (nodeQueue)
        self.out_of_service: dict[str, None] = {}  # nodes with the out-of-service taint
        self.unscheduled: dict[str, None] = {}  # keys of unbound terminating pods
        self.passes = 0
        self._nursery: trio.Nursery | None = None
        self._started_at = 0.0
        self._running = False
        nodes.add_handler(Handler(self._on_node, lambda old, new: self._on_node(new), self._gone))
        pods.add_handler(Handler(self._on_pod, lambda old, new: self._on_pod(new), self._pod_gone))

    def attach(self, nursery: trio.Nursery, started_at: float) -> None:
        """Where the pass runs once there is something to collect (the manager's nursery)."""
        self._nursery, self._started_at = nursery, started_at

    # ------------------------------------------------------------------ candidates (O(1))
    def _wake(self) -> None:
        if not self._running and self._nursery is not None:
            self._running = True
            self._nursery.start_soon(self._loop)

    def _on_node(self, node: Node) -> None:
        name = node.metadata.name
        if _out_of_service(node):
            if name not in self.out_of_service:
                self.out_of_service[name] = None
                self._wake()
        else:
            self.out_of_service.pop(name, None)
        if self.unverified and self.nodes.synced.is_set():
            self._verify()

    def _verify(self) -> None:
        """Nodes noted before the node informer had listed: those it still lacks are absent."""
        for name in self.unverified:
            if self.nodes.get(name) is None:
                self.absent[name] = None
        self.unverified.clear()
        if self.absent:
            self._wake()

    def _gone(self, node: Node) -> None:
        name = node.metadata.name
        self.out_of_service.pop(name, None)
        if self.pods_by_node.pods(name):
            self.absent[name] = None
            self._wake()

    def _on_pod(self, pod: Pod) -> None:
        node_name = pod.spec.node_name
        if not node_name:
            if pod.metadata.deletion_timestamp is not None:
                self.unscheduled[key_of(pod)] = None
                self._wake()
        elif node_name not in self.absent and self.nodes.get(node_name) is None:
            if self.nodes.synced.is_set():
                self.absent[node_name] = None
                self._wake()
            else:
                self.unverified[node_name] = None
                self._wake()  # verified once the nodes have listed (in the pass's first wait)

    def _pod_gone(self, pod: Pod) -> None:
        self.unscheduled.pop(key_of(pod), None)

    # ------------------------------------------------------------------ the pass
    async def _loop(self) -> None:
        await self.nodes.synced.wait()
        await self.pods.synced.wait()
        if self.unverified:
            self._verify()  # no node event may come after the list to verify them
        periods = math.ceil((now() - self._started_at) / POD_GC_CHECK_PERIOD)
        await timers.sleep_until(self._started_at + periods * POD_GC_CHECK_PERIOD)
        while True:
            await self.gc()
            await timers.sleep(POD_GC_CHECK_PERIOD)  # wait.Until: the period after each pass

    async def gc(self) -> None:
        """One pass, in upstream's order (gc: gcTerminating, gcOrphaned,
        gcUnscheduledTerminating)."""
        self.passes += 1
        await self._gc_terminating()
        await self._gc_orphaned()
        await self._gc_unscheduled_terminating()

    async def _gc_terminating(self) -> None:
        doomed: list[Pod] = []
        for name in list(self.out_of_service):
            node = self.nodes.get(name)
            if node is None or _ready(node) or not _out_of_service(node):
                continue
            doomed.extend(
                p for p in self.pods_by_node.pods(name) if p.metadata.deletion_timestamp is not None
            )
        for pod in sorted(doomed, key=_eviction_order):
            await self._mark_failed_and_delete(pod, None, "terminating-out-of-service")

    async def _gc_orphaned(self) -> None:
        at = now()
        for name in list(self.absent):
            if self.nodes.get(name) is not None or not self.pods_by_node.pods(name):
                del self.absent[name]
            elif name not in self.quarantine:
                self.quarantine[name] = at + POD_GC_QUARANTINE  # nodeQueue.AddAfter
        deleted = []
        for name, ready_at in list(self.quarantine.items()):
            if ready_at > at:
                continue
            del self.quarantine[name]
            if self.nodes.get(name) is None and await self._node_gone(name):
                deleted.append(name)
        condition = PodCondition("DisruptionTarget", "True", at, "DeletionByPodGC")
        for name in deleted:
            for pod in self.pods_by_node.pods(name):
                await self._mark_failed_and_delete(pod, condition, "orphaned")

    async def _node_gone(self, name: str) -> bool:
        """checkIfNodeExists: a GET; an error other than NotFound waits for the next pass."""
        try:
            await self.api.get("nodes", "", name)
        except errors.NotFound:
            return True
        except errors.APIError:
            return False
        return False

    async def _gc_unscheduled_terminating(self) -> None:
        for key in list(self.unscheduled):
            pod = self.pods.get(key)
            if pod is None or pod.spec.node_name or pod.metadata.deletion_timestamp is None:
                self.unscheduled.pop(key, None)
                continue
            await self._mark_failed_and_delete(pod, None, "terminating-unscheduled")

    async def _mark_failed_and_delete(
        self, pod: Pod, condition: PodCondition | None, reason: str
    ) -> None:
        """markFailedAndDeletePodWithCondition: the pod's status gets phase Failed (and the
        condition) unless it is terminal, then the pod is deleted with grace period 0."""
        key, meta = key_of(pod), pod.metadata
        try:
            if not pod.is_terminal():
                await self._write_failed(pod, condition)
            await self.api.delete("pods", meta.namespace, meta.name, 0, uid=meta.uid)
        except (errors.NotFound, errors.Conflict):
            return  # gone already, or a different pod of that name
        except errors.APIError as exc:
            self.events.record(self.name, "Pod", key, "PodGCError", str(exc))
            return
        self.events.record(
            self.name, "Pod", key, "PodGCForceDelete", f"PodGC is force deleting Pod ({reason})"
        )

    async def _write_failed(self, pod: Pod, condition: PodCondition | None) -> None:
        """PatchPodStatus never conflicts upstream: on a Conflict, read the pod and try again."""
        meta = pod.metadata
        for _ in range(3):
            try:
                await self.api.update_status(_failed(pod, condition))
                return
            except errors.Conflict:
                pod = await self.api.get("pods", meta.namespace, meta.name)
                if pod.metadata.uid != meta.uid:
                    raise
                if pod.is_terminal():
                    return
        raise errors.Conflict(f'pods "{meta.name}": status kept changing')


def _eviction_order(pod: Pod) -> tuple[float, str]:
    """byEvictionAndCreationTimestamp (no kubelet-evicted pods are on a dead node)."""
    return (pod.metadata.creation_timestamp or 0.0, pod.metadata.name)


__all__ = ["PodGCController"]
