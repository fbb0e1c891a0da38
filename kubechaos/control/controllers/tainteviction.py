"""Taint-based eviction: deleting the pods of a node whose NoExecute taints they do not tolerate.

A model of pkg/controller/tainteviction (the taint-eviction-controller, split from the node
lifecycle controller since v1.29). That controller decides *which taints* a node carries; this one
decides *which pods must go* because of them, so the two are separate controllers that share
caches: the node and pod informers and the pods-by-node index.

A pod on a node with NoExecute taints is deleted at once if some taint is not tolerated, else when
the shortest ``tolerationSeconds`` among the matching tolerations has run out since the controller
first processed the pod on the tainted node (upstream's processPodOnNode: ``startTime := now``,
kept from an eviction already scheduled; not the taint's ``timeAdded``). So a pod placed on a node
that has been tainted for a while gets its whole toleration, and a restarted controller counts
every pod's toleration afresh; a toleration without seconds tolerates forever. The DefaultTolerationSeconds admission plugin gives every pod 300 s for
not-ready and unreachable, which is why a dead node's pods go after about grace period + a monitor
period + 300 s (the node lifecycle controller rate-limits the taints per zone).
All deadlines live in one heap served by one timer task; removing the taint cancels them.
Deletion is graceful: on a dead node nobody completes it, so the pod stays with a
``deletionTimestamp`` while its controller creates a replacement, as upstream.
"""

from __future__ import annotations

import heapq
import itertools
import math

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import NO_EXECUTE, Node, Pod, Taint, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.disruptiontarget import (
    DELETION_BY_TAINT_MANAGER,
    mark_disruption_target,
)
from kubechaos.control.controllers.podsbynode import PodsByNode
from kubechaos.defaults import NODE_UPDATE_WORKER_SIZE
from kubechaos.sim import timers
from kubechaos.sim.clock import now


@attrs.define
class ScheduledEviction:
    """A pod's pending eviction; ``seq`` tells its live heap entry from superseded ones."""

    start: float  # when the pod's node got its (earliest) NoExecute taint
    fire_at: float
    seq: int


def eviction_delay(taints: tuple[Taint, ...], pod: Pod) -> float | None:
    """Seconds a pod may stay after its node got ``taints`` (NoExecute); None = forever.

    Upstream GetMatchingTolerations + getMinTolerationTime: each taint is matched by the first
    toleration that tolerates it; an untolerated taint means 0; the delay is the smallest
    ``tolerationSeconds`` among the matched tolerations that have one.
    """
    delay: float | None = None
    for taint in taints:
        toleration = next((t for t in pod.spec.tolerations if t.tolerates(taint)), None)
        if toleration is None:
            return 0.0
        if toleration.toleration_seconds is not None:
            seconds = max(0.0, float(toleration.toleration_seconds))
            delay = seconds if delay is None else min(delay, seconds)
    return delay


class TaintEvictionController(Controller):
    """Deletes pods from nodes with NoExecute taints they do not tolerate (long enough).

    It shares the node lifecycle controller's informers and pods-by-node index, and that controller
    starts it once they have synced (see the controller manager). Its work queue holds pod keys
    whose eviction deadline has come; one timer task moves them there from a heap of deadlines, so
    a thousand pods waiting out their 300 s cost no task each.
    """

    name = "taint-eviction-controller"
    queue_name = "taint_eviction_controller"
    workers = NODE_UPDATE_WORKER_SIZE

    def __init__(
        self, ctx: Context, nodes: Informer[Node], pods: Informer[Pod], pods_by_node: PodsByNode
    ) -> None:
        super().__init__(ctx)
        self.nodes = nodes
        self.pods = pods
        self.pods_by_node = pods_by_node
        self.no_execute: dict[str, tuple[Taint, ...]] = {}  # node -> its NoExecute taints
        self.pending: dict[str, ScheduledEviction] = {}
        # UIDs whose eviction ran (upstream TimedWorkerQueue keeps a done worker's key, so
        # the status update of DisruptionTarget does not schedule a second deletion)
        self.fired: set[str] = set()
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._wakeup = trio.Event()
        nodes.add_handler(Handler(self._on_node, lambda old, new: self._on_node(new), self._gone))
        pods.add_handler(Handler(self._on_pod, self._on_pod_update, self._on_pod_gone))

    async def run(self) -> None:
        """Serve evictions (the informers are run by the node lifecycle controller)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._timer)
            await super().run()

    # ------------------------------------------------------------------ events
    def _on_node(self, node: Node) -> None:
        name = node.metadata.name
        previous = self.no_execute.get(name, ())
        taints = []
        for taint in node.spec.taints:
            if taint.effect != NO_EXECUTE:
                continue
            if taint.time_added is None:
                # No TimeAdded (written by hand): count from when we first saw it.
                seen = next(
                    (t for t in previous if (t.key, t.value) == (taint.key, taint.value)), None
                )
                taint = attrs.evolve(taint, time_added=seen.time_added if seen else now())
            taints.append(taint)
        current = tuple(taints)
        if current == previous:
            return
        if current:
            self.no_execute[name] = current
        else:
            del self.no_execute[name]
        for pod in self.pods_by_node.pods(name):
            self._process(pod)

    def _gone(self, node: Node) -> None:
        if self.no_execute.pop(node.metadata.name, None) is not None:
            for pod in self.pods_by_node.pods(node.metadata.name):
                self._process(pod)

    def _on_pod(self, pod: Pod) -> None:
        self._on_pod_update(pod, pod)

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        # (the update handler itself, not a lambda around _on_pod: one call per pod update; no
        # key built while no eviction is pending, nearly always)
        if pod.spec.node_name in self.no_execute or (self.pending and key_of(pod) in self.pending):
            self._process(pod)

    def _on_pod_gone(self, pod: Pod) -> None:
        self.fired.discard(pod.metadata.uid)
        self._cancel(key_of(pod), announce=True)

    # ------------------------------------------------------------------ scheduling
    def _process(self, pod: Pod) -> None:
        """Schedule, move or cancel ``pod``'s eviction (upstream processPodOnNode)."""
        key = key_of(pod)
        if pod.metadata.deletion_timestamp is not None:
            self._cancel(key, announce=False)  # already being deleted: nothing left to do
            return
        taints = self.no_execute.get(pod.spec.node_name, ())
        delay = eviction_delay(taints, pod) if taints else None
        if delay is None:
            self._cancel(key, announce=True)
            return
        start = now()  # processPodOnNode's startTime, kept from an eviction already scheduled
        existing = self.pending.get(key)
        if existing is not None:
            start = min(start, existing.start)
        fire_at = start + delay if delay > 0 else -math.inf
        if existing is not None and existing.fire_at == fire_at:
            return
        seq = next(self._seq)
        self.pending[key] = ScheduledEviction(start, fire_at, seq)
        heapq.heappush(self._heap, (fire_at, seq, key))
        self._wakeup.set()

    def _cancel(self, key: str, announce: bool) -> None:
        # The heap entry stays and is skipped when it comes up (its seq no longer matches).
        if self.pending.pop(key, None) is not None and announce:
            self.events.record(
                self.name, "Pod", key, "TaintManagerEviction", f"Cancelling deletion of Pod {key}"
            )

    async def _timer(self) -> None:
        """The one task that waits for deadlines and hands due pods to the workers."""
        while True:
            self._wakeup = trio.Event()
            at = now()
            while self._heap and self._heap[0][0] <= at:
                _, seq, key = heapq.heappop(self._heap)
                scheduled = self.pending.get(key)
                if scheduled is not None and scheduled.seq == seq:
                    del self.pending[key]
                    self.enqueue(key)
            if self._heap:
                await timers.wait_until(self._wakeup.wait, self._heap[0][0])
            else:
                await self._wakeup.wait()

    # ------------------------------------------------------------------ evict
    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod.metadata.deletion_timestamp is not None:
            return
        taints = self.no_execute.get(pod.spec.node_name, ())
        if not taints or eviction_delay(taints, pod) is None or key in self.pending:
            return  # tolerated after all, or rescheduled since the deadline fired
        namespace, name = pod.metadata.namespace, pod.metadata.name
        if pod.metadata.uid in self.fired:
            return
        self.fired.add(pod.metadata.uid)
        try:  # addConditionAndDeletePod: DisruptionTarget first, then the deletion
            await mark_disruption_target(self.api, pod, DELETION_BY_TAINT_MANAGER)
            await self.api.delete("pods", namespace, name, uid=pod.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            return  # gone already, or a different pod of the same name
        except errors.APIError:
            self.fired.discard(pod.metadata.uid)  # retried
            raise
        self.events.record(
            self.name, "Pod", key, "TaintManagerEviction", f"Marking for deletion Pod {key}"
        )


__all__ = ["ScheduledEviction", "TaintEvictionController", "eviction_delay"]
