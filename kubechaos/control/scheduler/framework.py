"""What a scheduling cycle works on: a pending pod's view and a node's aggregates.

Upstream's pkg/scheduler/framework/types.go (PodInfo, NodeInfo), compressed to the fields the
model's plugins read. Separate because the queue, the cache, the plugins and the loop all share
these types and none of them owns them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kubechaos.api.hostports import HostPortInfo, host_ports
from kubechaos.api.nodeaffinity import required_node_names
from kubechaos.api.objects import (
    Container,
    Node,
    Pod,
    PreferredSchedulingTerm,
    Taint,
    Toleration,
    effective_requests,
    normalized_image_name,
)
from kubechaos.defaults import (
    LABEL_ZONE,
    SCHEDULER_DEFAULT_MEMORY_REQUEST,
    SCHEDULER_DEFAULT_MILLI_CPU_REQUEST,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
)

_NO_SCHEDULE_EFFECTS = ("NoSchedule", "NoExecute")
_PREFER_NO_SCHEDULE = "PreferNoSchedule"
_UNSCHEDULABLE_TAINT = Taint(TAINT_UNSCHEDULABLE, "NoSchedule")


def pod_requests(pod: Pod) -> tuple[int, int, int, int]:
    """(cpu, memory) the pod requests, then the same with upstream's scoring defaults applied to
    containers that request nothing (a container without a CPU request scores as 100m). With
    init containers, upstream's effective request (``resource.PodRequests``)."""
    if pod.spec.init_containers:
        return effective_requests(pod.spec, _request_vector)  # type: ignore[return-value]
    cpu = memory = nz_cpu = nz_memory = 0
    for container in pod.spec.containers:
        req = container.requests
        cpu += req.cpu_millis
        memory += req.memory_bytes
        nz_cpu += req.cpu_millis or SCHEDULER_DEFAULT_MILLI_CPU_REQUEST
        nz_memory += req.memory_bytes or SCHEDULER_DEFAULT_MEMORY_REQUEST
    return cpu, memory, nz_cpu, nz_memory


def _request_vector(container: Container) -> tuple[int, int, int, int]:
    req = container.requests
    return (
        req.cpu_millis,
        req.memory_bytes,
        req.cpu_millis or SCHEDULER_DEFAULT_MILLI_CPU_REQUEST,
        req.memory_bytes or SCHEDULER_DEFAULT_MEMORY_REQUEST,
    )


def tolerated(tolerations: tuple[Toleration, ...], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


class ConstraintCycle(Protocol):
    """One attempt's state of the pod-constraint plugins (:mod:`.placement`)."""

    filters: bool

    @property
    def node_filter(self) -> Callable[[NodeInfo], tuple[tuple[str, ...], bool] | None]:
        """The same verdicts as filter()."""

    # when the attempt's only pod-constraint filter is a verdict per value of one node label
    # (PodTopologySpread with one DoNotSchedule constraint): that label key and the verdict of
    # a value (None: nodes without the key); filter() agrees with it on every node
    domain_filter: tuple[str, Callable[[str | None], tuple[tuple[str, ...], bool] | None]] | None

    def filter(self, info: NodeInfo) -> tuple[tuple[str, ...], bool] | None: ...

    def scores(self, feasible: list[NodeInfo]) -> list[int] | None: ...


class PodView:
    """What a scheduling cycle needs of a pending pod, computed once per pod version."""

    __slots__ = (
        "affinity",
        "cpu",
        "cycle",
        "host_ports",
        "images",
        "key",
        "memory",
        "node_names",
        "nz_cpu",
        "nz_memory",
        "owner",
        "placement",
        "pod",
        "preempts",
        "preferred",
        "priority",
        "requests",
        "selector",
        "simple",
        "soft_tolerations",
        "tolerates_unschedulable",
        "tolerations",
    )

    def __init__(self, key: str, pod: Pod) -> None:
        self.key = key
        self.pod = pod
        self.cpu, self.memory, self.nz_cpu, self.nz_memory = pod_requests(pod)
        self.requests = (self.nz_cpu, self.nz_memory, self.cpu, self.memory)  # what scores read
        self.tolerations = pod.spec.tolerations
        self.tolerates_unschedulable = tolerated(self.tolerations, _UNSCHEDULABLE_TAINT)
        self.selector = tuple(pod.spec.node_selector.items())
        # required node affinity terms, and the NodeAffinity PreFilter's node names (a
        # DaemonSet pod's one node): None when every node is a candidate
        self.affinity = pod.spec.node_affinity
        self.node_names = required_node_names(self.affinity)
        self.host_ports = host_ports(pod.spec)  # NodePorts' PreFilter (none: it is skipped)
        # the node-local filters are NodeUnschedulable, TaintToleration and NodeResourcesFit
        # alone: the pods the Filter phase's fast paths and memos are for
        self.simple = not self.selector and not self.affinity and not self.host_ports
        ref = pod.metadata.controller_ref()
        self.owner = ref.uid if ref is not None else None
        # what the score plugins read (PreScore): preferred node affinity terms that can match
        # (weight 0 and empty terms skipped, as NewPreferredSchedulingTerms), tolerations that
        # can tolerate a PreferNoSchedule taint, and the containers' images by their CRI name
        self.preferred: tuple[PreferredSchedulingTerm, ...] = tuple(
            t
            for t in pod.spec.preferred_node_affinity
            if t.weight and (t.preference.match_expressions or t.preference.match_fields)
        )
        self.soft_tolerations = tuple(
            t for t in self.tolerations if t.effect in ("", _PREFER_NO_SCHEDULE)
        )
        self.images = tuple(normalized_image_name(c.image) for c in pod.spec.containers)
        # spec.priority (0 if unset) and whether it may preempt (preemptionPolicy not Never)
        self.priority = pod.spec.priority or 0
        self.preempts = pod.spec.preemption_policy != "Never"
        self.placement: Any = None  # the pod's own pod-constraint terms, read when first needed
        self.cycle: ConstraintCycle | None = None  # this attempt's pod-constraint state

    def pod_requests(self) -> tuple[int, int, int, int]:
        """:func:`pod_requests` of the pod, as computed for this view (the assume's charge)."""
        return self.cpu, self.memory, self.nz_cpu, self.nz_memory


class NodeInfo:
    """The scheduler's view of one node: its schedulable properties and what is placed on it.

    A NodeInfo can outlive its Node (``node is None``): pods still bound to a deleted node keep
    being accounted until they go, as upstream's cache does, but such a node is never offered.
    """

    __slots__ = (
        "alloc_cpu",
        "alloc_memory",
        "alloc_pods",
        "cpu",
        "fit_for",
        "hard_taints",
        "images",
        "labels",
        "memory",
        "name",
        "node",
        "nz_cpu",
        "nz_memory",
        "pods",
        "position",
        "resource_score",
        "scored_for",
        "soft_taints",
        "unschedulable",
        "used_ports",
        "zone",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.node: Node | None = None
        self.cpu = self.memory = self.pods = self.nz_cpu = self.nz_memory = 0
        self.alloc_cpu = self.alloc_memory = self.alloc_pods = 0
        self.labels: dict[str, str] = {}
        self.zone: str | None = None  # labels[LABEL_ZONE] (the system default spread's key)
        self.hard_taints: tuple[Taint, ...] = ()
        self.soft_taints: tuple[Taint, ...] = ()  # PreferNoSchedule (TaintToleration's score)
        self.images: dict[str, int] = {}  # image name -> size in bytes (status.images)
        self.unschedulable = False
        # the host ports of the pods placed here (NodePorts); preemption's simulations share
        # it with the node, so they replace it instead of changing it
        self.used_ports = HostPortInfo()
        self.position = -1  # its index in the offered node list (set by layout.NodeLayout)
        # The node's last resource score (scoring.resource_scores) and the interned request
        # signature it was computed for; whoever changes the node's requests or allocatable
        # sets scored_for to None (set_node, the cache's place/unplace, preemption's copies).
        self.resource_score = 0
        self.scored_for: tuple[int, int, int, int] | None = None
        # likewise the interned requests of the last simple pod (PodView.simple) that passed
        # the node-local filters here (Scheduler._find_feasible)
        self.fit_for: tuple[int, int, int, int] | None = None

    def set_node(self, node: Node) -> bool:
        """Take a new version of the Node; True if anything a filter looks at changed."""
        alloc = node.status.allocatable
        taints = tuple(t for t in node.spec.taints if t.effect in _NO_SCHEDULE_EFFECTS)
        ready = node.status.condition("Ready")
        if ready is None or ready.status != "True":
            # The taint the node lifecycle controller puts on such a node; modelled here too
            # because the controller may not have tainted it yet.
            unknown = ready is not None and ready.status == "Unknown"
            key = TAINT_UNREACHABLE if unknown else TAINT_NOT_READY
            if not any(t.key == key and t.effect == "NoSchedule" for t in taints):
                taints = (*taints, Taint(key, "NoSchedule"))
        labels = dict(node.metadata.labels)
        changed = (
            self.node is None
            or (alloc.cpu_millis, alloc.memory_bytes, alloc.pods)
            != (self.alloc_cpu, self.alloc_memory, self.alloc_pods)
            or taints != self.hard_taints
            or labels != self.labels
            or node.spec.unschedulable != self.unschedulable
        )
        self.node = node
        self.scored_for = self.fit_for = None
        self.alloc_cpu, self.alloc_memory, self.alloc_pods = (
            alloc.cpu_millis,
            alloc.memory_bytes,
            alloc.pods,
        )
        self.hard_taints = taints
        self.soft_taints = tuple(t for t in node.spec.taints if t.effect == _PREFER_NO_SCHEDULE)
        self.images = {name: i.size_bytes for i in node.status.images for name in i.names}
        self.labels = labels
        self.zone = labels.get(LABEL_ZONE)
        self.unschedulable = node.spec.unschedulable
        return changed


__all__ = ["ConstraintCycle", "NodeInfo", "PodView", "pod_requests", "tolerated"]


def resource_signature(info: NodeInfo) -> tuple[int, int, int, int, int, int]:
    """What a node's resource scores read besides the pod's requests (its requested totals and
    allocatable): nodes of one signature share those scores, so they are computed once per
    distinct signature (scoring's stale nodes of an attempt, scoreruns' vector builds)."""
    return (
        info.nz_cpu,
        info.nz_memory,
        info.cpu,
        info.memory,
        info.alloc_cpu,
        info.alloc_memory,
    )
