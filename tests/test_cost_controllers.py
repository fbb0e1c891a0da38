"""What one controller sync costs (issue 16), counted deterministically, never timed.

- pods read per sync: the disruption and Job controllers keep their pods' counts from pod
  events, so a sync reads no pod of a budget, and only the pods in flight of a Job;
- writes per sync that changes nothing: none (upstream compares before writing);
- syncs per pod event: as many as upstream's handlers enqueue, no more.

Each count fails if the removed per-sync work (a listing of every pod, an unconditional write, an
enqueue upstream does not do) comes back.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import workcount
from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodStatus,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.controllers.disruption import DisruptionController
from kubechaos.control.controllers.job.controller import JobController
from kubechaos.control.controllers.job.owned import JobPods
from kubechaos.control.controllers.pdbpods import BudgetPods

from .factories import deployment, pod_spec, service
from .harness import ready_pods, running, wait_until
from .test_job import finished, get_job, job, job_pods


def _budget(name: str, **spec: Any) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        ObjectMeta(name=name, namespace="default"),
        PodDisruptionBudgetSpec(LabelSelector({"app": "web"}), **spec),
    )


def _budget_status(cluster: Any, name: str) -> Any:
    b = cluster.api.cache("poddisruptionbudgets").get(
        f"/registry/poddisruptionbudgets/default/{name}"
    )
    return None if b is None else b.status


async def test_a_budget_sync_reads_no_pod_once_its_counts_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pkg/controller/disruption/disruption.go trySync lists the budget's pods (getPodsForPdb)
    and counts them (countHealthyPods, getExpectedScale) on every sync. Here pod events keep the
    counts: while pods of a 20-replica Deployment are killed and replaced (dozens of syncs), the
    syncs together read at most the 20 pods once per budget (building the counts), where
    listing on every sync reads 20 per sync. The statuses are those of a fresh count:
    minAvailable 15 of 20 allows 5; maxUnavailable 25 % takes the expected count from the
    Deployment's scale (20) and allows 5."""
    reads: list[int] = []
    original = DisruptionController._selected

    def selected(self: DisruptionController, pdb: Any) -> Any:
        before = workcount.PODS_VISITED
        found = original(self, pdb)
        reads.append(workcount.PODS_VISITED - before)
        return found

    monkeypatch.setattr(DisruptionController, "_selected", selected)
    async with running(nodes=4, seed=5) as cluster:
        await cluster.apply(
            [
                deployment("web", 20),
                _budget("min", min_available=15),
                _budget("max", max_unavailable="25%"),
            ]
        )

        def settled() -> bool:
            return all(
                (s := _budget_status(cluster, name)) is not None and s.current_healthy == 20
                for name in ("min", "max")
            )

        await wait_until(settled, 120, "both budgets count 20 healthy pods")
        syncs_before = len(reads)
        for victim in sorted(ready_pods(cluster), key=lambda p: p.metadata.name)[:4]:
            await cluster.api.delete("pods", "default", victim.metadata.name)
        await trio.sleep(1)
        await wait_until(settled, 120, "the budgets count 20 healthy pods again")
        await trio.sleep(5)
        for name in ("min", "max"):
            s = _budget_status(cluster, name)
            assert (s.current_healthy, s.expected_pods, s.disruptions_allowed) == (20, 20, 5)
    assert len(reads) - syncs_before >= 10, reads  # the kills did wake the budgets
    assert sum(reads) <= 2 * 20, reads


def test_budget_counts_follow_pod_events() -> None:
    """countHealthyPods counts the selected pods that are Ready and not being deleted;
    getExpectedScale needs every distinct controller, and fails safe on a pod without one. The
    counts kept from events equal those: a Ready pod counts once however often it changes, a
    terminating one drops out of the healthy count, a relabelled one leaves the budget."""
    counts = BudgetPods(LabelSelector({"app": "web"}))
    ref = OwnerReference("ReplicaSet", "web-1", "rs-uid", True)
    ready = PodStatus(phase="Running", conditions=(PodCondition("Ready", "True"),))

    def pod(name: str, labels: dict[str, str], status: PodStatus, owned: bool = True) -> Pod:
        refs = (ref,) if owned else ()
        meta = ObjectMeta(name=name, namespace="default", labels=labels, owner_references=refs)
        return Pod(meta, pod_spec(), status)

    a = pod("a", {"app": "web"}, ready)
    counts.put("default/a", a)
    counts.put("default/a", a)
    counts.put("default/b", pod("b", {"app": "web"}, PodStatus(phase="Pending")))
    counts.put("default/c", pod("c", {"app": "db"}, ready))
    assert (len(counts), counts.alive_ready, counts.no_controller) == (2, 1, 0)
    assert counts.refs == {("ReplicaSet", "web-1", "rs-uid"): 2}
    gone = attrs.evolve(a, metadata=attrs.evolve(a.metadata, deletion_timestamp=3.0))
    counts.put("default/a", gone)
    counts.put("default/d", pod("d", {"app": "web"}, ready, owned=False))
    assert (len(counts), counts.alive_ready, counts.no_controller) == (3, 1, 1)
    counts.put("default/d", pod("d", {"app": "other"}, ready, owned=False))
    counts.remove("default/a")
    assert (len(counts), counts.alive_ready, counts.no_controller) == (1, 0, 0)


async def test_a_job_sync_reads_only_its_pods_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkg/controller/job/job_controller.go syncJob lists every pod of the Job (getPodsForJob)
    and filters the active ones, the terminating ones and those still carrying the tracking
    finalizer. Here pod events keep those groups: with 24 completions at parallelism 3, no sync
    reads more than the pods in flight (3 active, each with its finalizer, and the few finished
    ones not yet counted), though the Job ends with 24 pods; no sync lists the whole Job."""
    per_sync: list[int] = []
    listed = {"n": 0}
    original_observe = JobController._observe
    original_of = JobPods.of

    def observe(self: JobController, key: str, j: Any) -> Any:
        before = workcount.PODS_VISITED
        sync = original_observe(self, key, j)
        per_sync.append(workcount.PODS_VISITED - before)
        return sync

    def of(self: JobPods, uid: str) -> list[Pod]:
        listed["n"] += 1
        return original_of(self, uid)

    monkeypatch.setattr(JobController, "_observe", observe)
    monkeypatch.setattr(JobPods, "of", of)
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="exit-after=5s", completions=24, parallelism=3)])
        await wait_until(lambda: finished(cluster) != "", 600, "the Job finishes")
        j = get_job(cluster)
        assert j is not None and j.status.succeeded == 24
        assert len(job_pods(cluster)) == 24
        listed_before_finish = listed["n"]
    assert len(per_sync) >= 24, per_sync
    assert 0 < max(per_sync) <= 3 * 3, per_sync
    # JobPods.of (the whole list) serves only the finished Job's finalizer clean-up
    assert listed_before_finish <= 2, listed_before_finish


class _CountingAPI:
    """A controller's API client that counts the writes it forwards."""

    WRITES = ("create", "update", "update_status", "patch", "delete")

    def __init__(self, api: Any) -> None:
        self._api = api
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._api, name)
        if name not in self.WRITES:
            return attr

        async def write(*args: Any, **kwargs: Any) -> Any:
            self.writes.append(name)
            return await attr(*args, **kwargs)

        return write


async def test_a_sync_that_changes_nothing_writes_nothing() -> None:
    """Upstream skips a write when the object already says it: replica_set.go
    updateReplicaSetStatus returns early when the status and observedGeneration are unchanged;
    deployment's syncRolloutStatus returns when the new status equals the old
    (pkg/controller/deployment/progress.go, reflect.DeepEqual); endpoints_controller.go syncService
    skips the update when the subsets and labels are equal; the EndpointSlice reconciler
    (staging/src/k8s.io/endpointslice/reconciler.go) plans no change for slices that hold the
    desired endpoints. So syncing every Deployment, ReplicaSet and Service of a settled cluster
    again writes nothing."""
    async with running(nodes=3, seed=2) as cluster:
        await cluster.apply([deployment("web", 12), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 12, 120, "ready pods")
        await trio.sleep(30)
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        controllers = {
            "deployment": (manager.deployment, manager.deployment.deployments),
            "replicaset": (manager.replicaset, manager.replicaset.replicasets),
            "endpoints": (manager.endpoints, manager.endpoints.services),
            "endpointslice": (manager.endpointslice, manager.endpointslice.services),
        }
        apis = {}
        syncs = {name: 0 for name in controllers}
        for name, (ctrl, informer) in controllers.items():
            apis[name] = ctrl.api = _CountingAPI(ctrl.api)
            original = ctrl.sync

            async def counted(key: str, name: str = name, original: Any = original) -> None:
                syncs[name] += 1
                await original(key)

            ctrl.sync = counted
            for key in list(informer.store):
                ctrl.enqueue(key)
        await trio.sleep(5)
    assert all(syncs[name] >= 1 for name in controllers), syncs
    assert {name: api.writes for name, api in apis.items()} == {name: [] for name in controllers}


async def test_syncs_per_pod_event_are_upstreams() -> None:
    """Which controllers a pod change wakes, as upstream's handlers: replica_set.go updatePod
    enqueues the owning ReplicaSet on every new resourceVersion; the Deployment controller has no
    pod update handler (deployment_controller.go registers DeleteFunc only); the Endpoints and
    EndpointSlice controllers enqueue a Service only when the pod's endpoint changed
    (staging/src/k8s.io/endpointslice/util/controller_utils.go GetPodUpdateProjectionKey /
    podEndpointsChanged): an annotation-only change wakes neither, nor does the binding of a pod
    that has no IP yet (NodeName "is immutable once initially set, which happens before the pod
    gets an IP"); a readiness flip wakes each once."""
    async with running(nodes=2, seed=4) as cluster:
        await cluster.apply([deployment("web", 3), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 120, "ready pods")
        await trio.sleep(30)
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        target = ready_pods(cluster)[0]
        ctrls = {
            "deployment": manager.deployment,
            "replicaset": manager.replicaset,
            "endpoints": manager.endpoints,
            "endpointslice": manager.endpointslice,
        }

        def enqueued_by(old: Pod, new: Pod) -> dict[str, int]:
            counts = {}
            for name, ctrl in ctrls.items():
                keys: list[str] = []
                queue_add, queue_after = ctrl.queue.add, ctrl.queue.add_after
                ctrl.queue.add = keys.append  # type: ignore[method-assign]
                ctrl.queue.add_after = lambda key, delay, keys=keys: keys.append(key)  # type: ignore[method-assign]
                try:
                    ctrl._on_pod_update(old, new)
                finally:
                    ctrl.queue.add, ctrl.queue.add_after = queue_add, queue_after  # type: ignore[method-assign]
                counts[name] = len(keys)
            return counts

        def bumped(p: Pod, **status: Any) -> Pod:
            meta = attrs.evolve(
                p.metadata,
                resource_version=str(int(p.metadata.resource_version) + 1),
                annotations={**p.metadata.annotations, "touched": "yes"},
            )
            return attrs.evolve(p, metadata=meta, status=attrs.evolve(p.status, **status))

        annotated = bumped(target)
        unready = bumped(target, conditions=(PodCondition("Ready", "False"),))
        none = {"deployment": 0, "replicaset": 1, "endpoints": 0, "endpointslice": 0}
        assert enqueued_by(target, annotated) == none
        flip = {"deployment": 0, "replicaset": 1, "endpoints": 1, "endpointslice": 1}
        assert enqueued_by(target, unready) == flip
        assert enqueued_by(target, target) == dict.fromkeys(ctrls, 0)  # same resourceVersion
        pending = attrs.evolve(
            target,
            spec=attrs.evolve(target.spec, node_name=""),
            status=PodStatus(phase="Pending"),
        )
        bound = attrs.evolve(
            bumped(pending), spec=attrs.evolve(pending.spec, node_name=target.spec.node_name)
        )
        assert enqueued_by(pending, bound) == none
