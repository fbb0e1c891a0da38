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

import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

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


class _Tail:
    """Steps 6 to 8 of upstream's ActivePodsWithRanks.Less, for two pods equal in steps 1 to 5.

    Steps 1 to 5 order by a key (unscheduled, phase, not Ready, deletion cost, more related pods
    on the node: the tuple :func:`rank_victims` sorts by first); these cannot: two pods Ready at
    different times inside one log2 bucket are ordered by UID, at the same time by restarts and
    creation time. The sort only ever asks ``<``, which is ``Less``, so it makes the same
    comparisons, with the same answers, as a sort with upstream's comparator.
    """

    __slots__ = ("created", "created_age", "restarts", "since", "since_age", "uid")

    def __init__(self, facts: RankFacts, at: float) -> None:
        self.since, self.restarts, self.created, self.uid = facts[2], facts[4], facts[5], facts[6]
        self.since_age = -1 if self.since is None else _log_age(self.since, at)
        self.created_age = -1 if self.created is None else _log_age(self.created, at)

    def __lt__(self, other: _Tail) -> bool:
        since_a, since_b = self.since, other.since
        if since_a is not None and since_b is not None and since_a != since_b:
            diff = self.since_age - other.since_age  # 6. ready for less time first
            return self.uid < other.uid if diff == 0 else diff < 0
        if self.restarts != other.restarts:
            return self.restarts > other.restarts  # 7. more restarts first
        created_a, created_b = self.created, other.created
        if created_a != created_b:  # 8. newer first (no timestamp counts as newest)
            if created_a is None or created_b is None:
                return created_a is None
            diff = self.created_age - other.created_age
            return self.uid < other.uid if diff == 0 else diff < 0
        return False


def rank_victims(
    candidates: Sequence[tuple[Pod, RankFacts]],
    related_on: Callable[[str], int],
    count: int,
    at: float,
) -> list[Pod]:
    """The ``count`` candidates whose loss hurts least (getPodsToDelete's sort), given each
    candidate's facts and ``related_on(node)``: the active pods related to them on a node."""
    ranked = [
        (
            pod,
            (
                # 1. unscheduled first, 2. Pending < Unknown < Running, 3. not Ready first,
                # 4. lower pod-deletion-cost first, 5. more related pods on its node first
                (bool(f[0]), f[1], f[2] is not None, f[3], -related_on(f[0])),
                _Tail(f, at),
            ),
        )
        for pod, f in candidates
    ]
    ranked.sort(key=_second)
    return [entry[0] for entry in ranked[:count]]


def _second(entry: tuple[Pod, Any]) -> Any:
    return entry[1]


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
