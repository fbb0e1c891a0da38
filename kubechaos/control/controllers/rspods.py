"""A ReplicaSet's pod arithmetic: availability, which pods to delete first, slow-start batches.

Upstream: pkg/api/v1/pod/util.go IsPodAvailable; pkg/controller/replicaset/replica_set.go
getPodsToDelete, getPodsRankedByRelatedPodsOnSameNode and slowStartBatch;
pkg/controller/controller_utils.go ActivePodsWithRanks.Less (v1.32, LogarithmicScaleDown and
PodDeletionCost on).

Scale-down ranks the candidates with upstream's comparator. What it reads of a pod (node, phase,
Ready condition, deletion cost, restarts, creation time, UID) is gathered once into a tuple
(:func:`rank_facts`), which a caller may keep per pod object: ranking then reads each pod once,
not once per comparison (a sort of n pods makes about n log n of them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence

import trio

from kubechaos.api import errors
from kubechaos.api.objects import Pod
from kubechaos.defaults import POD_DELETION_COST_ANNOTATION


def is_pod_available(pod: Pod, min_ready_seconds: int, at: float) -> bool:
    """Ready, and for at least ``min_ready_seconds`` (upstream's IsPodAvailable).

    Upstream requires the ready time plus minReadySeconds to be strictly before now; here it may
    equal now, so a requeue scheduled for exactly that moment sees the pod available instead of
    spinning at the same virtual instant.
    """
    since = pod.ready_since()
    if since is None:
        return False
    return min_ready_seconds == 0 or since + min_ready_seconds <= at


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}

# (node name, phase ordinal, Ready since or None, deletion cost, most restarts, created, UID)
RankFacts = tuple[str, int, float | None, int, int, float | None, str]


def _deletion_cost(pod: Pod) -> int:
    try:
        return int(pod.metadata.annotations.get(POD_DELETION_COST_ANNOTATION, "0"))
    except ValueError:
        return 0


def rank_facts(pod: Pod) -> RankFacts:
    """What the scale-down comparator reads of ``pod`` (a pure function of the pod object)."""
    meta = pod.metadata
    return (
        pod.spec.node_name,
        _PHASE_ORDINAL.get(pod.status.phase, 0),
        pod.ready_since(),
        _deletion_cost(pod),
        max((c.restart_count for c in pod.status.container_statuses), default=0),
        meta.creation_timestamp,
        meta.uid,
    )


def _log_age(t: float, at: float) -> int:
    """floor(log2(age in nanoseconds)), -1 for no age: LogarithmicScaleDown's time buckets."""
    age_ns = (at - t) * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


# a candidate ranked: (pod, its facts, pods related to it on its node, the log2 age bucket of
# its Ready time and of its creation time, -1 where it has none)
_Ranked = tuple[Pod, RankFacts, int, int, int]


def _earlier_deleted(x: _Ranked, y: _Ranked) -> bool:
    """Upstream's ActivePodsWithRanks.Less, over the facts of two ranked pods."""
    a, rank_a, since_age_a, created_age_a = x[1], x[2], x[3], x[4]
    b, rank_b, since_age_b, created_age_b = y[1], y[2], y[3], y[4]
    node_a, node_b = a[0], b[0]
    if node_a != node_b and (not node_a or not node_b):
        return not node_a  # 1. unscheduled before scheduled
    if a[1] != b[1]:
        return a[1] < b[1]  # 2. Pending < Unknown < Running
    since_a, since_b = a[2], b[2]
    ready_a, ready_b = since_a is not None, since_b is not None
    if ready_a != ready_b:
        return not ready_a  # 3. not ready before ready
    if a[3] != b[3]:
        return a[3] < b[3]  # 4. lower pod-deletion-cost first
    if rank_a != rank_b:
        return rank_a > rank_b  # 5. more related pods on the same node first
    if ready_a and ready_b and since_a != since_b:  # 6. ready for less time first (log2 buckets)
        diff = since_age_a - since_age_b
        return a[6] < b[6] if diff == 0 else diff < 0
    if a[4] != b[4]:
        return a[4] > b[4]  # 7. more restarts first
    created_a, created_b = a[5], b[5]
    if created_a != created_b:  # 8. newer first (no timestamp counts as newest)
        if created_a is None or created_b is None:
            return created_a is None
        diff = created_age_a - created_age_b
        return a[6] < b[6] if diff == 0 else diff < 0
    return False


def _compare(x: _Ranked, y: _Ranked) -> int:
    if _earlier_deleted(x, y):
        return -1
    return 1 if _earlier_deleted(y, x) else 0


def rank_victims(
    candidates: Sequence[tuple[Pod, RankFacts]],
    related_on: Callable[[str], int],
    count: int,
    at: float,
) -> list[Pod]:
    """The ``count`` candidates whose loss hurts least (getPodsToDelete's sort), given each
    candidate's facts and ``related_on(node)``: the active pods related to them on a node."""
    ranked: list[_Ranked] = []
    for pod, facts in candidates:
        since, created = facts[2], facts[5]
        ranked.append(
            (
                pod,
                facts,
                related_on(facts[0]),
                -1 if since is None else _log_age(since, at),
                -1 if created is None else _log_age(created, at),
            )
        )
    ranked.sort(key=functools.cmp_to_key(_compare))
    return [entry[0] for entry in ranked[:count]]


def pods_to_delete(pods: list[Pod], related: Iterable[Pod], count: int, at: float) -> list[Pod]:
    """The ``count`` pods whose loss hurts least, as upstream's getPodsToDelete picks them.

    ``related`` are the pods of every ReplicaSet with the same controller (the Deployment's other
    revisions): a pod sharing its node with many of them is the better one to lose.
    """
    if count >= len(pods):
        return list(pods)
    per_node: dict[str, int] = {}
    for pod in related:
        if pod.is_active():
            per_node[pod.spec.node_name] = per_node.get(pod.spec.node_name, 0) + 1
    candidates = [(pod, rank_facts(pod)) for pod in pods]
    return rank_victims(candidates, lambda node: per_node.get(node, 0), count, at)


async def slow_start_batch(
    count: int, initial: int, create: Callable[[], Awaitable[None]]
) -> tuple[int, errors.APIError | None]:
    """Run ``create`` ``count`` times in concurrent batches of 1, 2, 4, ... (upstream's slowStartBatch).

    A batch with a failure stops the run: if the first pod is refused (quota, admission, a
    terminating namespace) the rest would be too, and trying them all only spams the API server.
    Returns the number of successes and the first failure.
    """
    successes = 0
    remaining = count
    batch = min(remaining, initial)
    while batch > 0:
        failures: list[errors.APIError] = []
        async with trio.open_nursery() as nursery:
            for _ in range(batch):
                nursery.start_soon(_collect_failure, create, failures)
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


async def _collect_failure(
    call: Callable[[], Awaitable[None]], failures: list[errors.APIError]
) -> None:
    try:
        await call()
    except errors.APIError as exc:
        failures.append(exc)


__all__ = [
    "RankFacts",
    "is_pod_available",
    "pods_to_delete",
    "rank_facts",
    "rank_victims",
    "slow_start_batch",
]
