"""Zone disruption in the node lifecycle controller, end to end against upstream v1.32:
pkg/controller/nodelifecycle/node_lifecycle_controller.go (monitorNodeHealth,
processTaintBaseEviction, handleDisruption, ComputeZoneState, setLimiterInZone, ReducedQPSFunc,
HealthyQPSFunc), pkg/controller/nodelifecycle/scheduler/rate_limited_queue.go (the per-zone
tainting queues), pkg/controller/nodelifecycle/metrics.go and the kube-controller-manager flags
in cmd/kube-controller-manager/app/options/nodelifecyclecontroller.go. Before these, every
failing node was tainted the moment it went NotReady, whatever else was failing."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from kubechaos.api.objects import Node, Taint
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.controllers.nodezones import (
    FULL_DISRUPTION,
    NORMAL,
    PARTIAL_DISRUPTION,
    ZoneTainter,
    compute_zone_state,
    zone_key,
)
from kubechaos.defaults import TAINT_UNREACHABLE, Settings
from kubechaos.faults import Chaos, KubeletStop, NodeCrash, Target
from kubechaos.observe.metrics.components import node_collector_families
from kubechaos.scenario.check import Check
from kubechaos.scenario.clusterspec import read_cluster
from kubechaos.scenario.limits import Limits

from .factories import deployment, node
from .harness import pods, ready_pods, wait_until

ZONE_A = {"topology.kubernetes.io/zone": "zone-a"}
ZONE_B = {"topology.kubernetes.io/zone": "zone-b"}


@asynccontextmanager
async def zoned(
    *groups: NodeGroupSpec, settings: Settings | None = None, seed: int = 1
) -> AsyncIterator[Cluster]:
    cluster = Cluster(ClusterSpec(groups, settings or Settings()), seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        yield cluster
        nursery.cancel_scope.cancel()


def get_node(cluster: Cluster, name: str) -> Node:
    return cluster.api.cache("nodes").get(f"/registry/nodes/{name}")


def unreachable_no_execute(cluster: Cluster, name: str) -> Taint | None:
    taints = get_node(cluster, name).spec.taints
    return next((t for t in taints if (t.key, t.effect) == (TAINT_UNREACHABLE, "NoExecute")), None)


def tainted(cluster: Cluster, names: list[str]) -> dict[str, float]:
    """When each of ``names`` got its unreachable NoExecute taint, for those that have it."""
    found = {n: unreachable_no_execute(cluster, n) for n in names}
    return {n: t.time_added for n, t in found.items() if t is not None and t.time_added}


def zone_messages(cluster: Cluster) -> list[str]:
    return [e.message for e in cluster.events.find("ZoneStateChange")]


def samples(cluster: Cluster) -> dict[tuple[str, str], float]:
    """node_collector_* samples by (name, zone label)."""
    return {
        (s.name, s.labels["zone"]): s.value
        for family in node_collector_families(cluster)
        for s in family.samples
    }


def evictions(cluster: Cluster) -> list[str]:
    return [
        e.object
        for e in cluster.events.find("TaintManagerEviction")
        if e.message.startswith("Marking")
    ]


async def test_two_nodes_crashing_together_are_tainted_ten_seconds_apart() -> None:
    """Two of five nodes (2/5 < unhealthyZoneThreshold 0.55, and not more than 2) leave the
    zone Normal, so NoExecute tainting runs at nodeEvictionRate 0.1 nodes/s through the zone's
    token bucket of burst 1: the second node is tainted 10 s after the first, and its pods are
    evicted 10 s later too (node_lifecycle_controller.go doNoExecuteTaintingPass, ComputeZoneState;
    rate_limited_queue.go Try; --node-eviction-rate 0.1)."""
    async with zoned(NodeGroupSpec("worker", 5, labels=ZONE_A)) as cluster:
        await trio.sleep(20)
        victims = ["worker-0", "worker-1"]
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=tuple(victims))))
        await wait_until(lambda: len(tainted(cluster, victims)) == 2, 120, "two taints")
        first, second = sorted(tainted(cluster, victims).values())
        assert 9.9 <= second - first <= 10.2, (first, second)
        assert zone_messages(cluster) == []  # the zone stays Normal
        metrics = samples(cluster)
        assert metrics[("node_collector_evictions_total", "::zone-a")] == 2
        assert metrics[("node_collector_zone_size", "::zone-a")] == 5
        assert metrics[("node_collector_unhealthy_nodes_in_zone", "::zone-a")] == 2
        assert metrics[("node_collector_zone_health", "::zone-a")] == 60.0


async def test_a_small_zone_in_partial_disruption_taints_and_evicts_nothing() -> None:
    """Three of five nodes of zone-a crash: more than 2 and 3/5 >= 0.55 not Ready, so the zone
    is PartialDisruption; it has no more than largeClusterSizeThreshold (50) nodes, so
    ReducedQPSFunc gives it a tainting rate of 0: no NoExecute taint, no eviction for as long
    as it lasts (the pods stay bound to their dead nodes). When the nodes come back the zone is
    Normal again. Each transition is recorded as upstream logs it ("Controller detected that
    zone ... is now in state ...", handleDisruption); the zone metrics follow each pass."""
    groups = (NodeGroupSpec("a", 5, labels=ZONE_A), NodeGroupSpec("b", 2, labels=ZONE_B))
    async with zoned(*groups) as cluster:
        await cluster.apply([deployment("web", 10)])
        await wait_until(lambda: len(ready_pods(cluster)) == 10, 60, "10 ready pods")
        victims = ("a-0", "a-1", "a-2")
        stranded = {p.metadata.name for p in pods(cluster) if p.spec.node_name in victims}
        assert stranded
        chaos = Chaos(cluster)
        crash = await chaos.inject(NodeCrash(target=Target(nodes=victims)))
        assert crash is not None
        await wait_until(lambda: bool(zone_messages(cluster)), 120, "a zone state change")
        assert zone_messages(cluster) == [
            "Controller detected that zone ::zone-a is now in state PartialDisruption."
        ]
        metrics = samples(cluster)
        assert metrics[("node_collector_zone_health", "::zone-a")] == 40.0
        assert metrics[("node_collector_unhealthy_nodes_in_zone", "::zone-a")] == 3
        assert metrics[("node_collector_zone_health", "::zone-b")] == 100.0
        await trio.sleep(600)
        assert tainted(cluster, list(victims)) == {}
        assert evictions(cluster) == []
        assert stranded <= {p.metadata.name for p in pods(cluster)}
        assert samples(cluster)[("node_collector_evictions_total", "::zone-a")] == 0
        await chaos.revert(crash)
        await wait_until(lambda: len(zone_messages(cluster)) == 2, 120, "zone-a Normal again")
        assert zone_messages(cluster)[1] == (
            "Controller detected that zone ::zone-a is now in state Normal."
        )
        assert evictions(cluster) == []


async def test_when_every_kubelet_stops_nothing_is_evicted_and_the_pods_come_back() -> None:
    """Every zone fully disrupted is "master disruption mode" (handleDisruption): the controller
    stops all tainting and removes the NoExecute not-ready/unreachable taints it had put on any
    node (markNodeAsReachable), so nothing is evicted, however long it lasts. Here worker-0's
    kubelet stops first and worker-0 is tainted, its pod's eviction scheduled; when the other
    kubelets stop too, the taint comes off and the eviction is cancelled. When the kubelets
    return, the controller leaves the mode and the pods, never deleted, are simply Ready again
    (no container restarted)."""
    async with zoned(NodeGroupSpec("worker", 3)) as cluster:
        await cluster.apply([deployment("web", 3)])
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "3 ready pods")
        chaos = Chaos(cluster)
        first = await chaos.inject(KubeletStop(target=Target(nodes=("worker-0",))))
        assert first is not None
        await wait_until(lambda: bool(tainted(cluster, ["worker-0"])), 120, "worker-0 tainted")
        rest = await chaos.inject(KubeletStop(target=Target(nodes=("worker-1", "worker-2"))))
        assert rest is not None
        entering = (
            "Controller detected that all Nodes are not-Ready. Entering master disruption mode."
        )
        await wait_until(lambda: bool(cluster.events.find("EnteringMasterDisruptionMode")), 120, "")
        assert cluster.events.find("EnteringMasterDisruptionMode")[0].message == entering
        await trio.sleep(1)
        assert all(unreachable_no_execute(cluster, f"worker-{i}") is None for i in range(3))
        cancelled = [e.message for e in cluster.events.find("TaintManagerEviction")]
        assert cancelled and all(m.startswith("Cancelling deletion") for m in cancelled)
        await trio.sleep(600)
        assert all(unreachable_no_execute(cluster, f"worker-{i}") is None for i in range(3))
        assert not ready_pods(cluster)  # all marked not ready, none deleted
        assert len(pods(cluster)) == 3 and evictions(cluster) == []
        await chaos.revert(first)
        await chaos.revert(rest)
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "pods Ready again")
        assert cluster.events.find("ExitingMasterDisruptionMode")[0].message == (
            "Controller detected that some Nodes are Ready. Exiting master disruption mode."
        )
        await trio.sleep(60)
        assert evictions(cluster) == [] and len(pods(cluster)) == 3
        restarts = [cs.restart_count for p in pods(cluster) for cs in p.status.container_statuses]
        assert restarts == [0, 0, 0]


async def test_a_large_zone_in_partial_disruption_taints_at_the_secondary_rate() -> None:
    """A partially disrupted zone of more than largeClusterSizeThreshold nodes keeps tainting,
    at secondaryNodeEvictionRate 0.01 nodes/s: one node every 100 s (ReducedQPSFunc,
    --secondary-node-eviction-rate 0.01, --large-cluster-size-threshold 50). 36 of zone-a's 56
    nodes crash (more than 0.55 of them)."""
    groups = (NodeGroupSpec("a", 56, labels=ZONE_A), NodeGroupSpec("b", 2, labels=ZONE_B))
    async with zoned(*groups) as cluster:
        await trio.sleep(20)
        victims = [f"a-{i}" for i in range(36)]
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=tuple(victims))))
        await wait_until(lambda: len(tainted(cluster, victims)) >= 3, 400, "three taints")
        assert zone_messages(cluster) == [
            "Controller detected that zone ::zone-a is now in state PartialDisruption."
        ]
        times = sorted(tainted(cluster, victims).values())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(99.9 <= g <= 100.2 for g in gaps), gaps


async def test_a_fully_disrupted_zone_beside_a_healthy_one_taints_at_the_normal_rate() -> None:
    """A zone with no Ready node is FullDisruption; while some other zone is not, its tainting
    runs at HealthyQPSFunc, the normal nodeEvictionRate (setLimiterInZone): the whole zone's
    nodes are tainted 10 s apart and their pods evicted."""
    groups = (NodeGroupSpec("a", 3, labels=ZONE_A), NodeGroupSpec("b", 2, labels=ZONE_B))
    async with zoned(*groups) as cluster:
        await trio.sleep(20)
        victims = ["a-0", "a-1", "a-2"]
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=tuple(victims))))
        await wait_until(lambda: len(tainted(cluster, victims)) == 3, 200, "three taints")
        assert zone_messages(cluster) == [
            "Controller detected that zone ::zone-a is now in state FullDisruption."
        ]
        times = sorted(tainted(cluster, victims).values())
        assert [round(b - a) for a, b in itertools.pairwise(times)] == [10, 10]
        assert not cluster.events.find("EnteringMasterDisruptionMode")


async def test_the_rates_and_threshold_are_settings() -> None:
    """--node-eviction-rate and --large-cluster-size-threshold are overridable like every
    setting: at nodeEvictionRate 0.5 two failing nodes are tainted 2 s apart; with a threshold of
    4 a partially disrupted zone of 6 nodes counts as large and taints at the secondary rate."""
    fast = Settings(node_eviction_rate=0.5)
    async with zoned(NodeGroupSpec("worker", 5), settings=fast) as cluster:
        await trio.sleep(20)
        victims = ["worker-0", "worker-1"]
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=tuple(victims))))
        await wait_until(lambda: len(tainted(cluster, victims)) == 2, 120, "two taints")
        first, second = sorted(tainted(cluster, victims).values())
        assert 1.9 <= second - first <= 2.2
    large = Settings(large_cluster_size_threshold=4, secondary_node_eviction_rate=0.05)
    async with zoned(NodeGroupSpec("worker", 6), settings=large) as cluster:
        await trio.sleep(20)
        victims = ["worker-0", "worker-1", "worker-2", "worker-3"]
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=tuple(victims))))
        await wait_until(lambda: len(tainted(cluster, victims)) == 2, 200, "two taints")
        first, second = sorted(tainted(cluster, victims).values())
        assert 19.9 <= second - first <= 20.2


def test_scenario_settings_read_the_zone_flags() -> None:
    """A scenario sets them by camelCase name under cluster.settings; rates and the threshold
    are plain numbers, not durations."""
    check = Check("s.yaml", None)
    raw = {
        "nodeGroups": [{"name": "w", "count": 1}],
        "settings": {
            "nodeEvictionRate": 0.2,
            "secondaryNodeEvictionRate": 0,
            "unhealthyZoneThreshold": 0.7,
            "largeClusterSizeThreshold": 10,
        },
    }
    spec = read_cluster(check, raw, Limits())
    assert not check.errors
    s = spec.settings
    assert (s.node_eviction_rate, s.secondary_node_eviction_rate) == (0.2, 0.0)
    assert (s.unhealthy_zone_threshold, s.large_cluster_size_threshold) == (0.7, 10)
    bad = Check("s.yaml", None)
    read_cluster(bad, {**raw, "settings": {"nodeEvictionRate": "10s"}}, Limits())
    assert [(e.path, e.message) for e in bad.errors] == [
        ("spec.cluster.settings.nodeEvictionRate", "expected a number >= 0, got '10s'")
    ]


@pytest.mark.parametrize(
    ("ready", "not_ready", "state"),
    [
        (0, 1, FULL_DISRUPTION),  # no Ready node
        (0, 0, NORMAL),  # no node at all
        (1, 2, NORMAL),  # 2/3 not Ready, but not more than 2
        (2, 3, PARTIAL_DISRUPTION),  # 3/5 = 0.6 >= 0.55
        (9, 11, PARTIAL_DISRUPTION),  # 11/20 = 0.55: >= counts
        (10, 10, NORMAL),  # 0.5 < 0.55
    ],
)
def test_zone_state_from_ready_counts(ready: int, not_ready: int, state: str) -> None:
    """ComputeZoneState: FullDisruption with no Ready node; PartialDisruption with more than 2
    not Ready and at least unhealthyZoneThreshold of them; else Normal."""
    assert compute_zone_state(ready, not_ready, 0.55) == state


def test_zone_key_is_region_and_zone() -> None:
    """GetZoneKey (k8s.io/component-helpers/node/topology): region + ":\\x00:" + zone, the beta
    failure-domain labels first; "" without either."""
    plain = node("n")
    assert zone_key(plain) == ""
    labelled = node(
        "n", labels={"topology.kubernetes.io/zone": "z", "topology.kubernetes.io/region": "r"}
    )
    assert zone_key(labelled) == "r:\x00:z"
    beta = node("n", labels={"failure-domain.beta.kubernetes.io/zone": "old", **ZONE_A})
    assert zone_key(beta) == ":\x00:old"


def test_swapping_the_limiter_keeps_an_empty_bucket_empty() -> None:
    """SwapLimiter: the new token bucket is drained when the old one had no token, so a rate
    change does not hand out a free taint (rate_limited_queue.go)."""
    tainter = ZoneTainter(0.1, at=0.0)
    assert tainter.limiter.try_accept(0.0)  # burst 1: the first is free
    tainter.swap_limiter(0.01, at=1.0)
    assert not tainter.limiter.try_accept(1.0)
    assert tainter.limiter.ready_at(1.0) == pytest.approx(101.0)
    tainter.swap_limiter(0.0, at=2.0)
    assert tainter.limiter.ready_at(500.0) is None  # 0: never
