"""The scheduler's fixed per-attempt and per-event costs (issue 16), counted.

Upstream's scheduling cycle (pkg/scheduler/schedule_one.go schedulingCycle) runs every PreFilter
plugin for every attempt of every pod: PodTopologySpread parses the pod's constraints
(podtopologyspread/filtering.go calPreFilterState, common.go filterTopologySpreadConstraints)
and InterPodAffinity its terms (interpodaffinity/filtering.go PreFilter, framework.PodInfo's
parsed terms). What that parse reads of the pod (namespace, labels, controller, the spec's pod
(anti-)affinity and spread constraints) is the same for every pod of one ReplicaSet, so the model
parses once per template (kubechaos/control/scheduler/templates.py) and the result must be the
one a fresh parse gives: the seeded property test below compares them on what the plugins do
with them (Filter verdicts and Scores).

The pod informer's handlers (pkg/scheduler/eventhandlers.go addAllEventHandlers: an assigned
pod's events go to the cache, updatePodInCache; an unassigned pod of this scheduler's to the
queue, internal/queue/scheduling_queue.go Update/Delete) run for every pod event of the cluster,
most of them kubelet status updates of bound pods: those must cost one lookup, not the queue's
and the nominator's bookkeeping.

The Score phase (schedule_one.go prioritizeNodes) over a *run* of the node list (the Filter
phase from the rotating start rejected none of the nodes it processed, the common attempt) needs
no Python step per node for the system default spread's keys (kubechaos/control/scheduler/
spread.py) nor for the resource scores (scoreruns.py): counted below, and checked against the
per-node formulas on seeded random clusters.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import attrs
import pytest

from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    Pod,
    PodAffinityRules,
    PodAffinityTerm,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
    Taint,
    TopologySpreadConstraint,
    WeightedPodAffinityTerm,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.scheduler import fastfilter, plugins, scoring, spread
from kubechaos.control.scheduler import placement as placement_module
from kubechaos.control.scheduler.framework import PodView
from kubechaos.control.scheduler.placement import PodPlacement
from kubechaos.control.scheduler.templates import TemplateMemo
from kubechaos.defaults import LABEL_HOSTNAME, LABEL_ZONE, SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD

from .factories import pod, ready_node
from .test_cost_scheduler import (
    attempt,
    counting,
    new_scheduler,
    reference_spread_scores,
    zone_node,
    zone_spread,
)

RS_REF = OwnerReference("ReplicaSet", "web-5d8f7c9b6", "uid-web", True)


def _replica(name: str, spec_of: Pod, labels: dict[str, str] | None = None) -> Pod:
    """A pod of ``spec_of``'s template: its own name, the template's labels, owner and spec
    (the objects themselves, as a ReplicaSet controller builds each pod from its template)."""
    meta = spec_of.metadata
    return Pod(
        ObjectMeta(
            name=name,
            namespace=meta.namespace,
            labels=meta.labels if labels is None else labels,
            owner_references=meta.owner_references,
        ),
        spec_of.spec,
    )


def _template(labels: dict[str, str], **spec: Any) -> Pod:
    p = pod("template", labels=labels, **spec)
    return attrs.evolve(p, metadata=attrs.evolve(p.metadata, owner_references=(RS_REF,)))


# ---------------------------------------------------------------------------- PreFilter parse


def test_prefilter_parses_a_replicasets_pods_once() -> None:
    """schedule_one.go runs the PreFilter plugins per attempt; podtopologyspread/filtering.go
    and interpodaffinity/filtering.go parse the pod's constraints and terms each time. 40 pods
    of one template with a zone spread and an anti-affinity term are parsed once (the model's
    memo), and still spread as the constraint says (a maxSkew of 1 over 3 zones)."""
    sched = new_scheduler([zone_node(i) for i in range(9)])
    anti = PodAffinityRules(
        preferred=(
            WeightedPodAffinityTerm(
                10, PodAffinityTerm(LABEL_HOSTNAME, LabelSelector({"app": "web"}))
            ),
        )
    )
    template = _template(
        {"app": "web"}, topology_spread=(zone_spread("web"),), pod_anti_affinity=anti
    )
    zones: dict[str, int] = {}
    with counting(placement_module, "pod_constraints") as parses:
        for n in range(40):
            _, info = attempt(sched, _replica(f"web-{n}", template))
            assert info is not None
            zones[info.labels[LABEL_ZONE]] = zones.get(info.labels[LABEL_ZONE], 0) + 1
    assert parses[0] == 1
    assert sched.placement.placement_of.built == 1
    assert max(zones.values()) - min(zones.values()) <= 1


def test_pods_differing_in_what_prefilter_reads_are_parsed_apart() -> None:
    """Each input of the parse is part of the memo's key: another label value (matchLabelKeys,
    selfMatch), namespace, controller, or spread constraints equal in value but not the same
    objects (a miss, never a wrong hit) each get their own parse."""
    sched = new_scheduler([zone_node(i) for i in range(6)])
    base = _template({"app": "web", "track": "a"}, topology_spread=(zone_spread("web"),))
    variants = [
        base,
        _replica("same", base),  # a hit
        _replica("label", base, labels={"app": "web", "track": "b"}),
        attrs.evolve(base, metadata=attrs.evolve(base.metadata, namespace="other")),
        attrs.evolve(base, metadata=attrs.evolve(base.metadata, owner_references=())),
        attrs.evolve(base, spec=attrs.evolve(base.spec, topology_spread=(zone_spread("web"),))),
    ]
    for n, p in enumerate(variants):
        view = PodView(f"{p.metadata.namespace}/p{n}", p)
        sched.placement.prefilter(view)
    assert sched.placement.placement_of.built == len(variants) - 1


def test_the_template_memo_is_bounded() -> None:
    """A StatefulSet's pods each carry their own pod-name label: the memo does not grow
    without bound (kubechaos/defaults.py SCHEDULER_PLACEMENT_MEMO_SIZE)."""
    memo: TemplateMemo[PodPlacement] = TemplateMemo(PodPlacement, size=8)
    for n in range(50):
        memo(pod(f"db-{n}", labels={"statefulset.kubernetes.io/pod-name": f"db-{n}"}))
    assert len(memo._entries) <= 8
    assert memo.built == 50


def _random_template(rng: random.Random, specs: list[Pod]) -> Pod:
    """A pod drawn from a few templates, sometimes with another label value, namespace or no
    controller: the memo sees hits and near misses."""
    base = rng.choice(specs)
    labels = dict(base.metadata.labels)
    if rng.random() < 0.3:
        labels["track"] = rng.choice(("a", "b"))
    meta = attrs.evolve(
        base.metadata,
        labels=labels if rng.random() < 0.5 else base.metadata.labels,
        namespace=rng.choice(("default", "default", "other")),
        owner_references=base.metadata.owner_references if rng.random() < 0.8 else (),
    )
    return attrs.evolve(base, metadata=meta)


def _spread(app: str, key: str, when: str, skew: int, keys: tuple[str, ...] = ()) -> Any:
    return TopologySpreadConstraint(
        skew, key, when, LabelSelector({"app": app}), match_label_keys=keys
    )


@pytest.mark.parametrize("seed", range(5))
def test_memoised_prefilter_state_filters_and_scores_as_a_fresh_parse(seed: int) -> None:
    """Seeded property: on random clusters, for random pods of a few templates (spread
    constraints hard and soft, with matchLabelKeys; required and preferred (anti-)affinity;
    none, so the system default spread of their Service/ReplicaSet), the attempt state built
    from the memoised parse gives every node the same Filter verdict and the feasible nodes
    the same PodTopologySpread + InterPodAffinity scores as one built from a fresh parse."""
    rng = random.Random(seed)
    sched = new_scheduler([zone_node(i) for i in range(30)])
    anti = PodAffinityRules(
        required=(PodAffinityTerm(LABEL_HOSTNAME, LabelSelector({"app": "db"})),),
    )
    prefer = PodAffinityRules(
        preferred=(
            WeightedPodAffinityTerm(
                5, PodAffinityTerm(LABEL_ZONE, LabelSelector({"app": "web"}), (), None, ("track",))
            ),
        )
    )
    specs = [
        _template(
            {"app": "web"}, topology_spread=(_spread("web", LABEL_ZONE, "DoNotSchedule", 1),)
        ),
        _template(
            {"app": "web"},
            topology_spread=(
                _spread("web", LABEL_ZONE, "ScheduleAnyway", 2, ("track",)),
                _spread("web", LABEL_HOSTNAME, "DoNotSchedule", 3),
            ),
        ),
        _template({"app": "db"}, pod_anti_affinity=anti),
        _template({"app": "api"}, pod_affinity=prefer),
        _template({"app": "web"}),
    ]
    compared = 0
    for n in range(80):
        p = _random_template(rng, specs)
        p = attrs.evolve(p, metadata=attrs.evolve(p.metadata, name=f"p-{n}"))
        memo_view = PodView(f"{p.metadata.namespace}/p-{n}", p)
        fresh_view = PodView(memo_view.key, p)
        fresh_view.placement = PodPlacement(p)
        memo_cycle = sched.placement.prefilter(memo_view)
        fresh_cycle = sched.placement.prefilter(fresh_view)
        assert (memo_cycle is None) == (fresh_cycle is None)
        nodes = sched.cache.offered_nodes()
        if memo_cycle is not None and fresh_cycle is not None:
            assert [memo_cycle.filter(i) for i in nodes] == [fresh_cycle.filter(i) for i in nodes]
            feasible = [i for i in nodes if fresh_cycle.filter(i) is None]
            if feasible:
                assert memo_cycle.scores(feasible) == fresh_cycle.scores(feasible)
                compared += 1
        if rng.random() < 0.7:
            node = rng.choice(nodes)
            sched.cache.place(memo_view.key, p, node.name, assumed=False)
    assert compared > 20
    assert 0 < sched.placement.placement_of.built < 40  # the memo was hit


# ---------------------------------------------------------------------------- pod handlers


def _bound(p: Pod, node: str, phase: str = "Pending", **meta: Any) -> Pod:
    return attrs.evolve(
        p,
        metadata=attrs.evolve(p.metadata, **meta),
        spec=attrs.evolve(p.spec, node_name=node),
        status=PodStatus(phase=phase),
    )


def test_a_bound_pods_status_update_costs_one_lookup() -> None:
    """eventhandlers.go: an assigned pod's update goes to updatePodInCache, which swaps the
    cached pod; the scheduling queue (scheduling_queue.go) never held it. 100 status updates of
    a bound pod make no queue, nominator or pod-index call, and the cache holds the latest
    version (preemption reads its priority and status)."""
    sched = new_scheduler([zone_node(i) for i in range(3)])
    p = pod("web-0", labels={"app": "web"})
    bound = _bound(p, "node-0")
    sched._pod_changed(bound)  # seen bound: charged to its node
    placed = sched.cache.placement("default/web-0")
    assert placed is not None and placed.node == "node-0"
    old = bound
    with (
        counting(sched.queue, "delete") as deletes,
        counting(sched.preemption.nominator, "delete") as nominator_deletes,
        counting(sched.cache.index, "update") as index_updates,
        counting(sched, "_pod_changed") as full,
    ):
        for n in range(100):
            new = _bound(p, "node-0", phase="Running", resource_version=str(n))
            new = attrs.evolve(new, metadata=attrs.evolve(new.metadata, labels=old.metadata.labels))
            sched._pod_updated(old, new)
            old = new
    assert (deletes[0], nominator_deletes[0], index_updates[0], full[0]) == (0, 0, 0, 0)
    assert sched.cache.placement("default/web-0") is placed
    assert placed.pod is old


def test_bound_pod_updates_that_matter_take_the_full_handler() -> None:
    """What the fast path must not swallow (eventhandlers.go updatePodInCache then
    AssignedPodUpdated; cache.go UpdatePod/RemovePod): a label change re-counts the pod in
    the pod index (spread and affinity counts), a deletion timestamp marks it terminating
    (no longer counted), a finished pod leaves its node's requests."""
    sched = new_scheduler([zone_node(i) for i in range(3)])
    p = pod("web-0", labels={"app": "web"}, cpu=500)
    bound = _bound(p, "node-0", phase="Running")
    sched._pod_changed(bound)
    index = sched.cache.index

    relabelled = _bound(p, "node-0", phase="Running", labels={"app": "api"})
    sched._pod_updated(bound, relabelled)
    assert index._pods["default/web-0"].labels == {"app": "api"}

    deleting = _bound(
        p, "node-0", phase="Running", labels=relabelled.metadata.labels, deletion_timestamp=5.0
    )
    sched._pod_updated(relabelled, deleting)
    assert index._pods["default/web-0"].terminating

    node = sched.cache.offered_node("node-0")
    assert node is not None and node.cpu == 500
    done = _bound(p, "node-0", phase="Succeeded", labels=relabelled.metadata.labels)
    sched._pod_updated(deleting, done)
    assert sched.cache.placement("default/web-0") is None
    assert node.cpu == 0


# ---------------------------------------------------------------------------- spread Score keys


class _CountedGets(dict[str, int]):
    """A pod index's per-node counts that count their lookups."""

    gets = 0

    def get(self, key: str, default: Any = None) -> Any:
        _CountedGets.gets += 1
        return super().get(key, default)


def _web_service(sched: Any) -> None:
    """A Service selecting app=web: its pods get the system default spread constraints
    (helper.DefaultSelector, pkg/scheduler/framework/plugins/helper/spread.go)."""
    service = Service(
        ObjectMeta(name="web", namespace="default"),
        ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80, 8080),)),
    )
    sched.placement._service_added(service)


def test_system_default_spread_keys_need_no_lookup_per_feasible_node() -> None:
    """podtopologyspread/scoring.go Score (system default constraints: hostname maxSkew 3,
    zone maxSkew 5): a node's score is a function of (its matching pods, its zone). When the
    Filter phase rejected none of the nodes it processed (schedule_one.go
    findNodesThatPassFilters from the rotating start: a run of the node list), the zones are
    one slice and only the 20 nodes holding matching pods are looked at, not the 144 feasible
    ones (numFeasibleNodesToFind at 300 nodes); the scores are the per-node formula's."""
    sched = new_scheduler([zone_node(i) for i in range(300)])
    _web_service(sched)
    index = sched.placement.index
    key = (frozenset(("default",)), (("app", "web"),), (), True)
    index.counts(key)  # registered (as the first attempt of the Service's pods would)
    for n in range(20):
        sched.cache.place(
            f"default/w-{n}", pod(f"w-{n}", labels={"app": "web"}), f"node-{n * 7}", False
        )
    counted = index._selectors[key]
    counted.nodes = _CountedGets(counted.nodes)
    _CountedGets.gets = 0
    p = pod("web-new", labels={"app": "web"})
    view = PodView("default/web-new", p)
    view.cycle = sched.placement.prefilter(view)
    feasible, _, _ = sched.find_nodes_that_fit(view, sched.cache.offered_nodes())
    assert len(feasible) == 144
    assert view.cycle is not None
    scores = view.cycle.scores(feasible)
    assert _CountedGets.gets == 0
    constraints = sched.placement.default_constraints(p, view.placement)
    expected = reference_spread_scores(list(constraints), feasible, index)
    assert scores == [SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD * s for s in expected]


@pytest.mark.parametrize("seed", range(6))
def test_spread_keys_of_a_run_equal_the_per_node_keys(seed: int) -> None:
    """Seeded property: on random clusters (nodes added, removed and relabelled to another
    zone; matching pods placed and removed), for runs of the node list from random starts,
    wrapped or not, and for lists that are not runs (a node rejected, or out of order), the
    keys and scores given the layout equal the per-node ones."""
    rng = random.Random(seed)
    sched = new_scheduler([zone_node(i) for i in range(60)])
    _web_service(sched)
    p = pod("web-new", labels={"app": "web"})
    placed: list[str] = []
    checked = 0
    for step in range(60):
        roll = rng.random()
        if roll < 0.5:
            name = f"w-{step}"
            node = rng.choice(sched.cache.offered_nodes()).name
            sched.cache.place(f"default/{name}", pod(name, labels={"app": "web"}), node, False)
            placed.append(f"default/{name}")
        elif roll < 0.65 and placed:
            key = placed.pop(rng.randrange(len(placed)))
            entry = sched.cache.placement(key)
            assert entry is not None
            sched.cache.unplace(key, entry)
        elif roll < 0.8:
            i = rng.randrange(70)
            sched.cache.node_changed(
                ready_node(f"node-{i}", labels={LABEL_ZONE: rng.choice(("a", "b", "c", "d"))})
            )
        view = PodView("default/web-new", p)
        cycle = sched.placement.prefilter(view)
        assert cycle is not None
        layout = sched.cache.layout()
        nodes = layout.nodes
        start, size = rng.randrange(len(nodes)), rng.randrange(2, len(nodes) + 1)
        run = layout.twice[start : start + size]
        if rng.random() < 0.3:
            run.pop(rng.randrange(1, len(run) - 1)) if len(run) > 2 else run.reverse()
        constraints = list(sched.placement.default_constraints(p, view.placement))
        counting_state = spread._Counting(
            p, constraints, sched.placement.index, sched.placement.node, False, True
        )
        args = (constraints, counting_state, run, sched.placement.index)
        assert spread._node_keys(*args, layout) == spread._node_keys(*args)
        with_layout = spread.spread_scores(
            p, constraints, True, run, sched.placement.index, sched.placement.node, 2, layout
        )
        plain = spread.spread_scores(
            p, constraints, True, run, sched.placement.index, sched.placement.node, 2
        )
        assert with_layout == plain
        checked += 1
    assert checked == 60


# ---------------------------------------------------------------------------- resource score runs


def test_an_attempt_over_a_run_rescores_only_the_nodes_that_changed() -> None:
    """noderesources/least_allocated.go and balanced_allocation.go score a node from its
    requested totals, its allocatable and the pod's requests; schedule_one.go prioritizeNodes
    scores every feasible node. Pods of one Deployment scheduled one after the other over a
    run of the node list (no node rejected) re-score only the node the previous pod was
    assumed on (cache.go AssumePod), and read no per-node memo: after the signature's
    vectors (its scores, its node-local Filter verdicts) are built, each attempt works out
    1 node again in each, and runs no per-node scoring pass and no per-node filter call."""
    sched = new_scheduler([zone_node(i) for i in range(300)])
    runs = sched.cache.score_runs
    for n in range(3):  # the vectors are built on the signature's third attempt
        attempt(sched, pod(f"web-{n}"))
    assert runs.built == 2
    with (
        counting(scoring, "resource_scores") as per_node_passes,
        counting(fastfilter, "cheap_fit") as per_node_filters,
    ):
        for n in range(3, 23):
            before = runs.rescored
            feasible, chosen = attempt(sched, pod(f"web-{n}"))
            assert chosen is not None and len(feasible) == 144
            assert runs.rescored - before <= 2
    assert (per_node_passes[0], per_node_filters[0]) == (0, 0)
    assert runs.built == 2


def _fresh_scores(view: PodView, feasible: list[Any]) -> list[int]:
    return [scoring._resource_score(view, info) for info in feasible]


@pytest.mark.parametrize("seed", range(6))
def test_resource_score_vectors_equal_the_per_node_formula(seed: int) -> None:
    """Seeded property: over random clusters that change between attempts (pods of several
    request signatures assumed and removed, nodes resized, added and removed, a journal
    long enough to drop the vectors), the resource scores of runs of the node list (wrapped
    or not) and of lists that are not runs equal LeastAllocated + BalancedAllocation worked out
    afresh on every node."""
    rng = random.Random(seed)
    sched = new_scheduler([zone_node(i) for i in range(40)])
    cache = sched.cache
    shapes = [(100, 64), (250, 128), (500, 512), (0, 0)]
    placed: list[str] = []
    for step in range(150):
        roll = rng.random()
        if roll < 0.45:
            cpu, mem = rng.choice(shapes)
            name = f"p-{step}"
            node = rng.choice(cache.offered_nodes()).name
            cache.place(f"default/{name}", pod(name, cpu=cpu, memory=mem * 2**20), node, False)
            placed.append(f"default/{name}")
        elif roll < 0.6 and placed:
            key = placed.pop(rng.randrange(len(placed)))
            entry = cache.placement(key)
            assert entry is not None
            cache.unplace(key, entry)
        elif roll < 0.7:
            i = rng.randrange(45)
            cache.node_changed(zone_node(i, cpu=rng.choice((2000, 4000, 8000))))
        elif roll < 0.72:
            victim = rng.choice(cache.offered_nodes())
            assert victim.node is not None
            cache.node_deleted(victim.node)
        elif roll < 0.75:
            for _ in range(60):  # a burst of node updates: longer than the node list
                cache.node_changed(zone_node(rng.randrange(40)))
        cpu, mem = rng.choice(shapes)
        view = PodView("default/new", pod("new", cpu=cpu, memory=mem * 2**20))
        layout = cache.layout()
        start = rng.randrange(len(layout.nodes))
        run = layout.twice[start : start + rng.randrange(2, len(layout.nodes) + 1)]
        if rng.random() < 0.2 and len(run) > 2:
            run.pop(rng.randrange(1, len(run) - 1))
        assert scoring.node_scores(view, run, cache) == _fresh_scores(view, run)
    assert cache.score_runs.built > 3


@pytest.mark.parametrize("seed", range(4))
def test_filter_verdict_vectors_equal_the_node_local_filters(seed: int) -> None:
    """Seeded property: the node-local Filter verdict kept per position for a simple pod's
    requests (NodeUnschedulable, TaintToleration with no tolerated taint, NodeResourcesFit:
    noderesources/fit.go fitsRequest, pod count included) equals the one worked out afresh
    on each node, over random clusters whose nodes get tainted, cordoned, resized and filled
    between the checks; and the attempt's feasible nodes are the per-node loop's."""
    rng = random.Random(seed)
    sched = new_scheduler([zone_node(i) for i in range(40)])
    cache = sched.cache
    for step in range(120):
        roll = rng.random()
        if roll < 0.5:
            node = rng.choice(cache.offered_nodes()).name
            cpu = rng.choice((100, 900, 1500))
            cache.place(f"default/p-{step}", pod(f"p-{step}", cpu=cpu), node, False)
        elif roll < 0.7:
            cache.node_changed(
                zone_node(
                    rng.randrange(40),
                    cpu=rng.choice((1000, 4000)),
                    pods=rng.choice((3, 110)),
                    unschedulable=rng.random() < 0.2,
                    taints=(Taint("dedicated", "NoSchedule"),) if rng.random() < 0.2 else (),
                )
            )
        view = PodView("default/new", pod("new", cpu=rng.choice((100, 900))))
        requests = cache.signatures.setdefault(view.requests, view.requests)
        layout = cache.layout()
        fit = partial(fastfilter.fits, cpu=view.cpu, memory=view.memory)
        known = None
        for _ in range(3):  # built on the third use
            known = cache.score_runs.fits(requests, layout, fit)
        assert known is not None
        fresh = [
            fastfilter.cheap_fit(info, view.cpu, view.memory, requests) for info in layout.twice
        ]
        assert known == fresh
        start = sched._next_start % len(layout.nodes)
        expected = [
            info.name
            for info in layout.twice[start : start + len(layout.nodes)]
            if plugins.filter_node(view, info) is None
        ]
        feasible, _, _ = sched.find_nodes_that_fit(view, cache.offered_nodes())
        assert [info.name for info in feasible] == expected  # 40 nodes: all are wanted
