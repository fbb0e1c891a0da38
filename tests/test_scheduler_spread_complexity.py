"""PodTopologySpread's PreFilter state from incrementally kept per-domain counts.

Upstream's PreFilter (pkg/scheduler/framework/plugins/podtopologyspread/filtering.go,
calPreFilterState) counts, per constraint, the matching pods in each topology domain by walking
the snapshot's node infos; the snapshot itself is updated incrementally by generation
(pkg/scheduler/backend/cache/cache.go UpdateSnapshot). The model keeps those per-domain counts up
to date per pod and node event (:mod:`kubechaos.control.scheduler.podindex`), so an attempt whose
nodes are not restricted by a policy builds its state in O(constraints x domains): the work must
not grow with the pods or nodes of the cluster. Work is counted (node lookups, index visits),
never timed. The counts themselves must equal what a full walk computes, through placements,
removals, terminating pods and node label changes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import attrs

from kubechaos.api.objects import Node, Pod, TopologySpreadConstraint
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.scheduler.cache import SchedulerCache
from kubechaos.control.scheduler.framework import NodeInfo
from kubechaos.control.scheduler.podindex import PodIndex
from kubechaos.control.scheduler.spread import SpreadFilter, pod_constraints

from .factories import pod, ready_node

ZONE = "topology.kubernetes.io/zone"
ZONES = ("a", "b", "c")


def _web(name: str, key: str = ZONE, **kwargs: object) -> Pod:
    constraint = TopologySpreadConstraint(
        max_skew=1,
        topology_key=key,
        when_unsatisfiable="DoNotSchedule",
        label_selector=LabelSelector({"app": "web"}),
    )
    return pod(name, labels={"app": "web"}, topology_spread=(constraint,), **kwargs)


class _Cluster:
    """A scheduler cache (and its pod index) over ``nodes`` nodes spread over three zones."""

    def __init__(self, nodes: int) -> None:
        self.index = PodIndex()
        self.cache = SchedulerCache(on_node_event=lambda _name: None, index=self.index)
        self.lookups = 0
        for i in range(nodes):
            self.cache.node_changed(_zoned(f"n-{i:04}", ZONES[i % 3]))

    def node(self, name: str) -> NodeInfo | None:
        self.lookups += 1
        return self.cache.offered_node(name)

    def place(self, count: int, start: int = 0) -> None:
        nodes = self.cache.offered_nodes()
        for i in range(start, start + count):
            web = _web(f"web-{i}")
            self.cache.place(f"default/web-{i}", web, nodes[i % len(nodes)].name, assumed=False)

    def prefilter(self, incoming: Pod) -> SpreadFilter:
        hard, _ = pod_constraints(incoming)
        return SpreadFilter(incoming, hard, self.index, self.node, self.cache.offered_nodes)


def _zoned(name: str, zone: str) -> Node:
    return ready_node(name, labels={ZONE: zone})


def _walked(cluster: _Cluster, incoming: Pod) -> list[dict[str, int]]:
    """What calPreFilterState sums: matching pods per domain over every offered node."""
    hard, _ = pod_constraints(incoming)
    out = []
    for c in hard:
        domains: dict[str, int] = {}
        for info in cluster.cache.offered_nodes():
            for placed in cluster.cache.node_pods(info.name).values():
                p = placed.pod
                if p.metadata.deletion_timestamp is None and p.metadata.labels.get("app") == "web":
                    value = info.labels[c.topology_key]
                    domains[value] = domains.get(value, 0) + 1
        out.append(domains)
    return out


def test_an_attempts_spread_state_costs_no_node_walk_at_any_size() -> None:
    """Zone spread over 3 zones: once the per-domain counts exist, a PreFilter looks up no node
    and the index visits nothing, at 90 nodes / 900 pods as at 900 nodes / 9,000 pods."""
    work = []
    for nodes in (90, 900):
        cluster = _Cluster(nodes)
        cluster.place(nodes * 10)
        cluster.prefilter(_web("first"))  # registers the selector and its zone counts once
        visited, domain_visits = cluster.index.visited, cluster.index.domain_visits
        cluster.lookups = 0
        for i in range(50):
            state = cluster.prefilter(_web(f"next-{i}"))
            cluster.place(1, start=nodes * 10 + i)
            assert state.domain_counts[0].keys() == set(ZONES)
        work.append(
            (
                cluster.lookups,
                cluster.index.visited - visited,
                cluster.index.domain_visits - domain_visits,
            )
        )
    assert work == [(0, 0, 0), (0, 0, 0)]


def test_registration_walks_the_nodes_holding_matching_pods_once() -> None:
    """The first attempt of a selector walks the nodes holding its pods (as upstream's PreFilter
    walks the nodes each time); later attempts and other pods of the same selector reuse it."""
    cluster = _Cluster(30)
    cluster.place(300)
    for i in range(5):
        cluster.prefilter(_web(f"x-{i}"))
    assert cluster.index.domain_visits == 30


def test_incremental_domain_counts_equal_a_full_walk_through_events() -> None:
    """Placements, removals, pods turning terminating, a node moving zone, a node removed and
    re-added: after each, the PreFilter's per-domain counts and minimum equal a full walk's
    (filtering.go: terminating pods do not count; the minimum over the eligible domains)."""
    rng = random.Random(7)
    cluster = _Cluster(12)
    incoming = _web("incoming")
    cluster.prefilter(incoming)
    placed: list[str] = []
    for step in range(400):
        action = rng.random()
        nodes = cluster.cache.offered_nodes()
        if action < 0.5 or not placed:
            key = f"default/w-{step}"
            cluster.cache.place(key, _web(f"w-{step}"), rng.choice(nodes).name, assumed=False)
            placed.append(key)
        elif action < 0.7:
            key = placed.pop(rng.randrange(len(placed)))
            where = cluster.cache.placement(key)
            assert where is not None
            cluster.cache.unplace(key, where)
        elif action < 0.8:
            key = rng.choice(placed)
            where = cluster.cache.placement(key)
            assert where is not None
            meta = attrs.evolve(where.pod.metadata, deletion_timestamp=1.0)
            cluster.cache.confirm(key, where, attrs.evolve(where.pod, metadata=meta))
        elif action < 0.9:
            info = rng.choice(nodes)
            cluster.cache.node_changed(_zoned(info.name, rng.choice(ZONES)))
        elif len(nodes) > 3:
            info = rng.choice(nodes)
            node = info.node
            assert node is not None
            cluster.cache.node_deleted(node)
            if rng.random() < 0.5:
                cluster.cache.node_changed(_zoned(info.name, rng.choice(ZONES)))
        state = cluster.prefilter(incoming)
        expected = _walked(cluster, incoming)
        assert [dict(d) for d in state.domain_counts] == expected, step
        assert state.min_match[0] == _expected_min(expected[0], cluster.cache.offered_nodes())


def _expected_min(counts: Mapping[str, int], nodes: list[NodeInfo]) -> int:
    domains = {info.labels[ZONE] for info in nodes}
    return min(counts.get(d, 0) for d in domains)


def test_a_policy_restricting_the_nodes_still_walks_them() -> None:
    """nodeAffinityPolicy Honor with a nodeSelector: only nodes matching it count (common.go),
    so the state comes from the node walk, not from the cluster-wide per-domain counts."""
    cluster = _Cluster(9)
    cluster.place(9)
    picky = _web("picky", node_selector={ZONE: "a"})
    state = cluster.prefilter(picky)
    assert dict(state.domain_counts[0]) == {"a": 3}
    assert cluster.lookups == 9
