"""The scheduling loop's per-node work (issue 16), counted, and its fast paths against full ones.

A scheduling attempt filters from a rotating start until ``numFeasibleNodesToFind`` nodes fit
(pkg/scheduler/schedule_one.go findNodesThatPassFilters) and scores every feasible node
(prioritizeNodes), so whatever runs per node runs hundreds of times per pod. These tests count
that work deterministically and fail if a per-node call or a re-scoring comes back: the
PodTopologySpread Filter verdict per topology domain (not per node, and no node of a rejected
domain visited), the system default spread Score per distinct (node count, domain), the
resource scores read from the node's memo. The seeded property tests check, on random
clusters, that the fast paths give exactly the feasible nodes, the nodes processed (the
rotating start) and the best nodes of the full per-node filters and scoring formulas.
``benchmarks/scheduler.py`` times the attempts.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from kubechaos.api.objects import (
    Node,
    ObjectMeta,
    Pod,
    Service,
    ServicePort,
    ServiceSpec,
    Taint,
    TopologySpreadConstraint,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.scheduler import fastfilter, layout, plugins, scoring, spread
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.plugins import filter_node
from kubechaos.control.scheduler.scheduler import Scheduler, num_feasible_nodes_to_find
from kubechaos.control.scheduler.scoring import resource_scores
from kubechaos.defaults import (
    LABEL_HOSTNAME,
    LABEL_ZONE,
    SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS,
    SCHEDULER_MAX_NODE_SCORE,
    SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD,
)

from .factories import pod, ready_node
from .test_cost_scheduler import (
    assume_and_sometimes_forget,
    attempt,
    counting,
    new_scheduler,
    zone_node,
    zone_spread,
)


def _place(sched: Scheduler, name: str, node: str, app: str = "web") -> None:
    sched.cache.place(f"default/{name}", pod(name, labels={"app": app}), node, False)


def _web_service(sched: Scheduler, app: str = "web") -> None:
    """A Service selecting ``app``: its pods get the system default spread constraints
    (helper.DefaultSelector, pkg/scheduler/framework/plugins/helper/spread.go)."""
    service = Service(
        ObjectMeta(name=app, namespace="default"),
        ServiceSpec(selector={"app": app}, ports=(ServicePort(80, 8080),)),
    )
    sched.placement._service_added(service)


# ---------------------------------------------------------------------------- counted work


def test_zone_spread_attempt_visits_no_node_of_a_rejected_zone() -> None:
    """podtopologyspread/filtering.go Filter: with one DoNotSchedule constraint a node's verdict
    is ``TpValueToMatchNum[value] + selfMatch - minMatch > maxSkew`` on its topology value
    alone. Worked out once per zone (3 calls, not 90), the nodes of a rejected zone are
    skipped without a look, while the nodes processed, which move the rotating start
    (schedule_one.go: ``nextStartNodeIndex + processedNodes``), are upstream's: all 90."""
    sched = new_scheduler([zone_node(i) for i in range(90)])
    for n in range(4):  # zones a and b hold a pod each more than c: only c is allowed
        _place(sched, f"old-{n}", f"node-{n % 2}")
    for info in sched.cache.offered_nodes():
        info.fit_for = None  # every node's node-local verdict must be worked out afresh
    p = pod("web-new", labels={"app": "web"}, topology_spread=(zone_spread("web"),))
    with (
        counting(spread.SpreadFilter, "domain_verdict") as verdicts,
        counting(spread.SpreadFilter, "_reject") as worked_out,
        counting(fastfilter, "cheap_fit") as node_checks,
    ):
        feasible, chosen = attempt(sched, p)
    assert chosen is not None and {i.labels[LABEL_ZONE] for i in feasible} == {"c"}
    assert (verdicts[0], worked_out[0]) == (3, 3)
    assert node_checks[0] == 30  # zone c's nodes only
    assert sched.nodes_filtered == 90


def test_the_full_filter_loop_works_out_each_zone_once_without_a_call_per_node() -> None:
    """The per-node loop (used when the rejections must be worded: no node fits, or a pod is
    nominated somewhere) reads the zone's verdict from a per-attempt dict: the spread filter
    is called once per zone met, never once per node."""
    sched = new_scheduler([zone_node(i) for i in range(60)])
    for n in range(4):
        _place(sched, f"old-{n}", f"node-{n % 2}")
    p = pod("web-new", labels={"app": "web"}, topology_spread=(zone_spread("web"),))
    view = PodView("default/web-new", p)
    nodes = sched.cache.offered_nodes()
    with (
        counting(spread.SpreadFilter, "domain_verdict") as verdicts,
        counting(spread.SpreadFilter, "reject") as per_node,
    ):
        view.cycle = sched.placement.prefilter(view)
        feasible, rejections = sched._filter_all(view, nodes, 0, 60, view.requests)
    assert (verdicts[0], per_node[0]) == (3, 0)
    assert len(feasible) == 20 and len(rejections) == 40


def test_system_default_spread_scores_once_per_distinct_key_without_hostname_domains() -> None:
    """podtopologyspread/scoring.go Score: for the hostname key the count is the node's own
    matching pods (countPodsMatchSelector on nodeInfo.Pods), for the zone key its zone's. So
    the node's score is a function of (its count, its zone): worked out once per distinct
    pair, and no per-hostname-domain counts are registered or copied for scoring."""
    sched = new_scheduler([zone_node(i) for i in range(90)])
    _web_service(sched)
    for n in range(12):
        _place(sched, f"w-{n}", f"node-{n % 7}")
    p = pod("web-new", labels={"app": "web"})
    index = sched.placement.index
    with (
        counting(spread, "_raw_score") as worked_out,
        counting(type(index), "domain_counts") as domain_lookups,
    ):
        feasible, chosen = attempt(sched, p, place=False)
    assert chosen is not None and len(feasible) == 90
    counts = index.counts((frozenset(("default",)), (("app", "web"),), (), True))
    pairs = {(counts.get(i.name, 0), i.labels[LABEL_ZONE]) for i in feasible}
    assert worked_out[0] <= len(pairs) < 10
    assert domain_lookups[0] == 1  # the zone key's; none for the hostname key


def test_resource_scores_come_from_the_memo_except_on_the_node_that_changed() -> None:
    """noderesources least_allocated.go / balanced_allocation.go scores are functions of the
    pod's requests and the node's requested and allocatable resources: after one pod is
    assumed, the next pod of the same requests works out only that node's score again."""
    sched = new_scheduler([zone_node(i) for i in range(40)])
    attempt(sched, pod("first"))
    with counting(scoring, "_resource_score") as worked_out:
        _, chosen = attempt(sched, pod("second"))
    assert chosen is not None
    assert worked_out[0] == 1


def test_an_attempt_builds_no_node_list_and_no_partition_again() -> None:
    """The rotation is a slice of the node list kept twice over, and the per-zone partition is
    built once per node list or label change (layout.NodeLayout), not per attempt."""
    sched = new_scheduler([zone_node(i) for i in range(30)])
    with counting(layout.NodeLayout, "__init__") as layouts:
        for n in range(10):
            attempt(
                sched, pod(f"w-{n}", labels={"app": "web"}, topology_spread=(zone_spread("web"),))
            )
    assert layouts[0] == 1
    partitions = sched.cache.layout()._partitions
    assert list(partitions) == [LABEL_ZONE]
    sched.cache.node_changed(zone_node(3))  # unchanged labels: the partition stays
    assert sched.cache.layout()._partitions is partitions and LABEL_ZONE in partitions
    sched.cache.node_changed(ready_node("node-3", labels={LABEL_ZONE: "d"}))
    assert LABEL_ZONE not in sched.cache.layout()._partitions


# ---------------------------------------------------------------------------- agreement


def _random_node(rng: random.Random, i: int) -> Node:
    taints = (Taint("dedicated", "NoSchedule", "db"),) if rng.random() < 0.1 else ()
    labels = {}
    if rng.random() < 0.93:
        labels[LABEL_ZONE] = rng.choice(("a", "b", "c", "d"))
    return ready_node(
        f"node-{i}",
        cpu=rng.choice((500, 1000, 4000)),
        memory=rng.choice((2**30, 4 * 2**30)),
        pods=rng.choice((4, 10, 110)),
        labels=labels,
        taints=taints,
        unschedulable=rng.random() < 0.05,
        ready=rng.choice(("True",) * 9 + ("False",)),
    )


def _random_pod(rng: random.Random, n: int) -> Pod:
    app = rng.choice(("web", "api", "db"))
    kwargs: dict[str, Any] = {
        "cpu": rng.choice((100, 400)),
        "memory": rng.choice((64, 512)) * 2**20,
    }
    roll = rng.random()
    if roll < 0.35:
        kwargs["topology_spread"] = (zone_spread(app),)
    elif roll < 0.45:
        key = LABEL_HOSTNAME
        kwargs["topology_spread"] = (
            TopologySpreadConstraint(2, key, "DoNotSchedule", LabelSelector({"app": app})),
        )
    return pod(f"p-{n}", labels={"app": app}, **kwargs)


def _full_filter(sched: Scheduler, view: PodView, start: int) -> tuple[list[str], int]:
    """findNodesThatPassFilters one node at a time through filter_node, with a fresh PreFilter
    state per node and no memo of any kind."""
    nodes = sched.cache.offered_nodes()
    wanted = num_feasible_nodes_to_find(sched.settings.percentage_of_nodes_to_score, len(nodes))
    feasible: list[str] = []
    processed = 0
    for info in nodes[start:] + nodes[:start]:
        processed += 1
        view.cycle = sched.placement.prefilter(view)
        saved = info.fit_for
        info.fit_for = None
        verdict = filter_node(view, info)
        info.fit_for = saved
        if verdict is None:
            feasible.append(info.name)
            if len(feasible) >= wanted:
                break
    return feasible, processed


def _full_default_spread(sched: Scheduler, p: Pod, feasible: list[NodeInfo]) -> list[int]:
    """scoring.go PreScore, Score and NormalizeScore of the system default constraints, node by
    node (DefaultSelector: the pod's Service, app=<app>), times the plugin's weight."""
    counts = sched.placement.index.counts(
        (frozenset(("default",)), (("app", p.metadata.labels["app"]),), (), True)
    )
    zones: dict[str, int] = {}
    for info in sched.cache.offered_nodes():
        zone = info.labels.get(LABEL_ZONE, "")
        zones[zone] = zones.get(zone, 0) + counts.get(info.name, 0)
    sizes = {
        LABEL_HOSTNAME: len(feasible),
        LABEL_ZONE: len({i.labels.get(LABEL_ZONE, "") for i in feasible}),
    }
    raw = []
    for info in feasible:
        score = 0.0
        for key, skew in SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS:
            value = info.labels.get(key)
            if value is None:
                continue
            count = counts.get(info.name, 0) if key == LABEL_HOSTNAME else zones.get(value, 0)
            score += count * math.log(sizes[key] + 2) + (skew - 1)
        raw.append(math.floor(score + 0.5))
    low, high = min(raw), max(raw)
    top = SCHEDULER_MAX_NODE_SCORE
    normal = [top if high == 0 else top * (high + low - s) // high for s in raw]
    return [SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD * s for s in normal]


def _full_best(sched: Scheduler, view: PodView, feasible: list[NodeInfo]) -> list[str]:
    """prioritizeNodes and the best of selectHost: every score worked out afresh."""
    scores = [resource_scores(view, [info])[0] for info in feasible]
    if view.cycle is not None and not view.placement.own_spread:
        defaults = sched.placement.default_constraints(view.pod, view.placement)
        if defaults:
            extra = _full_default_spread(sched, view.pod, feasible)
            scores = [a + b for a, b in zip(scores, extra, strict=True)]
    best = max(scores)
    return [i.name for i, s in zip(feasible, scores, strict=True) if s == best]


@pytest.mark.parametrize("seed", range(8))
def test_fast_paths_agree_with_the_full_filters_and_scores(seed: int) -> None:
    """On seeded random clusters (4 zones, nodes without a zone, taints, cordoned and NotReady
    nodes, full nodes, zone and hostname DoNotSchedule spreads, system default spreads of
    Services), changing between attempts (assumes, pods leaving, nodes relabelled): the fast
    Filter path gives filter_node's feasible nodes in order and upstream's processed count,
    and the scoring gives the best nodes of the formulas run afresh on every node."""
    rng = random.Random(seed)
    count = 130
    sched = new_scheduler([_random_node(rng, i) for i in range(count)])
    for app in ("web", "api"):
        _web_service(sched, app)
    placed: list[str] = []
    fast_attempts = 0
    for n in range(70):
        p = _random_pod(rng, n)
        view = PodView(f"default/{p.metadata.name}", p)
        start = sched._next_start % len(sched.cache.offered_nodes())
        expected = _full_filter(sched, view, start)
        view.cycle = sched.placement.prefilter(view)
        filtered = sched.nodes_filtered
        with counting(fastfilter, "_scan") as scans:
            feasible, _, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
        fast_attempts += scans[0]
        assert ([i.name for i in feasible], sched.nodes_filtered - filtered) == expected
        if feasible:
            winners = plugins.best_nodes(view, feasible, sched.cache)
            assert [i.name for i in winners] == _full_best(sched, view, feasible)
        assume_and_sometimes_forget(sched, rng, view, p, feasible, placed)
        if rng.random() < 0.2:
            sched.cache.node_changed(_random_node(rng, rng.randrange(count)))
    assert fast_attempts > 30  # the fast path was the one mostly checked


def test_best_nodes_keeps_the_order_of_many_and_few_ties() -> None:
    """selectHost draws among the best nodes in the order given: the list.index path for few
    ties and the scan for many give the same list as the plain comparison."""
    rng = random.Random(3)
    for ties_wanted in (1, 5, 200):
        sched = new_scheduler([zone_node(i) for i in range(300)])
        nodes = sched.cache.offered_nodes()
        for info in nodes[ties_wanted:]:
            _place(sched, f"x-{info.name}", info.name, app=f"x{rng.randrange(9)}")
        view = PodView("default/y", pod("y"))
        winners = plugins.best_nodes(view, nodes, sched.cache)
        scores = resource_scores(view, nodes)
        best = max(scores)
        assert winners == [i for i, s in zip(nodes, scores, strict=True) if s == best]
        assert len(winners) == ties_wanted


def _reference_image_scores(
    images: tuple[str, ...], feasible: list[NodeInfo], image_nodes: dict[str, int], total: int
) -> list[int]:
    """imagelocality/image_locality.go per node: sumImageScores (each container's image the
    node has: its size x NumNodes / totalNumNodes, truncated), then calculatePriority (clamped
    to 23 MB .. 1000 MB x containers, scaled to 0..100)."""
    low, high = 23 * 2**20, 1000 * 2**20 * len(images)
    out = []
    for info in feasible:
        total_size = 0
        for image in images:
            if image in info.images:
                total_size += int(info.images[image] * (image_nodes[image] / total))
        clamped = min(max(total_size, low), high)
        out.append(SCHEDULER_MAX_NODE_SCORE * (clamped - low) // (high - low))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_image_locality_one_pass_agrees_with_the_per_node_sum(seed: int) -> None:
    """A pod of one image (the common pod) is scored in one pass over the nodes, with no scan
    for the image's size: the same scores as upstream's per-node sum."""
    rng = random.Random(seed)
    mib = 2**20
    feasible = [NodeInfo(f"n-{i}") for i in range(60)]
    for info in feasible:
        if rng.random() < 0.4:
            info.images = {"app:1": 300 * mib}
        if rng.random() < 0.5:
            info.images = {**info.images, "sidecar:2": 90 * mib}
    image_nodes = {
        name: sum(name in i.images for i in feasible) + rng.randrange(5)
        for name in ("app:1", "sidecar:2")
    }
    total = len(feasible) + 4
    for images in (("app:1",), ("sidecar:2",), ("app:1", "sidecar:2"), ("app:1", "app:1")):
        view = PodView("default/x", pod("x"))
        view.images = images
        with counting(scoring, "_image_size") as scans:
            got = scoring.image_locality(view, feasible, image_nodes, total)
        assert got == _reference_image_scores(images, feasible, image_nodes, total)
        assert scans[0] == (0 if len(images) == 1 else len(images))
