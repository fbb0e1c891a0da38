"""Complexity guards for the scheduler: deterministic work counts, never wall time.

At a fixed seed the same cluster shape runs at two sizes; the scheduler's plain-int counters
(nodes run through the filters, feasible nodes scored, attempts) must follow upstream's
percentageOfNodesToScore (pkg/scheduler/schedule_one.go numFeasibleNodesToFind: adaptive
50% - nodes/125, at least 5%, at least 100 nodes) and grow no faster than the pods do, and a
score plugin a pod or a cluster does not use must not be called at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

from kubechaos.api.objects import NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm
from kubechaos.control.scheduler import Scheduler, scoring
from kubechaos.control.scheduler.scheduler import num_feasible_nodes_to_find

from .factories import pod, ready_node
from .test_scheduler import add_nodes, control_plane, owned, running


async def _work(nodes: int, pods: int, **pod_kwargs: Any) -> Scheduler:
    """Schedule ``pods`` replicas of one owner over ``nodes`` equal nodes; the scheduler after."""
    ctx = await control_plane(seed=5)
    await add_nodes(ctx, *(ready_node(f"n-{i:04}") for i in range(nodes)))
    async with running(ctx) as scheduler:
        for i in range(pods):
            await ctx.api.create(owned(f"web-{i}", "rs-uid", cpu=10, memory=2**20, **pod_kwargs))
        await trio.sleep(10 + pods / 10)
    assert scheduler.schedule_attempts == {"scheduled": pods, "unschedulable": 0, "error": 0}
    return scheduler


async def test_each_attempt_evaluates_the_adaptive_share_of_nodes() -> None:
    """500 nodes: 50 - 500/125 = 46 %, so each attempt filters and scores 230 nodes, not 500."""
    assert num_feasible_nodes_to_find(0, 500) == 230
    scheduler = await _work(500, 20)
    assert scheduler.nodes_filtered == 20 * 230
    assert scheduler.nodes_scored == 20 * 230


@pytest.mark.parametrize("preferred", [False, True])
async def test_work_grows_linearly_with_pods_and_nodes(preferred: bool) -> None:
    """Doubling nodes and pods (100 -> 200) at most ~doubles the filter and score calls: a
    cycle's work is bounded by numFeasibleNodesToFind (100 at both sizes), never by the
    cluster's pods; with preferred node affinity too."""
    kwargs: dict[str, Any] = {}
    if preferred:
        term = NodeSelectorTerm((NodeSelectorRequirement("missing", "DoesNotExist"),))
        kwargs["preferred_node_affinity"] = (PreferredSchedulingTerm(10, term),)
    small = await _work(100, 100, **kwargs)
    large = await _work(200, 200, **kwargs)
    for counter in ("nodes_filtered", "nodes_scored"):
        before, after = getattr(small, counter), getattr(large, counter)
        assert after <= 2.2 * before, (counter, before, after)
    assert large.nodes_scored == 200 * 100


async def test_unused_score_plugins_are_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pod without preferred node affinity pays nothing for NodeAffinity's score, a cluster
    without PreferNoSchedule taints nothing for TaintToleration's, nodes without the pod's image
    nothing for ImageLocality's; a pod that uses one pays for that one only."""
    calls: dict[str, int] = {}

    def counting(name: str) -> Callable[..., Any]:
        original = getattr(scoring, name)

        def wrapper(*args: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return original(*args)

        return wrapper

    for name in ("node_affinity_raw", "taint_toleration_raw", "image_locality"):
        monkeypatch.setattr(scoring, name, counting(name))
    ctx = await control_plane()
    await add_nodes(ctx, *(ready_node(f"n-{i}") for i in range(5)))
    term = NodeSelectorTerm((NodeSelectorRequirement("kubernetes.io/os", "Exists"),))
    async with running(ctx):
        for i in range(5):
            await ctx.api.create(pod(f"plain-{i}"))
        await trio.sleep(5)
        assert calls == {}
        await ctx.api.create(
            pod("picky", preferred_node_affinity=(PreferredSchedulingTerm(1, term),))
        )
        await trio.sleep(5)
    assert calls == {"node_affinity_raw": 1}
