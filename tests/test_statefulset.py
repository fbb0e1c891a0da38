"""StatefulSets end to end against upstream v1.32: pkg/controller/statefulset/stateful_set.go,
stateful_set_control.go (``updateStatefulSet``: the order pods are created, deleted and updated
in), stateful_set_utils.go (identity, revisions, status) and stateful_pod_control.go (the Events).
The chaos fact they exist for: a StatefulSet pod is recreated with the same name only once its
old object is gone, so a pod stuck Terminating on a dead node is never replaced until it is
force-deleted."""

from __future__ import annotations

import attrs
import trio

from kubechaos.api.objects import (
    ObjectMeta,
    Pod,
    Probe,
    StatefulSet,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster

from .factories import template
from .harness import running, wait_until

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
