"""The scheduler's cache: one NodeInfo per node, and where each pod is charged.

Upstream's pkg/scheduler/internal/cache (cache.go): the informers' nodes and pods folded into
per-node aggregates (summed requests, pod count; the pod-constraint counts of :mod:`.podindex`
are fed from here), adjusted in O(1) per event so a scheduling cycle never rescans pods, plus
the *assumed* pods: charged to a node as soon as a cycle chooses it, before the binding is
confirmed. Separate from the scheduler because it is
bookkeeping with its own invariants; the scheduler decides what happens, this records it.
"""

from __future__ import annotations

from collections.abc import Callable

from kubechaos.api.hostports import HostPort, host_ports
from kubechaos.api.objects import Node, Pod
from kubechaos.control.scheduler.framework import NodeInfo, pod_requests
from kubechaos.control.scheduler.layout import NodeLayout
from kubechaos.control.scheduler.podindex import PodIndex
from kubechaos.control.scheduler.scoreruns import ScoreRuns


class Placement:
    """A pod charged to a node: bound (seen with ``spec.nodeName``) or assumed by us."""

    __slots__ = ("assumed", "cpu", "host_ports", "memory", "node", "nz_cpu", "nz_memory", "pod")

    def __init__(
        self,
        node: str,
        pod: Pod,
        assumed: bool,
        requests: tuple[int, int, int, int] | None = None,
        ports: tuple[HostPort, ...] | None = None,
    ) -> None:
        self.node = node
        self.pod = pod  # the latest version seen (preemption reads priority, labels, status)
        # (cpu, memory, nz_cpu, nz_memory): the scheduler's assume passes its PodView's, worked
        # out once per pod version; a pod seen bound by the informer is read here
        self.cpu, self.memory, self.nz_cpu, self.nz_memory = (
            pod_requests(pod) if requests is None else requests
        )
        # its host ports (NodeInfo.used_ports), likewise: the PodView's, or read here
        self.host_ports = host_ports(pod.spec) if ports is None else ports
        self.assumed = assumed


class SchedulerCache:
    """Node aggregates and pod placements. ``on_node_event(name)`` is told of every change on a
    node that could let a parked pod fit there (a node changed, a pod left it)."""

    def __init__(self, on_node_event: Callable[[str], None], index: PodIndex) -> None:
        self._on_node_event = on_node_event
        self.index = index  # the pod-constraint plugins' counts, fed from here
        self._infos: dict[str, NodeInfo] = {}
        self._layout: NodeLayout | None = None  # the nodes on offer, in order; None = rebuild
        self._placed: dict[str, Placement] = {}  # pod key -> where it is charged
        # image name -> nodes reporting it (ImageStateSummary.NumNodes), kept per node event
        self.image_nodes: dict[str, int] = {}
        self.soft_tainted_nodes = 0  # nodes with a PreferNoSchedule taint
        # PodView.requests interned, so NodeInfo.scored_for is compared by identity
        self.signatures: dict[tuple[int, int, int, int], tuple[int, int, int, int]] = {}
        self.score_runs = ScoreRuns()  # resource scores of runs of nodes (told of changes)
        # node -> its pods (preemption's per-node lists); priority -> pods placed, cluster-wide
        # and per node (so preemption skips a node without a lower-priority pod in O(1))
        self._node_pods: dict[str, dict[str, Placement]] = {}
        self.priorities: dict[int, int] = {}
        self._node_priorities: dict[str, dict[int, int]] = {}

    # ------------------------------------------------------------------ nodes
    def _info(self, name: str) -> NodeInfo:
        info = self._infos.get(name)
        if info is None:
            info = self._infos[name] = NodeInfo(name)
        return info

    def offered_node(self, name: str) -> NodeInfo | None:
        """The node's NodeInfo if the node exists (not only pods still charged to it)."""
        info = self._infos.get(name)
        return info if info is not None and info.node is not None else None

    def node_changed(self, node: Node) -> None:
        info = self._info(node.metadata.name)
        was_offered = info.node is not None
        old_labels = info.labels if was_offered else {}
        if not was_offered:
            self._layout = None
        old_images, old_soft = info.images, bool(info.soft_taints)
        changed = info.set_node(node)
        self.score_runs.touched(info)  # set_node reset scored_for
        if info.labels != old_labels:
            self.index.node_labels(old_labels, info.labels)
            if was_offered and self._layout is not None:
                self._layout.labels_changed()
        if info.labels != old_labels or not was_offered:
            self.index.node_offered(info.name, old_labels if was_offered else None, info.labels)
        if changed:
            self._on_node_event(info.name)
        self.soft_tainted_nodes += bool(info.soft_taints) - old_soft
        if old_images.keys() != info.images.keys():
            self._count_images(old_images, -1)
            self._count_images(info.images, 1)

    def node_deleted(self, node: Node) -> None:
        info = self._infos.get(node.metadata.name)
        if info is None:
            return
        if info.node is not None:
            self.index.node_labels(info.labels, {})
            self.index.node_offered(info.name, info.labels, None)
        info.node = None
        self._layout = None
        self._count_images(info.images, -1)
        self.soft_tainted_nodes -= bool(info.soft_taints)
        info.images, info.soft_taints = {}, ()
        if info.pods == 0:
            del self._infos[info.name]

    def offered_nodes(self) -> list[NodeInfo]:
        return self.layout().nodes

    def layout(self) -> NodeLayout:
        """The offered nodes in order, laid out for the Filter phase (:mod:`.layout`)."""
        if self._layout is None:
            self._layout = NodeLayout([i for i in self._infos.values() if i.node is not None])
        return self._layout

    # ------------------------------------------------------------------ pods
    def placement(self, key: str) -> Placement | None:
        return self._placed.get(key)

    def node_pods(self, node_name: str) -> dict[str, Placement]:
        """The pods charged to a node (for preemption's dry run), by key."""
        return self._node_pods.get(node_name, {})

    def lowest_priority(self, node_name: str) -> int | None:
        """The lowest priority of a pod charged to the node (None: no pod)."""
        counts = self._node_priorities.get(node_name)
        return min(counts) if counts else None

    def place(
        self,
        key: str,
        pod: Pod,
        node_name: str,
        assumed: bool,
        requests: tuple[int, int, int, int] | None = None,
        ports: tuple[HostPort, ...] | None = None,
    ) -> None:
        """Charge the pod to the node; ``requests`` and ``ports``: its pod_requests and
        host_ports if already known."""
        placed = Placement(node_name, pod, assumed, requests, ports)
        self._placed[key] = placed
        self._node_pods.setdefault(node_name, {})[key] = placed
        priority = pod.spec.priority or 0
        _count(self.priorities, priority, 1)
        _count(self._node_priorities.setdefault(node_name, {}), priority, 1)
        info = self._info(node_name)
        info.scored_for = info.fit_for = None
        self.score_runs.touched(info)
        info.cpu += placed.cpu
        info.memory += placed.memory
        info.nz_cpu += placed.nz_cpu
        info.nz_memory += placed.nz_memory
        info.pods += 1
        if placed.host_ports:
            info.used_ports.add(placed.host_ports)
        self.index.add(key, pod, node_name)

    def unplace(self, key: str, placed: Placement) -> None:
        del self._placed[key]
        on_node = self._node_pods[placed.node]
        del on_node[key]
        if not on_node:
            del self._node_pods[placed.node]
        priority = placed.pod.spec.priority or 0
        _count(self.priorities, priority, -1)
        by_priority = self._node_priorities[placed.node]
        _count(by_priority, priority, -1)
        if not by_priority:
            del self._node_priorities[placed.node]
        info = self._infos[placed.node]
        info.scored_for = info.fit_for = None
        self.score_runs.touched(info)
        info.cpu -= placed.cpu
        info.memory -= placed.memory
        info.nz_cpu -= placed.nz_cpu
        info.nz_memory -= placed.nz_memory
        info.pods -= 1
        if placed.host_ports:
            info.used_ports.remove(placed.host_ports)
        self.index.remove(key)
        if info.node is None and info.pods == 0:
            del self._infos[info.name]
        else:
            self._on_node_event(info.name)

    def confirm(self, key: str, placed: Placement, pod: Pod) -> None:
        """The informer saw the pod bound where it is charged: no longer an assumption. Its
        labels or terminating state may have changed (the pod index re-counts it)."""
        placed.assumed = False
        placed.pod = pod
        self.index.update(key, pod)

    def forget(self, key: str, node_name: str) -> None:
        """Undo an assumption whose binding failed."""
        placed = self._placed.get(key)
        if placed is not None and placed.assumed and placed.node == node_name:
            self.unplace(key, placed)

    def _count_images(self, images: dict[str, int], delta: int) -> None:
        counts = self.image_nodes
        for name in images:
            count = counts.get(name, 0) + delta
            if count:
                counts[name] = count
            else:
                del counts[name]


def _count(counts: dict[int, int], key: int, delta: int) -> None:
    left = counts.get(key, 0) + delta
    if left:
        counts[key] = left
    else:
        del counts[key]


__all__ = ["Placement", "SchedulerCache"]
