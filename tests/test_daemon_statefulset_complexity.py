"""Complexity guards for the DaemonSet and StatefulSet controllers (issue 16): deterministic
work counts at two sizes, never wall time.

At a fixed seed a cluster of 10 and then 20 nodes runs a DaemonSet (readiness probes,
``minReadySeconds`` 5, ``maxUnavailable`` 10 %) and an ``OrderedReady`` StatefulSet of one
replica per two nodes; at 120 virtual seconds a tenth of the daemon pods and one replica are
deleted, at 150 s both roll out a new image, and the run ends at 600 s with every pod updated
and Ready. Counted per controller, through test-side wrappers (the model pays nothing):

- pod reads: a pod's conditions or terminal phase looked at (``PodStatus.condition``,
  ``Pod.is_terminal``) inside the controller's ``sync``;
- syncs, and pod events delivered to the controller's pod handlers;
- pods offered to ``ownership.claim`` (upstream's ClaimPods) by the controller.

Upstream reads a DaemonSet's pods by node on every sync (pkg/controller/daemon/
daemon_controller.go getNodesToDaemonPods, manage, updateDaemonSetStatus) and a StatefulSet's
on every sync (pkg/controller/statefulset/stateful_set.go getPodsForStatefulSet,
stateful_set_control.go updateStatefulSet and computeReplicaStatus); with one sync per pod event
that is pods x events over a run, quadratic in the cluster. The model keeps the DaemonSet's pods
by node between syncs and reads again only the nodes whose pods changed, and reads each
StatefulSet pod's status once per version of the pod, so the totals double with the cluster.
"""

from __future__ import annotations

import contextvars
import functools
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import (
    Container,
    ContainerPort,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    Node,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplate,
    Probe,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
    Taint,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.controllers.daemon import controller as daemon_module
from kubechaos.control.controllers.daemon.controller import DaemonSetController
from kubechaos.control.controllers.statefulset import controller as statefulset_module
from kubechaos.control.controllers.statefulset.controller import StatefulSetController
from kubechaos.sim.clock import run_virtual

from .harness import pods, running, wait_until

SMALL, LARGE = 10, 20
GROWTH = 2.2  # per doubling of nodes and pods
CONTROLLERS: dict[str, Any] = {
    "DaemonSet": (DaemonSetController, daemon_module, ("_pod_add", "_pod_update", "_pod_delete")),
    "StatefulSet": (
        StatefulSetController,
        statefulset_module,
        ("_on_pod_add", "_on_pod_update", "_on_pod_delete"),
    ),
}
_syncing: contextvars.ContextVar[str] = contextvars.ContextVar("syncing", default="")


@attrs.define
class Work:
    pod_reads: Counter[str] = attrs.field(factory=Counter)
    syncs: Counter[str] = attrs.field(factory=Counter)
    pod_events: Counter[str] = attrs.field(factory=Counter)
    claimed: Counter[str] = attrs.field(factory=Counter)
    daemonset: DaemonSet | None = None
    statefulset: StatefulSet | None = None


def _template(name: str, image: str) -> PodTemplate:
    container = Container(
        name,
        image,
        requests=Resources(50, 32 * 2**20),
        ports=(ContainerPort(8080),),
        readiness_probe=Probe(initial_delay_seconds=2, period_seconds=5),
    )
    return PodTemplate(ObjectMeta(labels={"app": name}), PodSpec(containers=(container,)))


def _meta(name: str) -> ObjectMeta:
    return ObjectMeta(name=name, namespace="default")


def _objects(nodes: int) -> list[Any]:
    agent = DaemonSetSpec(
        LabelSelector({"app": "agent"}),
        _template("agent", "registry.example/agent:1"),
        DaemonSetUpdateStrategy(max_unavailable="10%"),
        min_ready_seconds=5,
    )
    db = StatefulSetSpec(
        LabelSelector({"app": "db"}),
        _template("db", "registry.example/db:1"),
        nodes // 2,
        service_name="db",
    )
    headless = ServiceSpec(
        selector={"app": "db"}, ports=(ServicePort(5432, 8080),), cluster_ip="None"
    )
    return [
        DaemonSet(_meta("agent"), agent),
        Service(_meta("db"), headless),
        StatefulSet(_meta("db"), db),
    ]


def _new_image(obj: Any) -> Any:
    template = obj.spec.template
    containers = tuple(attrs.evolve(c, image=c.image + "-2") for c in template.spec.containers)
    template = attrs.evolve(template, spec=attrs.evolve(template.spec, containers=containers))
    return attrs.evolve(obj, spec=attrs.evolve(obj.spec, template=template))


def _instrument(mp: pytest.MonkeyPatch, work: Work) -> None:
    def read(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(*args: Any) -> Any:
            who = _syncing.get()
            if who:
                work.pod_reads[who] += 1
            return method(*args)

        return counted

    def in_sync(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def syncing(*args: Any) -> Any:
            work.syncs[name] += 1
            token = _syncing.set(name)
            try:
                return await method(*args)
            finally:
                _syncing.reset(token)

        return syncing

    def pod_event(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def handler(*args: Any) -> Any:
            work.pod_events[name] += 1
            return method(*args)

        return handler

    def claim(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(
            api: Any, resource: str, owner: Any, candidates: Any, recheck: Any
        ) -> Any:
            candidates = list(candidates)
            work.claimed[name] += len(candidates)
            return await original(api, resource, owner, candidates, recheck)

        return counted

    mp.setattr(PodStatus, "condition", read(PodStatus.condition))
    mp.setattr(Pod, "is_terminal", read(Pod.is_terminal))
    for name, (cls, module, handlers) in CONTROLLERS.items():
        mp.setattr(cls, "sync", in_sync(name, cls.sync))
        for attr in handlers:
            mp.setattr(cls, attr, pod_event(name, getattr(cls, attr)))
        mp.setattr(module, "claim", claim(name, module.claim))


def run(nodes: int) -> Work:
    work = Work()
    cluster = Cluster(ClusterSpec((NodeGroupSpec("worker", nodes),)), seed=5)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            await cluster.apply(_objects(nodes))
            await trio.sleep(120)
            pods, _ = await cluster.api.list("pods", "default")
            agents = sorted(p.metadata.name for p in pods if p.metadata.name.startswith("agent-"))
            for name in random.Random(5).sample(agents, len(agents) // 10):
                await cluster.api.delete("pods", "default", name)
            await cluster.api.delete("pods", "default", "db-0")
            await trio.sleep(30)
            await cluster.api.patch("daemonsets", "default", "agent", _new_image)
            await cluster.api.patch("statefulsets", "default", "db", _new_image)
            await trio.sleep(450)
            work.daemonset = await cluster.api.get("daemonsets", "default", "agent")
            work.statefulset = await cluster.api.get("statefulsets", "default", "db")
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        _instrument(mp, work)
        run_virtual(main, seed=5)
    return work


@pytest.fixture(scope="module")
def works() -> Iterator[tuple[Work, Work]]:
    yield run(SMALL), run(LARGE)


def _grows_linearly(small: float, large: float, what: str, growth: float = GROWTH) -> None:
    assert small > 0, f"{what}: nothing counted at {SMALL} nodes (the counter is not wired)"
    assert large <= growth * small, (
        f"{what}: {small:.0f} at {SMALL} nodes, {large:.0f} at {LARGE} nodes"
        f" ({large / small:.2f}x for 2x nodes and pods; at most {growth}x)"
    )


def test_the_run_settles_at_both_sizes(works: tuple[Work, Work]) -> None:
    """The comparison is fair: at both sizes every node runs an updated, available daemon pod
    and every replica is updated and Ready at the end (the pod kill and both rollouts done)."""
    for nodes, work in zip((SMALL, LARGE), works, strict=True):
        assert work.daemonset is not None and work.statefulset is not None
        ds, sts = work.daemonset.status, work.statefulset.status
        assert ds.desired_number_scheduled == ds.number_available == nodes
        assert ds.updated_number_scheduled == nodes and ds.observed_generation == 2
        assert sts.replicas == sts.ready_replicas == sts.updated_replicas == nodes // 2
        assert sts.current_revision == sts.update_revision


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_pods_read_over_the_run_grow_linearly(works: tuple[Work, Work], controller: str) -> None:
    """Pod status reads over the whole run double with the cluster. Upstream's sync reads
    every pod of the set (daemon_controller.go updateDaemonSetStatus and rollingUpdate through
    IsPodAvailable; stateful_set_control.go processReplica's isRunningAndReady and
    computeReplicaStatus), and a set growing with the cluster gets a sync per pod event, so that
    total grows ~4x per doubling (3652 -> 14153 DaemonSet, 1696 -> 6242 StatefulSet reads
    before); here only the nodes or pods that changed are read again."""
    small, large = works
    _grows_linearly(small.pod_reads[controller], large.pod_reads[controller], controller)


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_pods_read_per_sync_do_not_grow_with_the_set(
    works: tuple[Work, Work], controller: str
) -> None:
    """Pod reads per sync stay flat when the set doubles (at most 1.5x; a re-read of every pod
    per sync, as upstream's getNodesToDaemonPods / getPodsForStatefulSet feed, doubles): a sync
    reads the pods changed since the previous one, a bounded number per pod event."""
    small, large = works
    _grows_linearly(
        small.pod_reads[controller] / small.syncs[controller],
        large.pod_reads[controller] / large.syncs[controller],
        f"{controller} pods read per sync",
        1.5,
    )


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_at_most_one_sync_per_pod_event(works: tuple[Work, Work], controller: str) -> None:
    """The work queue coalesces a set's events (client-go workqueue: a key queued twice is
    processed once) and ControllerExpectations hold a DaemonSet's manage back while its
    creations and deletions are pending (pkg/controller/controller_utils.go): syncs never
    outnumber the pod events the controller sees, and grow linearly."""
    small, large = works
    for work in works:
        assert work.syncs[controller] <= work.pod_events[controller], (controller, work)
    _grows_linearly(small.syncs[controller], large.syncs[controller], f"{controller} syncs")


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_claim_candidates_grow_linearly(works: tuple[Work, Work], controller: str) -> None:
    """Pods offered to ClaimPods (pkg/controller/controller_ref_manager.go ClaimObject) over the
    run: a pod the set claimed that has not changed since, under the same selector, would be
    kept again, so only changed pods (and the namespace's orphans) are offered (1579 -> 6158
    DaemonSet, 396 -> 1398 StatefulSet candidates before)."""
    small, large = works
    _grows_linearly(small.claimed[controller], large.claimed[controller], f"{controller} claims")


# ---------------------------------------------------------------------------- nothing goes stale


def _not_ready(pod: Pod) -> Pod:
    conditions = tuple(
        attrs.evolve(c, status="False") if c.type == "Ready" else c for c in pod.status.conditions
    )
    return attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=conditions))


async def test_a_daemon_pod_that_turns_unready_on_a_settled_node_is_counted() -> None:
    """updateDaemonSetStatus counts each node's pod as it is now (daemon_controller.go): after
    the set settled, one pod's Ready condition turning False lowers numberReady and
    numberAvailable at the next sync, though no other node's pods changed (the kept per-node
    facts of that node are read again, the others' are not)."""
    async with running(nodes=3) as cluster:
        await cluster.apply(_objects(2)[:1])
        await wait_until(
            lambda: _status(cluster, "daemonsets", "agent").number_available == 3, 120, "settled"
        )
        victim = sorted(live(cluster, "agent"), key=lambda p: p.metadata.name)[0]
        await cluster.api.update_status(_not_ready(victim))
        await wait_until(
            lambda: _status(cluster, "daemonsets", "agent").number_ready == 2, 5, "unready seen"
        )
        assert _status(cluster, "daemonsets", "agent").number_available == 2


async def test_a_replica_that_turns_unready_is_counted() -> None:
    """computeReplicaStatus (stateful_set_control.go) over the pods as they are now: a replica
    whose Ready condition turns False after the set settled lowers readyReplicas and
    availableReplicas (its status is read again because the pod changed)."""
    async with running(nodes=3) as cluster:
        await cluster.apply(_objects(4)[1:])
        await wait_until(
            lambda: _status(cluster, "statefulsets", "db").available_replicas == 2, 120, "settled"
        )
        victim = next(p for p in live(cluster, "db") if p.metadata.name == "db-1")
        await cluster.api.update_status(_not_ready(victim))
        await wait_until(
            lambda: _status(cluster, "statefulsets", "db").ready_replicas == 1, 5, "unready seen"
        )
        assert _status(cluster, "statefulsets", "db").available_replicas == 1


def _status(cluster: Cluster, resource: str, name: str) -> Any:
    return cluster.api.cache(resource).get(f"/registry/{resource}/default/{name}").status


def live(cluster: Cluster, app: str) -> list[Pod]:
    return [p for p in pods(cluster, app) if p.metadata.deletion_timestamp is None]


async def test_a_node_whose_verdict_changes_is_counted_again() -> None:
    """updateDaemonSetStatus over NodeShouldRunDaemonPod as it is now (daemon_controller.go;
    updateNode enqueues the DaemonSet when a node's shouldRun or shouldContinueRunning
    changes): a settled node tainted NoSchedule, which the daemon pod does not tolerate, is no
    longer desired and its pod (which may continue) counts as misscheduled, though no pod
    changed; without the taint it is desired again."""
    no_schedule = Taint("dedicated", "NoSchedule", "db")

    def tainted(taints: tuple[Taint, ...]) -> Callable[[Node], Node]:
        return lambda node: attrs.evolve(node, spec=attrs.evolve(node.spec, taints=taints))

    async with running(nodes=3) as cluster:
        await cluster.apply(_objects(2)[:1])
        await wait_until(
            lambda: _status(cluster, "daemonsets", "agent").number_available == 3, 120, "settled"
        )
        await cluster.api.patch("nodes", "", "worker-0", tainted((no_schedule,)))
        await wait_until(
            lambda: _status(cluster, "daemonsets", "agent").number_misscheduled == 1, 5, "taint"
        )
        status = _status(cluster, "daemonsets", "agent")
        assert (status.desired_number_scheduled, status.current_number_scheduled) == (2, 2)
        await cluster.api.patch("nodes", "", "worker-0", tainted(()))
        await wait_until(
            lambda: _status(cluster, "daemonsets", "agent").desired_number_scheduled == 3, 5, "ok"
        )
        assert _status(cluster, "daemonsets", "agent").number_misscheduled == 0
