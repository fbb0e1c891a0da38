"""A zone-spread pod's Filter and Score without a Python step per node (issue 16), counted.

Upstream's findNodesThatPassFilters (pkg/scheduler/schedule_one.go) runs every Filter plugin on
each node from the rotating start until ``numFeasibleNodesToFind`` fit; PodTopologySpread's
Filter (pkg/scheduler/framework/plugins/podtopologyspread/filtering.go) rejects, with one
``DoNotSchedule`` constraint, whole topology domains (``TpValueToMatchNum[value] + selfMatch -
minMatch > maxSkew``), so a spread pod's feasible nodes are the nodes of the allowed zones in
list order. NodeResourcesFit's and BalancedAllocation's scores (noderesources/
least_allocated.go, balanced_allocation.go, resource_allocation.go) read only the pod's requests
and the node's requested and allocatable resources. The model keeps per request signature the
node-local verdict and the resource score of every node (:mod:`kubechaos.control.scheduler.
scoreruns`); a spread pod reads them at the positions of the allowed zones' nodes
(:class:`~kubechaos.control.scheduler.layout.Subset`), at C speed. These tests count that no
per-node call is left on the common spread attempt, and check on seeded random clusters that
the feasible nodes, the nodes processed (the rotating start) and the scores are exactly the
per-node loop's. ``benchmarks/scheduler.py`` (the ``spread`` row) times the attempts.
"""

from __future__ import annotations

import random

import pytest

from kubechaos.api.objects import Node, Pod, Taint
from kubechaos.control.scheduler import fastfilter, scoreruns, scoring, spread
from kubechaos.control.scheduler.framework import PodView
from kubechaos.control.scheduler.layout import Subset
from kubechaos.control.scheduler.scheduler import Scheduler
from kubechaos.control.scheduler.scoring import _resource_score, node_scores
from kubechaos.defaults import LABEL_ZONE

from .factories import pod, ready_node
from .test_cost_scheduler import (
    ZONES,
    assume_and_sometimes_forget,
    attempt,
    counting,
    full_verdicts,
    new_scheduler,
    zone_node,
    zone_spread,
)


def _spread_pod(n: int, cpu: int = 100, app: str = "web") -> Pod:
    return pod(f"{app}-{n}", labels={"app": app}, cpu=cpu, topology_spread=(zone_spread(app),))


def _warm(sched: Scheduler, pods: int = scoreruns.BUILD_AFTER) -> None:
    """Enough attempts of the signature for its vectors to be built (scoreruns.BUILD_AFTER)."""
    for n in range(pods):
        attempt(sched, _spread_pod(1000 + n))


def test_a_spread_attempt_makes_no_per_node_call_once_its_signature_has_vectors() -> None:
    """300 nodes over 3 zones (numFeasibleNodesToFind: 144), a Deployment's zone-spread pods
    (maxSkew 1, DoNotSchedule) scheduled one after the other: after the first few, an attempt
    runs no node-local check (cheap_fit, filter_node), no spread verdict per node, and no
    per-node scoring (resource_scores); its only per-node work is re-scoring the node the
    previous pod went to (at most one node per attempt, ScoreRuns.rescored). An attempt with a
    zone rejected reads its scores at the allowed zones' positions (ScoreRuns.gathered); the
    pods end
    up spread over the zones as upstream's Filter allows (counts differ by at most 1)."""
    sched = new_scheduler([zone_node(i) for i in range(300)])
    _warm(sched)
    runs = sched.cache.score_runs
    zones: dict[str, int] = {}
    subsets = 0
    with (
        counting(fastfilter, "cheap_fit") as node_checks,
        counting(fastfilter, "filter_node") as full_checks,
        counting(spread.SpreadFilter, "reject") as per_node_verdicts,
        counting(scoring, "resource_scores") as per_node_scores,
    ):
        for n in range(30):
            rescored, gathered = runs.rescored, runs.gathered
            feasible, chosen = attempt(sched, _spread_pod(n))
            assert chosen is not None
            zones[chosen.labels[LABEL_ZONE]] = zones.get(chosen.labels[LABEL_ZONE], 0) + 1
            assert runs.rescored - rescored <= 2  # the chosen node, in the fit and score vector
            # with a zone rejected, the scores are gathered at the allowed zones' positions
            # (every node fits: no verdict is read); with none, they are a slice of the vector
            subset = len({i.labels[LABEL_ZONE] for i in feasible}) < 3
            assert runs.gathered - gathered == subset
            subsets += subset
    assert (node_checks[0], full_checks[0], per_node_verdicts[0], per_node_scores[0]) == (
        0,
        0,
        0,
        0,
    )
    assert subsets >= 15  # most attempts had a zone rejected: the feasible nodes not a run
    assert max(zones.values()) - min(zones.values()) <= 1


def test_a_node_that_does_not_fit_in_the_window_sends_the_attempt_to_the_per_node_scan() -> None:
    """NodeResourcesFit (noderesources/fit.go) rejects a node without room: when one node of
    the allowed zones' window does not fit, the verdicts are read there (ScoreRuns.gathered) and
    the attempt takes the per-node scan (cheap_fit per node), which skips that node and reaches
    one node further, as the per-node loop does; its feasible nodes are then no run (scored
    node by node)."""
    sched = new_scheduler([zone_node(i) for i in range(300)])
    _warm(sched)
    full = sched.cache.offered_nodes()[7]  # in zone b
    hog = pod("hog", cpu=full.alloc_cpu - full.cpu)
    sched.cache.place("default/hog", hog, full.name, assumed=False)
    runs = sched.cache.score_runs
    sched._next_start = 0
    gathered = runs.gathered
    with counting(fastfilter, "cheap_fit") as node_checks:
        feasible, chosen = attempt(sched, _spread_pod(1), place=False)
    assert chosen is not None and full not in feasible
    assert node_checks[0] > 0
    assert runs.gathered - gathered == 1  # the verdicts
    view = PodView("default/web-2", _spread_pod(2))
    view.cycle = sched.placement.prefilter(view)
    names, _, processed = full_verdicts(sched, view, 0)
    assert [i.name for i in feasible] == names and sched._next_start == processed


def test_a_node_that_does_not_fit_outside_the_window_costs_no_per_node_check() -> None:
    """While some offered node does not fit (noderesources/fit.go), the verdicts of the nodes
    the attempt meets are read at C speed (one gather, ScoreRuns.gathered): the 144 nodes from
    the rotating start all fit, so no node is checked one by one, and the attempt processes
    exactly those 144 (schedule_one.go: the start moves on by the nodes processed)."""
    sched = new_scheduler([zone_node(i) for i in range(300)])
    _warm(sched)
    full = sched.cache.offered_nodes()[299]
    sched.cache.place("default/hog", pod("hog", cpu=full.alloc_cpu - full.cpu), full.name, False)
    for info in sched.cache.offered_nodes():
        info.fit_for = None  # no node's own memo: a per-node pass would check each node
    runs = sched.cache.score_runs
    sched._next_start = 0
    gathered = runs.gathered
    with counting(fastfilter, "cheap_fit") as node_checks:
        feasible, chosen = attempt(sched, _spread_pod(1), place=False)
    assert chosen is not None and len(feasible) == 144 and full not in feasible
    assert (node_checks[0], runs.gathered - gathered, sched._next_start) == (0, 1, 144)


def test_subset_positions_and_runs() -> None:
    """Subset: the allowed zones' nodes in list order, twice over, with their layout positions
    (what the gathers read); ``run_of`` finds a run only of those very NodeInfo objects."""
    sched = new_scheduler([zone_node(i) for i in range(30)])
    layout = sched.cache.layout()
    assert layout.partition(LABEL_ZONE) is not None
    subset = layout.subset(LABEL_ZONE, frozenset(("a", "c")))
    assert subset is layout.subset(LABEL_ZONE, frozenset(("c", "a")))  # one object, reused
    assert isinstance(subset, Subset)
    assert [i.labels[LABEL_ZONE] for i in subset.nodes] == ["a", "c"] * 10
    assert subset.positions_twice[:4] == [0, 2, 3, 5]
    seq, begin, end = subset.rotated(4)
    assert (begin, end, seq[begin].name) == (3, 23, "node-5")
    assert subset.run_of(seq[begin : begin + 12]) == 3
    assert subset.run_of(layout.nodes[0:3]) is None  # node-1 (zone b) is not one of them
    assert subset.run_of([]) is None


# ---------------------------------------------------------------------------- property


def _random_node(rng: random.Random, i: int) -> Node:
    """Nodes of a few sizes; some full-ish, tainted, cordoned or without a zone."""
    labels = {LABEL_ZONE: rng.choice(ZONES)} if rng.random() < 0.95 else {}
    taints = (Taint("dedicated", "NoSchedule", "db"),) if rng.random() < 0.05 else ()
    return ready_node(
        f"node-{i}",
        cpu=rng.choice((1000, 4000, 4000)),
        memory=rng.choice((4 * 2**30, 16 * 2**30)),
        pods=rng.choice((4, 110, 110, 110)),
        labels=labels,
        taints=taints,
        unschedulable=rng.random() < 0.03,
    )


def _random_pod(rng: random.Random, n: int) -> Pod:
    """Mostly zone-spread pods of two apps and three request signatures; some plain pods."""
    app = rng.choice(("web", "api"))
    cpu = rng.choice((100, 100, 250, 900))
    if rng.random() < 0.8:
        return _spread_pod(n, cpu, app)
    return pod(f"plain-{n}", labels={"app": app}, cpu=cpu)


@pytest.mark.parametrize("seed", range(6))
def test_spread_runs_give_the_per_node_loops_feasible_nodes_and_scores(seed: int) -> None:
    """Property (schedule_one.go findNodesThatPassFilters, podtopologyspread/filtering.go,
    noderesources/resource_allocation.go): on seeded random clusters (node sizes, full nodes,
    taints, cordons, nodes without a zone) with pods placed, removed and nodes changed (zone
    labels too) between attempts, every attempt's feasible nodes and nodes processed equal the
    per-node loop's with fresh PreFilter state, and the resource scores read from the vectors
    equal each node's score worked out alone. The spread fast path must have been taken."""
    rng = random.Random(7000 + seed)
    count = 150
    sched = new_scheduler([_random_node(rng, i) for i in range(count)])
    runs = sched.cache.score_runs
    placed: list[str] = []
    for n in range(120):
        p = _random_pod(rng, n)
        view = PodView(f"default/{p.metadata.name}", p)
        view.cycle = sched.placement.prefilter(view)
        start = sched._next_start % len(sched.cache.offered_nodes())
        names, _, processed = full_verdicts(sched, view, start)
        view.cycle = sched.placement.prefilter(view)
        filtered = sched.nodes_filtered
        feasible, _, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
        assert ([i.name for i in feasible], sched.nodes_filtered - filtered) == (names, processed)
        if feasible:
            scores = node_scores(view, feasible, sched.cache)
            assert scores == [_resource_score(view, info) for info in feasible]
        assume_and_sometimes_forget(sched, rng, view, p, feasible, placed)
        if rng.random() < 0.15:
            sched.cache.node_changed(_random_node(rng, rng.randrange(count)))
    assert runs.gathered >= 40
