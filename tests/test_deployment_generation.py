"""A Deployment's ``metadata.generation`` and its revision annotation, as upstream v1.32 keeps them.

Upstream:
- pkg/registry/apps/deployment/strategy.go ``deploymentStrategy.PrepareForUpdate``: a change of
  the spec OR of the annotations bumps the generation ("annotation updates bump the generation
  because annotations are copied from deployments to their replica sets"); labels do not.
- the same file's ``deploymentStatusStrategy.PrepareForUpdate`` (resetFields ``spec`` and
  ``metadata.labels``): a ``/status`` write keeps the stored spec and labels and takes the rest of
  the metadata, annotations included, from the request; rest.BeforeUpdate keeps the generation.
- pkg/controller/deployment/sync.go ``getNewReplicaSet``: ``SetDeploymentRevision`` and the
  Progressing condition (NewReplicaSetCreated / FoundNewReplicaSet) are written together by one
  ``UpdateStatus``, so the revision lands without moving the generation.
- pkg/registry/apps/replicaset/strategy.go ``rsStrategy.PrepareForUpdate`` (and statefulset,
  daemonset): the spec alone bumps the generation of the other workload kinds.
- staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go: ``kubectl rollout status``
  waits while ``generation > status.observedGeneration``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import Deployment
from kubechaos.client.context import Context
from kubechaos.control.controllers.garbagecollector import GarbageCollector
from kubechaos.control.requests import Request
from kubechaos.defaults import DEPLOYMENT_REVISION_ANNOTATION
from kubechaos.frontdoor import patches
from tests.factories import deployment, replicaset
from tests.frontdoor import Served, scenario_file, served
from tests.harness import running, wait_until
from tests.test_deployment import control_plane, set_image, start, wait_complete
from tests.test_frontdoor_app import front_door, request, with_web

JSON = {"content-type": "application/json"}
MERGE = {"content-type": patches.MERGE}
DEPLOY = "/apis/apps/v1/namespaces/default/deployments/web"


def _annotate(**annotations: str) -> Any:
    def change(obj: Any) -> Any:
        merged = {**obj.metadata.annotations, **annotations}
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, annotations=merged))

    return change


def _label(**labels: str) -> Any:
    def change(obj: Any) -> Any:
        merged = {**obj.metadata.labels, **labels}
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, labels=merged))

    return change


# ------------------------------------------------------------------ the registry's strategy
async def test_an_annotation_change_bumps_the_deployments_generation() -> None:
    """deploymentStrategy.PrepareForUpdate (pkg/registry/apps/deployment/strategy.go): the
    annotations differ, so generation = old + 1, by the patch verb and by a whole update; an
    update that changes nothing of spec or annotations keeps it."""
    ctx = await control_plane()
    created = await ctx.api.create(deployment("web"))
    assert created.metadata.generation == 1
    patched = await ctx.api.patch("deployments", "default", "web", _annotate(team="x"))
    assert patched.metadata.generation == 2
    assert patched.metadata.annotations["team"] == "x"
    updated = await ctx.api.update(_annotate(team="y")(patched))
    assert updated.metadata.generation == 3
    same = await ctx.api.update(_annotate(team="y")(updated))
    assert same.metadata.generation == 3


async def test_a_label_only_change_does_not_bump_the_generation() -> None:
    """deploymentStrategy.PrepareForUpdate compares the spec and the annotations only: a
    Deployment's labels are not copied onto its ReplicaSets, so relabelling it moves nothing."""
    ctx = await control_plane()
    await ctx.api.create(deployment("web"))
    relabelled = await ctx.api.patch("deployments", "default", "web", _label(tier="front"))
    assert relabelled.metadata.labels["tier"] == "front"
    assert relabelled.metadata.generation == 1


async def test_other_workloads_bump_on_their_spec_only() -> None:
    """rsStrategy.PrepareForUpdate (pkg/registry/apps/replicaset/strategy.go) bumps on a spec
    change only: annotating a ReplicaSet keeps its generation, scaling it bumps it."""
    ctx = await control_plane()
    await ctx.api.create(replicaset("cache"))
    annotated = await ctx.api.patch("replicasets", "default", "cache", _annotate(team="x"))
    assert annotated.metadata.generation == 1
    scaled = await ctx.api.patch(
        "replicasets",
        "default",
        "cache",
        lambda rs: attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=5)),
    )
    assert scaled.metadata.generation == 2


async def test_a_status_write_takes_annotations_and_keeps_spec_labels_and_generation() -> None:
    """deploymentStatusStrategy.PrepareForUpdate: the stored spec and labels stay, the
    annotations (and the status) come from the request, and the generation is not bumped
    (rest.BeforeUpdate keeps it; the status strategy never bumps)."""
    ctx = await control_plane()
    d = await ctx.api.create(deployment("web"))
    request_obj = attrs.evolve(
        d,
        metadata=attrs.evolve(
            d.metadata, annotations={"note": "from-status"}, labels={"hijack": "yes"}
        ),
        spec=attrs.evolve(d.spec, replicas=9),
        status=attrs.evolve(d.status, observed_generation=1),
    )
    written = await ctx.api.update_status(request_obj)
    assert written.metadata.annotations == {"note": "from-status"}
    assert written.metadata.labels == d.metadata.labels
    assert written.spec == d.spec
    assert written.status.observed_generation == 1
    assert written.metadata.generation == 1


# ------------------------------------------------------------------ the controller's revision
class DeploymentWrites:
    """Every version of the Deployment the watch shows, and the requests on deployments by verb
    (components in this harness run unnamed: the controller's are those the test does not make)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.versions: list[Deployment] = []
        self.verbs: dict[str, int] = {}
        ctx.api.request_hooks.append(self._hook)

    def _hook(self, req: Request) -> float:
        if req.resource == "deployments":  # the test itself only creates, gets and patches
            self.verbs[req.verb] = self.verbs.get(req.verb, 0) + 1
        return 0.0

    async def run(self) -> None:
        _, revision = await self.ctx.api.list("deployments", "default")
        with await self.ctx.api.watch("deployments", "default", resource_version=revision) as w:
            while True:
                for event in await w.next_batch():
                    self.versions.append(event.object)


async def test_the_revision_lands_with_the_status_and_leaves_the_generation() -> None:
    """getNewReplicaSet (pkg/controller/deployment/sync.go) sets the revision annotation and the
    NewReplicaSetCreated condition on the Deployment and writes both with one UpdateStatus:
    the first change after the create carries both, no version of the Deployment ever has a
    generation above 1, the controller never issues a plain update of it, and
    observedGeneration reaches 1."""
    ctx = await control_plane()
    writes = DeploymentWrites(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writes.run)
        start(nursery, ctx)
        await trio.sleep(1)
        await ctx.api.create(deployment("web", replicas=2))
        done = await wait_complete(ctx)
        nursery.cancel_scope.cancel()
    assert done.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
    assert done.metadata.generation == done.status.observed_generation == 1
    assert writes.verbs.get("update", 0) == 0 and writes.verbs["update_status"] >= 1
    created, first = writes.versions[0], writes.versions[1]
    assert DEPLOYMENT_REVISION_ANNOTATION not in created.metadata.annotations
    assert first.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
    assert first.status.condition("Progressing").reason == "NewReplicaSetCreated"
    assert {v.metadata.generation for v in writes.versions} == {1}


async def test_a_rollout_bumps_once_and_observed_generation_catches_up() -> None:
    """A template change bumps the generation once (deploymentStrategy); the controller's
    revision "2" arrives by its status write and bumps nothing more, and observedGeneration
    follows to 2 (syncRolloutStatus)."""
    ctx = await control_plane()
    writes = DeploymentWrites(ctx)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx)
        await ctx.api.create(deployment("web", replicas=2))
        await wait_complete(ctx)
        nursery.start_soon(writes.run)
        await trio.sleep(1)
        await set_image(ctx, "example.com/web:2")
        done = await wait_complete(ctx)
        nursery.cancel_scope.cancel()
    assert done.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "2"
    assert done.metadata.generation == done.status.observed_generation == 2
    assert {v.metadata.generation for v in writes.versions} == {2}
    assert writes.verbs.get("update", 0) == 0


async def test_annotating_moves_generation_until_the_controller_observes_it() -> None:
    """``kubectl annotate deployment web team=x``: the generation moves past observedGeneration
    (what ``kubectl rollout status`` waits on), the controller copies the annotation onto the
    ReplicaSet (SetNewReplicaSetAnnotations) and records the new observedGeneration."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx)
        await ctx.api.create(deployment("web", replicas=2))
        before = await wait_complete(ctx)
        annotated = await ctx.api.patch("deployments", "default", "web", _annotate(team="x"))
        assert annotated.metadata.generation == before.metadata.generation + 1
        assert annotated.status.observed_generation == before.metadata.generation
        done = await wait_complete(ctx, timeout=30)
        rs_items, _ = await ctx.api.list("replicasets", "default")
        nursery.cancel_scope.cancel()
    assert done.status.observed_generation == annotated.metadata.generation
    assert done.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
    assert [rs.metadata.annotations.get("team") for rs in rs_items] == ["x"]


# ------------------------------------------------------------------ the front door
async def test_front_door_status_write_stores_annotations_without_a_bump() -> None:
    """A client's PUT of ``deployments/status`` (deploymentStatusStrategy): its annotation is
    stored, its labels and spec are dropped, the generation stays; a merge patch of the main
    resource's annotations bumps it (deploymentStrategy)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        await wait_until(
            lambda: _stored(cluster).status.observed_generation == 1, 30, "web observed"
        )
        doc = (await request(app, DEPLOY)).json()
        doc["metadata"]["annotations"]["example.com/owner"] = "sre"
        doc["metadata"]["labels"] = {"hijack": "yes"}
        doc["spec"]["replicas"] = 7
        out = await request(app, f"{DEPLOY}/status", body=_body(doc), method="PUT", headers=JSON)
        assert out.status == 200, out.json()
        stored = _stored(cluster)
        assert stored.metadata.annotations["example.com/owner"] == "sre"
        assert "hijack" not in stored.metadata.labels and stored.spec.replicas == 1
        assert stored.metadata.generation == 1
        patch = {"metadata": {"annotations": {"example.com/team": "x"}}}
        out = await request(app, DEPLOY, body=_body(patch), method="PATCH", headers=MERGE)
        assert out.status == 200, out.json()
        assert out.json()["metadata"]["generation"] == 2
        await wait_until(
            lambda: _stored(cluster).status.observed_generation == 2, 30, "annotation observed"
        )


def _stored(cluster: Any) -> Deployment:
    return cluster.api.cache("deployments").get("/registry/deployments/default/web")


def _body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# ------------------------------------------------------------------ kubectl v1.32
@pytest.fixture(scope="module")
def kubectl_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("deploygen")
    with served(directory, scenario_file(directory, duration="2h", nodes=2), 20) as run:
        run.kubectl_ok("rollout", "status", "deployment/web", "--timeout=60s")
        yield run


def _generations(run: Served) -> tuple[int, int, dict[str, str]]:
    doc = json.loads(run.kubectl_ok("get", "deployment", "web", "-o", "json"))
    meta = doc["metadata"]
    return meta["generation"], doc["status"].get("observedGeneration", 0), meta["annotations"]


def test_kubectl_annotate_then_rollout_status_waits_for_the_controller(
    kubectl_cluster: Served,
) -> None:
    """``kubectl annotate`` bumps the generation (deploymentStrategy.PrepareForUpdate);
    ``kubectl rollout status`` (rollout_status.go: waits while generation >
    observedGeneration) returns once the controller has observed it, and then both agree."""
    generation, observed, _ = _generations(kubectl_cluster)
    assert generation == observed
    kubectl_cluster.kubectl_ok("annotate", "deployment", "web", "example.com/team=payments")
    bumped, _, annotations = _generations(kubectl_cluster)
    assert bumped == generation + 1
    assert annotations["example.com/team"] == "payments"
    out = kubectl_cluster.kubectl_ok("rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in out
    after, observed, annotations = _generations(kubectl_cluster)
    assert after == observed == bumped
    assert annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"


def test_kubectl_status_patch_of_an_annotation_leaves_the_generation(
    kubectl_cluster: Served,
) -> None:
    """``kubectl patch --subresource=status`` of an annotation (deploymentStatusStrategy takes
    the request's metadata but labels): stored, and the generation does not move."""
    generation, _, _ = _generations(kubectl_cluster)
    patch = {"metadata": {"annotations": {"example.com/audit": "ok"}, "labels": {"x": "y"}}}
    kubectl_cluster.kubectl_ok(
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    after, _, annotations = _generations(kubectl_cluster)
    assert after == generation
    assert annotations["example.com/audit"] == "ok"
    labels = json.loads(kubectl_cluster.kubectl_ok("get", "deployment", "web", "-o", "json"))[
        "metadata"
    ].get("labels", {})
    assert "x" not in labels


def test_kubectl_set_image_rollout_records_revision_two(kubectl_cluster: Served) -> None:
    """A template change through kubectl bumps the generation once; the controller's revision
    "2" lands by its status write without a second bump; ``rollout status`` completes."""
    generation, _, _ = _generations(kubectl_cluster)
    kubectl_cluster.kubectl_ok("set", "image", "deployment/web", "*=example.com/web:2")
    kubectl_cluster.kubectl_ok("rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    after, observed, annotations = _generations(kubectl_cluster)
    assert after == observed == generation + 1
    assert annotations[DEPLOYMENT_REVISION_ANNOTATION] == "2"


async def test_an_adopted_replica_sets_revision_lands_with_found_new_replica_set() -> None:
    """getNewReplicaSet's other branch (pkg/controller/deployment/sync.go): a Deployment that
    finds its new ReplicaSet already there (orphaned by a ``--cascade=orphan`` delete, adopted
    again) takes that ReplicaSet's revision and the FoundNewReplicaSet condition in one
    UpdateStatus; the generation stays 1 and no plain update is made."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx)
        nursery.start_soon(GarbageCollector(ctx).run)  # removes the orphan finalizer
        await ctx.api.create(deployment("web", replicas=2))
        await wait_complete(ctx)
        await ctx.api.delete("deployments", "default", "web", propagation_policy="Orphan")
        with trio.fail_after(60):
            while (await ctx.api.list("deployments", "default"))[0]:
                await trio.sleep(1)
        writes = DeploymentWrites(ctx)
        nursery.start_soon(writes.run)
        await trio.sleep(1)
        await ctx.api.create(deployment("web", replicas=2))
        done = await wait_complete(ctx)
        nursery.cancel_scope.cancel()
    first = writes.versions[1]
    assert first.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
    assert first.status.condition("Progressing").reason == "FoundNewReplicaSet"
    assert {v.metadata.generation for v in writes.versions} == {1}
    assert done.status.observed_generation == 1
    assert writes.verbs.get("update", 0) == 0
