"""The pod garbage collector end to end against upstream v1.32:
pkg/controller/podgc/gc_controller.go (gcOrphaned, gcTerminating, gcUnscheduledTerminating,
markFailedAndDeletePodWithCondition; gcCheckPeriod 20 s, quarantineTime 40 s) and the
"Non-Graceful Node Shutdown" docs (the ``node.kubernetes.io/out-of-service`` taint). Before it,
a pod bound to a deleted Node object stayed forever, and the only way to replace a StatefulSet
pod stuck Terminating on a dead node was ``kubectl delete --force``."""

from __future__ import annotations

import attrs
import trio

from kubechaos.api.objects import Pod
from kubechaos.cluster import Cluster
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.defaults import POD_GC_CHECK_PERIOD, POD_GC_QUARANTINE
from kubechaos.faults import Chaos, ControllerManagerCrash, NodeCrash, NodeTaint, PodKill, Target

from .factories import deployment, pod
from .harness import running, wait_until
from .test_daemonset import daemonset, live, settled
from .test_statefulset import READINESS, crash_node_of, get_pod, get_set, set_events, statefulset

FINALIZER = "example.com/keep"


def pod_gc(cluster: Cluster) -> object:
    manager = cluster.controller_manager.instance
    assert isinstance(manager, ControllerManager)
    return manager.pod_gc


def gc_deletions(cluster: Cluster) -> list[tuple[float, str, str]]:
    return [
        (e.time, e.object, e.message)
        for e in cluster.events
        if e.component == "pod-garbage-collector-controller" and e.reason == "PodGCForceDelete"
    ]


def kept(name: str, **spec: object) -> Pod:
    """A bare pod with a finalizer: a deletion leaves it in place, so its last state shows."""
    p = pod(name, labels={"app": name}, **spec)
    return attrs.evolve(p, metadata=attrs.evolve(p.metadata, finalizers=(FINALIZER,)))


async def test_pods_on_a_deleted_node_are_force_deleted_after_the_quarantine() -> None:
    """gcOrphaned: a pod bound to a node the informer lacks waits ``quarantineTime`` (40 s) in
    the nodeQueue, then a GET confirms the node is gone and the pod is marked Failed with
    ``DisruptionTarget`` (reason ``DeletionByPodGC``) and deleted with grace period 0 — not
    before the quarantine. The pass runs every ``gcCheckPeriod`` (20 s), so the pod goes 40 to
    60 s after the Node object."""
    async with running(nodes=3) as cluster:
        await cluster.apply([pod("lone", node_name="worker-2"), kept("held", node_name="worker-2")])
        await wait_until(
            lambda: (p := get_pod(cluster, "lone")) is not None and p.is_ready(), 60, "running"
        )
        assert not pod_gc(cluster)._running  # type: ignore[attr-defined]
        cluster.nodes["worker-2"].crash()  # its kubelet must not write the Node again
        await cluster.api.delete("nodes", "", "worker-2")
        deleted_at = trio.current_time()
        await trio.sleep(POD_GC_QUARANTINE - 1)
        assert get_pod(cluster, "lone") is not None and not gc_deletions(cluster)
        gone_at = await wait_until(lambda: get_pod(cluster, "lone") is None, 30, "lone gone")
        assert POD_GC_QUARANTINE <= gone_at - deleted_at <= POD_GC_QUARANTINE + POD_GC_CHECK_PERIOD
        # the same pass handles "held" (in either order, each a request of its own)
        await wait_until(
            lambda: (
                (p := get_pod(cluster, "held")) is not None
                and p.metadata.deletion_timestamp is not None
            ),
            5,
            "held marked for deletion",
            step=0.01,
        )
        held = get_pod(cluster, "held")
        assert held is not None and held.status.phase == "Failed"
        cond = held.status.condition("DisruptionTarget")
        assert cond is not None and (cond.status, cond.reason) == ("True", "DeletionByPodGC")
        assert {obj for _, obj, _ in gc_deletions(cluster)} == {"default/lone", "default/held"}


async def test_a_node_that_comes_back_within_the_quarantine_keeps_its_pods() -> None:
    """discoverDeletedNodes: after the quarantine the node is looked up again (informer, then
    a GET); a Node object created again in the meantime saves its pods."""
    async with running(nodes=3) as cluster:
        await cluster.apply([pod("lone", node_name="worker-2")])
        await wait_until(lambda: get_pod(cluster, "lone") is not None, 10, "created")
        node = cluster.api.cache("nodes").get("/registry/nodes/worker-2")
        cluster.nodes["worker-2"].crash()
        await cluster.api.delete("nodes", "", "worker-2")
        await trio.sleep(10)
        fresh = attrs.evolve(node.metadata, resource_version="", uid="", creation_timestamp=None)
        await cluster.api.create(attrs.evolve(node, metadata=fresh))
        await trio.sleep(POD_GC_QUARANTINE + 2 * POD_GC_CHECK_PERIOD)
        assert get_pod(cluster, "lone") is not None and not gc_deletions(cluster)


async def test_a_daemonset_pod_on_a_deleted_node_goes_away() -> None:
    """The DaemonSet controller leaves a daemon pod bound to a Node that no longer exists
    (podsShouldBeOnNode walks existing nodes only; getUnscheduledPodsWithoutNode covers unbound
    pods): pod GC's gcOrphaned deletes it after the quarantine, and the set counts two nodes."""
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset()])
        await settled(cluster, 3)
        (doomed,) = [p for p in live(cluster) if p.spec.node_name == "worker-1"]
        cluster.nodes["worker-1"].crash()
        await cluster.api.delete("nodes", "", "worker-1")
        await wait_until(
            lambda: sorted(p.spec.node_name for p in live(cluster)) == ["worker-0", "worker-2"],
            POD_GC_QUARANTINE + POD_GC_CHECK_PERIOD + 5,
            "the pod of the deleted node gone",
        )
        assert [obj for _, obj, _ in gc_deletions(cluster)] == [f"default/{doomed.metadata.name}"]


async def test_the_out_of_service_taint_replaces_a_statefulset_pod_on_a_dead_node() -> None:
    """Non-graceful node shutdown: the StatefulSet pod on a crashed node stays Terminating
    (no kubelet completes the deletion) until the operator taints the node
    ``node.kubernetes.io/out-of-service=nodeshutdown:NoExecute``. gcTerminating then marks
    the terminating pod of the NotReady, out-of-service node Failed and deletes it with grace
    period 0 at its next pass (within gcCheckPeriod), and the StatefulSet controller creates
    ``db-1`` again on a live node (stateful_set_control.go processReplica)."""
    async with running(nodes=4) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        node, _ = await crash_node_of(cluster, "db-1")
        old = get_pod(cluster, "db-1")
        assert old is not None

        def terminating() -> bool:
            pod = get_pod(cluster, "db-1")
            return pod is not None and pod.metadata.deletion_timestamp is not None

        await wait_until(terminating, 600, "db-1 marked for deletion")
        await trio.sleep(120)
        assert terminating() and not gc_deletions(cluster)
        tainted_at = trio.current_time()
        await Chaos(cluster).inject(NodeTaint(target=Target(nodes=(node,))))
        await wait_until(
            lambda: (p := get_pod(cluster, "db-1")) is None or p.metadata.uid != old.metadata.uid,
            POD_GC_CHECK_PERIOD + 1,
            "db-1 force-deleted",
            step=0.1,
        )
        assert [obj for _, obj, _ in gc_deletions(cluster)] == ["default/db-1"]
        recreated_at = set_events(cluster, "SuccessfulCreate")[-1][0]
        assert recreated_at - tainted_at <= POD_GC_CHECK_PERIOD + 1
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready again")
        new = get_pod(cluster, "db-1")
        assert new is not None and new.spec.node_name != node


async def test_the_out_of_service_taint_on_a_ready_node_deletes_nothing() -> None:
    """gcTerminating requires the node not Ready (nodeutil.IsNodeReady) as well as the taint:
    a pod being deleted gracefully on a healthy tainted node is left to its kubelet."""
    slow = {"kubechaos.io/behaviour": "serve,shutdown=30s"}
    async with running(nodes=2) as cluster:
        await cluster.apply([pod("slow", annotations=slow, node_name="worker-0")])
        await wait_until(
            lambda: (p := get_pod(cluster, "slow")) is not None and p.is_ready(), 60, "up"
        )
        await Chaos(cluster).inject(
            NodeTaint(target=Target(nodes=("worker-0",)), effect="NoSchedule")
        )
        await Chaos(cluster).inject(PodKill(target=Target(names=("slow",))))
        await trio.sleep(POD_GC_CHECK_PERIOD + 5)
        assert get_pod(cluster, "slow") is not None and not gc_deletions(cluster)


async def test_an_unscheduled_terminating_pod_is_marked_failed_and_force_deleted() -> None:
    """gcUnscheduledTerminating: a pod being deleted that was never bound to a node (here held
    by a finalizer, as a Job's tracking finalizer holds its pods) is marked Failed and deleted
    with grace period 0 at the next pass."""
    async with running(nodes=2) as cluster:
        await cluster.apply([kept("nowhere", node_selector={"disk": "none"})])
        await trio.sleep(5)
        await cluster.api.delete("pods", "default", "nowhere")
        deleted_at = trio.current_time()
        failed_at = await wait_until(
            lambda: (p := get_pod(cluster, "nowhere")) is not None and p.status.phase == "Failed",
            POD_GC_CHECK_PERIOD + 1,
            "marked Failed",
        )
        assert failed_at - deleted_at <= POD_GC_CHECK_PERIOD
        # then the delete, the pass's next request
        await wait_until(lambda: bool(gc_deletions(cluster)), 1, "force-deleted", step=0.01)
        assert [obj for _, obj, _ in gc_deletions(cluster)][:1] == ["default/nowhere"]


async def test_a_run_with_nothing_to_collect_runs_no_pass() -> None:
    """The model's laziness (not upstream's: its loop always runs): without a deleted node, an
    out-of-service taint or an unbound terminating pod, the pass never starts, so such runs
    schedule exactly as before pod GC existed."""
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 2, readiness=READINESS)])
        await trio.sleep(120)
        await Chaos(cluster).inject(NodeCrash(target=Target(nodes=("worker-0",))))
        await trio.sleep(120)
        gc = pod_gc(cluster)
        assert not gc._running and gc.passes == 0  # type: ignore[attr-defined]


async def test_a_controller_manager_started_after_the_node_went_collects_its_pods() -> None:
    """Upstream's pass lists every pod, so a controller manager that starts after the Node
    object was deleted (a restart) still finds its pods orphaned: gcOrphaned quarantines and
    deletes them as usual."""
    async with running(nodes=3) as cluster:
        await cluster.apply([pod("lone", node_name="worker-2")])
        await wait_until(lambda: get_pod(cluster, "lone") is not None, 10, "created")
        chaos = Chaos(cluster)
        crash = await chaos.inject(ControllerManagerCrash())
        cluster.nodes["worker-2"].crash()
        await cluster.api.delete("nodes", "", "worker-2")
        await trio.sleep(30)
        await chaos.revert(crash)
        await wait_until(
            lambda: get_pod(cluster, "lone") is None,
            # + the restarted process's wait for its Lease (leaseDuration 15 s and a retry)
            POD_GC_QUARANTINE + POD_GC_CHECK_PERIOD + 10 + 20,
            "lone collected",
        )


async def test_node_taint_adds_the_taint_and_its_revert_removes_only_what_it_added() -> None:
    """``kubectl taint nodes`` / ``kubectl taint nodes <node> key:effect-``: the fault adds the
    taint (the out-of-service one by default) through the API server; a node that already had
    the same key and effect keeps its taint after the revert."""
    async with running(nodes=2) as cluster:
        chaos = Chaos(cluster)

        def taints(node: str) -> list[tuple[str, str, str]]:
            obj = cluster.api.cache("nodes").get(f"/registry/nodes/{node}")
            return [(t.key, t.value, t.effect) for t in obj.spec.taints]

        oos = ("node.kubernetes.io/out-of-service", "nodeshutdown", "NoExecute")
        first = await chaos.inject(NodeTaint(target=Target(nodes=("worker-0",))))
        assert oos in taints("worker-0")
        both = await chaos.inject(NodeTaint(target=Target(nodes=("worker-0", "worker-1"))))
        await chaos.revert(both)
        assert oos in taints("worker-0") and oos not in taints("worker-1")
        await chaos.revert(first)
        assert oos not in taints("worker-0")
