"""StatefulSets end to end against upstream v1.32: pkg/controller/statefulset/stateful_set.go,
stateful_set_control.go (``updateStatefulSet``: the order pods are created, deleted and updated
in), stateful_set_utils.go (identity, revisions, status) and stateful_pod_control.go (the Events).
The chaos fact they exist for: a StatefulSet pod is recreated with the same name only once its
old object is gone, so a pod stuck Terminating on a dead node is never replaced until it is
force-deleted."""

from __future__ import annotations

import attrs

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
