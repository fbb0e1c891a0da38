"""The score plugins of the default profile that rank nodes by the pod and the node alone.

Upstream's pkg/scheduler/framework/plugins: NodeResourcesFit's LeastAllocated and
NodeResourcesBalancedAllocation (noderesources/least_allocated.go, balanced_allocation.go,
resource_allocation.go), NodeAffinity's score (nodeaffinity/node_affinity.go), TaintToleration's
score (tainttoleration/taint_toleration.go) and ImageLocality (imagelocality/image_locality.go),
each 0..100 after its normalisation (helper/normalize_score.go DefaultNormalizeScore), times its
weight in the default profile (apis/config/v1/default_plugins.go), summed per node as the
framework's RunScorePlugins does.

Speed is the point of this module's shape: :func:`node_scores` runs once per scheduling cycle over
up to hundreds of feasible nodes, so the resource plugins share one inlined loop and every other
plugin is skipped outright when it cannot tell the nodes apart (no preferred terms, no
PreferNoSchedule taint in the cluster, each of the pod's images on every node or on none): a
plugin that gives every node the same score does not change the ranking, and a scenario that
does not use it pays nothing for it.
"""

from __future__ import annotations

from functools import partial

from kubechaos.api.nodeaffinity import preferred_score
from kubechaos.control.scheduler.cache import SchedulerCache
from kubechaos.control.scheduler.framework import (
    NodeInfo,
    PodView,
    resource_signature,
    tolerated,
)
from kubechaos.defaults import (
    SCHEDULER_IMAGE_MAX_CONTAINER_THRESHOLD,
    SCHEDULER_IMAGE_MIN_THRESHOLD,
    SCHEDULER_MAX_NODE_SCORE,
    SCHEDULER_WEIGHT_BALANCED_ALLOCATION,
    SCHEDULER_WEIGHT_IMAGE_LOCALITY,
    SCHEDULER_WEIGHT_NODE_AFFINITY,
    SCHEDULER_WEIGHT_NODE_RESOURCES_FIT,
    SCHEDULER_WEIGHT_TAINT_TOLERATION,
)

_TOP = SCHEDULER_MAX_NODE_SCORE


def node_scores(view: PodView, feasible: list[NodeInfo], cache: SchedulerCache) -> list[int]:
    """Each feasible node's weighted sum of the plugins' normalised scores, in ``feasible``'s
    order."""
    requests = cache.signatures.setdefault(view.requests, view.requests)
    # a run of the node list: a slice of the signature's vector (:mod:`.scoreruns`)
    scores = cache.score_runs.scores(
        feasible, requests, cache.layout(), partial(_resource_score, view)
    )
    if scores is None:
        scores = resource_scores(view, feasible, requests)
    if view.preferred:
        _add_normalised(scores, node_affinity_raw(view, feasible), SCHEDULER_WEIGHT_NODE_AFFINITY)
    if cache.soft_tainted_nodes:
        raw = taint_toleration_raw(view, feasible)
        _add_normalised(scores, raw, SCHEDULER_WEIGHT_TAINT_TOLERATION, reverse=True)
    image_nodes = cache.image_nodes
    if image_nodes:
        total = len(cache.offered_nodes())
        # only an image on some nodes but not all can tell the nodes apart
        if any(0 < image_nodes.get(image, 0) < total for image in view.images):
            weight = SCHEDULER_WEIGHT_IMAGE_LOCALITY
            for i, score in enumerate(image_locality(view, feasible, image_nodes, total)):
                scores[i] += weight * score
    return scores


def resource_scores(
    view: PodView,
    feasible: list[NodeInfo],
    requests: tuple[int, int, int, int] | None = None,
) -> list[int]:
    """NodeResourcesFit (LeastAllocated) and NodeResourcesBalancedAllocation, weighted
    (:func:`_resource_score`), per node.

    ``requests``: ``view.requests`` interned (SchedulerCache.signatures). With it, a node whose
    requests and allocatable have not changed since it was last scored for a pod of the same
    requests reuses that score (NodeInfo.scored_for): while a Deployment's pods are scheduled
    one after the other, only the node the previous one went to is worked out again. The
    reused scores are read in one list comprehension (-1, never a score, marks the others,
    which :func:`_score_stale` finds at C speed and scores once per distinct signature)."""
    if requests is None:
        return [_resource_score(view, info) for info in feasible]
    scores = [info.resource_score if info.scored_for is requests else -1 for info in feasible]
    stale = scores.count(-1)
    if stale:
        _score_stale(view, feasible, requests, scores, stale)
    return scores


def _score_stale(
    view: PodView,
    feasible: list[NodeInfo],
    requests: tuple[int, int, int, int],
    scores: list[int],
    stale: int,
) -> None:
    """Score the ``stale`` nodes marked -1 in ``scores`` (in place), and memoise them.

    :func:`_resource_score` reads only the node's requested totals and allocatable (its
    *signature*): nodes of one signature share a score, so it is computed once per distinct
    signature met in this attempt (the first pod of new requests on a fresh cluster: once)."""
    by_signature: dict[tuple[int, int, int, int, int, int], int] = {}
    i = -1
    for _ in range(stale):
        i = scores.index(-1, i + 1)
        info = feasible[i]
        signature = resource_signature(info)
        score = by_signature.get(signature)
        if score is None:
            score = by_signature[signature] = _resource_score(view, info)
        scores[i] = info.resource_score = score
        info.scored_for = requests


def _resource_score(view: PodView, info: NodeInfo) -> int:
    """LeastAllocated: per resource ``(allocatable - requested) * 100 // allocatable`` (0 when
    over), cpu and memory weighted 1 each, integer-averaged; it counts requests with the
    scoring defaults for request-less containers (NonZeroRequested). BalancedAllocation:
    ``int((1 - |cpu fraction - memory fraction| / 2) * 100)`` of the real requests (useRequested),
    each fraction capped at 1; a resource the node has none of is left out."""
    top = _TOP
    cpu_alloc, memory_alloc = info.alloc_cpu, info.alloc_memory
    if not (cpu_alloc and memory_alloc):
        return (
            SCHEDULER_WEIGHT_NODE_RESOURCES_FIT
            * _one_resource_fit(info, view.nz_cpu, view.nz_memory)
            + SCHEDULER_WEIGHT_BALANCED_ALLOCATION * top
        )
    requested = info.nz_cpu + view.nz_cpu
    fit = (cpu_alloc - requested) * top // cpu_alloc if requested <= cpu_alloc else 0
    requested = info.nz_memory + view.nz_memory
    if requested <= memory_alloc:
        fit += (memory_alloc - requested) * top // memory_alloc
    cpu_fraction = min((info.cpu + view.cpu) / cpu_alloc, 1.0)
    memory_fraction = min((info.memory + view.memory) / memory_alloc, 1.0)
    deviation = abs(cpu_fraction - memory_fraction) / 2
    return SCHEDULER_WEIGHT_NODE_RESOURCES_FIT * (
        fit // 2
    ) + SCHEDULER_WEIGHT_BALANCED_ALLOCATION * int((1 - deviation) * top)


def _one_resource_fit(info: NodeInfo, pod_cpu: int, pod_memory: int) -> int:
    """LeastAllocated on a node with only one (or neither) of cpu and memory allocatable; its
    BalancedAllocation is 100 (one fraction has no deviation)."""
    for allocatable, requested in (
        (info.alloc_cpu, info.nz_cpu + pod_cpu),
        (info.alloc_memory, info.nz_memory + pod_memory),
    ):
        if allocatable:
            return (
                (allocatable - requested) * _TOP // allocatable if requested <= allocatable else 0
            )
    return 0


def node_affinity_raw(view: PodView, feasible: list[NodeInfo]) -> list[int]:
    """NodeAffinity's Score: the summed weights of the preferred terms each node matches."""
    terms = view.preferred
    return [preferred_score(terms, info.labels, info.name) for info in feasible]


def taint_toleration_raw(view: PodView, feasible: list[NodeInfo]) -> list[int]:
    """TaintToleration's Score: each node's PreferNoSchedule taints the pod does not tolerate
    (only tolerations with the PreferNoSchedule effect or none count)."""
    tolerations = view.soft_tolerations
    return [
        sum(1 for taint in info.soft_taints if not tolerated(tolerations, taint))
        if info.soft_taints
        else 0
        for info in feasible
    ]


def _add_normalised(scores: list[int], raw: list[int], weight: int, reverse: bool = False) -> None:
    """DefaultNormalizeScore(MaxNodeScore, reverse) of ``raw``, times ``weight``, into
    ``scores``: scaled so the highest is 100 (reversed: 100 minus that); all zero stays zero
    (reversed: all 100, which ranks nothing and is skipped)."""
    top = max(raw)
    if top == 0:
        return
    for i, value in enumerate(raw):
        normalised = _TOP * value // top
        scores[i] += weight * (_TOP - normalised if reverse else normalised)


def image_locality(
    view: PodView, feasible: list[NodeInfo], image_nodes: dict[str, int], total: int
) -> list[int]:
    """ImageLocality's Score: per node, the sizes of the pod's images it has, each scaled by the
    share of all nodes that have it (spread, against the "node heating problem"), clamped to
    23 MB .. 1000 MB times the pod's containers and scaled to 0..100.

    An image's size and spread are the cluster's (ImageStateSummary), the same for every node,
    so each image's scaled score is computed once per cycle, and each node's sum once per
    distinct value."""
    low = SCHEDULER_IMAGE_MIN_THRESHOLD
    high = SCHEDULER_IMAGE_MAX_CONTAINER_THRESHOLD * len(view.images)
    if len(view.images) == 1:  # the common pod: one pass telling the nodes with it apart
        image = view.images[0]
        count = image_nodes.get(image, 0)
        has = [image in info.images for info in feasible]
        if not count or True not in has:
            return [0] * len(feasible)  # the sum is 0, clamped to the minimum: score 0
        size = feasible[has.index(True)].images[image]  # _image_size's node
        clamped = min(max(int(size * (count / total)), low), high)
        hit = _TOP * (clamped - low) // (high - low)
        return [hit if h else 0 for h in has]
    scaled: dict[str, int] = {}
    for image in view.images:
        count = image_nodes.get(image, 0)
        if count:
            size = _image_size(image, feasible)
            scaled[image] = scaled.get(image, 0) + int(size * (count / total))
    priority: dict[int, int] = {}
    out = []
    for info in feasible:
        have = info.images
        total_size = 0
        for image, score in scaled.items():
            if image in have:
                total_size += score
        value = priority.get(total_size)
        if value is None:
            clamped = min(max(total_size, low), high)
            value = priority[total_size] = _TOP * (clamped - low) // (high - low)
        out.append(value)
    return out


def _image_size(image: str, feasible: list[NodeInfo]) -> int:
    """The image's size as the nodes report it (every node reports the one modelled size)."""
    for info in feasible:
        size = info.images.get(image)
        if size is not None:
            return size
    return 0


__all__ = [
    "image_locality",
    "node_affinity_raw",
    "node_scores",
    "resource_scores",
    "taint_toleration_raw",
]
