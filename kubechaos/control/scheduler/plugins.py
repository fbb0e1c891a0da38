"""The filter and score plugins of the default profile, and the FailedScheduling message.

Upstream's pkg/scheduler/framework/plugins (NodeUnschedulable, TaintToleration, NodeAffinity,
NodePorts, NodeResourcesFit; PodTopologySpread and InterPodAffinity are in :mod:`.placement`) and
framework.FitError, as plain functions: the model has one fixed profile, so there is no plugin
registry to configure. Separate from the scheduling loop because
these are pure verdicts on (pod, node), testable without a queue, a cache or a clock.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import add, eq

from kubechaos.api.nodeaffinity import terms_match
from kubechaos.control.scheduler.cache import SchedulerCache
from kubechaos.control.scheduler.framework import NodeInfo, PodView, tolerated
from kubechaos.control.scheduler.scoring import node_scores

# Upstream filter failure reasons (pkg/scheduler/framework/plugins/...).
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"  # nodeports
REASON_TOO_MANY_PODS = "Too many pods"
# NodeAffinity's PreFilter: nodes outside the node names it returned (absent nodes' status),
# and terms whose metadata.name sets do not intersect.
REASON_NOT_IN_PREFILTER = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
REASON_AFFINITY_CONFLICT = "pod affinity terms conflict"
REASON_INSUFFICIENT_CPU = "Insufficient cpu"
REASON_INSUFFICIENT_MEMORY = "Insufficient memory"
# What DefaultPreemption's dry run says per node (its PostFilter is :mod:`.preemption`).
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
NO_NODES_MESSAGE = "no nodes available to schedule pods"  # ErrNoNodesAvailable

# A node's verdict on a pod: the reasons it does not fit, and whether evicting pods from the node
# could change that (resource shortages and host ports in use can; a taint or a selector
# mismatch cannot: UnschedulableAndUnresolvable upstream).
Rejection = tuple[tuple[str, ...], bool]
_REJECT_UNSCHEDULABLE: Rejection = ((REASON_UNSCHEDULABLE,), False)
_REJECT_SELECTOR: Rejection = ((REASON_NODE_SELECTOR,), False)
_REJECT_PORTS: Rejection = ((REASON_NODE_PORTS,), True)


def filter_node(view: PodView, info: NodeInfo) -> Rejection | None:
    """The filter plugins in upstream's order; the first that rejects decides."""
    # NodeUnschedulable
    if info.unschedulable and not view.tolerates_unschedulable:
        return _REJECT_UNSCHEDULABLE
    # TaintToleration (NoSchedule and NoExecute; the first untolerated taint is reported)
    for taint in info.hard_taints:
        if not tolerated(view.tolerations, taint):
            return ((f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}",), False)
    # NodeAffinity (spec.nodeSelector, then the required node affinity's terms, ORed)
    if view.selector:
        labels = info.labels
        for label, value in view.selector:
            if labels.get(label) != value:
                return _REJECT_SELECTOR
    if view.affinity and not terms_match(view.affinity, info.labels, info.name):
        return _REJECT_SELECTOR
    # NodePorts (its PreFilter skips it for a pod without host ports)
    if view.host_ports and info.used_ports.conflicts(view.host_ports):
        return _REJECT_PORTS
    # NodeResourcesFit
    reasons: tuple[str, ...] = ()
    if info.pods + 1 > info.alloc_pods:
        reasons = (REASON_TOO_MANY_PODS,)
    if view.cpu and view.cpu > info.alloc_cpu - info.cpu:
        reasons = (*reasons, REASON_INSUFFICIENT_CPU)
    if view.memory and view.memory > info.alloc_memory - info.memory:
        reasons = (*reasons, REASON_INSUFFICIENT_MEMORY)
    if reasons:
        return (reasons, True)
    # PodTopologySpread, InterPodAffinity (:mod:`.placement`), when the attempt has anything
    cycle = view.cycle
    return cycle.filter(info) if cycle is not None and cycle.filters else None


_FEW_TIES = 64  # up to this many best nodes are picked out with list.index, more by a scan


def best_nodes(view: PodView, feasible: list[NodeInfo], cache: SchedulerCache) -> list[NodeInfo]:
    """Score the feasible nodes: the ones with the best score, in the order given (the caller
    breaks a tie).

    The node-local plugins' weighted scores come from :func:`.scoring.node_scores`
    (NodeResourcesFit's LeastAllocated, BalancedAllocation, NodeAffinity, TaintToleration,
    ImageLocality); PodTopologySpread's and InterPodAffinity's (:mod:`.placement`, already
    weighted) are added here, as upstream's default profile weighs its plugins.
    """
    if len(feasible) == 1:
        return feasible
    scores = node_scores(view, feasible, cache)
    cycle = view.cycle
    extra = cycle.scores(feasible) if cycle is not None else None
    if extra is not None:
        scores = list(map(add, scores, extra))  # at C speed (same lengths: built per node)
    best = max(scores)
    ties = scores.count(best)
    if ties > _FEW_TIES:
        # many ties (identical empty nodes): picked at C speed, in order
        return list(compress(feasible, map(eq, scores, repeat(best))))
    winners = []
    i = -1
    for _ in range(ties):  # the few best found at C speed, in order
        i = scores.index(best, i + 1)
        winners.append(feasible[i])
    return winners


def fit_error(
    total: int, rejections: list[Rejection], absent: int = 0, post: str | None = None
) -> str:
    """The FailedScheduling message of a pod no node fits, worded and ordered as upstream's.

    Each node contributes its reasons to a histogram (``3 Insufficient cpu``), sorted as strings;
    then the DefaultPreemption post-filter's message: ``post`` ("" for none, after a successful
    preemption), or by default its verdict when no pod has a lower priority. ``absent`` nodes
    were left out by the NodeAffinity PreFilter (not filtered at all: nothing can change that).
    """
    reasons: dict[str, int] = {REASON_NOT_IN_PREFILTER: absent} if absent else {}
    preemption: dict[str, int] = {PREEMPTION_NOT_HELPFUL: absent} if absent else {}
    for node_reasons, resolvable in rejections:
        for reason in node_reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
        verdict = PREEMPTION_NO_VICTIMS if resolvable else PREEMPTION_NOT_HELPFUL
        preemption[verdict] = preemption.get(verdict, 0) + 1
    head = f"0/{total} nodes are available"
    if post is not None:
        return f"{head}: {_histogram(reasons)}." + (f" {post}" if post else "")
    return f"{head}: {_histogram(reasons)}. preemption: {head}: {_histogram(preemption)}."


def _histogram(counts: dict[str, int]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


__all__ = [
    "NO_NODES_MESSAGE",
    "PREEMPTION_NOT_HELPFUL",
    "PREEMPTION_NO_VICTIMS",
    "REASON_AFFINITY_CONFLICT",
    "REASON_NOT_IN_PREFILTER",
    "Rejection",
    "best_nodes",
    "filter_node",
    "fit_error",
]
