"""DaemonSets end to end against upstream v1.32: pkg/controller/daemon/daemon_controller.go
(manage, podsShouldBeOnNode, NodeShouldRunDaemonPod, updateDaemonSetStatus, node handlers),
update.go (RollingUpdate), util/daemonset_util.go (the daemon tolerations, the node-name
affinity, the revision labels), and the scheduler's NodeAffinity plugin
(pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go with
component-helpers/scheduling/corev1/nodeaffinity) that binds the pods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.nodeaffinity import matches_node, required_node_names, term_matches
from kubechaos.api.objects import (
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    Node,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    ObjectMeta,
    Pod,
    Probe,
    Taint,
    Toleration,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.controllers.daemon import DaemonSetController
from kubechaos.control.controllers.daemon import controller as daemon_controller
from kubechaos.defaults import Settings
from kubechaos.faults import Chaos, NodeCrash, Target

from .factories import deployment, pod, pod_spec, template
from .harness import pods, running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)
AFFINITY_MESSAGE = "node(s) didn't match Pod's node affinity/selector"


def daemonset(
    name: str = "agent",
    strategy: DaemonSetUpdateStrategy | None = None,
    min_ready: int = 0,
    **spec_kwargs: Any,
) -> DaemonSet:
    labels = {"app": name}
    spec_kwargs.setdefault("readiness", READINESS)
    return DaemonSet(
        ObjectMeta(name=name, namespace="default"),
        DaemonSetSpec(
            LabelSelector(labels),
            template(labels, **spec_kwargs),
            strategy or DaemonSetUpdateStrategy(),
            min_ready,
        ),
    )


def get_ds(cluster: Cluster, name: str = "agent") -> DaemonSet:
    return cluster.api.cache("daemonsets").get(f"/registry/daemonsets/default/{name}")


def live(cluster: Cluster, app: str = "agent") -> list[Pod]:
    return [p for p in pods(cluster, app) if p.metadata.deletion_timestamp is None]


def nodes_of(cluster: Cluster, app: str = "agent") -> list[str]:
    return sorted(p.spec.node_name for p in live(cluster, app) if p.spec.node_name)


def ready_on(cluster: Cluster, app: str = "agent") -> list[str]:
    return sorted(p.spec.node_name for p in live(cluster, app) if p.is_ready())


def messages(cluster: Cluster, reason: str, obj: str = "") -> list[str]:
    return [e.message for e in cluster.events if e.reason == reason and obj in e.object]


@asynccontextmanager
async def groups(*specs: NodeGroupSpec, seed: int = 1) -> AsyncIterator[Cluster]:
    """A booted cluster of the given node groups, cancelled on exit."""
    cluster = Cluster(ClusterSpec(specs, Settings()), seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        yield cluster
        nursery.cancel_scope.cancel()


async def settled(cluster: Cluster, ready: int, name: str = "agent", timeout: float = 60) -> None:
    await wait_until(
        lambda: (
            (s := get_ds(cluster, name).status).number_available == ready
            and s.desired_number_scheduled == ready
        ),
        timeout,
        f"{ready} available daemon pods",
    )


async def relabel(cluster: Cluster, node: str, **labels: str) -> None:
    def mutate(current: Node) -> Node:
        meta = current.metadata
        return attrs.evolve(current, metadata=attrs.evolve(meta, labels={**meta.labels, **labels}))

    await cluster.api.patch("nodes", "", node, mutate)


async def taint(cluster: Cluster, node: str, *taints: Taint) -> None:
    def mutate(current: Node) -> Node:
        spec = current.spec
        return attrs.evolve(current, spec=attrs.evolve(spec, taints=(*spec.taints, *taints)))

    await cluster.api.patch("nodes", "", node, mutate)


# ---------------------------------------------------------------------------- eligibility


async def test_one_pod_per_node_bound_by_the_default_scheduler() -> None:
    """daemon_controller.go manage/syncNodes and util.ReplaceDaemonSetPodNodeNameNodeAffinity:
    one pod per node, created unbound with the affinity ``matchFields metadata.name In
    [node]``, labelled with the revision hash and template generation, and bound by the
    default scheduler (Scheduled events), as upstream since 1.12. Status counts all three."""
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset()])
        await settled(cluster, 3)
        assert nodes_of(cluster) == ["worker-0", "worker-1", "worker-2"]
        for p in live(cluster):
            (term,) = p.spec.node_affinity
            assert term.match_fields == (
                NodeSelectorRequirement("metadata.name", "In", (p.spec.node_name,)),
            )
            assert p.metadata.labels["pod-template-generation"] == "1"
            assert p.metadata.labels["controller-revision-hash"]
            ref = p.metadata.controller_ref()
            assert ref is not None and ref.kind == "DaemonSet"
        assert len(messages(cluster, "Scheduled", "default/agent-")) == 3
        assert len(messages(cluster, "SuccessfulCreate", "default/agent")) == 3
        s = get_ds(cluster).status
        assert (s.current_number_scheduled, s.number_ready, s.updated_number_scheduled) == (3, 3, 3)
        assert (s.number_misscheduled, s.number_unavailable, s.observed_generation) == (0, 0, 1)


async def test_node_selector_and_required_node_affinity_choose_the_nodes() -> None:
    """NodeShouldRunDaemonPod / predicates: nodeSelector and the required node affinity
    (nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)) decide which nodes run the pod;
    terms are ORed, requirements ANDed."""
    async with groups(
        NodeGroupSpec("gpu", 2, labels={"accel": "gpu", "gen": "5"}),
        NodeGroupSpec("cpu", 2, labels={"accel": "none", "gen": "3"}),
    ) as cluster:
        gpu_only = daemonset("gpu-agent", node_selector={"accel": "gpu"})
        new_or_cpu = daemonset(
            "picky",
            node_affinity=(
                NodeSelectorTerm((NodeSelectorRequirement("gen", "Gt", ("4",)),)),
                NodeSelectorTerm(
                    (
                        NodeSelectorRequirement("accel", "In", ("none",)),
                        NodeSelectorRequirement("zone", "DoesNotExist"),
                    ),
                    (NodeSelectorRequirement("metadata.name", "NotIn", ("cpu-1",)),),
                ),
            ),
        )
        await cluster.apply([gpu_only, new_or_cpu])
        await settled(cluster, 2, "gpu-agent")
        await settled(cluster, 3, "picky")
        assert nodes_of(cluster, "gpu-agent") == ["gpu-0", "gpu-1"]
        assert nodes_of(cluster, "picky") == ["cpu-0", "gpu-0", "gpu-1"]


async def test_taints_keep_pods_off_unless_tolerated() -> None:
    """predicates: an untolerated NoSchedule or NoExecute taint stops a daemon pod from being
    created there; a pod that tolerates it runs there."""
    dedicated = Taint("dedicated", "NoSchedule", "infra")
    async with groups(
        NodeGroupSpec("worker", 2), NodeGroupSpec("infra", 1, taints=(dedicated,))
    ) as cluster:
        tolerant = daemonset(
            "tolerant", tolerations=(Toleration("dedicated", "Equal", "infra", "NoSchedule"),)
        )
        await cluster.apply([daemonset(), tolerant])
        await settled(cluster, 2)
        await settled(cluster, 3, "tolerant")
        assert nodes_of(cluster) == ["worker-0", "worker-1"]
        assert nodes_of(cluster, "tolerant") == ["infra-0", "worker-0", "worker-1"]


async def test_daemon_pods_get_upstreams_tolerations() -> None:
    """util.AddOrUpdateDaemonPodTolerations: not-ready and unreachable NoExecute without
    tolerationSeconds (so DefaultTolerationSeconds adds no 300 s ones), disk-, memory- and
    pid-pressure and unschedulable NoSchedule, after the template's own; so a cordoned node
    still gets its daemon pod."""
    async with running(nodes=2) as cluster:

        def cordon(current: Node) -> Node:
            return attrs.evolve(current, spec=attrs.evolve(current.spec, unschedulable=True))

        await cluster.api.patch("nodes", "", "worker-1", cordon)
        own = Toleration("team", "Exists", "", "NoSchedule")
        await cluster.apply([daemonset(tolerations=(own,))])
        await settled(cluster, 2)
        for p in live(cluster):
            assert p.spec.tolerations == (
                own,
                Toleration("node.kubernetes.io/not-ready", "Exists", "", "NoExecute"),
                Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute"),
                Toleration("node.kubernetes.io/disk-pressure", "Exists", "", "NoSchedule"),
                Toleration("node.kubernetes.io/memory-pressure", "Exists", "", "NoSchedule"),
                Toleration("node.kubernetes.io/pid-pressure", "Exists", "", "NoSchedule"),
                Toleration("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule"),
            )
        assert nodes_of(cluster) == ["worker-0", "worker-1"]


async def test_a_crashed_nodes_daemon_pod_is_never_evicted() -> None:
    """The unreachable NoExecute toleration has no tolerationSeconds: taint eviction
    (pkg/controller/tainteviction) removes the Deployment's pod after 300 s but never the
    daemon pod. While the node is tainted it is not desired (NoSchedule untolerated) and its pod
    counts as misscheduled (updateDaemonSetStatus); after the reboot the same pod runs again."""
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset(), deployment("web", 3, readiness=READINESS)])
        await settled(cluster, 3)
        (agent,) = [p for p in live(cluster) if p.spec.node_name == "worker-1"]
        chaos = Chaos(cluster)
        injection = await chaos.inject(NodeCrash(target=Target(nodes=("worker-1",))))
        await wait_until(lambda: bool(messages(cluster, "TaintManagerEviction")), 420, "eviction")
        await trio.sleep(120)
        assert all(
            "agent" not in e.object for e in cluster.events if e.reason == "TaintManagerEviction"
        )
        still = [p for p in live(cluster) if p.spec.node_name == "worker-1"]
        assert [p.metadata.uid for p in still] == [agent.metadata.uid]
        assert not still[0].is_ready()
        s = get_ds(cluster).status
        assert (s.desired_number_scheduled, s.number_misscheduled, s.number_available) == (2, 1, 2)
        await chaos.revert(injection)
        await settled(cluster, 3)
        (back,) = [p for p in live(cluster) if p.spec.node_name == "worker-1"]
        assert back.metadata.uid == agent.metadata.uid and back.is_ready()


async def test_a_node_that_joins_gets_a_pod_and_one_that_leaves_loses_it() -> None:
    """addNode enqueues every DaemonSet that should run on the new node, so it gets a pod at
    once; the scheduler's NodeAffinity PreFilter considers only that node, and a Node that is
    not Ready yet fails it (the not-ready taint) with upstream's message. When the Node is
    deleted before the pod is bound, the DaemonSet's next sync deletes the pod
    (getUnscheduledPodsWithoutNode)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset()])
        await settled(cluster, 3)
        labels = {"kubernetes.io/hostname": "late-0"}
        await cluster.api.create(Node(ObjectMeta(name="late-0", labels=labels)))
        await wait_until(lambda: len(live(cluster)) == 4, 10, "a pod for the new node")
        await wait_until(lambda: bool(messages(cluster, "FailedScheduling")), 10, "unschedulable")
        assert messages(cluster, "FailedScheduling")[0] == (
            "0/4 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }, 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
            "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
        )
        await cluster.api.delete("nodes", "", "late-0")
        # upstream has no node-delete handler: the next sync of the DaemonSet cleans up (here
        # an update of its labels; upstream also the scheduler's PodScheduled status write)
        ds = get_ds(cluster)
        await cluster.api.update(
            attrs.evolve(ds, metadata=attrs.evolve(ds.metadata, labels={"touched": "yes"}))
        )
        await wait_until(lambda: len(live(cluster)) == 3, 10, "the pod for the gone node deleted")
        assert nodes_of(cluster) == ["worker-0", "worker-1", "worker-2"]


async def test_pods_leave_nodes_that_stop_matching_or_get_an_untolerated_noexecute_taint() -> None:
    """podsShouldBeOnNode: !shouldContinueRunning deletes the node's daemon pods: when the
    node's labels no longer match the selector, or an untolerated NoExecute taint arrives. A
    NoSchedule taint keeps the running pod (it may continue) but the node is no longer desired,
    and the pod counts as misscheduled."""
    async with groups(NodeGroupSpec("worker", 3, labels={"logs": "on"})) as cluster:
        await cluster.apply([daemonset(node_selector={"logs": "on"})])
        await settled(cluster, 3)
        await relabel(cluster, "worker-0", logs="off")
        await taint(cluster, "worker-1", Taint("evict", "NoExecute"))
        await taint(cluster, "worker-2", Taint("quiet", "NoSchedule"))
        await wait_until(lambda: nodes_of(cluster) == ["worker-2"], 30, "two pods deleted")
        await wait_until(
            lambda: (
                (
                    (s := get_ds(cluster).status).desired_number_scheduled,
                    s.current_number_scheduled,
                    s.number_misscheduled,
                )
                == (0, 0, 1)
            ),
            30,
            "no node desired, worker-2's pod misscheduled",
        )
        # worker-1's pod: whichever of the DaemonSet controller and taint eviction (which also
        # deletes pods not tolerating a NoExecute taint) acts first
        deleted = messages(cluster, "SuccessfulDelete", "default/agent")
        evicted = messages(cluster, "TaintManagerEviction", "default/agent-")
        assert 1 <= len(deleted) <= 2 and len(deleted) + len(evicted) >= 2


async def test_deleting_the_daemonset_deletes_its_pods() -> None:
    """The garbage collector (pkg/controller/garbagecollector) deletes the pods of a deleted
    DaemonSet (background propagation): it watches DaemonSets once the kind is in use."""
    async with running(nodes=2) as cluster:
        await cluster.apply([daemonset()])
        await settled(cluster, 2)
        await cluster.api.delete("daemonsets", "default", "agent")
        await wait_until(lambda: not live(cluster), 30, "the pods collected")
        assert len(messages(cluster, "GarbageCollected", "default/agent-")) == 2


# ---------------------------------------------------------------------------- updates


async def update_image(cluster: Cluster, image: str, name: str = "agent") -> None:
    ds = get_ds(cluster, name)
    spec = ds.spec.template.spec
    containers = (attrs.evolve(spec.containers[0], image=image),)
    new_template = attrs.evolve(ds.spec.template, spec=attrs.evolve(spec, containers=containers))
    await cluster.api.update(attrs.evolve(ds, spec=attrs.evolve(ds.spec, template=new_template)))


def rolled_out(cluster: Cluster, name: str = "agent", nodes: int = 4) -> bool:
    """The controller has seen the new template and every node runs an available new pod."""
    ds = get_ds(cluster, name)
    s = ds.status
    return (
        s.observed_generation == ds.metadata.generation
        and s.updated_number_scheduled == nodes
        and s.number_available == nodes
        and len(live(cluster, name)) == nodes
    )


def watch_rollout(cluster: Cluster, image: str) -> list[tuple[int, int, int]]:
    """Samples of (ready old pods, ready new pods, live pods) at every event, for the caller
    to check bounds on."""
    samples: list[tuple[int, int, int]] = []

    def sample(_: Any) -> None:
        agents = live(cluster)
        new = [p for p in agents if p.spec.containers[0].image == image]
        old = [p for p in agents if p.spec.containers[0].image != image]
        samples.append(
            (sum(p.is_ready() for p in old), sum(p.is_ready() for p in new), len(agents))
        )

    cluster.events.subscribe(sample)
    return samples


async def test_rolling_update_replaces_one_node_at_a_time() -> None:
    """update.go rollingUpdate without surge: maxUnavailable 1 (the default) deletes one old
    pod, the manage pass creates its replacement, and the next old pod goes only when the new
    one is available; nodes are taken in name order here (upstream: map order). The template
    generation becomes 2 and updatedNumberScheduled counts the new pods."""
    async with running(nodes=4) as cluster:
        await cluster.apply([daemonset()])
        await settled(cluster, 4)
        samples = watch_rollout(cluster, "agent:2")
        await update_image(cluster, "agent:2")
        await wait_until(lambda: rolled_out(cluster), 120, "the rollout")
        assert min(old + new for old, new, _ in samples) >= 3  # never two nodes down at once
        assert max(total for _, _, total in samples) <= 4  # no surge
        deleted = [m.removeprefix("Deleted pod: ") for m in messages(cluster, "SuccessfulDelete")]
        created = [p for p in live(cluster)]
        assert len(deleted) == 4
        assert all(p.metadata.labels["pod-template-generation"] == "2" for p in created)
        assert (
            get_ds(cluster).metadata.annotations["deprecated.daemonset.template.generation"] == "2"
        )


async def test_rolling_update_max_unavailable_percent_and_max_surge() -> None:
    """update.go: maxUnavailable 50% of 4 nodes replaces two at a time; maxSurge 1 (with
    maxUnavailable 0) creates the new pod beside the old one and deletes the old one only once
    the new one is available, one node at a time, so every node keeps a ready pod."""
    async with running(nodes=4) as cluster:
        half = DaemonSetUpdateStrategy(max_unavailable="50%")
        surge = DaemonSetUpdateStrategy(max_unavailable=0, max_surge=1)
        await cluster.apply([daemonset(strategy=half), daemonset("surge", strategy=surge)])
        await settled(cluster, 4)
        await settled(cluster, 4, "surge")
        samples = watch_rollout(cluster, "agent:2")
        await update_image(cluster, "agent:2")
        await wait_until(lambda: rolled_out(cluster), 120, "50%")
        assert min(old + new for old, new, _ in samples) == 2  # two nodes at a time, not more

        surge_samples: list[tuple[int, int]] = []

        def sample(_: Any) -> None:
            agents = live(cluster, "surge")
            surge_samples.append((len(agents), sum(p.is_ready() for p in agents)))

        cluster.events.subscribe(sample)
        await update_image(cluster, "agent:2", "surge")
        await wait_until(lambda: rolled_out(cluster, "surge"), 120, "the surge rollout")
        assert max(n for n, _ in surge_samples) == 5  # one extra pod at a time
        assert min(ready for _, ready in surge_samples) >= 4  # never a node without a ready pod


async def test_on_delete_replaces_a_pod_only_once_it_is_deleted() -> None:
    """updateStrategy OnDelete: a template change replaces nothing; a deleted old pod is
    replaced by one of the new template (manage creates it from the current template)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset(strategy=DaemonSetUpdateStrategy("OnDelete"))])
        await settled(cluster, 3)
        await update_image(cluster, "agent:2")
        await trio.sleep(30)
        assert all(p.spec.containers[0].image == "nginx:1.27" for p in live(cluster))
        assert get_ds(cluster).status.updated_number_scheduled == 0
        victim = next(p for p in live(cluster) if p.spec.node_name == "worker-1")
        await cluster.api.delete("pods", "default", victim.metadata.name)
        await wait_until(
            lambda: (
                get_ds(cluster).status.updated_number_scheduled == 1
                and get_ds(cluster).status.number_available == 3
            ),
            60,
            "the replacement",
        )
        (new,) = [p for p in live(cluster) if p.spec.containers[0].image == "agent:2"]
        assert new.spec.node_name == "worker-1"


async def test_min_ready_seconds_delays_availability() -> None:
    """updateDaemonSetStatus with minReadySeconds: a ready pod counts as available only after
    minReadySeconds; the controller resyncs to count it (updatePod enqueues the DaemonSet
    minReadySeconds + 1 s after a pod turns ready; updateDaemonSetStatus after minReadySeconds
    while ready and available differ)."""
    async with running(nodes=1) as cluster:
        await cluster.apply([daemonset(min_ready=20)])
        ready_at = await wait_until(
            lambda: get_ds(cluster).status.number_ready == 1, 60, "ready", step=0.1
        )
        assert get_ds(cluster).status.number_available == 0
        available_at = await wait_until(
            lambda: get_ds(cluster).status.number_available == 1, 60, "available", step=0.1
        )
        assert 19 <= available_at - ready_at <= 22


# ---------------------------------------------------------------------------- the scheduler


def test_node_affinity_operators() -> None:
    """component-helpers nodeaffinity: In, NotIn (true without the label), Exists,
    DoesNotExist, Gt/Lt as integers (a non-integer label does not match); matchFields on
    metadata.name; an empty term matches nothing; the PreFilter's node names are the union over
    terms of the intersection of each term's metadata.name In sets, or none (all nodes)."""
    labels = {"gen": "5", "zone": "a"}

    def req(key: str, op: str, *values: str) -> NodeSelectorRequirement:
        return NodeSelectorRequirement(key, op, values)

    cases = [
        (req("zone", "In", "a", "b"), True),
        (req("zone", "NotIn", "a"), False),
        (req("rack", "NotIn", "r1"), True),
        (req("zone", "Exists"), True),
        (req("rack", "DoesNotExist"), True),
        (req("gen", "Gt", "4"), True),
        (req("gen", "Lt", "5"), False),
        (req("zone", "Gt", "1"), False),
    ]
    for requirement, expected in cases:
        assert term_matches(NodeSelectorTerm((requirement,)), labels, "n1") is expected
    assert not term_matches(NodeSelectorTerm(), labels, "n1")
    by_name = NodeSelectorTerm(match_fields=(req("metadata.name", "In", "n1", "n2"),))
    assert term_matches(by_name, labels, "n1") and not term_matches(by_name, labels, "n3")
    spec = pod_spec(node_selector={"zone": "a"}, node_affinity=(by_name,))
    assert matches_node(spec, labels, "n2") and not matches_node(spec, {"zone": "b"}, "n2")
    both = NodeSelectorTerm(
        match_fields=(req("metadata.name", "In", "n1", "n2"), req("metadata.name", "In", "n2"))
    )
    other = NodeSelectorTerm(match_fields=(req("metadata.name", "In", "n9"),))
    assert required_node_names((both, other)) == {"n2", "n9"}
    assert required_node_names((both, NodeSelectorTerm((req("zone", "Exists"),)))) is None


async def test_scheduler_honours_required_node_affinity_with_upstreams_message() -> None:
    """NodeAffinity Filter: a pod whose required terms match no node is unschedulable with
    "node(s) didn't match Pod's node affinity/selector" (preemption cannot help); one whose
    terms match lands on a matching node. A pod whose affinity names a node that does not
    exist fails the PreFilter on every node."""
    async with groups(
        NodeGroupSpec("a", 2, labels={"zone": "a"}), NodeGroupSpec("b", 1, labels={"zone": "b"})
    ) as cluster:
        in_b = (NodeSelectorTerm((NodeSelectorRequirement("zone", "In", ("b",)),)),)
        in_c = (NodeSelectorTerm((NodeSelectorRequirement("zone", "In", ("c",)),)),)
        named = (
            NodeSelectorTerm(
                match_fields=(NodeSelectorRequirement("metadata.name", "In", ("gone",)),)
            ),
        )
        await cluster.apply(
            [
                pod("fits", node_affinity=in_b),
                pod("nowhere", node_affinity=in_c),
                pod("named", node_affinity=named),
            ]
        )
        await wait_until(lambda: len(messages(cluster, "FailedScheduling")) >= 2, 10, "failures")
        assert messages(cluster, "Scheduled", "default/fits") == [
            "Successfully assigned default/fits to b-0"
        ]
        assert messages(cluster, "FailedScheduling", "default/nowhere")[0] == (
            f"0/3 nodes are available: 3 {AFFINITY_MESSAGE}. preemption: 0/3 nodes are "
            "available: 3 Preemption is not helpful for scheduling."
        )
        assert messages(cluster, "FailedScheduling", "default/named")[0] == (
            "0/3 nodes are available: 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )


# ---------------------------------------------------------------------------- cost


async def test_a_node_event_costs_daemonsets_not_pods(monkeypatch: Any) -> None:
    """Performance (upstream's updateNode also loops over the DaemonSets only): a node update
    evaluates NodeShouldRunDaemonPod at most twice per DaemonSet (a verdict is remembered until
    the node's labels or spec change) and reads no pod; a sync reads only its own pods from
    the (DaemonSet, node) index."""
    calls: list[str] = []
    original = daemon_controller.node_should_run

    def counted(node: Node, ds: DaemonSet, tolerations: Any) -> tuple[bool, bool]:
        calls.append(ds.metadata.name)
        return original(node, ds, tolerations)

    monkeypatch.setattr(daemon_controller, "node_should_run", counted)
    async with running(nodes=3) as cluster:
        await cluster.apply([deployment("web", 60), daemonset("a"), daemonset("b")])
        await wait_until(lambda: len(live(cluster, "web")) == 60, 60, "60 web pods")
        await settled(cluster, 3, "a")
        await settled(cluster, 3, "b")
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        controller = manager.controller_for("DaemonSet")
        assert isinstance(controller, DaemonSetController)

        class CountingStore(dict):  # type: ignore[type-arg]
            reads = 0

            def values(self) -> Any:
                CountingStore.reads += 1
                return super().values()

            def __iter__(self) -> Any:
                CountingStore.reads += 1
                return super().__iter__()

        controller.pods.store = CountingStore(controller.pods.store)
        calls.clear()
        old = cluster.api.cache("nodes").get("/registry/nodes/worker-0")
        new = attrs.evolve(
            old, metadata=attrs.evolve(old.metadata, labels={**old.metadata.labels, "x": "y"})
        )
        controller._node_update(old, new)
        # the old node's verdicts are remembered; the relabelled node's are computed once each
        assert calls == ["a", "b"] and CountingStore.reads == 0
        ds = get_ds(cluster, "a")
        assert len(controller.index.owned(ds.metadata.uid)) == 3
        assert len(controller.index.on_node(ds.metadata.uid, "worker-0")) == 1


def test_validation_of_the_update_strategy_and_node_affinity() -> None:
    """pkg/apis/apps/validation ValidateDaemonSetSpec / ValidateRollingUpdateDaemonSet (exactly
    one of maxUnavailable and maxSurge non-zero; restartPolicy Always) and core validation's
    ValidateNodeSelector (operators, value counts, matchFields on metadata.name only), as
    located manifest errors."""

    def errors_of(spec_patch: dict[str, Any], pod_patch: dict[str, Any] | None = None) -> list[str]:
        doc: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "a", "image": "a:1"}], **(pod_patch or {})},
                },
                **spec_patch,
            },
        }
        try:
            read_manifest(doc)
        except ManifestError as exc:
            return [f"{e.dotted()}: {e.message}" for e in exc.errors]
        return []

    assert errors_of({}) == []
    both = {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}}
    assert errors_of(both) == [
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when "
        "maxUnavailable is non-zero"
    ]
    none = {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}}
    assert errors_of(none) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when "
        "maxSurge is 0"
    ]
    assert errors_of({}, {"restartPolicy": "Never"})[0].startswith(
        "spec.template.spec.restartPolicy: Unsupported value"
    )
    bad = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["x"]}],
                            "matchFields": [
                                {"key": "metadata.uid", "operator": "In", "values": ["u"]}
                            ],
                        }
                    ]
                }
            }
        }
    }
    required = (
        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    )
    assert errors_of({}, bad) == [
        f"{required}.nodeSelectorTerms[0].matchExpressions[0].values[0]: Invalid value: 'x': "
        "must be an integer",
        f"{required}.nodeSelectorTerms[0].matchFields[0].key: Invalid value: 'metadata.uid': "
        "not a valid field selector key",
    ]
