"""kube-scheduler itself: informers feeding the cache and queue, and the scheduling loop.

Upstream's pkg/scheduler/scheduler.go (the object and its Run), eventhandlers.go (what each
informer event does to the cache and the queue) and schedule_one.go (one cycle: filter from a
rotating start until enough nodes are feasible, score, pick, assume, bind). The parts it drives
live beside it: :mod:`.queue`, :mod:`.cache`, :mod:`.plugins`, and the shared types in
:mod:`.framework`.
"""

from __future__ import annotations

import trio

from kubechaos.api import errors
from kubechaos.api.objects import Node, Pod
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.scheduler.cache import SchedulerCache
from kubechaos.control.scheduler.fastfilter import Requests, cheap_fit, fast_feasible
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.placement import PlacementPlugins
from kubechaos.control.scheduler.plugins import (
    NO_NODES_MESSAGE,
    PREEMPTION_NOT_HELPFUL,
    REASON_AFFINITY_CONFLICT,
    Rejection,
    best_nodes,
    filter_node,
    fit_error,
)
from kubechaos.control.scheduler.podindex import IndexedPod, PodIndex
from kubechaos.control.scheduler.preemption import Preemption
from kubechaos.control.scheduler.queue import QueuedPod, SchedulingQueue
from kubechaos.defaults import (
    DEFAULT_SCHEDULER_NAME,
    SCHEDULER_MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND,
    SCHEDULER_MIN_FEASIBLE_NODES_TO_FIND,
)

_UNKNOWN: Rejection = ((), False)  # a domain verdict not worked out yet (no verdict is this)


def _no_domain_filter(_value: str | None) -> Rejection | None:
    return None


COMPONENT = "default-scheduler"  # the events' source, as `kubectl get events` shows it


def num_feasible_nodes_to_find(percentage_of_nodes_to_score: int, num_all_nodes: int) -> int:
    """How many feasible nodes a cycle looks for before it stops filtering (upstream's function).

    At 5,000 nodes the adaptive percentage is 50 - 5000/125 = 10 %, so a cycle filters until it
    has 500 feasible nodes instead of checking all 5,000: placement quality for throughput.
    """
    if num_all_nodes < SCHEDULER_MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage == 0:
        percentage = 50 - num_all_nodes // 125
        percentage = max(percentage, SCHEDULER_MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, SCHEDULER_MIN_FEASIBLE_NODES_TO_FIND)


class Scheduler:
    """The default scheduler. All state lives in this object, rebuilt from informers on start."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.api = ctx.api
        self.settings = ctx.settings
        self.events = ctx.events
        self._rng = ctx.stream("scheduler")
        self.queue = SchedulingQueue(ctx.settings)
        index = PodIndex()
        self.cache = SchedulerCache(on_node_event=self._mark_dirty, index=index)
        # InterPodAffinity and PodTopologySpread, with their informers and the pod index
        self.placement = PlacementPlugins(ctx, self.cache, index)
        self.placement.index.on_change = self._pod_moved
        self._moved: list[IndexedPod] = []  # pods placed/unplaced since parked pods were checked
        self.nodes: Informer[Node] = Informer(
            ctx.api, "nodes", component="kube-scheduler", events=ctx.events
        )
        self.pods: Informer[Pod] = Informer(
            ctx.api, "pods", component="kube-scheduler", events=ctx.events
        )
        self.nodes.add_handler(
            Handler(
                on_add=self.cache.node_changed,
                on_update=lambda _old, new: self.cache.node_changed(new),
                on_delete=self.cache.node_deleted,
            )
        )
        self.pods.add_handler(
            Handler(
                on_add=self._pod_changed,
                on_update=self._pod_updated,
                on_delete=self._pod_deleted,
            )
        )
        self.preemption = Preemption(ctx, self.cache, self.pods)  # the PostFilter, nominated pods
        self._next_start = 0  # where the next cycle starts filtering (upstream's rotating index)
        self._rejected: list[NodeInfo] = []  # the nodes of the last cycle's rejections, in order
        self._dirty: dict[str, None] = {}  # nodes with events that may unpark pods
        # scheduler_schedule_attempts_total{result}
        self.schedule_attempts: dict[str, int] = {"scheduled": 0, "unschedulable": 0, "error": 0}
        # work counters (plain ints, read by the complexity tests): nodes run through the
        # filters, and feasible nodes scored, over all cycles
        self.nodes_filtered = self.nodes_scored = 0

    def pending_pods(self) -> dict[str, int]:
        """scheduler_pending_pods{queue}: pods in each part of the queue."""
        return self.queue.counts()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.preemption.nursery = nursery
            nursery.start_soon(self.nodes.run)
            nursery.start_soon(self.pods.run)
            self.placement.start = lambda informer: nursery.start_soon(informer.run)
            for informer in self.placement.informers:
                nursery.start_soon(informer.run)
            await self.nodes.synced.wait()
            await self.pods.synced.wait()
            for informer in self.placement.informers:
                await informer.synced.wait()
            nursery.start_soon(self.queue.run_timers)
            await self._scheduling_loop()

    # ------------------------------------------------------------------ informer event handlers
    def _pod_changed(self, pod: Pod) -> None:
        """Charge a bound pod to its node, queue a pending one of ours, drop anything else."""
        meta = pod.metadata
        key = f"{meta.namespace}/{meta.name}"
        placed = self.cache.placement(key)
        node_name = pod.spec.node_name
        nominator = self.preemption.nominator
        if node_name:
            self.queue.delete(key)
            nominator.delete(key)
            if pod.is_terminal():
                if placed is not None:
                    self.cache.unplace(key, placed)
            elif placed is None:
                self.cache.place(key, pod, node_name, assumed=False)
            elif placed.node != node_name:
                self.cache.unplace(key, placed)
                self.cache.place(key, pod, node_name, assumed=False)
            else:
                self.cache.confirm(key, placed, pod)
            return
        if placed is not None:
            if placed.assumed:
                return  # ours, between assume and the informer's confirmation
            self.cache.unplace(key, placed)  # pragma: no cover - a bound pod never unbinds
        if (
            pod.spec.scheduler_name == DEFAULT_SCHEDULER_NAME
            and meta.deletion_timestamp is None
            and not pod.is_terminal()
        ):
            view = PodView(key, pod)
            self.queue.add_or_update(view)
            nominator.update(view, pod.status.nominated_node_name)
        else:
            self.queue.delete(key)
            nominator.delete(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        """A new version of a pod. The common one (a kubelet status update of a pod bound
        where it was, same labels, not deleting, not finishing) changes nothing but the pod
        the cache holds: a dict lookup, as upstream's updatePodInCache (eventhandlers.go)
        only swaps the cached PodInfo. It must agree with :meth:`_pod_changed`, which is
        what every other update takes: there, such a pod is already out of the queue and the
        nominator (the update that bound it took it out), and its confirmation re-counts
        nothing in the pod index (labels and terminating state unchanged)."""
        node_name = new.spec.node_name
        if node_name and old.spec.node_name == node_name:
            meta = new.metadata
            placed = self.cache.placement(f"{meta.namespace}/{meta.name}")
            if (
                placed is not None
                and not placed.assumed
                and placed.node == node_name
                and placed.pod.metadata.labels is meta.labels
                and meta.deletion_timestamp is None
                and placed.pod.metadata.deletion_timestamp is None
                and not new.is_terminal()
            ):
                placed.pod = new
                return
        self._pod_changed(new)

    def _pod_deleted(self, pod: Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.queue.delete(key)
        self.preemption.nominator.delete(key)
        placed = self.cache.placement(key)
        if placed is not None:
            self.cache.unplace(key, placed)

    def _mark_dirty(self, node_name: str) -> None:
        """Remember a node where something changed, if any parked pod could care, or one in
        flight (a preemption's cycle waits on the API while its victims may go)."""
        if self.queue.unschedulable_count or self.queue.in_flight_count:
            self._dirty[node_name] = None
            self.queue.kick()

    def _pod_moved(self, entry: IndexedPod) -> None:
        """A pod was placed or unplaced: remembered if a parked pod could care (queueing hint)."""
        if self.queue.unschedulable_count:
            self._moved.append(entry)
            self._dirty[entry.node] = None
            self.queue.kick()

    def _apply_cluster_events(self) -> None:
        """Unpark pods that now pass every filter on a node where something changed, or whose
        pod-constraint rejection a placed or unplaced pod could change."""
        dirty, self._dirty = self._dirty, {}
        moved, self._moved = self._moved, []
        if not self.queue.unschedulable_count:
            return
        infos = [i for n in dirty if (i := self.cache.offered_node(n)) is not None]
        if infos or moved:
            self.queue.move_unschedulable(lambda view: self._could_fit(view, infos, moved))

    def _could_fit(self, view: PodView, infos: list[NodeInfo], moved: list[IndexedPod]) -> bool:
        if moved and self.placement.could_help(view, moved):
            return True
        view.cycle = self.placement.prefilter(view) if view.placement is not None else None
        return any(filter_node(view, info) is None for info in infos)

    # ------------------------------------------------------------------ the scheduling loop
    async def _scheduling_loop(self) -> None:
        while True:
            if self._dirty:
                self._apply_cluster_events()
            qp = self.queue.pop()
            if qp is None:
                await self.queue.wait()
                continue
            if await self._schedule_one(qp):
                continue
            # A failed cycle did no I/O: let informers and timers in before the next one, as the
            # real scheduler's cycles take time.
            await trio.lowlevel.checkpoint()

    async def _schedule_one(self, qp: QueuedPod) -> bool:
        """One scheduling cycle and, if a node was found, its binding; True if the pod was bound."""
        view = qp.view
        view.cycle = self.placement.prefilter(view)
        nodes = self.cache.offered_nodes()
        if not nodes:
            self._failed(qp, "unschedulable", NO_NODES_MESSAGE, parked=False)
            return False
        feasible, rejections, absent = self.find_nodes_that_fit(view, nodes)
        if not feasible:
            message = fit_error(len(nodes), rejections, absent)
            if view.node_names is not None and not view.node_names:
                total = len(nodes)
                message = (
                    f"0/{total} nodes are available: {REASON_AFFINITY_CONFLICT}. preemption: "
                    f"0/{total} nodes are available: {total} {PREEMPTION_NOT_HELPFUL}."
                )
            else:
                rejected = list(zip(self._rejected, rejections, strict=True))
                message = await self.preemption.post_filter(view, len(nodes), rejected, absent)
            self._failed(qp, "unschedulable", message, parked=True)
            return False
        info = self.select_host(view, feasible)
        self.cache.place(view.key, view.pod, info.name, True, view.pod_requests(), view.host_ports)
        self.preemption.nominator.delete(view.key)
        meta = view.pod.metadata
        try:
            await self.api.bind(meta.namespace, meta.name, info.name)
        except errors.APIError as exc:
            self.cache.forget(view.key, info.name)
            self._failed(
                qp, "error", f'running Bind plugin "DefaultBinder": {exc.message}', parked=False
            )
            return False
        self.schedule_attempts["scheduled"] += 1
        self.events.record(
            COMPONENT,
            "Pod",
            view.key,
            "Scheduled",
            f"Successfully assigned {view.key} to {info.name}",
        )
        self.queue.done(qp)
        return True

    def _failed(self, qp: QueuedPod, result: str, message: str, parked: bool) -> None:
        self.schedule_attempts[result] += 1
        self.events.record(COMPONENT, "Pod", qp.key, "FailedScheduling", message)
        self.queue.requeue(qp, unschedulable=parked)

    # ------------------------------------------------------------------ filtering
    def find_nodes_that_fit(
        self, view: PodView, nodes: list[NodeInfo]
    ) -> tuple[list[NodeInfo], list[Rejection], int]:
        """The cycle's Filter phase (schedule_one.go findNodesThatFitPod), after the PreFilter
        (``view.cycle``): the feasible nodes, the rejections (with their nodes in
        ``_rejected``; complete when no node is feasible, the only time they are read, as
        upstream reads its Diagnosis only for a FitError) and how many nodes the NodeAffinity
        PreFilter left out. Synchronous, so benchmarks/scheduler.py can time it alone."""
        self._rejected = []
        if (nominated := self.preemption.nominated_fit(view)) is not None:
            return [nominated], [], 0
        if view.node_names is not None:
            return self._filter_named(view, nodes)
        feasible, rejections = self._find_feasible(view, nodes)
        return feasible, rejections, 0

    def _find_feasible(
        self, view: PodView, nodes: list[NodeInfo]
    ) -> tuple[list[NodeInfo], list[Rejection]]:
        """Filter from the rotating start until enough feasible nodes are found. The common
        attempt takes :func:`.fastfilter.fast_feasible` (no rejections: they are only read when
        no node is feasible); any other, and one that finds no node, the loop below."""
        total = len(nodes)
        wanted = num_feasible_nodes_to_find(self.settings.percentage_of_nodes_to_score, total)
        start = self._next_start % total
        # NodeInfo.fit_for: the interned requests of the last pod the node passed the cheap
        # node-local filters for (reset whenever the node or its pods change, as scored_for)
        requests = self.cache.signatures.setdefault(view.requests, view.requests)
        cycle = view.cycle if view.cycle is not None and view.cycle.filters else None
        nominated = self.preemption.nominator.by_node
        layout = self.cache.layout()
        if view.simple and not nominated and layout.nodes is nodes:
            runs = self.cache.score_runs
            fast = fast_feasible(view, layout, start, wanted, requests, cycle, runs)
            if fast is not None:
                feasible, processed = fast
                self._rejected = []
                self._next_start = (start + processed) % total
                self.nodes_filtered += processed
                return feasible, []
        return self._filter_all(view, nodes, start, wanted, requests)

    def _filter_all(
        self, view: PodView, nodes: list[NodeInfo], start: int, wanted: int, requests: Requests
    ) -> tuple[list[NodeInfo], list[Rejection]]:
        """Every node from ``start`` through the filters until ``wanted`` are feasible, each
        rejection recorded (with its node in ``_rejected``)."""
        feasible: list[NodeInfo] = []
        rejections: list[Rejection] = []
        rejected: list[NodeInfo] = []
        self._rejected = rejected
        cpu, memory = view.cpu, view.memory
        simple = view.simple
        cycle = view.cycle if view.cycle is not None and view.cycle.filters else None
        node_filter = cycle.node_filter if cycle is not None else None
        # a verdict per topology domain: worked out once per value met, no call per node
        domain = cycle.domain_filter if cycle is not None else None
        key, verdict_of = domain if domain is not None else ("", _no_domain_filter)
        verdicts: dict[str | None, Rejection | None] = {}
        nominated = self.preemption.nominator.by_node
        processed = 0
        for processed, info in enumerate(nodes[start:] + nodes[:start], 1):  # noqa: B007
            # Cheap filters first: a node that passes the node-local filters at once (memo or
            # cheap_fit) gets only the pod-constraint ones; anything else the full verdict of
            # filter_node, which also words the rejection.
            if nominated and info.name in nominated:
                rejection = self.preemption.filter(view, info)
            elif simple and (info.fit_for is requests or cheap_fit(info, cpu, memory, requests)):
                if domain is not None:
                    value = info.labels.get(key)
                    rejection = verdicts.get(value, _UNKNOWN)
                    if rejection is _UNKNOWN:
                        rejection = verdicts[value] = verdict_of(value)
                else:
                    rejection = node_filter(info) if node_filter is not None else None
            else:
                rejection = filter_node(view, info)
            if rejection is None:
                feasible.append(info)
                if len(feasible) >= wanted:
                    break
            else:
                rejections.append(rejection)
                rejected.append(info)
        self._next_start = (start + processed) % len(nodes)
        self.nodes_filtered += processed
        return feasible, rejections

    def _filter_named(
        self, view: PodView, nodes: list[NodeInfo]
    ) -> tuple[list[NodeInfo], list[Rejection], int]:
        """The nodes the NodeAffinity PreFilter named (a DaemonSet pod's one node): only those
        are filtered, the others count as not satisfying NodeAffinity; a cycle costs O(named
        nodes), not O(nodes). The rotating start moves on by the nodes processed, as upstream."""
        assert view.node_names is not None
        candidates = [
            info for name in sorted(view.node_names) if (info := self.cache.offered_node(name))
        ]
        feasible: list[NodeInfo] = []
        rejections: list[Rejection] = []
        for info in candidates:
            rejection = self.preemption.filter(view, info)
            if rejection is None:
                feasible.append(info)
            else:
                rejections.append(rejection)
                self._rejected.append(info)
        self._next_start = (self._next_start + len(candidates)) % len(nodes)
        self.nodes_filtered += len(candidates)
        return feasible, rejections, len(nodes) - len(candidates)

    def select_host(self, view: PodView, feasible: list[NodeInfo]) -> NodeInfo:
        """The best-scoring feasible node; a tie is broken by one seeded draw (selectHost)."""
        self.nodes_scored += len(feasible)
        winners = best_nodes(view, feasible, self.cache)
        if len(winners) == 1:
            return winners[0]
        return winners[self._rng.randrange(len(winners))]


__all__ = ["Scheduler", "num_feasible_nodes_to_find"]
