"""The garbage collector over every kind the model serves, custom objects included.

Upstream: pkg/controller/garbagecollector (graph_builder.go monitors every listable, deletable
resource, custom resources included; garbagecollector.go attemptToDeleteItem,
processDeletingDependentsItem, orphanDependents) and the generic registry's
deletionFinalizersForGarbageCollection
(staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import yaml

from kubechaos.api import errors
from kubechaos.api.manifest import read_manifest
from kubechaos.api.objects import ConfigMap, ObjectMeta, OwnerReference
from kubechaos.api.objects.custom import Unstructured
from kubechaos.cluster import Cluster
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.garbagecollector import GarbageCollector
from tests.factories import deployment, pod
from tests.harness import running, wait_until
from tests.test_crd import CRD, widget
from tests.test_job import get_job, job, job_pods

WIDGETS = "widgets.example.com"


async def with_widgets(cluster: Cluster) -> None:
    custom = cluster.api.custom
    crds = custom.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    await custom.create(crds, CRD, "")


async def create_widget(cluster: Cluster, name: str = "w1", **meta: Any) -> Unstructured:
    body = widget(name)
    body["metadata"].update(meta)
    served = cluster.api.custom.resolve("example.com", "v1", "widgets")
    assert served is not None
    obj, _ = await cluster.api.custom.create(served, body, "default")
    return obj


def owned_by(owner: Any, block: bool = True, controller: bool = True) -> OwnerReference:
    if isinstance(owner, Unstructured):
        return OwnerReference(
            owner.kind,
            owner.metadata.name,
            owner.metadata.uid,
            controller,
            owner.api_version,
            block,
        )
    kind = type(owner).__name__
    return OwnerReference(kind, owner.metadata.name, owner.metadata.uid, controller, "", block)


def ref_json(owner: Any, block: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": type(owner).__name__,
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": block,
    }


def with_owner(obj: Any, *refs: OwnerReference) -> Any:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))


def stored(cluster: Cluster, resource: str, name: str) -> Any:
    return cluster.api.cached(resource, "default", name)


def widget_stored(cluster: Cluster, name: str = "w1") -> Any:
    kv = cluster.etcd.get(f"/registry/example.com/widgets/default/{name}")
    return kv.value if kv is not None else None


def web_pods(cluster: Cluster, prefix: str = "web-") -> list[Any]:
    pods, _ = cluster.api.cache("pods").list("default"), None
    return [p for p in pods if p.metadata.name.startswith(prefix)]


SLOW_STOP = {"kubechaos.io/behaviour": "serve,shutdown=20s"}  # 20 s to exit after SIGTERM


def running_pods(cluster: Cluster, prefix: str = "web-") -> list[Any]:
    return [p for p in web_pods(cluster, prefix) if p.status.phase == "Running"]


async def widget_owning_web(cluster: Cluster, replicas: int = 2) -> Unstructured:
    await with_widgets(cluster)
    owner = await create_widget(cluster)
    web = deployment("web", replicas=replicas, annotations=SLOW_STOP)
    await cluster.apply([with_owner(web, owned_by(owner))])
    await wait_until(lambda: len(running_pods(cluster)) == replicas, 60, "the web pods")
    return owner


# ---------------------------------------------------------------------------- custom owners
async def test_a_deployment_owned_by_a_custom_object_goes_with_it() -> None:
    """attemptToDeleteItem: every owner of the Deployment is gone (a Widget, looked up through
    its apiVersion's group), so it is deleted in the background, and its ReplicaSet and pods
    after it: what an operator author checks first."""
    async with running(nodes=1) as cluster:
        await widget_owning_web(cluster)
        gone = await cluster.ctx.custom.delete(WIDGETS, "default", "w1")  # type: ignore[union-attr]
        assert gone.metadata.finalizers == ()  # background: no finalizer, gone at once
        await wait_until(lambda: stored(cluster, "deployments", "web") is None, 30, "web gone")
        await wait_until(lambda: not web_pods(cluster), 60, "its pods gone")
        assert not cluster.api.cache("replicasets").list("default")


async def test_foreground_keeps_the_custom_owner_until_its_deployment_is_gone() -> None:
    """Foreground: the Widget keeps ``deletionTimestamp`` and the ``foregroundDeletion``
    finalizer while the collector deletes the Deployment (itself in the foreground, as it has
    dependents); the Widget goes once no blocking dependent is left."""
    async with running(nodes=1) as cluster:
        await widget_owning_web(cluster)
        custom = cluster.ctx.custom
        assert custom is not None
        marked = await custom.delete(WIDGETS, "default", "w1", propagation_policy="Foreground")
        assert marked.metadata.finalizers == ("foregroundDeletion",)
        assert marked.metadata.deletion_timestamp is not None
        await trio.sleep(5)  # the pods take 20 s to stop
        web = stored(cluster, "deployments", "web")
        assert widget_stored(cluster) is not None
        assert web is not None and web.metadata.deletion_timestamp is not None
        assert "foregroundDeletion" in web.metadata.finalizers
        assert all(p.metadata.deletion_timestamp is not None for p in web_pods(cluster))
        gone = await wait_until(lambda: widget_stored(cluster) is None, 120, "the widget gone")
        assert gone - marked.metadata.deletion_timestamp > 15  # it waited for the pods
        assert stored(cluster, "deployments", "web") is None and not web_pods(cluster)


async def test_orphan_keeps_the_deployment_without_its_owner_reference() -> None:
    """Orphan: orphanDependents removes the Widget's reference from the Deployment, then the
    ``orphan`` finalizer; the Widget goes, the Deployment and its pods stay."""
    async with running(nodes=1) as cluster:
        await widget_owning_web(cluster)
        custom = cluster.ctx.custom
        assert custom is not None
        marked = await custom.delete(WIDGETS, "default", "w1", propagation_policy="Orphan")
        assert marked.metadata.finalizers == ("orphan",)
        await wait_until(lambda: widget_stored(cluster) is None, 30, "the widget gone")
        await trio.sleep(5)
        web = stored(cluster, "deployments", "web")
        assert web is not None and web.metadata.deletion_timestamp is None
        assert web.metadata.owner_references == ()
        assert len(web_pods(cluster)) == 2


async def test_a_custom_object_owned_by_a_deployment_goes_with_it() -> None:
    """A dependent may be a custom object and its owner typed: the Widget's ownerReference
    (apps/v1 Deployment) dangles once the Deployment is deleted, and the Widget is deleted."""
    async with running(nodes=1) as cluster:
        await with_widgets(cluster)
        web = (await cluster.apply([deployment("web", replicas=1)]))[0]
        await create_widget(cluster, ownerReferences=[ref_json(web)])
        await trio.sleep(2)
        assert widget_stored(cluster) is not None  # its owner exists
        await cluster.ctx.api.delete("deployments", "default", "web")
        await wait_until(lambda: widget_stored(cluster) is None, 30, "the widget gone")


async def test_foreground_waits_only_for_dependents_that_block_owner_deletion() -> None:
    """processDeletingDependentsItem waits for ``blockingDependents``: a dependent whose
    reference says ``blockOwnerDeletion: false`` is deleted too, but the owner does not wait
    for it (here it is held by its own finalizer)."""
    async with running(nodes=1) as cluster:
        await with_widgets(cluster)
        web = (await cluster.apply([deployment("web", replicas=0)]))[0]
        held = ["example.com/hold"]
        await create_widget(cluster, "loose", ownerReferences=[ref_json(web, block=False)])
        await create_widget(cluster, "tight", ownerReferences=[ref_json(web)], finalizers=held)
        await trio.sleep(1)
        await cluster.ctx.api.delete(
            "deployments", "default", "web", propagation_policy="Foreground"
        )
        await wait_until(lambda: widget_stored(cluster, "loose") is None, 30, "loose gone")
        await trio.sleep(5)
        tight = widget_stored(cluster, "tight")
        assert tight is not None and tight.deleting is not None  # held by its finalizer
        assert stored(cluster, "deployments", "web") is not None  # and it blocks the owner
        await cluster.ctx.custom.patch(  # type: ignore[union-attr]
            WIDGETS, "default", "tight", lambda w: w.with_meta(finalizers=None)
        )
        await wait_until(lambda: stored(cluster, "deployments", "web") is None, 30, "web gone")


async def test_a_non_blocking_dependent_does_not_hold_its_foreground_owner() -> None:
    """The same owner with only a non-blocking dependent held by a finalizer: the owner goes
    while the dependent is still being deleted."""
    async with running(nodes=1) as cluster:
        await with_widgets(cluster)
        web = (await cluster.apply([deployment("web", replicas=0)]))[0]
        held = ["example.com/hold"]
        await create_widget(
            cluster, "loose", ownerReferences=[ref_json(web, block=False)], finalizers=held
        )
        await trio.sleep(1)
        await cluster.ctx.api.delete(
            "deployments", "default", "web", propagation_policy="Foreground"
        )
        await wait_until(lambda: stored(cluster, "deployments", "web") is None, 30, "web gone")
        loose = widget_stored(cluster, "loose")
        assert loose is not None and loose.deleting is not None


# ---------------------------------------------------------------------------- typed kinds
WORKLOADS = {
    "StatefulSet": """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: nginx}]}
""",
    "DaemonSet": """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: nginx}]}
""",
    "Job": """
apiVersion: batch/v1
kind: Job
metadata: {name: db}
spec:
  parallelism: 2
  completions: 2
  template:
    metadata: {labels: {app: db}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: nginx, args: [sleep, "3600"]}]
""",
}
RESOURCE = {"StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs"}


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
@pytest.mark.parametrize("kind", sorted(WORKLOADS))
async def test_a_workloads_pods_follow_the_propagation_policy(kind: str, policy: str) -> None:
    """Pods owned by a StatefulSet, DaemonSet or Job: Background and Foreground delete them
    (Foreground keeps the owner until they are gone), Orphan keeps them without the owner
    reference (orphanDependents)."""
    async with running(nodes=2) as cluster:
        owner = read_manifest(yaml.safe_load(WORKLOADS[kind]))
        await cluster.apply([owner])
        want = 2

        def pods() -> list[Any]:
            return web_pods(cluster, "db-")

        await wait_until(lambda: len(pods()) == want, 60, f"the {kind}'s pods")
        await cluster.ctx.api.delete(
            RESOURCE[kind], "default", "db", propagation_policy=policy, grace_period_seconds=0
        )
        await wait_until(lambda: stored(cluster, RESOURCE[kind], "db") is None, 120, "owner gone")
        if policy == "Orphan":
            await trio.sleep(5)
            assert len(pods()) == want
            assert all(p.metadata.owner_references == () for p in pods())
            return
        if policy == "Foreground":
            assert not [p for p in pods() if p.metadata.deletion_timestamp is None]
        await wait_until(lambda: not pods(), 120, "the pods gone")


async def test_a_configmap_owned_by_a_deployment_is_collected() -> None:
    """Any kind in use is watched (graph_builder monitors every deletable resource): a
    ConfigMap owned by a Deployment goes with it."""
    async with running(nodes=1) as cluster:
        web = (await cluster.apply([deployment("web", replicas=0)]))[0]
        config = with_owner(
            ConfigMap(ObjectMeta(name="web-config", namespace="default")), owned_by(web)
        )
        await cluster.apply([config])
        await trio.sleep(2)
        assert stored(cluster, "configmaps", "web-config") is not None
        await cluster.ctx.api.delete("deployments", "default", "web")
        await wait_until(lambda: stored(cluster, "configmaps", "web-config") is None, 30, "gone")


# ---------------------------------------------------------------------------- monitors
async def test_custom_resources_are_watched_while_their_definition_is_served() -> None:
    """A custom resource is watched from its definition's Established condition (the collector
    watches definitions from the first one on) and no longer once the definition is gone."""
    async with running(nodes=1) as cluster:
        await wait_until(lambda: cluster.controller_manager.instance is not None, 10, "kcm")
        collector = cluster.controller_manager.instance.garbage_collector  # type: ignore[union-attr]
        assert WIDGETS not in collector.informers
        assert "customresourcedefinitions.apiextensions.k8s.io" not in collector.informers
        await with_widgets(cluster)
        await trio.sleep(1)
        assert WIDGETS in collector.informers
        await cluster.ctx.custom.delete(  # type: ignore[union-attr]
            "customresourcedefinitions.apiextensions.k8s.io", "", WIDGETS
        )
        await wait_until(lambda: WIDGETS not in collector.informers, 30, "the monitor gone")


async def test_a_bare_collector_needs_no_custom_client() -> None:
    """A context without the dynamic client (a component test's) collects typed kinds only."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    gc = GarbageCollector(attrs.evolve(ctx, custom=None))
    gc.watch_kind("CustomResourceDefinition")
    assert "customresourcedefinitions.apiextensions.k8s.io" not in gc.informers
    with pytest.raises(errors.NotFound):
        await ctx.custom.get(WIDGETS, "default", "w1")  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- complexity
async def work_deleting_one_owner(owners: int) -> tuple[int, int]:
    """Keys the collector synced and objects it looked at while one of ``owners`` custom
    owners (each with three pods) is deleted."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    api = ctx.api.custom  # type: ignore[attr-defined]
    crds = api.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    await api.create(crds, CRD, "")
    widgets = api.resolve("example.com", "v1", "widgets")
    gc = GarbageCollector(ctx)
    gc.watch_definitions()
    synced: list[str] = []
    looked = [0]
    sync, lookup = gc.sync, gc._object

    async def counted_sync(key: str) -> None:
        synced.append(key)
        await sync(key)

    def counted_lookup(key: str) -> Any:
        looked[0] += 1
        return lookup(key)

    gc.sync, gc._object = counted_sync, counted_lookup  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gc.run)
        for i in range(owners):
            owner, _ = await api.create(widgets, widget(f"w{i}"), "default")
            for j in range(3):
                await ctx.api.create(with_owner(pod(f"p{i}-{j}"), owned_by(owner)))
        await trio.sleep(5)
        synced.clear()
        looked[0] = 0
        await ctx.custom.delete(WIDGETS, "default", "w0")  # type: ignore[union-attr]
        await trio.sleep(5)
        assert not [
            p
            for p in (await ctx.api.list("pods", "default"))[0]
            if p.metadata.name.startswith("p0-")
        ]
        nursery.cancel_scope.cancel()
    return len(synced), looked[0]


async def test_deleting_one_owner_visits_only_its_dependents_at_any_size() -> None:
    """The dependents index by owner uid (upstream's graph, graph_builder.go): deleting one
    owner syncs its three dependents and looks at nothing else, whether 20 or 40 owners (with
    their pods) exist: the work does not grow with the cluster."""
    small = await work_deleting_one_owner(20)
    large = await work_deleting_one_owner(40)
    assert small == large
    assert small[0] == 3


async def test_the_ttl_controller_deletes_a_finished_job_in_the_foreground() -> None:
    """pkg/controller/ttlafterfinished deletes with ``propagationPolicy: Foreground``: the Job
    stays, ``foregroundDeletion`` on, until the collector has deleted its pods."""
    async with running(nodes=1) as cluster:
        await cluster.apply([job(behaviour="exit-after=5s", ttl_seconds_after_finished=10)])
        seen: list[tuple[str, ...]] = []

        def watch() -> bool:
            current = get_job(cluster)
            if current is not None and current.metadata.deletion_timestamp is not None:
                seen.append(current.metadata.finalizers)
            return current is None and bool(seen)

        await wait_until(watch, 120, "the job deleted", step=0.01)
        assert any("foregroundDeletion" in f for f in seen)
        assert not job_pods(cluster)
