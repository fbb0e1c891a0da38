"""InterPodAffinity, as kube-scheduler v1.32's default profile runs it.

Upstream: pkg/scheduler/framework/plugins/interpodaffinity/filtering.go (Filter: the incoming
pod's required affinity, then its required anti-affinity, then existing pods' required
anti-affinity against it; the first-pod-of-a-self-affine-group exception), scoring.go (preferred
terms of both pods, hardPodAffinityWeight 1 for existing pods' required affinity, min-max
normalisation) and plugin.go (isSchedulableAfterPodChange: a deleted pod wakes the pods it
kept out). Terms with matchLabelKeys (MatchLabelKeysInPodAffinity, beta and on in v1.32) and
namespaceSelector are read as the API server and the scheduler read them.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from kubechaos.api.objects import (
    Namespace,
    ObjectMeta,
    Pod,
    PodAffinityRules,
    PodAffinityTerm,
    WeightedPodAffinityTerm,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.scheduler.podindex import PodIndex
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run

from .factories import deployment, pod, ready_node
from .harness import pods, running, wait_until
from .test_scenarios import run_of
from .test_scheduler import SETTLE, add_nodes, control_plane, failures, placements
from .test_scheduler import running as scheduling

HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def term(app: str, key: str = HOST, **kwargs: object) -> PodAffinityTerm:
    return PodAffinityTerm(key, LabelSelector({"app": app}), **kwargs)  # type: ignore[arg-type]


def required(*terms: PodAffinityTerm) -> PodAffinityRules:
    return PodAffinityRules(required=terms)


def preferred(weight: int, t: PodAffinityTerm) -> PodAffinityRules:
    return PodAffinityRules(preferred=(WeightedPodAffinityTerm(weight, t),))


def zoned(name: str, zone: str, **kwargs: object) -> object:
    return ready_node(name, labels={ZONE: zone}, **kwargs)  # type: ignore[arg-type]


def web(name: str, **spec: object) -> Pod:
    return pod(name, labels={"app": "web"}, **spec)


ANTI_WEB = required(term("web"))


async def test_four_replicas_with_hostname_anti_affinity_on_three_nodes_leave_one_pending() -> None:
    """The measured case: a Deployment of 4 with required podAntiAffinity on
    kubernetes.io/hostname over 3 nodes runs 3, one per node; the 4th stays Pending with
    upstream's message (anti-affinity is Unschedulable, so preemption is tried and finds no
    victims), and the Deployment never becomes fully available."""
    async with running(nodes=3) as cluster:
        dep = deployment("web", replicas=4, pod_anti_affinity=ANTI_WEB)
        await cluster.apply([dep])
        await wait_until(lambda: sum(bool(p.spec.node_name) for p in pods(cluster)) == 3, 60, "3")
        await trio.sleep(120)
        bound = [p.spec.node_name for p in pods(cluster) if p.spec.node_name]
        assert sorted(bound) == ["worker-0", "worker-1", "worker-2"]
        (pending,) = [p for p in pods(cluster) if not p.spec.node_name]
        key = f"default/{pending.metadata.name}"
        messages = {e.message for e in cluster.events.find("FailedScheduling", obj=key)}
        assert messages == {
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
            "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        }
        d = cluster.api.cache("deployments").get("/registry/deployments/default/web")
        assert d.status.available_replicas == 3


async def test_existing_pods_anti_affinity_keeps_a_matching_pod_off_their_node() -> None:
    """satisfyExistingPodsAntiAffinity: a placed pod's required anti-affinity against app=web
    bans web pods from its domain, though the web pod itself has no constraints."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"))
    async with scheduling(ctx):
        await ctx.api.create(pod("loner", node_selector={HOST: "a"}, pod_anti_affinity=ANTI_WEB))
        await trio.sleep(SETTLE)
        for i in range(2):
            await ctx.api.create(web(f"web-{i}"))
        await trio.sleep(SETTLE)
        await ctx.api.create(web("pinned", node_selector={HOST: "a"}))
        await trio.sleep(SETTLE)
    assert placements(ctx)["web-0"] == placements(ctx)["web-1"] == "b"
    assert failures(ctx, "pinned")[0].startswith(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) didn't satisfy existing pods anti-affinity rules."
    )


async def test_required_affinity_follows_the_zone_of_the_pods_it_names() -> None:
    """satisfyPodAffinity: every required term's topology pair must hold a matching pod; a pod
    whose group does not exist yet waits with "didn't match pod affinity rules" (Unresolvable:
    preemption is not helpful) and lands in the right zone once the group appears (an added
    pod that matches its terms wakes it)."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("a2", "a"), zoned("b1", "b"), zoned("b2", "b"))
    async with scheduling(ctx):
        follower = pod("follower", pod_affinity=required(term("cache", ZONE)))
        await ctx.api.create(follower)
        await trio.sleep(SETTLE)
        assert placements(ctx)["follower"] == ""
        assert failures(ctx, "follower")[0] == (
            "0/4 nodes are available: 4 node(s) didn't match pod affinity rules. preemption: "
            "0/4 nodes are available: 4 Preemption is not helpful for scheduling."
        )
        await ctx.api.create(pod("cache", labels={"app": "cache"}, node_selector={HOST: "b2"}))
        await trio.sleep(SETTLE)
    assert placements(ctx)["follower"] in ("b1", "b2")


async def test_first_pod_of_a_self_affine_group_is_let_in() -> None:
    """The exception in satisfyPodAffinity: no pod anywhere matches the terms and the pod
    matches its own terms, so the first one schedules; the rest follow it into its zone."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c"))
    together = required(term("web", ZONE))
    async with scheduling(ctx):
        await ctx.api.create(web("web-0", pod_affinity=together))
        await trio.sleep(SETTLE)
        for i in range(1, 4):
            await ctx.api.create(web(f"web-{i}", pod_affinity=together))
        await trio.sleep(SETTLE)
    assert len(set(placements(ctx).values())) == 1


async def test_namespace_selector_and_namespaces_widen_a_term() -> None:
    """GetNamespacesFromPodAffinityTerm: neither set means the pod's own namespace only; the
    namespaces listed and those whose labels match namespaceSelector are added; an empty
    namespaceSelector means every namespace."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"))
    await ctx.api.create(Namespace(ObjectMeta(name="team-x", labels={"team": "x"})))
    await ctx.api.create(Namespace(ObjectMeta(name="other")))
    async with scheduling(ctx):
        await ctx.api.create(pod("x-web", "team-x", {"app": "web"}, node_selector={HOST: "a"}))
        await ctx.api.create(pod("o-web", "other", {"app": "web"}, node_selector={HOST: "b"}))
        await trio.sleep(SETTLE)
        own_ns = ANTI_WEB
        by_label = required(term("web", namespace_selector=LabelSelector({"team": "x"})))
        everywhere = required(term("web", namespace_selector=LabelSelector()))
        listed = required(term("web", namespaces=("other",)))
        await ctx.api.create(pod("own", pod_anti_affinity=own_ns))
        await ctx.api.create(pod("by-label", pod_anti_affinity=by_label))
        await ctx.api.create(pod("listed", pod_anti_affinity=listed))
        await ctx.api.create(pod("everywhere", pod_anti_affinity=everywhere))
        await trio.sleep(SETTLE)
    where = placements(ctx)
    assert where["own"] in ("a", "b")  # no web pod in its own namespace
    assert where["by-label"] == "b" and where["listed"] == "a"
    assert where["everywhere"] == ""


async def test_match_label_keys_limit_anti_affinity_to_the_same_revision() -> None:
    """matchLabelKeys: the pod's value of each key joins the selector (``key In (value)``), so
    the pods of a new ReplicaSet (another pod-template-hash) ignore the old one's; with
    mismatchLabelKeys (``key NotIn (value)``) only other revisions count."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"))
    same = required(term("web", match_label_keys=("pod-template-hash",)))
    other = required(term("web", mismatch_label_keys=("pod-template-hash",)))
    async with scheduling(ctx):
        for i, node in enumerate("ab"):
            labels = {"app": "web", "pod-template-hash": "old"}
            await ctx.api.create(pod(f"old-{i}", labels=labels, node_selector={HOST: node}))
        await trio.sleep(SETTLE)
        new = {"app": "web", "pod-template-hash": "new"}
        await ctx.api.create(pod("new-0", labels=new, pod_anti_affinity=same))
        await ctx.api.create(pod("new-x", labels=dict(new, x="1"), pod_anti_affinity=other))
        await trio.sleep(SETTLE)
    assert placements(ctx)["new-0"] in ("a", "b")
    assert placements(ctx)["new-x"] == ""


async def test_preferred_terms_score_by_weight() -> None:
    """scoring.go: a preferred affinity term adds its weight to the domains of the pods it
    matches, a preferred anti-affinity term subtracts it; InterPodAffinity's normalised score
    (weight 2) outweighs LeastAllocated's small differences."""
    ctx = await control_plane()
    await add_nodes(ctx, zoned("a1", "a"), zoned("b1", "b"), zoned("b2", "b"))
    async with scheduling(ctx):
        await ctx.api.create(pod("cache", labels={"app": "cache"}, node_selector={HOST: "b1"}))
        await ctx.api.create(pod("noisy", labels={"app": "noisy"}, node_selector={HOST: "b2"}))
        await trio.sleep(SETTLE)
        await ctx.api.create(pod("near", cpu=1000, pod_affinity=preferred(50, term("cache", ZONE))))
        await ctx.api.create(pod("away", pod_anti_affinity=preferred(80, term("noisy", ZONE))))
        await trio.sleep(SETTLE)
    assert placements(ctx)["near"] in ("b1", "b2")
    assert placements(ctx)["away"] == "a1"


async def test_existing_pods_required_affinity_attracts_the_pods_it_names() -> None:
    """processExistingPod: an existing pod's *required* affinity term matching the incoming
    pod adds hardPodAffinityWeight (1) to the existing pod's domain, so the named pod is drawn
    to it even with no terms of its own."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"), ready_node("c"))
    async with scheduling(ctx):
        fan = pod("fan", node_selector={HOST: "c"}, pod_affinity=required(term("star")))
        await ctx.api.create(fan)
        await trio.sleep(SETTLE)
        await ctx.api.create(pod("star", labels={"app": "star"}))
        await trio.sleep(SETTLE)
    assert placements(ctx)["star"] == "c"


async def test_a_deleted_pod_wakes_the_pod_its_anti_affinity_kept_out() -> None:
    """Queueing hint (isSchedulableAfterPodChange): deleting an assigned pod that matched a
    parked pod's anti-affinity moves it back at once (after its 1 s backoff), not after the
    5 min unschedulable flush."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"))
    async with scheduling(ctx) as scheduler:
        for i in range(3):
            await ctx.api.create(web(f"web-{i}", pod_anti_affinity=ANTI_WEB))
        await trio.sleep(SETTLE)
        (parked,) = [n for n, node in placements(ctx).items() if not node]
        assert scheduler.pending_pods()["unschedulable"] == 1
        victim = next(n for n, node in placements(ctx).items() if node)
        await ctx.api.delete("pods", "default", victim, grace_period_seconds=0)
        await trio.sleep(3)
    assert placements(ctx)[parked] != ""


async def test_pods_without_constraints_cost_the_index_nothing() -> None:
    """A cluster whose pods use neither plugin registers no selector and no held term: the
    index stays empty and scheduling takes the fast path."""
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a"), ready_node("b"))
    async with scheduling(ctx) as scheduler:
        for i in range(4):
            await ctx.api.create(pod(f"plain-{i}"))
        await trio.sleep(SETTLE)
        index: PodIndex = scheduler.placement.index
        assert index.visited == 0 and not index.has_held_terms
    assert all(placements(ctx).values())


def test_template_hash_ignores_empty_pod_affinity() -> None:
    """The new fields are omitted while empty, so no existing template changes its hash."""
    base = pod("p")
    assert attrs.evolve(base.spec, pod_affinity=PodAffinityRules()) == base.spec


def test_scenario_replacement_waits_for_its_own_node() -> None:
    """anti-affinity-node-crash: the evicted replica's replacement is refused by both live nodes
    (anti-affinity) and the crashed one (its unreachable taint) until the node is back, then
    lands on it within seconds of its NodeReady (the queueing hint, not the 5 min flush)."""
    run = run_of("anti-affinity-node-crash")
    failed = run.events.find(reason="FailedScheduling")
    assert failed and all(
        "2 node(s) didn't match pod anti-affinity rules" in e.message for e in failed
    )
    (ready,) = [e for e in run.events.find(reason="NodeReady") if e.object == "worker-1"][-1:]
    late = [e for e in run.events.find(reason="Scheduled") if e.time > failed[0].time]
    assert len(late) == 1 and late[0].message.endswith("to worker-1")
    assert 0 <= late[0].time - ready.time < 5


def test_a_fourth_anti_affine_replica_keeps_the_run_from_steady_state(tmp_path: Path) -> None:
    """The measured case as a scenario: web-anti-affinity.yaml scaled to 4 replicas on 3 nodes
    never converges (one replica Pending for the whole run), so steady state is never reached."""
    manifest = (SCENARIOS / "manifests" / "web-anti-affinity.yaml").read_text(encoding="utf-8")
    (tmp_path / "web.yaml").write_text(manifest.replace("replicas: 3", "replicas: 4"))
    (tmp_path / "s.yaml").write_text(
        "apiVersion: kubechaos/v1\nkind: Scenario\nmetadata: {name: four}\nspec:\n  seed: 42\n"
        "  duration: 3m\n  cluster:\n    nodeGroups:\n      - {name: worker, count: 3}\n"
        "  workloads:\n    - path: web.yaml\n"
    )
    run = Run(load_scenario(tmp_path / "s.yaml")).run()
    assert run.steady.first_steady_at is None
    assert len(run.events.find(reason="Scheduled")) == 3
