"""StatefulSets end to end against upstream v1.32: pkg/controller/statefulset/stateful_set.go,
stateful_set_control.go (``updateStatefulSet``: the order pods are created, deleted and updated
in), stateful_set_utils.go (identity, revisions, status) and stateful_pod_control.go (the Events).
The chaos fact they exist for: a StatefulSet pod is recreated with the same name only once its
old object is gone, so a pod stuck Terminating on a dead node is never replaced until it is
force-deleted."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.modelled import unmodelled_fields
from kubechaos.api.objects import (
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
    Probe,
    Service,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.faults import Chaos, ControllerManagerCrash, PodKill, Target
from kubechaos.observe.metrics.collector import ClusterCollector
from kubechaos.observe.steady import SteadyStateMonitor
from kubechaos.report.html.page import render_html
from kubechaos.report.result import result_of
from kubechaos.report.result import schema as result_schema
from kubechaos.scenario.loader import ScenarioError, parse_scenario
from tests.golden import run_of

from .factories import deployment, pod, template
from .harness import running, wait_until

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
READINESS = Probe(period_seconds=1, failure_threshold=1)
SLOW_STOP = {"kubechaos.io/behaviour": "serve,shutdown=20s"}  # 20 s to exit after SIGTERM


def statefulset(
    name: str = "db",
    replicas: int = 3,
    policy: str = "OrderedReady",
    strategy: StatefulSetUpdateStrategy | None = None,
    min_ready_seconds: int = 0,
    ordinals_start: int = 0,
    annotations: dict[str, str] | None = None,
) -> StatefulSet:
    return StatefulSet(
        ObjectMeta(name=name, namespace="default"),
        StatefulSetSpec(
            selector=LabelSelector({"app": name}),
            template=template({"app": name}, annotations, readiness=READINESS),
            replicas=replicas,
            service_name=name,
            pod_management_policy=policy,
            update_strategy=strategy or StatefulSetUpdateStrategy(),
            min_ready_seconds=min_ready_seconds,
            ordinals_start=ordinals_start,
        ),
    )


def get_set(cluster: Cluster, name: str = "db") -> StatefulSet:
    return cluster.api.cache("statefulsets").get(f"/registry/statefulsets/default/{name}")


def get_pod(cluster: Cluster, name: str) -> Pod | None:
    return cluster.api.cache("pods").get(f"/registry/pods/default/{name}")


def set_events(cluster: Cluster, reason: str) -> list[tuple[float, str]]:
    return [
        (e.time, e.message)
        for e in cluster.events
        if e.component == "statefulset-controller" and e.reason == reason
    ]


def ready_at(cluster: Cluster, name: str) -> float | None:
    pod = get_pod(cluster, name)
    return None if pod is None else pod.ready_since()


async def test_ordered_ready_creates_in_ordinal_order_each_after_the_previous_is_ready() -> None:
    """stateful_set_control.go processReplica (OrderedReady is monotonic): pods are created in
    ordinal order ``db-0``, ``db-1``, ``db-2`` and a pod is not created before its predecessor
    is Running and Ready; stateful_pod_control.go recordPodEvent words the Events ("create Pod
    db-0 in StatefulSet db successful"). Each pod carries the identity labels
    (``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index``) and the
    ``controller-revision-hash`` of its revision (``<set>-<hash>``), and is controlled by the
    set."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        created = set_events(cluster, "SuccessfulCreate")
        assert [m for _, m in created] == [
            f"create Pod db-{i} in StatefulSet db successful" for i in range(3)
        ]
        for i in (1, 2):
            previous_ready = ready_at(cluster, f"db-{i - 1}")
            assert previous_ready is not None and created[i][0] >= previous_ready
        pod = get_pod(cluster, "db-1")
        assert pod is not None
        sts = get_set(cluster)
        assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-1"
        assert pod.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
        assert pod.metadata.labels["controller-revision-hash"] == sts.status.update_revision
        assert sts.status.update_revision.startswith("db-")
        ref = pod.metadata.controller_ref()
        assert ref is not None and (ref.kind, ref.name, ref.uid) == (
            "StatefulSet",
            "db",
            sts.metadata.uid,
        )
        status = sts.status
        assert (
            status.replicas,
            status.ready_replicas,
            status.available_replicas,
            status.current_replicas,
            status.updated_replicas,
            status.observed_generation,
        ) == (3, 3, 3, 3, 3, 1)
        assert status.current_revision == status.update_revision


async def test_parallel_creates_every_pod_without_waiting() -> None:
    """stateful_set_control.go runForAll with Parallel (allowsBurst): every missing replica is
    created in slow-start batches in one sync, none waits for another to be Ready."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(policy="Parallel")])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        created = [t for t, _ in set_events(cluster, "SuccessfulCreate")]
        first_ready = min(ready_at(cluster, f"db-{i}") or 1e9 for i in range(3))
        assert len(created) == 3 and max(created) < first_ready


async def test_ordered_ready_scale_down_in_reverse_one_at_a_time() -> None:
    """stateful_set_control.go processCondemned (monotonic): condemned pods go highest ordinal
    first, and the next is deleted only once the previous is gone (terminating pods block)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(replicas=4, annotations=SLOW_STOP)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 4, 120, "4 ready")
        await cluster.apply([statefulset(replicas=1, annotations=SLOW_STOP)])
        gone: dict[str, float] = {}

        def track() -> bool:
            for i in (1, 2, 3):
                if get_pod(cluster, f"db-{i}") is None:
                    gone.setdefault(f"db-{i}", trio.current_time())
            return len(gone) == 3

        await wait_until(track, 300, "scale down to 1", step=0.1)
        deleted = set_events(cluster, "SuccessfulDelete")
        assert [m for _, m in deleted] == [
            f"delete Pod db-{i} in StatefulSet db successful" for i in (3, 2, 1)
        ]
        # (``gone`` is polled every 0.1 s: it may be seen up to 0.1 s late)
        assert deleted[1][0] >= gone["db-3"] - 0.1 and deleted[2][0] >= gone["db-2"] - 0.1
        assert deleted[1][0] - deleted[0][0] >= 20  # each waited out the previous shutdown
        assert get_pod(cluster, "db-0") is not None
        await wait_until(lambda: get_set(cluster).status.replicas == 1, 30, "status.replicas 1")


async def test_parallel_scale_down_deletes_all_condemned_at_once() -> None:
    """stateful_set_control.go processCondemned with Parallel: every condemned pod is deleted in
    the same sync, without waiting for the others to terminate."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(replicas=4, policy="Parallel", annotations=SLOW_STOP)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 4, 120, "4 ready")
        await cluster.apply([statefulset(replicas=1, policy="Parallel", annotations=SLOW_STOP)])
        await wait_until(lambda: len(set_events(cluster, "SuccessfulDelete")) == 3, 30, "deletes")
        times = [t for t, _ in set_events(cluster, "SuccessfulDelete")]
        assert max(times) - min(times) < 1.0


async def test_deleted_pod_is_recreated_with_the_same_name_only_after_it_is_gone() -> None:
    """stateful_set_control.go processReplica: a terminating replica blocks (``isTerminating``),
    and a missing one is created with its own name ``<set>-<ordinal>``; so a deleted pod comes
    back as the same name, a new object, only after the old object has left the API (a graceful
    deletion of 20 s here)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(annotations=SLOW_STOP)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        old = get_pod(cluster, "db-1")
        assert old is not None
        deleted_at = trio.current_time()
        await cluster.api.delete("pods", "default", "db-1")
        seen = []

        def old_gone() -> bool:
            pod = get_pod(cluster, "db-1")
            seen.append(pod is not None and pod.metadata.deletion_timestamp is not None)
            return pod is None or pod.metadata.uid != old.metadata.uid

        # polled every millisecond: the old object's removal is seen within 1 ms
        gone_at = await wait_until(old_gone, 60, "the old db-1 gone", step=0.001)
        assert all(seen[1:-1]) and gone_at - deleted_at >= 20  # Terminating through shutdown
        await wait_until(lambda: get_pod(cluster, "db-1") is not None, 10, "db-1 back", step=0.01)
        new = get_pod(cluster, "db-1")
        assert new is not None and new.metadata.uid != old.metadata.uid
        recreated = set_events(cluster, "SuccessfulCreate")[-1]
        assert recreated[1] == "create Pod db-1 in StatefulSet db successful"
        assert recreated[0] >= gone_at - 0.001
        assert not set_events(cluster, "FailedCreate")
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 60, "3 ready again")


async def crash_node_of(cluster: Cluster, name: str) -> tuple[str, float]:
    pod = get_pod(cluster, name)
    assert pod is not None
    node = pod.spec.node_name
    cluster.nodes[node].crash()
    return node, trio.current_time()


async def test_pod_on_crashed_node_stays_terminating_and_is_never_replaced() -> None:
    """The chaos fact. pkg/controller/tainteviction/taint_eviction.go deletes the pods of an
    unreachable node after their 300 s ``node.kubernetes.io/unreachable`` toleration
    (DefaultTolerationSeconds), but only the pod's kubelet completes a graceful deletion: with the
    node down the pod stays Terminating. stateful_set_control.go processReplica then waits on it
    (``isTerminating``) and, the name being taken, never creates its replacement: the set stays
    one replica short (readyReplicas 2) for as long as the node is down. OrderedReady blocks
    there too: nothing else changes."""
    async with running(nodes=4) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        _, crashed_at = await crash_node_of(cluster, "db-1")

        def terminating() -> bool:
            pod = get_pod(cluster, "db-1")
            return pod is not None and pod.metadata.deletion_timestamp is not None

        marked_at = await wait_until(terminating, 600, "db-1 marked for deletion")
        assert marked_at - crashed_at >= 300  # the unreachable toleration
        await trio.sleep(1200)  # 20 more minutes
        pod = get_pod(cluster, "db-1")
        assert pod is not None and pod.metadata.deletion_timestamp is not None
        assert [m for _, m in set_events(cluster, "SuccessfulCreate")] == [
            f"create Pod db-{i} in StatefulSet db successful" for i in range(3)
        ]
        status = get_set(cluster).status
        assert (status.replicas, status.ready_replicas, status.available_replicas) == (3, 2, 2)


async def test_force_delete_of_the_terminating_pod_replaces_it_at_once() -> None:
    """A ``pod-kill`` with ``gracePeriod: 0s`` is ``kubectl delete --force --grace-period=0``:
    the API server removes the object at once (pkg/registry/core/pod/strategy.go CheckGracefulDelete
    with a zero grace period), even while it is Terminating; the StatefulSet controller then
    creates ``db-1`` again on a live node (stateful_set_control.go processReplica), and the set is
    whole once it is Ready."""
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
        await trio.sleep(60)
        chaos = Chaos(cluster)
        killed_at = trio.current_time()
        await chaos.inject(PodKill(target=Target(names=("db-1",)), grace_period=0))
        await wait_until(
            lambda: (
                (p := get_pod(cluster, "db-1")) is not None and p.metadata.uid != old.metadata.uid
            ),
            5,
            "db-1 recreated",
            step=0.01,
        )
        recreated_at = set_events(cluster, "SuccessfulCreate")[-1][0]
        assert recreated_at - killed_at < 1.0
        ready = await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3")
        new = get_pod(cluster, "db-1")
        assert new is not None and new.spec.node_name != node
        assert ready - killed_at < 60


def revision_of(cluster: Cluster, name: str) -> str:
    pod = get_pod(cluster, name)
    return "" if pod is None else pod.metadata.labels["controller-revision-hash"]


V2 = {"kubechaos.io/behaviour": "serve", "version": "2"}


async def test_rolling_update_in_reverse_ordinal_order_honours_the_partition() -> None:
    """stateful_set_control.go updateStatefulSet (MaxUnavailableStatefulSet off, its default in
    v1.32: the gate is alpha until v1.35): the pod with the highest ordinal at or above
    ``partition`` not at the update revision is deleted, one at a time, each replacement Ready
    before the next deletion; pods below the partition stay at the current revision, and
    ``currentRevision`` becomes the update revision only when every replica is updated and ready
    (completeRollingUpdate)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        old_revision = get_set(cluster).status.current_revision
        partitioned = StatefulSetUpdateStrategy(partition=1)
        await cluster.apply([statefulset(annotations=V2, strategy=partitioned)])

        def updated(n: int) -> bool:
            status = get_set(cluster).status
            return status.updated_replicas == n and status.ready_replicas == 3

        await wait_until(lambda: updated(2), 300, "db-2 and db-1 updated")
        await trio.sleep(30)
        sts = get_set(cluster)
        new_revision = sts.status.update_revision
        assert new_revision != old_revision and sts.status.current_revision == old_revision
        deleted = set_events(cluster, "SuccessfulDelete")
        assert [m for _, m in deleted] == [
            f"delete Pod db-{i} in StatefulSet db successful" for i in (2, 1)
        ]
        assert deleted[1][0] >= (ready_at(cluster, "db-2") or 1e9)  # waited for db-2
        assert [revision_of(cluster, f"db-{i}") for i in range(3)] == [
            old_revision,
            new_revision,
            new_revision,
        ]
        assert (sts.status.current_replicas, sts.status.updated_replicas) == (1, 2)
        await cluster.apply([statefulset(annotations=V2)])  # partition 0
        await wait_until(lambda: updated(3), 300, "all updated")
        await wait_until(
            lambda: get_set(cluster).status.current_revision == new_revision, 30, "completed"
        )
        assert get_set(cluster).status.current_replicas == 3


async def test_replica_below_the_partition_comes_back_at_the_current_revision() -> None:
    """stateful_set_utils.go newVersionedStatefulSetPod: a missing replica whose ordinal is
    below the partition is recreated from the current revision's template, not the update's."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        old_revision = get_set(cluster).status.current_revision
        partitioned = StatefulSetUpdateStrategy(partition=2)
        await cluster.apply([statefulset(annotations=V2, strategy=partitioned)])
        await wait_until(lambda: get_set(cluster).status.updated_replicas == 1, 120, "db-2")
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        old = get_pod(cluster, "db-0")
        assert old is not None
        await cluster.api.delete("pods", "default", "db-0")
        await wait_until(
            lambda: (
                (p := get_pod(cluster, "db-0")) is not None and p.metadata.uid != old.metadata.uid
            ),
            60,
            "db-0 back",
        )
        new = get_pod(cluster, "db-0")
        assert new is not None and revision_of(cluster, "db-0") == old_revision
        assert "version" not in new.metadata.annotations


async def test_on_delete_changes_no_pod_until_one_is_deleted() -> None:
    """stateful_set_control.go: with OnDelete the update stops after creation and scaling; a
    changed template only sets ``updateRevision``, and a pod someone deletes comes back at it."""
    async with running(nodes=3) as cluster:
        on_delete = StatefulSetUpdateStrategy(type="OnDelete")
        await cluster.apply([statefulset(strategy=on_delete)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        old_revision = get_set(cluster).status.current_revision
        await cluster.apply([statefulset(annotations=V2, strategy=on_delete)])
        await wait_until(
            lambda: get_set(cluster).status.update_revision != old_revision, 30, "new revision"
        )
        await trio.sleep(120)
        assert not set_events(cluster, "SuccessfulDelete")
        status = get_set(cluster).status
        assert (status.current_replicas, status.updated_replicas) == (3, 0)
        await cluster.api.delete("pods", "default", "db-1")
        await wait_until(lambda: get_set(cluster).status.updated_replicas == 1, 120, "db-1")
        assert revision_of(cluster, "db-1") == status.update_revision
        assert revision_of(cluster, "db-0") == old_revision


async def test_min_ready_seconds_delays_the_next_ordinal_and_availability() -> None:
    """stateful_set_control.go processReplica: with OrderedReady each pod must also be
    available (Ready for ``minReadySeconds``, isRunningAndAvailable) before the next is created;
    ``availableReplicas`` counts only those (computeReplicaStatus)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(min_ready_seconds=20)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas >= 1, 60, "db-0 ready")
        status = get_set(cluster).status
        assert status.available_replicas == 0
        await wait_until(lambda: get_set(cluster).status.available_replicas == 3, 300, "3")
        created = set_events(cluster, "SuccessfulCreate")
        for i in (1, 2):
            previous = ready_at(cluster, f"db-{i - 1}")
            assert previous is not None and created[i][0] >= previous + 20


async def test_ordinals_start_names_the_pods_from_it() -> None:
    """``spec.ordinals.start`` (StatefulSetStartOrdinal, GA in v1.31): replicas are numbered
    from ``start`` (getStartOrdinal / getEndOrdinal); the ``pod-index`` label says so."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset(ordinals_start=5)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        names = sorted(
            p.metadata.name
            for p in cluster.api.cache("pods").list("default")
            if p.metadata.labels.get("app") == "db"
        )
        assert names == ["db-5", "db-6", "db-7"]
        pod = get_pod(cluster, "db-6")
        assert pod is not None and pod.metadata.labels["apps.kubernetes.io/pod-index"] == "6"


async def test_headless_service_gets_endpoints_and_no_proxy_rules() -> None:
    """A headless Service (``clusterIP: None``, the StatefulSet's ``serviceName``): the API
    server allocates it no ClusterIP (pkg/registry/core/service/storage/alloc.go skips
    ``None``), the endpoints controller still lists its pods (pkg/controller/endpoint), and
    kube-proxy programs nothing for it (pkg/proxy/util/utils.go ShouldSkipService: no ClusterIP
    set): its clients resolve the pods through DNS."""
    async with running(nodes=3) as cluster:
        headless = Service(
            ObjectMeta(name="db", namespace="default"),
            ServiceSpec(selector={"app": "db"}, cluster_ip="None"),
        )
        await cluster.apply([headless, statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        svc = cluster.api.cache("services").get("/registry/services/default/db")
        assert svc.spec.cluster_ip == "None"

        def addresses() -> list[str]:
            eps = cluster.api.cache("endpoints").get("/registry/endpoints/default/db")
            return [] if eps is None else [a.target_pod for a in eps.ready_addresses()]

        await wait_until(lambda: len(addresses()) == 3, 30, "3 endpoint addresses")
        assert sorted(addresses()) == [f"default/db-{i}" for i in range(3)]
        await trio.sleep(10)
        assert cluster.proxies.history("default/db") == []
        assert cluster.proxies.proxy("worker-0").endpoints("default/db") == ()


async def test_kube_state_metrics_statefulset_families() -> None:
    """kube-state-metrics internal/store/statefulset.go: the ``kube_statefulset_*`` families
    with labels ``namespace`` and ``statefulset`` (and ``revision``, ``when_deleted`` /
    ``when_scaled`` where upstream has them), values from the set's spec and status; none at all
    while the cluster has no StatefulSet."""
    async with running(nodes=3) as cluster:
        collector = ClusterCollector(cluster)
        assert collector.kind_families("statefulsets") == []
        await cluster.apply([statefulset(ordinals_start=2)])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        await trio.sleep(1)
        sts = get_set(cluster)
        found = {
            m.name: [(s.labels, s.value) for s in m.samples]
            for m in collector.kind_families("statefulsets")
        }
        base = {"namespace": "default", "statefulset": "db"}
        for name, value in (
            ("kube_statefulset_replicas", 3),
            ("kube_statefulset_status_replicas", 3),
            ("kube_statefulset_status_replicas_ready", 3),
            ("kube_statefulset_status_replicas_available", 3),
            ("kube_statefulset_status_replicas_current", 3),
            ("kube_statefulset_status_replicas_updated", 3),
            ("kube_statefulset_status_observed_generation", 1),
            ("kube_statefulset_metadata_generation", 1),
            ("kube_statefulset_ordinals_start", 2),
            ("kube_statefulset_created", sts.metadata.creation_timestamp),
        ):
            assert found[name] == [(base, value)], name
        assert found["kube_statefulset_status_current_revision"] == [
            ({**base, "revision": sts.status.current_revision}, 1.0)
        ]
        assert found["kube_statefulset_status_update_revision"] == [
            ({**base, "revision": sts.status.update_revision}, 1.0)
        ]
        assert found["kube_statefulset_persistentvolumeclaim_retention_policy"] == [
            ({**base, "when_deleted": "Retain", "when_scaled": "Retain"}, 1.0)
        ]


async def test_a_statefulset_short_of_available_replicas_is_not_steady() -> None:
    """Steady state (kubechaos/observe/steady.py) reads kube-state-metrics as an operator would:
    ``kube_statefulset_status_replicas_available < kube_statefulset_replicas`` is not steady. A
    pod stuck Terminating on a dead node keeps it so for good, which is why the crash of its
    node never recovers (scenarios/statefulset-node-crash.yaml)."""
    async with running(nodes=4) as cluster:
        steady = SteadyStateMonitor(ClusterCollector(cluster), cluster.events)
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.available_replicas == 3, 120, "3")
        assert steady.is_steady_now() and steady.unsteady_reasons(trio.current_time()) == []
        await crash_node_of(cluster, "db-1")
        await wait_until(lambda: not steady.is_steady_now(), 120, "not steady")
        assert steady.unsteady_reasons(trio.current_time()) == [
            "StatefulSet default/db has 2/3 available"
        ]
        await trio.sleep(900)
        assert not steady.is_steady_now()


DB_MANIFEST = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "db"},
    "spec": {
        "serviceName": "db",
        "replicas": 3,
        "selector": {"matchLabels": {"app": "db"}},
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "postgres", "image": "postgres:16"}]},
        },
    },
}


def with_spec(**spec: object) -> dict[str, object]:
    return {**DB_MANIFEST, "spec": {**DB_MANIFEST["spec"], **spec}}  # type: ignore[dict-item]


def test_manifest_defaults_as_the_api_server_sets_them() -> None:
    """pkg/apis/apps/v1/defaults.go SetDefaults_StatefulSet: OrderedReady, RollingUpdate with
    partition 0, revisionHistoryLimit 10, retention Retain/Retain, ordinals from 0."""
    sts = read_manifest(DB_MANIFEST)
    assert isinstance(sts, StatefulSet)
    spec = sts.spec
    assert (spec.pod_management_policy, spec.update_strategy) == (
        "OrderedReady",
        StatefulSetUpdateStrategy("RollingUpdate", 0),
    )
    assert (spec.revision_history_limit, spec.pvc_retention, spec.ordinals_start) == (
        10,
        ("Retain", "Retain"),
        0,
    )
    assert unmodelled_fields(DB_MANIFEST) == []


def test_unmodelled_statefulset_fields_are_warned_about() -> None:
    """api/modelled.py: volumeClaimTemplates (volumes are not modelled), rollingUpdate
    maxUnavailable (the MaxUnavailableStatefulSet gate is alpha and off by default in v1.32, so
    the API server drops it: pkg/registry/apps/statefulset/strategy.go
    dropStatefulSetDisabledFields) and a retention policy
    other than Retain are warned about; ``revisionHistoryLimit`` is silent (no ControllerRevision
    objects to prune); ``ordinals`` and ``partition`` are read."""
    doc = with_spec(
        volumeClaimTemplates=[{"metadata": {"name": "data"}}],
        updateStrategy={"rollingUpdate": {"partition": 1, "maxUnavailable": 2}},
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
        revisionHistoryLimit=3,
        ordinals={"start": 1},
    )
    assert unmodelled_fields(doc) == [
        ("spec", "volumeClaimTemplates"),
        ("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"),
        ("spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"),
    ]
    sts = read_manifest(doc)
    assert isinstance(sts, StatefulSet)
    assert (sts.spec.update_strategy.partition, sts.spec.ordinals_start) == (1, 1)


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        (with_spec(podManagementPolicy="Sequential"), "spec.podManagementPolicy", "Unsupported"),
        (
            with_spec(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
            "spec.updateStrategy.rollingUpdate",
            "only allowed for updateStrategy 'RollingUpdate'",
        ),
        (
            with_spec(updateStrategy={"rollingUpdate": {"partition": -1}}),
            "spec.updateStrategy.rollingUpdate.partition",
            "greater than or equal to 0",
        ),
        (with_spec(ordinals={"start": -2}), "spec.ordinals.start", "greater than or equal to 0"),
        (
            with_spec(selector={"matchLabels": {"app": "other"}}),
            "spec.template.metadata.labels",
            "selector does not match template labels",
        ),
        (
            with_spec(
                template={
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "postgres", "image": "postgres:16"}],
                    },
                }
            ),
            "spec.template.spec.restartPolicy",
            'supported values: "Always"',
        ),
        ({**DB_MANIFEST, "metadata": {"name": "db.primary"}}, "metadata.name", "RFC 1123 label"),
    ],
)
def test_invalid_statefulsets_are_refused_at_the_field(doc: dict, path: str, words: str) -> None:
    """pkg/apis/apps/validation/validation.go ValidateStatefulSet / ValidateStatefulSetSpec:
    each problem is one located error (the name must be a DNS-1123 label, as
    ValidateStatefulSetName requires)."""
    with pytest.raises(ManifestError) as exc:
        read_manifest(doc)
    errors = {e.dotted(): e.message for e in exc.value.errors}
    assert path in errors and words in errors[path], errors


async def test_no_statefulset_no_controller_and_no_requests() -> None:
    """A run without StatefulSets pays nothing for the kind: the StatefulSet controller is not
    running (no request for statefulsets) until the first one is applied, and it then lists what
    exists and syncs it (control/controllermanager.py ON_FIRST_OBJECT)."""
    async with running(nodes=3) as cluster:
        await cluster.apply([deployment("web", 1)])
        await trio.sleep(10)
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        assert manager.controller_for("StatefulSet") is None
        assert not [k for k in cluster.api.stats.total if k[1] == "statefulsets"]
        await cluster.apply([statefulset(replicas=2)])
        assert manager.controller_for("StatefulSet") is not None
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 2, 120, "2 ready")


async def test_controller_manager_restart_relists_and_makes_no_duplicate() -> None:
    """After kube-controller-manager restarts (a fresh StatefulSet controller relists, as
    upstream's informers do), the set is synced from what exists: no pod is created twice, and a
    replica deleted while it was down comes back under its name."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        chaos = Chaos(cluster)
        crash = await chaos.inject(ControllerManagerCrash())
        await cluster.api.delete("pods", "default", "db-2")
        await trio.sleep(60)
        assert get_pod(cluster, "db-2") is None  # nothing recreates it while the manager is down
        await chaos.revert(crash)
        await wait_until(
            lambda: (p := get_pod(cluster, "db-2")) is not None and p.is_ready(), 120, "db-2 back"
        )
        await trio.sleep(10)
        created = [m for _, m in set_events(cluster, "SuccessfulCreate")]
        assert created == [f"create Pod db-{i} in StatefulSet db successful" for i in (0, 1, 2, 2)]
        assert not set_events(cluster, "FailedCreate")


async def test_only_some_spec_fields_may_change() -> None:
    """pkg/apis/apps/validation/validation.go ValidateStatefulSetUpdate: replicas, ordinals,
    template, updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds may
    change (and revisionHistoryLimit); any other spec change, such as podManagementPolicy or
    serviceName, is refused with 422."""
    async with running(nodes=1) as cluster:
        await cluster.apply([statefulset(replicas=1)])
        await cluster.apply([statefulset(replicas=2, min_ready_seconds=5)])
        assert get_set(cluster).spec.replicas == 2
        with pytest.raises(errors.Invalid, match="updates to statefulset spec for fields other"):
            await cluster.apply([statefulset(replicas=2, min_ready_seconds=5, policy="Parallel")])


HEADLESS_TRAFFIC = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: headless}
spec:
  duration: 1m
  cluster:
    nodeGroups: [{name: worker, count: 1}]
  workloads:
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {name: db}
        spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
  traffic:
    - service: db
      rate: 5
"""


def test_traffic_to_a_headless_service_is_refused_at_load() -> None:
    """kube-proxy programs no rule for a headless Service (pkg/proxy/util/utils.go
    ShouldSkipService) and its clients resolve the pods' IPs through DNS, which the model does
    not carry: traffic aimed at one would fail every request as ``no_endpoints``, a result no
    real client sees, so the scenario is refused with one located error instead."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(HEADLESS_TRAFFIC, "s.yaml")
    (line,) = [str(e) for e in exc.value.errors]
    assert line.startswith("s.yaml:15:7:") and "spec.traffic[0].service" in line
    assert "is headless (clusterIP: None)" in line


async def test_orphan_pod_with_a_member_name_is_adopted_then_updated() -> None:
    """stateful_set.go getPodsForStatefulSet: orphans the selector matches and whose name is
    ``<set>-<ordinal>`` (isMemberOf) are adopted (ControllerRefManager): a pre-existing ``db-0``
    becomes replica 0, so the set creates ``db-1`` first; a matching pod with another name is
    left alone. The adopted pod carries no ``controller-revision-hash``, so once every replica is
    Running and Ready the rolling update (stateful_set_control.go) replaces it like any pod not
    at the update revision."""
    async with running(nodes=3) as cluster:
        await cluster.apply(
            [
                pod("db-0", labels={"app": "db"}, readiness=READINESS),
                pod("stray", labels={"app": "db"}, readiness=READINESS),
            ]
        )
        await wait_until(
            lambda: (p := get_pod(cluster, "db-0")) is not None and p.is_ready(), 60, "db-0"
        )
        original = get_pod(cluster, "db-0")
        assert original is not None
        await cluster.apply([statefulset()])
        await wait_until(lambda: len(set_events(cluster, "SuccessfulCreate")) == 1, 30, "db-1")
        adopted = get_pod(cluster, "db-0")
        assert adopted is not None and adopted.metadata.uid == original.metadata.uid
        ref = adopted.metadata.controller_ref()
        assert ref is not None and ref.kind == "StatefulSet" and ref.name == "db"
        await wait_until(lambda: get_set(cluster).status.updated_replicas == 3, 120, "updated")
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        changes = [
            e.message
            for e in cluster.events
            if e.component == "statefulset-controller"
            and e.reason in ("SuccessfulCreate", "SuccessfulDelete")
        ]
        assert changes == [
            "create Pod db-1 in StatefulSet db successful",
            "create Pod db-2 in StatefulSet db successful",
            "delete Pod db-0 in StatefulSet db successful",
            "create Pod db-0 in StatefulSet db successful",
        ]
        stray = get_pod(cluster, "stray")
        assert stray is not None and stray.metadata.controller_ref() is None


async def test_budget_with_max_unavailable_over_a_statefulset() -> None:
    """pkg/controller/disruption/disruption.go getExpectedScale: a pod a StatefulSet controls
    counts at its set's ``spec.replicas`` (getPodStatefulSet); so ``maxUnavailable: 1`` over a
    3-replica set expects 3, desires 2 healthy and allows one disruption (it used to fail safe
    with SyncFailed, as for a pod with no known controller)."""
    async with running(nodes=3) as cluster:
        pdb = PodDisruptionBudget(
            ObjectMeta(name="db", namespace="default"),
            PodDisruptionBudgetSpec(LabelSelector({"app": "db"}), max_unavailable=1),
        )
        await cluster.apply([statefulset(), pdb])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")

        def status() -> PodDisruptionBudgetStatus:
            got = cluster.api.cache("poddisruptionbudgets").get(
                "/registry/poddisruptionbudgets/default/db"
            )
            return got.status

        await wait_until(lambda: status().current_healthy == 3, 30, "budget status")
        s = status()
        assert (s.expected_pods, s.desired_healthy, s.disruptions_allowed) == (3, 2, 1)
        assert s.condition("DisruptionAllowed").status == "True"


async def test_deleting_the_statefulset_collects_its_pods() -> None:
    """pkg/controller/garbagecollector (background propagation): deleting a StatefulSet deletes
    the pods it controls; the collector watches StatefulSets from the first one applied, so it
    needs no lookup per pod to know their owner exists."""
    async with running(nodes=3) as cluster:
        await cluster.apply([statefulset()])
        await wait_until(lambda: get_set(cluster).status.ready_replicas == 3, 120, "3 ready")
        gets = [k for k in cluster.api.stats.total if k[0] == "get" and k[1] == "statefulsets"]
        await cluster.api.delete("statefulsets", "default", "db")
        await wait_until(
            lambda: all(get_pod(cluster, f"db-{i}") is None for i in range(3)), 120, "pods gone"
        )
        collected = [e.object for e in cluster.events if e.reason == "GarbageCollected"]
        assert sorted(collected) == [f"default/db-{i}" for i in range(3)]
        assert not gets


def test_the_report_shows_statefulset_replicas() -> None:
    """The JSON result lists each StatefulSet (desired, ready, available, updated, and the
    desired/available history; the key is absent from runs without StatefulSets, so their
    results are as before) and the HTML report charts its replicas beside the Deployments'."""
    run = run_of("statefulset-node-crash")
    result = result_of(run)
    jsonschema.validate(result, result_schema())
    (record,) = result["statefulsets"]
    assert (record["name"], record["desired"], record["ready"], record["available"]) == (
        "db",
        3,
        2,
        2,
    )
    assert record["history"][-1][1:] == [3, 2]
    html = render_html(result, list(run.events))
    assert "StatefulSet default/db: desired vs available replicas" in html
    quickstart = result_of(run_of("quickstart"))
    assert "statefulsets" not in quickstart
