"""Deletion with ``propagationPolicy``: orphaning and foreground deletion, as upstream.

Upstream: the generic registry adds the ``orphan`` or ``foregroundDeletion`` finalizer by the
request's policy (``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``,
``deletionFinalizersForGarbageCollection``); the garbage collector
(``pkg/controller/garbagecollector/garbagecollector.go``: ``orphanDependents``,
``attemptToDeleteItem``, ``processDeletingDependentsItem``) orphans or deletes the dependents and
then removes the finalizer; docs: "Garbage Collection" (concepts/architecture/garbage-collection:
foreground cascading deletion keeps the owner, with ``deletionTimestamp`` and the
``foregroundDeletion`` finalizer, until every blocking dependent is gone).
"""

from __future__ import annotations

import trio

from kubechaos.api import errors
from kubechaos.api.propagation import FOREGROUND, ORPHAN, deletion_finalizers
from kubechaos.cluster import Cluster
from tests.factories import deployment
from tests.harness import running, wait_until


def web_pods(cluster: Cluster) -> list:
    return [
        p
        for p in cluster.api.cache("pods").list("default")
        if p.metadata.labels.get("app") == "web"
    ]


def replicasets(cluster: Cluster) -> list:
    return list(cluster.api.cache("replicasets").list("default"))


async def ready_web(cluster: Cluster, replicas: int = 2) -> None:
    await cluster.apply([deployment("web", replicas=replicas)])
    await wait_until(
        lambda: sum(p.is_ready() for p in web_pods(cluster)) == replicas, 120, "web ready"
    )


def test_the_policy_sets_the_collectors_finalizers() -> None:
    """``deletionFinalizersForGarbageCollection``: Orphan adds ``orphan`` and drops
    ``foregroundDeletion``, Foreground the reverse, Background drops both, none keeps them."""
    assert deletion_finalizers(("x",), "Orphan") == ("x", ORPHAN)
    assert deletion_finalizers((ORPHAN,), "Foreground") == (FOREGROUND,)
    assert deletion_finalizers((ORPHAN, FOREGROUND, "x"), "Background") == ("x",)
    assert deletion_finalizers((FOREGROUND,), None) == (FOREGROUND,)


async def test_orphan_deletion_keeps_the_replicaset_and_its_pods_without_their_owner() -> None:
    """``orphanDependents``: the Deployment goes once its ReplicaSet no longer names it; the
    ReplicaSet keeps its pods running."""
    async with running(nodes=2) as cluster:
        await ready_web(cluster)
        [rs] = replicasets(cluster)
        pods = {p.metadata.uid for p in web_pods(cluster)}
        await cluster.api.delete("deployments", "default", "web", propagation_policy="Orphan")
        await wait_until(
            lambda: cluster.api.cached("deployments", "default", "web") is None, 30, "gone"
        )
        [kept] = replicasets(cluster)
        assert kept.metadata.uid == rs.metadata.uid
        assert kept.metadata.owner_references == ()
        assert kept.metadata.deletion_timestamp is None
        await trio.sleep(60)
        assert {p.metadata.uid for p in web_pods(cluster) if p.is_ready()} == pods


async def test_foreground_deletion_keeps_the_owner_until_its_dependents_are_gone() -> None:
    """Foreground: the Deployment stays, with ``deletionTimestamp`` and
    ``foregroundDeletion``, while the collector deletes its ReplicaSet in the foreground too
    (it has pods), whose pods terminate gracefully; the ReplicaSet goes after its pods, the
    Deployment after the ReplicaSet."""
    async with running(nodes=2) as cluster:
        await ready_web(cluster)
        await cluster.api.delete("deployments", "default", "web", propagation_policy="Foreground")
        held = cluster.api.cached("deployments", "default", "web")
        assert held is not None and held.metadata.deletion_timestamp is not None
        assert FOREGROUND in held.metadata.finalizers
        order: list[str] = []

        def gone() -> bool:
            if not web_pods(cluster) and "pods" not in order:
                order.append("pods")
            if not replicasets(cluster) and "replicaset" not in order:
                order.append("replicaset")
            if cluster.api.cached("deployments", "default", "web") is None:
                order.append("deployment")
                return True
            return False

        await wait_until(gone, 120, "the foreground deletion to finish", step=0.1)
        assert order == ["pods", "replicaset", "deployment"]


async def test_background_deletion_removes_the_owner_at_once() -> None:
    """Background (the default): the owner goes at once and the collector removes the rest."""
    async with running(nodes=2) as cluster:
        await ready_web(cluster)
        await cluster.api.delete("deployments", "default", "web", propagation_policy="Background")
        assert cluster.api.cached("deployments", "default", "web") is None
        await wait_until(lambda: not web_pods(cluster), 120, "pods collected")
        try:
            await cluster.api.get("deployments", "default", "web")
        except errors.NotFound:
            pass
        else:  # pragma: no cover - the assertion above is the point
            raise AssertionError("the Deployment should be gone")
