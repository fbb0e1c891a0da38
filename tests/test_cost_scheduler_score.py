"""The Score phase's and the assume's work per scheduling attempt (issue 16), counted.

Upstream's schedule_one.go prioritizeNodes runs every score plugin on every feasible node and
selectHost picks the best (a tie by a random draw). NodeResourcesFit (LeastAllocated) and
NodeResourcesBalancedAllocation (pkg/scheduler/framework/plugins/noderesources/
least_allocated.go, balanced_allocation.go, resource_allocation.go) read only the pod's requests
and the node's requested totals and allocatable, so nodes equal in those share a score: the
model works each distinct *signature* out once per attempt (and reuses a node's score while
neither the node nor the pod's requests changed). These tests count that work and check, on
seeded random clusters, that the grouped scores are exactly the per-node scores.
"""

from __future__ import annotations

import random

import trio

from kubechaos.api.objects import Pod
from kubechaos.control.scheduler import cache as cache_module
from kubechaos.control.scheduler import framework, scoring
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.plugins import best_nodes
from kubechaos.control.scheduler.scoring import _resource_score, resource_scores

from .factories import pod, ready_node
from .test_cost_scheduler import attempt, counting, new_scheduler, zone_node


class _Binder:
    """An API whose binding succeeds at once (the binding path is the API server's)."""

    async def bind(self, namespace: str, name: str, node: str) -> None:
        return None


def _view(p: Pod) -> PodView:
    return PodView(f"default/{p.metadata.name}", p)


def test_stale_nodes_are_scored_once_per_distinct_signature() -> None:
    """noderesources/resource_allocation.go (resourceAllocationScorer.score): a node's
    LeastAllocated and BalancedAllocation scores are functions of the pod's requests and the
    node's requested and allocatable resources only. 30 empty nodes of one size and 30 of
    another, never scored: the first attempt computes 2 scores (one per signature), not 60;
    the next attempt of a pod with the same requests computes none (every node's memo holds);
    a pod of other requests again 2."""
    nodes = [zone_node(i) for i in range(30)] + [
        ready_node(f"big-{i}", cpu=8000, memory=32 * 2**30) for i in range(30)
    ]
    sched = new_scheduler(nodes)
    infos = sched.cache.offered_nodes()
    with counting(scoring, "_resource_score") as computed:
        first = _view(pod("a", cpu=200))
        requests = sched.cache.signatures.setdefault(first.requests, first.requests)
        scores = resource_scores(first, infos, requests)
        assert computed[0] == 2
        assert len(set(scores)) == 2
        again = _view(pod("b", cpu=200))
        assert resource_scores(again, infos, requests) == scores
        assert computed[0] == 2
        other = _view(pod("c", cpu=300))
        other_requests = sched.cache.signatures.setdefault(other.requests, other.requests)
        resource_scores(other, infos, other_requests)
        assert computed[0] == 4


def test_a_deployment_rollout_scores_one_node_per_attempt() -> None:
    """schedule_one.go prioritizeNodes scores every feasible node; after a pod is assumed
    (cache.go AssumePod adds its requests to one node) only that node's score can change for
    the next pod of the same requests: 20 pods over 30 nodes cost 1 score computation for the
    first attempt (all nodes empty, one signature) and at most 1 per later attempt."""
    sched = new_scheduler([zone_node(i) for i in range(30)])
    with counting(scoring, "_resource_score") as computed:
        for n in range(20):
            before = computed[0]
            feasible, chosen = attempt(sched, pod(f"web-{n}"))
            assert chosen is not None and len(feasible) == 30
            assert computed[0] - before <= 1
    assert computed[0] <= 20


def test_the_assume_charges_the_requests_computed_for_the_pods_view() -> None:
    """schedule_one.go assume (cache.go AssumePod) charges the pod's requests
    (resource.PodRequests) to the chosen node; the model computes a pod's requests once per pod
    version (PodView) and the assume reuses them: no pod_requests call at the assume, and the
    node is charged the same amounts as a recomputation would give."""
    sched = new_scheduler([zone_node(i) for i in range(3)])
    p = pod("web-0", cpu=250, memory=2**28)
    with counting(framework, "pod_requests") as in_view:
        view = _view(p)
    assert in_view[0] == 1
    view.cycle = sched.placement.prefilter(view)
    feasible, _, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
    info = sched.select_host(view, feasible)
    with counting(cache_module, "pod_requests") as at_assume:
        sched.cache.place(view.key, p, info.name, True, view.pod_requests())
    assert at_assume[0] == 0
    sched.cache.forget(view.key, info.name)
    assert (info.cpu, info.pods) == (0, 0)
    # the scheduling cycle itself (Scheduler._schedule_one), its binding answered at once
    sched.api = _Binder()  # type: ignore[assignment]

    async def cycle() -> bool:
        sched.queue.add_or_update(view)
        queued = sched.queue.pop()
        assert queued is not None
        return await sched._schedule_one(queued)

    with counting(cache_module, "pod_requests") as at_assume:
        assert trio.run(cycle)
    assert at_assume[0] == 0
    assert sched.cache.placement(view.key) is not None
    placed = sched.cache.placement(view.key)
    assert placed is not None
    assert (placed.cpu, placed.memory, placed.nz_cpu, placed.nz_memory) == (
        framework.pod_requests(p)
    )
    assert (info.cpu, info.memory, info.pods) == (250, 2**28, 1)


def test_grouped_scores_equal_per_node_scores_on_random_clusters() -> None:
    """Property (resource_allocation.go: the score reads only requests and allocatable): on
    seeded random clusters (node sizes, pods already charged, memos left stale by placements)
    the memoised, signature-grouped scores equal each node's score worked out alone, and
    best_nodes picks the same nodes, in the same order, as a plain per-node maximum."""
    rng = random.Random(1632)
    for round_ in range(40):
        sizes = [(rng.choice((2000, 4000, 8000)), rng.choice((8, 16)) * 2**30) for _ in range(3)]
        nodes = [
            ready_node(f"n{round_}-{i}", cpu=cpu, memory=memory)
            for i, (cpu, memory) in enumerate(rng.choice(sizes) for _ in range(rng.randint(2, 90)))
        ]
        sched = new_scheduler(nodes)
        infos: list[NodeInfo] = sched.cache.offered_nodes()
        for n in range(rng.randint(0, 60)):
            target = rng.choice(infos).name
            charged = pod(f"p{n}", cpu=rng.choice((0, 100, 500)), memory=rng.choice((0, 2**27)))
            sched.cache.place(f"default/p{n}", charged, target, assumed=False)
            if rng.random() < 0.5:  # a pod of the same requests scored everywhere: warm memos
                warm = _view(pod(f"w{n}", cpu=100))
                key = sched.cache.signatures.setdefault(warm.requests, warm.requests)
                resource_scores(warm, infos, key)
        for k in range(3):
            view = _view(pod(f"t{k}", cpu=rng.choice((0, 100, 300)), memory=2**26 * k))
            requests = sched.cache.signatures.setdefault(view.requests, view.requests)
            expected = [_resource_score(view, info) for info in infos]
            assert resource_scores(view, infos, requests) == expected
            assert resource_scores(view, infos, requests) == expected  # from the memo
            best = max(expected)
            plain = [info for info, s in zip(infos, expected, strict=True) if s == best]
            assert best_nodes(view, infos, sched.cache) == (plain if len(infos) > 1 else infos)
