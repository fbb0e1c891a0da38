"""The scheduler's per-attempt work (issue 16), counted, and its fast paths against the full path.

A scheduling attempt filters from a rotating start until ``numFeasibleNodesToFind`` nodes fit
(420 at 1,000 nodes, 500 at 5,000) and scores each of them, so whatever runs per node runs
hundreds of times per pod. These tests count that per-node work deterministically and fail if a
skipped or memoised piece comes back per node; the property tests check, on seeded random
cluster states, that the fast paths give exactly what the full per-node verdicts and scores give
(the golden recordings check the same on whole scenarios). ``benchmarks/scheduler.py`` times it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kubechaos.api.objects import Node, Pod, Taint, TopologySpreadConstraint
from kubechaos.api.selectors import LabelSelector, Requirement
from kubechaos.control.bootstrap import new_control_plane
from kubechaos.control.scheduler import Scheduler, plugins, podindex, scheduler, spread
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.plugins import filter_node
from kubechaos.control.scheduler.scheduler import num_feasible_nodes_to_find
from kubechaos.control.scheduler.scoring import node_scores, resource_scores
from kubechaos.control.scheduler.spread import Constraint, spread_scores
from kubechaos.defaults import (
    LABEL_HOSTNAME,
    LABEL_ZONE,
    SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS,
    SCHEDULER_MAX_NODE_SCORE,
)

from .factories import pod, ready_node

ZONES = ("a", "b", "c")


@contextmanager
def counting(owner: Any, name: str) -> Iterator[list[int]]:
    """Count the calls of ``owner.name`` (a function or method) while the block runs."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


def zone_node(i: int, **kwargs: Any) -> Node:
    return ready_node(f"node-{i}", labels={LABEL_ZONE: ZONES[i % 3]}, **kwargs)


def new_scheduler(nodes: list[Node]) -> Scheduler:
    """A Scheduler that is not running: its cache is fed directly, attempts are run by hand."""
    _, ctx = new_control_plane(1)
    sched = Scheduler(ctx)
    for node in nodes:
        sched.cache.node_changed(node)
    return sched


def zone_spread(app: str, when: str = "DoNotSchedule") -> TopologySpreadConstraint:
    return TopologySpreadConstraint(1, LABEL_ZONE, when, LabelSelector({"app": app}))


def attempt(sched: Scheduler, p: Pod, place: bool = True) -> tuple[list[NodeInfo], NodeInfo | None]:
    """PreFilter, Filter, Score and assume, as Scheduler._schedule_one runs them (no binding)."""
    view = PodView(f"default/{p.metadata.name}", p)
    view.cycle = sched.placement.prefilter(view)
    feasible, _, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
    if not feasible:
        return feasible, None
    info = sched.select_host(view, feasible)
    if place:
        sched.cache.place(view.key, p, info.name, assumed=True)
    return feasible, info


# ---------------------------------------------------------------------------- counted work


def test_a_pod_without_constraints_runs_no_pod_constraint_or_taint_work_per_node() -> None:
    """framework.go (pkg/scheduler/framework/runtime) RunPreFilterPlugins/RunPreScorePlugins:
    a plugin whose PreFilter or PreScore returns Skip is not run per node. PodTopologySpread
    skips with no constraints (podtopologyspread/filtering.go PreFilter, scoring.go PreScore:
    no own constraints and an empty DefaultSelector, here no owner and no Service),
    InterPodAffinity with no terms of its own and no placed pod holding any
    (interpodaffinity/filtering.go, scoring.go). On untainted, schedulable nodes with room the
    node-local filters are settled by the cheap checks: filter_node (TaintToleration's
    per-taint loop, NodeAffinity) never runs, nor does any spread or affinity code."""
    sched = new_scheduler([zone_node(i) for i in range(30)])
    with (
        counting(scheduler, "filter_node") as full,
        counting(spread.SpreadFilter, "__init__") as spread_filters,
        counting(spread, "spread_scores") as spread_scored,
        counting(plugins, "tolerated") as toleration_checks,
    ):
        for n in range(20):
            feasible, chosen = attempt(sched, pod(f"plain-{n}"))
            assert chosen is not None and len(feasible) == 30
    assert (full[0], spread_filters[0], spread_scored[0], toleration_checks[0]) == (0, 0, 0, 0)


def test_zone_spread_filter_works_out_each_zone_once_per_attempt() -> None:
    """podtopologyspread/filtering.go Filter: a node's verdict is ``TpValueToMatchNum[value] +
    selfMatch - minMatch > maxSkew`` on its topology value alone, so with one constraint the
    model works it out once per zone per attempt (3 here), not once per node (60)."""
    sched = new_scheduler([zone_node(i) for i in range(60)])
    for n in range(5):  # zone a and b get pods: c is the minimum, a and b are over the skew
        sched.cache.place(
            f"default/old-{n}", pod(f"old-{n}", labels={"app": "web"}), f"node-{n % 2}", False
        )
    p = pod("web-new", labels={"app": "web"}, topology_spread=(zone_spread("web"),))
    with counting(spread.SpreadFilter, "_reject") as verdicts:
        feasible, chosen = attempt(sched, p)
    assert chosen is not None
    assert {info.labels[LABEL_ZONE] for info in feasible} == {"c"}
    assert sched.nodes_filtered == 60
    assert verdicts[0] == 3


def test_system_default_spread_scores_once_per_distinct_count_not_per_node() -> None:
    """podtopologyspread/scoring.go Score: ``sum(count x weight + maxSkew - 1)`` over the
    constraints, rounded, where the count is the node's own for the hostname key and its
    zone's otherwise: a node's raw score is a function of those counts, so it is worked out
    once per distinct tuple of counts (3 zones x {0, 1, 2} pods on the node at most) and the
    result is the per-node formula's (checked against it here)."""
    sched = new_scheduler([zone_node(i) for i in range(90)])
    rng = random.Random(7)
    for n in range(40):
        node = f"node-{rng.randrange(90)}"
        sched.cache.place(f"default/w-{n}", pod(f"w-{n}", labels={"app": "web"}), node, False)
    p = pod("web-new", labels={"app": "web"})
    parts = ((("app", "web"),), ())
    constraints = [
        Constraint(p, k, skew, parts) for k, skew in SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS
    ]
    feasible = sched.cache.offered_nodes()
    index, node_of = sched.placement.index, sched.placement.node
    with counting(spread, "_raw_score") as worked_out:
        scores = spread_scores(p, constraints, True, feasible, index, node_of)
    per_node = {
        (info.labels[LABEL_ZONE], index.counts(_key()).get(info.name, 0)) for info in feasible
    }
    assert worked_out[0] == len(per_node) < len(feasible) / 5
    assert scores == reference_spread_scores(constraints, feasible, index)


def test_a_node_that_did_not_change_reuses_its_fit_and_resource_score() -> None:
    """noderesources/fit.go, least_allocated.go, balanced_allocation.go: the node-local filter
    verdict and the resource scores are functions of the pod's requests and of the node's
    requested and allocatable resources, which upstream's NodeInfo versions by Generation
    (pkg/scheduler/framework/types.go). The model keeps the last verdict and score per node
    for the last request signature, reset whenever the node or its pods change: a node
    nothing happened to is not worked out again for the next pod of the same requests (here
    its stored values are planted to prove they are what is read), and one that changed is."""
    sched = new_scheduler([zone_node(i) for i in range(10)])
    attempt(sched, pod("first"), place=False)
    untouched = sched.cache.offered_node("node-3")
    assert untouched is not None and untouched.scored_for is not None
    untouched.resource_score = 10_000  # planted: reused only if the memo is read
    _, chosen = attempt(sched, pod("second"))
    assert chosen is untouched
    # the assume reset its memos: the next pod sees the real score again
    assert untouched.scored_for is None and untouched.fit_for is None
    view = PodView("default/third", pod("third"))
    assert node_scores(view, [untouched], sched.cache) == resource_scores(view, [untouched])
    # a node whose memo says "fits" is not re-checked; a node event clears it
    full = sched.cache.offered_node("node-4")
    assert full is not None and full.fit_for is not None
    sched.cache.node_changed(zone_node(4, cpu=50))
    assert full.fit_for is None
    feasible, _ = attempt(sched, pod("fourth"), place=False)
    assert full not in feasible
    planted = sched.cache.offered_node("node-5")
    assert planted is not None and planted.fit_for is not None
    planted.cpu = planted.alloc_cpu  # behind the cache's back: only the memo says it fits
    feasible, _ = attempt(sched, pod("fifth"), place=False)
    assert planted in feasible


def test_a_default_spread_selector_is_filed_under_its_label_pair() -> None:
    """helper.DefaultSelector (pkg/scheduler/framework/plugins/helper/spread.go) turns the
    ReplicaSet's matchLabels into ``key In (value)`` requirements: the pod index files such a
    selector under that pair like a matchLabels one, so placing a pod evaluates only the
    selectors of its own ReplicaSet, not one per ReplicaSet of the namespace."""
    index = podindex.PodIndex()
    namespace = frozenset(("default",))
    for n in range(50):
        exprs = (
            Requirement("app", "In", (f"app-{n}",)),
            Requirement("pod-template-hash", "In", ("h",)),
        )
        index.counts((namespace, (), exprs, True))
    with counting(podindex.Counted, "matches") as evaluated:
        for n in range(10):
            labels = {"app": f"app-{n}", "pod-template-hash": "h"}
            index.add(f"default/p-{n}", pod(f"p-{n}", labels=labels), "node-0")
    assert evaluated[0] == 10


# ---------------------------------------------------------------------------- agreement


def _key() -> podindex.SelectorKey:
    return (frozenset(("default",)), (("app", "web"),), (), True)


def reference_spread_scores(
    constraints: list[Constraint], feasible: list[NodeInfo], index: podindex.PodIndex
) -> list[int]:
    """scoring.go Score and NormalizeScore per node, for the system default constraints."""
    counts = index.counts(_key())
    zones: dict[str, int] = {}
    for info in feasible:
        zone = info.labels.get(LABEL_ZONE, "")
        zones[zone] = zones.get(zone, 0) + counts.get(info.name, 0)
    weights = [
        math.log((len(feasible) if c.topology_key == LABEL_HOSTNAME else len(zones)) + 2)
        for c in constraints
    ]
    raw = []
    for info in feasible:
        score = 0.0
        for i, c in enumerate(constraints):
            value = info.labels.get(c.topology_key)
            if value is None:
                continue
            count = counts.get(info.name, 0) if c.topology_key == LABEL_HOSTNAME else zones[value]
            score += count * weights[i] + (c.max_skew - 1)
        raw.append(math.floor(score + 0.5))
    low, high = min(raw), max(raw)
    if high == 0:
        return [SCHEDULER_MAX_NODE_SCORE] * len(raw)
    return [SCHEDULER_MAX_NODE_SCORE * (high + low - s) // high for s in raw]


def random_node(rng: random.Random, i: int) -> Node:
    taints = (Taint("dedicated", "NoSchedule", "db"),) if rng.random() < 0.15 else ()
    labels = {"disk": "ssd"} if rng.random() < 0.5 else {}
    if rng.random() < 0.9:
        labels[LABEL_ZONE] = rng.choice(ZONES)
    return ready_node(
        f"node-{i}",
        cpu=rng.choice((500, 1000, 4000)),
        memory=rng.choice((2**30, 4 * 2**30)),
        pods=rng.choice((3, 10, 110)),
        labels=labels,
        taints=taints,
        unschedulable=rng.random() < 0.05,
        ready=rng.choice(("True",) * 9 + ("False",)),
    )


def random_pod(rng: random.Random, n: int) -> Pod:
    app = rng.choice(("web", "api"))
    kwargs: dict[str, Any] = {
        "cpu": rng.choice((100, 300)),
        "memory": rng.choice((64, 512)) * 2**20,
    }
    if rng.random() < 0.2:
        kwargs["node_selector"] = {"disk": "ssd"}
    if rng.random() < 0.4:
        kwargs["topology_spread"] = (
            zone_spread(app, rng.choice(("DoNotSchedule", "ScheduleAnyway"))),
        )
    return pod(f"p-{n}", labels={"app": app}, **kwargs)


def assume_and_sometimes_forget(
    sched: Scheduler,
    rng: random.Random,
    view: PodView,
    p: Pod,
    feasible: list[NodeInfo],
    placed: list[str],
) -> None:
    """A seeded property test's step after an attempt: the pod assumed on the node select_host
    picks (if any node fits), then, three times in ten, a random assumed pod forgotten again."""
    if feasible:
        info = sched.select_host(view, feasible)
        sched.cache.place(view.key, p, info.name, assumed=True)
        placed.append(view.key)
    if placed and rng.random() < 0.3:
        key = placed.pop(rng.randrange(len(placed)))
        entry = sched.cache.placement(key)
        assert entry is not None
        sched.cache.unplace(key, entry)


def full_verdicts(sched: Scheduler, view: PodView, start: int) -> tuple[list[str], list[Any], int]:
    """findNodesThatFitPod the slow way: every node through filter_node with a fresh PreFilter
    state (no memo of any kind), from the same rotating start, to the same count."""
    nodes = sched.cache.offered_nodes()
    wanted = num_feasible_nodes_to_find(sched.settings.percentage_of_nodes_to_score, len(nodes))
    feasible: list[str] = []
    rejections: list[Any] = []
    processed = 0
    for info in itertools.chain(nodes[start:], nodes[:start]):
        processed += 1
        view.cycle = sched.placement.prefilter(view)
        saved = info.fit_for
        rejection = filter_node(view, info)
        assert info.fit_for is saved  # the full path neither reads nor writes the memo
        if rejection is None:
            feasible.append(info.name)
            if len(feasible) >= wanted:
                break
        else:
            rejections.append(rejection)
    return feasible, rejections, processed


@pytest.mark.parametrize("seed", range(6))
def test_fast_filter_and_memoised_scores_agree_with_the_full_path(seed: int) -> None:
    """The cheap checks, the per-node memos (fit_for, scored_for) and the per-zone spread
    verdicts give the same feasible nodes, rejections (with their wording), rotating start and
    scores as filter_node and the scoring formulas run afresh on every node, over attempts
    that change the cluster between them (assumes, pods leaving, nodes changing)."""
    rng = random.Random(seed)
    sched = new_scheduler([random_node(rng, i) for i in range(150)])
    placed: list[str] = []
    for n in range(60):
        p = random_pod(rng, n)
        view = PodView(f"default/{p.metadata.name}", p)
        view.cycle = sched.placement.prefilter(view)
        start = sched._next_start % len(sched.cache.offered_nodes())
        expected = full_verdicts(sched, view, start)
        view.cycle = sched.placement.prefilter(view)
        filtered = sched.nodes_filtered
        feasible, rejections, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
        # rejections are only read (and the fast path only words them) when no node fits
        names, expected_rejections, processed = expected
        expected = (names, expected_rejections if not names else None, processed)
        got = rejections if not feasible else None
        assert ([i.name for i in feasible], got, sched.nodes_filtered - filtered) == expected
        if feasible:
            fresh = [resource_scores(view, [info])[0] for info in feasible]
            first = node_scores(view, feasible, sched.cache)
            assert node_scores(view, feasible, sched.cache) == first  # memo hits
            if not sched.cache.soft_tainted_nodes and not view.preferred:
                assert first == fresh
        assume_and_sometimes_forget(sched, rng, view, p, feasible, placed)
        if rng.random() < 0.3:
            sched.cache.node_changed(random_node(rng, rng.randrange(150)))


def test_scores_unchanged_by_memo_on_the_benchmark_shape() -> None:
    """The memoised resource scores equal the formula's on every node after a run of
    attempts (least_allocated.go, balanced_allocation.go)."""
    sched = new_scheduler([zone_node(i) for i in range(40)])
    for n in range(100):
        attempt(sched, pod(f"w-{n}", labels={"app": "web"}, cpu=150 + 50 * (n % 3)))
    view = PodView("default/x", pod("x", cpu=200))
    nodes = sched.cache.offered_nodes()
    requests = sched.cache.signatures.setdefault(view.requests, view.requests)
    assert resource_scores(view, nodes, requests) == resource_scores(view, nodes)
    assert resource_scores(view, nodes, requests) == resource_scores(view, nodes, requests)
