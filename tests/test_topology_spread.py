"""PodTopologySpread, as kube-scheduler v1.32's default profile runs it.

Upstream: pkg/scheduler/framework/plugins/podtopologyspread/filtering.go (DoNotSchedule:
``matching pods in the node's domain + selfMatch - min over eligible domains > maxSkew``
rejects; min is 0 below ``minDomains``; a node without the key is unresolvable),
common.go (nodeAffinityPolicy Honor / nodeTaintsPolicy Ignore by default; matchLabelKeys
merged into the selector; terminating pods do not count), scoring.go (ScheduleAnyway and the
system default constraints: hostname maxSkew 3 and zone maxSkew 5, selecting by
helper.DefaultSelector's Services/ReplicaSets/StatefulSets), plugin.go (default weight 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    PodTemplate,
    Resources,
    StatefulSet,
    StatefulSetSpec,
    Taint,
    Toleration,
    TopologySpreadConstraint,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.scheduler.podindex import PodIndex
from kubechaos.defaults import Settings

from .factories import deployment, pod, pod_spec, ready_node, service
from .harness import pods, wait_until
from .test_scenarios import run_of
from .test_scheduler import SETTLE, add_nodes, control_plane, failures, placements
from .test_scheduler import running as scheduling

HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
SPREAD_REASON = "node(s) didn't match pod topology spread constraints"


def spread(
    max_skew: int = 1, key: str = ZONE, hard: bool = True, **kwargs: object
) -> tuple[TopologySpreadConstraint, ...]:
    return (
        TopologySpreadConstraint(
            max_skew,
            key,
            "DoNotSchedule" if hard else "ScheduleAnyway",
            LabelSelector({"app": "web"}),
            **kwargs,  # type: ignore[arg-type]
        ),
    )


@asynccontextmanager
async def booted(spec: ClusterSpec) -> AsyncIterator[Cluster]:
    cluster = Cluster(spec, seed=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        yield cluster
        nursery.cancel_scope.cancel()


def zoned(name: str, zone: str, **kwargs: object) -> object:
    return ready_node(name, labels={ZONE: zone}, **kwargs)  # type: ignore[arg-type]


def web(name: str, **spec: object) -> object:
    return pod(name, labels={"app": "web"}, **spec)


def per_zone(ctx: object, prefix: str = "web") -> dict[str, int]:
    out: dict[str, int] = {}
    for name, node in placements(ctx).items():  # type: ignore[arg-type]
        if name.startswith(prefix) and node:
            zone = node.rstrip("0123456789")
            out[zone] = out.get(zone, 0) + 1
    return out


async def test_max_skew_one_over_two_zones_splits_six_replicas_three_and_three() -> None:
    """The measured case: maxSkew 1 over zones, end to end, comes out even even when one
    zone's nodes are much emptier (LeastAllocated alone would fill them first)."""
    big = NodeGroupSpec("big", 2, Resources(32000, 64 * 2**30, 110), {ZONE: "zone-a"})
    small = NodeGroupSpec("small", 2, labels={ZONE: "zone-b"})
    async with booted(ClusterSpec((big, small), Settings())) as cluster:
        await cluster.apply([deployment("web", replicas=6, topology_spread=spread())])
        await wait_until(lambda: len([p for p in pods(cluster) if p.spec.node_name]) == 6, 60, "6")
        zones = [p.spec.node_name.split("-")[0] for p in pods(cluster)]
        assert sorted(zones) == ["big"] * 3 + ["small"] * 3


async def test_a_node_without_the_topology_key_is_unresolvable() -> None:
    """Filter: a node lacking the constraint's key is rejected "(missing required label)"."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), ready_node("bare"))
    async with scheduling(ctx):
        await ctx.api.create(web("web-0", node_selector={HOST: "bare"}, topology_spread=spread()))
        await trio.sleep(SETTLE)
    assert failures(ctx, "web-0")[0].startswith(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) didn't match pod topology spread constraints (missing required label)."
    )


async def test_skew_beyond_max_skew_leaves_the_pod_pending() -> None:
    """With zone a full (its one node holds 2 pods of room), a third web pod cannot go to
    zone b where two already run: skew 3 - 1 > 1 with zone a at 1."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a", pods=1), zoned("b1", "b"))
    async with scheduling(ctx):
        await ctx.api.create(web("web-a", node_selector={HOST: "a1"}))
        for i in range(2):
            await ctx.api.create(web(f"web-b{i}", node_selector={HOST: "b1"}))
        await trio.sleep(SETTLE)
        await ctx.api.create(web("web-x", topology_spread=spread()))
        await trio.sleep(SETTLE)
    assert failures(ctx, "web-x")[0] == (
        f"0/2 nodes are available: 1 Too many pods, 1 {SPREAD_REASON}. preemption: 0/2 nodes "
        "are available: 2 No preemption victims found for incoming pod."
    )


async def test_min_domains_counts_missing_domains_as_empty() -> None:
    """minDomains 3 with only two zones: the global minimum is taken as 0, so maxSkew 1 allows
    one pod per zone and the third waits."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"))
    async with scheduling(ctx):
        for i in range(3):
            await ctx.api.create(web(f"web-{i}", topology_spread=spread(min_domains=3)))
            await trio.sleep(SETTLE)
    assert per_zone(ctx) == {"a": 1, "b": 1}


async def test_node_affinity_policy_honor_leaves_out_domains_the_pod_cannot_use() -> None:
    """nodeAffinityPolicy Honor (default): zone c, which the pod's nodeSelector excludes, is no
    domain, so pods spread over a and b only; with Ignore zone c counts (at 0) and caps a and b
    at one pod each."""
    ctx = await control_plane()
    nodes = [ready_node(f"{z}1", labels={ZONE: z, "tier": t}) for z, t in ("a1", "b1", "c0")]
    await add_nodes(ctx, *nodes)
    async with scheduling(ctx):
        for i in range(4):
            honor = web(f"web-{i}", node_selector={"tier": "1"}, topology_spread=spread())
            await ctx.api.create(honor)
        await trio.sleep(SETTLE)
        ignore = spread(node_affinity_policy="Ignore")
        await ctx.api.create(web("web-ignore", node_selector={"tier": "1"}, topology_spread=ignore))
        await trio.sleep(SETTLE)
    assert per_zone(ctx) == {"a": 2, "b": 2}
    assert placements(ctx)["web-ignore"] == ""


async def test_node_taints_policy_honor_leaves_out_tainted_domains() -> None:
    """nodeTaintsPolicy Ignore (default) counts a tainted zone's nodes as a domain (at 0 pods),
    so the untainted zones take one pod each; with Honor the tainted zone is no domain."""
    ctx = await control_plane()
    taint = (Taint("dedicated", "NoSchedule", "gpu"),)
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c", taints=taint))
    async with scheduling(ctx):
        for i in range(3):
            await ctx.api.create(web(f"web-{i}", topology_spread=spread()))
        await trio.sleep(SETTLE)
        assert per_zone(ctx) == {"a": 1, "b": 1}
        for i in range(2):
            honor = spread(node_taints_policy="Honor")
            await ctx.api.create(web(f"webh-{i}", topology_spread=honor))
        await trio.sleep(SETTLE)
    assert per_zone(ctx, "webh") == {"a": 1, "b": 1}


async def test_match_label_keys_count_only_the_pods_own_revision() -> None:
    """matchLabelKeys [pod-template-hash]: old-revision pods are not counted, so a new revision
    spreads evenly on its own."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"))
    old = {"app": "web", "pod-template-hash": "old"}
    async with scheduling(ctx):
        for i in range(3):
            await ctx.api.create(pod(f"old-{i}", labels=old, node_selector={HOST: "a1"}))
        await trio.sleep(SETTLE)
        new = {"app": "web", "pod-template-hash": "new"}
        keyed = spread(match_label_keys=("pod-template-hash",))
        for i in range(2):
            await ctx.api.create(pod(f"new-{i}", labels=new, topology_spread=keyed))
        await trio.sleep(SETTLE)
    assert sorted(placements(ctx)[f"new-{i}"] for i in range(2)) == ["a1", "b1"]


async def test_terminating_pods_do_not_count() -> None:
    """countPodsMatchSelector skips pods with a deletionTimestamp."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"))
    async with scheduling(ctx):
        await ctx.api.create(
            web("going", node_selector={HOST: "a1"}, termination_grace_period_seconds=600)
        )
        await ctx.api.create(web("staying", node_selector={HOST: "b1"}))
        await trio.sleep(SETTLE)
        await ctx.api.delete("pods", "default", "going")
        await ctx.api.create(web("web-new", topology_spread=spread()))
        await trio.sleep(SETTLE)
    assert placements(ctx)["web-new"] == "a1"


async def test_schedule_anyway_spreads_without_blocking() -> None:
    """ScheduleAnyway: the score (count x log(domains + 2) + maxSkew - 1, normalised so the
    emptiest domain scores 100, weight 2) spreads pods over zones, and never leaves one
    Pending."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a", cpu=32000), zoned("b1", "b"), zoned("c1", "c"))
    async with scheduling(ctx):
        for i in range(6):
            await ctx.api.create(web(f"web-{i}", topology_spread=spread(hard=False)))
            await trio.sleep(1)
        await trio.sleep(SETTLE)
    assert per_zone(ctx) == {"a": 2, "b": 2, "c": 2}


async def test_system_default_spread_uses_the_pods_service_and_owner() -> None:
    """Pods without constraints get the system defaults (hostname maxSkew 3, zone maxSkew 5,
    ScheduleAnyway) with DefaultSelector's selector: a Service's selector spreads them; the
    same pods with neither a Service nor an owner do not spread (LeastAllocated alone packs
    them on the emptiest node)."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("big", "a", cpu=64000, memory=256 * 2**30), zoned("b1", "b"))
    await ctx.api.create(service("web"))
    async with scheduling(ctx):
        for i in range(4):
            await ctx.api.create(web(f"web-{i}"))
            await ctx.api.create(pod(f"loose-{i}", labels={"app": "loose"}))
            await trio.sleep(1)
        await trio.sleep(SETTLE)
    assert per_zone(ctx, "web") == {"big": 2, "b": 2}
    assert per_zone(ctx, "loose") == {"big": 4}


async def test_a_parked_pod_is_retried_when_a_counted_pod_leaves() -> None:
    """Queueing hint: deleting an assigned pod that matches a parked pod's spread selector
    moves the parked pod back at once, not after the 5 min flush."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a", pods=1), zoned("b1", "b"))
    async with scheduling(ctx):
        await ctx.api.create(web("web-a", node_selector={HOST: "a1"}))
        for i in range(2):
            await ctx.api.create(web(f"web-b{i}", node_selector={HOST: "b1"}))
        await trio.sleep(SETTLE)
        await ctx.api.create(web("web-x", topology_spread=spread()))
        await trio.sleep(SETTLE)
        assert placements(ctx)["web-x"] == ""
        await ctx.api.delete("pods", "default", "web-a", grace_period_seconds=0)
        await trio.sleep(3)
    assert placements(ctx)["web-x"] == "a1"


async def test_work_per_attempt_stays_flat_when_the_cluster_doubles() -> None:
    """Indexes, no scans: registering a selector visits its namespace's pods once; after that
    each attempt visits no pod, however many pods and nodes the cluster has."""

    async def visits(nodes: int) -> tuple[int, int]:
        ctx = await control_plane()
        await add_nodes(ctx, *(zoned(f"n{i}", f"z{i % 3}") for i in range(nodes)))
        async with scheduling(ctx) as scheduler:
            for i in range(nodes * 2):
                await ctx.api.create(pod(f"other-{i}", namespace="default", labels={"app": "x"}))
            await trio.sleep(SETTLE)
            index: PodIndex = scheduler.placement.index
            for i in range(6):
                await ctx.api.create(web(f"web-{i}", topology_spread=spread(hard=i % 2 == 0)))
            await trio.sleep(SETTLE)
            first = index.visited
            for i in range(6, 12):
                await ctx.api.create(web(f"web-{i}", topology_spread=spread(hard=i % 2 == 0)))
            await trio.sleep(SETTLE)
            return first, index.visited - first

    small, large = await visits(10), await visits(20)
    assert small[1] == large[1] == 0  # later attempts visit no pod at all
    assert large[0] == 2 * small[0]  # the one-time registration scan is the namespace's pods


def test_tolerations_do_not_change_the_default_policy() -> None:
    """nodeTaintsPolicy defaults to Ignore, nodeAffinityPolicy to Honor (API defaults)."""
    (c,) = spread()
    assert (c.node_affinity_policy, c.node_taints_policy) == ("Honor", "Ignore")
    assert Toleration("x").tolerates(Taint("x", "NoSchedule"))


def test_scenario_a_cut_zone_keeps_its_replacements_pending() -> None:
    """zone-spread-partition: zone-a's evicted pods stop counting (terminating), zone-a stays a
    domain (nodeTaintsPolicy Ignore), so no replacement fits in zones b/c under maxSkew 1."""
    run = run_of("zone-spread-partition")
    failed = run.events.find(reason="FailedScheduling")
    assert len({e.object for e in failed}) == 2
    assert all(
        e.message.startswith(
            "0/6 nodes are available: 2 node(s) had untolerated taint "
            "{node.kubernetes.io/unreachable: }, 4 node(s) didn't match pod topology spread "
            "constraints."
        )
        for e in failed
    )
    zones = sorted(
        e.message.rsplit(" ", 1)[1].rsplit("-", 1)[0] for e in run.events.find(reason="Scheduled")
    )
    assert zones == ["zone-a"] * 2 + ["zone-b"] * 2 + ["zone-c"] * 2


def test_manifests_are_validated_as_upstream_validates_them() -> None:
    """pkg/apis/core/validation/validation.go: validateTopologySpreadConstraints and
    validatePodAffinityTerm / validateWeightedPodAffinityTerms, one located line per cause."""
    spec = {
        "containers": [{"name": "a", "image": "x"}],
        "topologySpreadConstraints": [
            {"maxSkew": 0, "whenUnsatisfiable": "Sometimes"},
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway",
             "minDomains": 2, "nodeTaintsPolicy": "Always"},
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
        ],
        "affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["app"]}
            ],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 101, "podAffinityTerm": {"topologyKey": HOST}}
            ],
        }},
    }  # fmt: skip
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    with pytest.raises(ManifestError) as exc:
        read_manifest(doc)
    causes = {e.dotted(): e.message for e in exc.value.errors}
    tsc, anti = "spec.topologySpreadConstraints", "spec.affinity.podAntiAffinity"
    assert causes == {
        f"{tsc}[0].maxSkew": "Invalid value: 0: must be greater than zero",
        f"{tsc}[0].topologyKey": "Required value: can not be empty",
        f"{tsc}[0].whenUnsatisfiable": "Unsupported value: 'Sometimes': supported values: "
        '"DoNotSchedule", "ScheduleAnyway"',
        f"{tsc}[1].minDomains": "Invalid value: 2: can only use minDomains if "
        "whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway",
        f"{tsc}[1].nodeTaintsPolicy": "Unsupported value: 'Always': supported values: "
        '"Honor", "Ignore"',
        f"{tsc}[2]": f'Duplicate value: "{{{ZONE}, ScheduleAnyway}}"',
        f"{anti}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey": "Required "
        "value: can not be empty",
        f"{anti}.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys[0]": "Invalid "
        "value: 'app': exists in both matchLabelKeys and labelSelector",
        f"{anti}.preferredDuringSchedulingIgnoredDuringExecution[0].weight": "Invalid value: "
        "101: must be in the range 1-100",
    }


async def test_system_default_spread_uses_the_owning_statefulset() -> None:
    """DefaultSelector adds the controlling StatefulSet's selector (its informer starts with the
    first StatefulSet pod): its pods spread without any Service."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("big", "a", cpu=64000, memory=256 * 2**30), zoned("b1", "b"))
    labels = {"app": "db"}
    sts = StatefulSet(
        ObjectMeta(name="db", namespace="default"),
        StatefulSetSpec(LabelSelector(labels), PodTemplate(ObjectMeta(labels=labels), pod_spec())),
    )
    await ctx.api.create(sts)
    ref = OwnerReference("StatefulSet", "db", "sts-uid")
    async with scheduling(ctx):
        for i in range(4):
            p = pod(f"db-{i}", labels=labels)
            p = attrs.evolve(p, metadata=attrs.evolve(p.metadata, owner_references=(ref,)))
            await ctx.api.create(p)
            await trio.sleep(1)
        await trio.sleep(SETTLE)
    assert per_zone(ctx, "db") == {"big": 2, "b": 2}
