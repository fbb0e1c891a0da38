"""The default profile's node-local score plugins, as kube-scheduler v1.32 scores nodes.

Weights from pkg/scheduler/apis/config/v1/default_plugins.go: TaintToleration 3, NodeAffinity 2,
NodeResourcesFit 1, NodeResourcesBalancedAllocation 1, ImageLocality 1; each plugin's score is
0..100 after normalisation (pkg/scheduler/framework/plugins/helper/normalize_score.go).
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.nodeaffinity import term_matches
from kubechaos.api.objects import (
    ContainerImage,
    Deployment,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PreferredSchedulingTerm,
    Taint,
    Toleration,
)
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.scoring import image_locality, resource_scores
from kubechaos.defaults import LABEL_ZONE, Settings

from .factories import deployment, pod, ready_node
from .harness import wait_until
from .test_scenarios import injected_at, run_of
from .test_scheduler import SETTLE, add_nodes, control_plane, placements, running

ZONE_B = NodeSelectorTerm((NodeSelectorRequirement(LABEL_ZONE, "In", ("zone-b",)),))


async def _two_zone_cluster(manifests: list[Any], settle: float = 30) -> dict[str, str]:
    """Three zone-a nodes and two zone-b nodes; the pods' node zones once they are placed."""
    groups = tuple(
        NodeGroupSpec(f"zone-{z}", n, labels={LABEL_ZONE: f"zone-{z}"})
        for z, n in (("a", 3), ("b", 2))
    )
    cluster = Cluster(ClusterSpec(groups, Settings()), seed=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        await cluster.apply(manifests)
        await trio.sleep(settle)
        nursery.cancel_scope.cancel()
    return {
        p.metadata.name: p.spec.node_name
        for p in cluster.api.cache("pods").list("default")
        if p.spec.node_name
    }


# ---------------------------------------------------------------------------- NodeAffinity


async def test_required_node_affinity_places_a_deployments_pods_in_zone_b_only() -> None:
    """The issue's case: a Deployment whose template requires zone b (required node affinity,
    ``topology.kubernetes.io/zone In [zone-b]``) gets every replica on a zone-b node, though
    zone a has more, emptier nodes (nodeaffinity/node_affinity.go Filter over
    component-helpers/scheduling/corev1/nodeaffinity GetRequiredNodeAffinity)."""
    web = deployment("web", 4, node_affinity=(ZONE_B,))
    nodes = await _two_zone_cluster([web])
    assert len(nodes) == 4
    assert all(node.startswith("zone-b-") for node in nodes.values()), nodes


async def test_preferred_node_affinity_draws_pods_to_the_preferred_zone() -> None:
    """preferredDuringSchedulingIgnoredDuringExecution: a matching node scores the term's
    weight, normalised to 0..100 over the feasible nodes (DefaultNormalizeScore) and weighted 2,
    enough to outweigh the emptier zone-a nodes' LeastAllocated and the owner spreading of the
    first replicas (nodeaffinity/node_affinity.go Score/NormalizeScore)."""
    preferred = (PreferredSchedulingTerm(50, ZONE_B),)
    web = deployment("web", 2, preferred_node_affinity=preferred)
    nodes = await _two_zone_cluster([web])
    assert sorted(n[:6] for n in nodes.values()) == ["zone-b", "zone-b"], nodes


async def test_preferred_terms_add_their_weights_with_gt_lt_and_match_fields() -> None:
    """PreferredSchedulingTerms.Score sums the weights of the terms a node matches: Gt/Lt compare
    the label as an integer, matchFields reads metadata.name; a weight-0 term is skipped
    (component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go)."""
    gen = lambda op, v: NodeSelectorTerm((NodeSelectorRequirement("gen", op, (v,)),))  # noqa: E731
    by_name = NodeSelectorTerm(
        match_fields=(NodeSelectorRequirement("metadata.name", "In", ("c",)),)
    )
    terms = (
        PreferredSchedulingTerm(10, gen("Gt", "3")),  # b (gen 5), c (gen 4)
        PreferredSchedulingTerm(15, gen("Lt", "5")),  # a (gen 2), c (gen 4)
        PreferredSchedulingTerm(20, by_name),  # c
    )
    ctx = await control_plane()
    gens = (("a", "2"), ("b", "5"), ("c", "4"), ("d", "x"), ("e", "9"))
    await add_nodes(ctx, *(ready_node(n, labels={"gen": g}) for n, g in gens))
    async with running(ctx):
        for i in range(3):
            await ctx.api.create(pod(f"p{i}", preferred_node_affinity=terms))
        await trio.sleep(SETTLE)
    # c: 10 + 15 + 20 = 45 -> 100; a 15 -> 33, b and e 10 -> 22, d ("x" is no integer) 0
    assert set(placements(ctx).values()) == {"c"}


# ---------------------------------------------------------------------------- TaintToleration


async def test_prefer_no_schedule_taints_push_pods_away_unless_tolerated() -> None:
    """TaintToleration's score counts the PreferNoSchedule taints a pod does not tolerate,
    normalised reversed (the most tainted node 0, an untainted one 100) and weighted 3
    (tainttoleration/taint_toleration.go Score/NormalizeScore): the emptier but tainted node
    loses; a pod tolerating the taint (an empty effect tolerates every effect) takes it."""
    soft = Taint("spot", "PreferNoSchedule", "true")
    nodes = (ready_node("big", cpu=16000, memory=64 * 2**30, taints=(soft,)), ready_node("small"))
    ctx = await control_plane()
    await add_nodes(ctx, *nodes)
    tolerates = (Toleration(key="spot", operator="Exists"),)
    async with running(ctx):
        await ctx.api.create(pod("plain"))
        await ctx.api.create(pod("tolerant", tolerations=tolerates))
        await trio.sleep(SETTLE)
    assert placements(ctx) == {"plain": "small", "tolerant": "big"}


# ---------------------------------------------------------------------------- NodeResources


def _info(name: str, cpu: int, memory: int, used_cpu: int = 0, used_memory: int = 0) -> NodeInfo:
    info = NodeInfo(name)
    info.set_node(ready_node(name, cpu=cpu, memory=memory))
    info.cpu = info.nz_cpu = used_cpu
    info.memory = info.nz_memory = used_memory
    return info


def test_least_allocated_and_balanced_allocation_use_upstreams_arithmetic() -> None:
    """LeastAllocated: ``(allocatable - requested) * 100 // allocatable`` per resource, integer
    mean of cpu and memory (noderesources/least_allocated.go leastRequestedScore);
    BalancedAllocation: ``int((1 - |cpu fraction - memory fraction| / 2) * 100)``
    (noderesources/balanced_allocation.go balancedResourceScorer)."""
    view = PodView("default/p", pod("p", cpu=1000, memory=2 * 2**30))
    info = _info("n", cpu=3000, memory=16 * 2**30, used_cpu=500, used_memory=2**30)
    # cpu: 1500 of 3000 -> 50; memory 3 GiB of 16 -> 13 * 100 // 16 = 81; (50 + 81) // 2 = 65
    # fractions 0.5 and 0.1875: int((1 - 0.15625) * 100) = 84
    assert resource_scores(view, [info]) == [65 + 84]
    over = _info("o", cpu=1000, memory=2**30, used_cpu=900, used_memory=0)
    # cpu over capacity scores 0, memory 2 GiB of 1 GiB also 0; fractions capped at 1 -> 100
    assert resource_scores(view, [over]) == [0 + 100]


async def test_balanced_allocation_prefers_the_node_whose_usage_stays_even() -> None:
    """LeastAllocated alone would pick the node with more cpu; BalancedAllocation (weight 1)
    tips the choice to the node the pod leaves evenly used."""
    nodes = (
        ready_node("lopsided", cpu=8000, memory=4 * 2**30),
        ready_node("even", cpu=4000, memory=4 * 2**30),
    )
    ctx = await control_plane()
    await add_nodes(ctx, *nodes)
    async with running(ctx):
        await ctx.api.create(pod("p", cpu=1000, memory=2**30))
        await trio.sleep(SETTLE)
    # LeastAllocated: lopsided (87 + 75) // 2 = 81, even (75 + 75) // 2 = 75.
    # Balanced: lopsided int((1 - |0.125 - 0.25| / 2) * 100) = 93, even 100.
    assert placements(ctx)["p"] == "even"  # 175 against 174


# ---------------------------------------------------------------------------- ImageLocality


def test_image_locality_scales_size_by_spread_within_upstreams_thresholds() -> None:
    """sumImageScores: each image the node has counts its size times the share of nodes having
    it; calculatePriority clamps to 23 MB .. 1000 MB per container and scales to 0..100
    (imagelocality/image_locality.go)."""
    mib = 2**20
    view = PodView("default/p", pod("p"))  # one container, nginx:1.27
    has = _info("has", 4000, 2**30)
    has.images = {"nginx:1.27": 800 * mib}
    lacks = _info("lacks", 4000, 2**30)
    # on 3 of 4 nodes: 600 MiB -> 100 * (600 - 23) // (1000 - 23) = 59
    assert image_locality(view, [has, lacks], {"nginx:1.27": 3}, 4) == [59, 0]
    # on 1 of 40 nodes: 20 MiB, under the minimum: 0
    assert image_locality(view, [has, lacks], {"nginx:1.27": 1}, 40) == [0, 0]


async def test_pods_go_where_their_image_already_is() -> None:
    """A node reporting the pod's image in status.images scores by ImageLocality (weight 1)
    and wins a tie on everything else."""
    mib = 2**20
    image = ContainerImage(("nginx:1.27",), 900 * mib)
    base = ready_node("warm")
    warm = attrs.evolve(base, status=attrs.evolve(base.status, images=(image,)))
    ctx = await control_plane()
    await add_nodes(ctx, warm, ready_node("cold-a"), ready_node("cold-b"))
    async with running(ctx):
        await ctx.api.create(pod("p"))
        await trio.sleep(SETTLE)
    assert placements(ctx)["p"] == "warm"  # 900 MiB * 1/3 = 300 MiB -> 28 points


async def test_kubelet_reports_pulled_images_in_node_status_capped() -> None:
    """The kubelet lists the runtime's images in Node.status.images (every image the modelled
    imageSizeMib), at most nodeStatusMaxImages of them (kubelet_node_status.go
    setNodeStatusImages; KubeletConfiguration default 50), untagged names as ``:latest``."""
    settings = Settings(image_size_mib=300, node_status_max_images=2)
    groups = (NodeGroupSpec("worker", 1),)
    cluster = Cluster(ClusterSpec(groups, settings), seed=1)
    web = [deployment(f"app{i}", 1, labels={"app": f"app{i}"}) for i in range(3)]
    web = [
        attrs.evolve(d, spec=attrs.evolve(d.spec, template=_with_image(d, f"img{i}")))
        for i, d in enumerate(web)
    ]
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        await cluster.apply(web)

        def reported() -> tuple[ContainerImage, ...]:
            node = cluster.api.cache("nodes").get("/registry/nodes/worker-0")
            return node.status.images if node else ()

        await wait_until(lambda: len(reported()) == 2, 60, "two images reported")
        nursery.cancel_scope.cancel()
    images = reported()
    assert all(i.size_bytes == 300 * 2**20 for i in images)
    assert {i.names[0] for i in images} <= {"img0:latest", "img1:latest", "img2:latest"}


def _with_image(d: Deployment, image: str) -> Any:
    template = d.spec.template
    (container,) = template.spec.containers
    spec = attrs.evolve(template.spec, containers=(attrs.evolve(container, image=image),))
    return attrs.evolve(template, spec=spec)


# ---------------------------------------------------------------------------- manifests

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {
        "containers": [{"name": "c", "image": "nginx"}],
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 40,
                        "preference": {
                            "matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}],
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                            ],
                        },
                    }
                ]
            }
        },
    },
}
PREFERRED = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"


def test_preferred_node_affinity_is_read_from_a_manifest() -> None:
    (term,) = read_manifest(POD).spec.preferred_node_affinity  # type: ignore[union-attr]
    assert term.weight == 40
    assert term.preference.match_expressions == (NodeSelectorRequirement("gen", "Gt", ("3",)),)
    assert term.preference.match_fields == (
        NodeSelectorRequirement("metadata.name", "In", ("n1",)),
    )


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"weight": 0}, f"{PREFERRED}[0].weight", "must be in the range 1-100"),
        ({"weight": 101}, f"{PREFERRED}[0].weight", "must be in the range 1-100"),
        (
            {
                "preference": {
                    "matchExpressions": [{"key": "g", "operator": "Gt", "values": ["1", "2"]}]
                }
            },
            f"{PREFERRED}[0].preference.matchExpressions[0].values",
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        ),
        (
            {"preference": {"matchExpressions": [{"key": "g", "operator": "Lt", "values": ["x"]}]}},
            f"{PREFERRED}[0].preference.matchExpressions[0].values[0]",
            "must be an integer",
        ),
        (
            {
                "preference": {
                    "matchFields": [{"key": "metadata.labels", "operator": "In", "values": ["a"]}]
                }
            },
            f"{PREFERRED}[0].preference.matchFields[0].key",
            "not a valid field selector key",
        ),
    ],
)
def test_preferred_node_affinity_is_validated_as_upstream(
    change: dict[str, Any], where: str, message: str
) -> None:
    """pkg/apis/core/validation/validation.go ValidatePreferredSchedulingTerms: weight in
    1..100, the preference a valid node selector term (Gt/Lt: one integer value; matchFields
    only metadata.name)."""
    bad = copy.deepcopy(POD)
    term = bad["spec"]["affinity"]["nodeAffinity"][PREFERRED.rsplit(".", 1)[1]][0]  # type: ignore[index]
    term.update(change)
    with pytest.raises(ManifestError) as exc:
        read_manifest(bad)
    text = str(exc.value)
    assert where in text and message in text, text


# ---------------------------------------------------------------------------- the scenario


def test_scores_scenario_keeps_every_replica_and_replacement_on_the_ssd_nodes() -> None:
    """scenarios/scores.yaml: zone-a fails the required affinity; the spot nodes lose 200
    NodeAffinity points and 300 TaintToleration points, more than LeastAllocated and spreading
    can give back, so all four replicas and both replacements after ssd-0 dies go to ssd-*."""
    run = run_of("scores")
    targets = [e.message.rsplit(" ", 1)[1] for e in run.events.find(reason="Scheduled")]
    crash = injected_at(run, "ssd-0-down")
    later = [e for e in run.events.find(reason="Scheduled") if e.time > crash]
    assert len(targets) == 6 and len(later) == 2
    assert sorted(targets[:4]) == ["ssd-0", "ssd-0", "ssd-1", "ssd-1"]
    assert targets[4:] == ["ssd-1", "ssd-1"]


def test_gt_and_lt_read_integers_as_strconv_parseint_does() -> None:
    """Gt/Lt compare the label and the value as int64 (apimachinery labels, strconv.ParseInt
    base 10): a sign and digits only; "5_0", " 5" or a label beyond int64 never match."""
    gt = NodeSelectorTerm((NodeSelectorRequirement("gen", "Gt", ("4",)),))
    for label, matches in (("5", True), ("+7", True), ("-9", False), ("5_0", False), (" 5", False)):
        assert term_matches(gt, {"gen": label}, "n") is matches, label
    assert not term_matches(gt, {"gen": str(2**63)}, "n")
