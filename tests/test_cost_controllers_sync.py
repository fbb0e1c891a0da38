"""What the Deployment, ReplicaSet, Endpoints and EndpointSlice controllers' own code costs per
sync and per pod event (issue 16), counted deterministically, never timed.

- a Deployment sync that finds nothing to do reads its ReplicaSets from the owner index, compares
  no pod template again, builds no status, no condition, no copy and writes nothing;
- the ReplicaSet controller creates every pod of a template from one prototype (no copy of the
  template's metadata per pod; the API server makes the one copy as it names the pod);
- a pod event that changes neither the pod's labels nor its owner references costs the
  ReplicaSet controller's indexes no selector evaluation and no owner reference lookup;
- the Endpoints and EndpointSlice controllers' pod handlers compare a pod's endpoint facts field
  by field, without building them, and read no other pod.

Each count fails if the removed work (a status built to be compared, a template compared on
every sync, a pod object built per create, labels re-read on every status write) comes back.
Calls are counted with ``sys.setprofile``, by the file of the function's caller, so only the
controller's own calls count (the API server copies what it writes, and that is its work).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

import attrs
import trio

from kubechaos.api import workcount
from kubechaos.api.objects import (
    DeploymentCondition,
    DeploymentStatus,
    ObjectMeta,
    Pod,
    PodCondition,
    PodStatus,
    ReplicaSetStatus,
    copying,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.context import Context
from kubechaos.control.controllers.deployment import util as deployment_util
from kubechaos.control.controllers.deployment.controller import DeploymentController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.ownership import OwnedIndex
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.servicepods import endpoint_changed, endpoint_view

from .factories import PodReadier, deployment, pod, replicaset, service
from .test_endpoints import set_status
from .test_replicaset import control_plane, owned_pods, scale


@contextmanager
def calls_from(callers: tuple[str, ...], **targets: Any) -> Iterator[Counter[str]]:
    """Count calls of the Python functions ``targets`` (name -> function) made from code in
    files whose path contains one of ``callers``."""
    with counted_calls(**{name: (fn, callers) for name, fn in targets.items()}) as counts:
        yield counts


@contextmanager
def counted_calls(**targets: tuple[Any, tuple[str, ...]]) -> Iterator[Counter[str]]:
    """Count calls of functions, each from its own callers: name -> (function, caller files).
    (One profile function for all: ``sys.setprofile`` holds one.)"""
    codes: dict[CodeType, list[tuple[str, tuple[str, ...]]]] = {}
    for name, (fn, callers) in targets.items():
        codes.setdefault(fn.__code__, []).append((name, callers))
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call" or frame.f_code not in codes or frame.f_back is None:
            return
        filename = frame.f_back.f_code.co_filename
        for name, callers in codes[frame.f_code]:
            if any(part in filename for part in callers):
                counts[name] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)


class RecordingAPI:
    """The controller's API client, recording the objects it is asked to create."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.created: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def create(self, obj: Any) -> Any:
        self.created.append(obj)
        return await self._api.create(obj)


# ---------------------------------------------------------------------------- Deployment


async def _converged_deployment(ctx: Context, nursery: trio.Nursery) -> DeploymentController:
    dc = DeploymentController(ctx)
    nursery.start_soon(dc.run)
    nursery.start_soon(ReplicaSetController(ctx).run)
    nursery.start_soon(PodReadier(ctx).run)
    await ctx.api.create(deployment("web", replicas=3))
    await trio.sleep(30)
    d = dc.deployments.get("default/web")
    assert d is not None and d.status.available_replicas == 3
    progressing = d.status.condition(deployment_util.PROGRESSING)
    assert progressing is not None and progressing.reason == deployment_util.NEW_RS_AVAILABLE
    return dc


async def stale_converged_deployment(ctx: Context, nursery: trio.Nursery) -> DeploymentController:
    """A converged Deployment's controller whose cached Deployment shows a stale ready count (as
    if the informer were behind), so its next sync writes a status."""
    dc = await _converged_deployment(ctx, nursery)
    d = dc.deployments.get("default/web")
    assert d is not None
    stale = attrs.evolve(d, status=attrs.evolve(d.status, ready_replicas=0))
    dc.deployments.store["default/web"] = stale
    return dc


async def test_a_deployment_sync_that_changes_nothing_builds_compares_and_writes_nothing() -> None:
    """pkg/controller/deployment/sync.go getAllReplicaSetsAndSyncRevision, progress.go
    syncRolloutStatus and deployment_controller.go getReplicaSetsForDeployment: a sync lists
    the Deployment's ReplicaSets, finds the new one (FindNewReplicaSet: EqualIgnoreHash of each
    template), sets the new ReplicaSet's annotations (SetNewReplicaSetAnnotations), computes
    the status (calculateStatus, the Available condition) and writes it only if it differs
    (``reflect.DeepEqual(d.Status, newStatus)``). Upstream builds all of that every time; the
    model gives the same answer without it when nothing changed: five syncs of a converged
    Deployment read its one ReplicaSet from the owner index (never the informer's list), compare
    no template (the answer is kept while both template objects stay), build no status, no
    condition and no copy (the counts are compared with the status first) and write nothing.
    The old path built a DeploymentStatus and compared the templates once per sync."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await _converged_deployment(ctx, nursery)
        before = dc.deployments.get("default/web")
        compared = dc.template_matches.compared
        with calls_from(
            ("controllers/deployment/", "controllers/ownership.py"),
            status=DeploymentStatus.__init__,
            condition=DeploymentCondition.__init__,
            evolve=attrs.evolve,
            replace=copying.replace,
            equal_ignore_hash=deployment_util.equal_ignore_hash,
            owned_by=OwnedIndex.owned_by,
            orphans=OwnedIndex.orphans,
            list=type(dc.replicasets).list,
        ) as counts:
            for _ in range(5):
                await dc.sync("default/web")
        assert counts == Counter(owned_by=5), counts  # one index read per sync, nothing else
        assert dc.template_matches.compared == compared
        after = dc.deployments.get("default/web")
        assert after is before  # nothing written
        nursery.cancel_scope.cancel()


async def test_a_deployment_compares_templates_again_only_when_one_changes() -> None:
    """FindNewReplicaSet (pkg/controller/deployment/util/deployment_util.go) compares the
    Deployment's template with each ReplicaSet's, ignoring pod-template-hash. Kept answers must
    not outlive the objects they were computed from: a new template (a rollout) is compared
    again, and the new ReplicaSet made for it is the new one."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await _converged_deployment(ctx, nursery)
        compared = dc.template_matches.compared
        await ctx.api.patch(
            "deployments",
            "default",
            "web",
            lambda d: attrs.evolve(
                d,
                spec=attrs.evolve(
                    d.spec,
                    template=attrs.evolve(
                        d.spec.template,
                        metadata=attrs.evolve(
                            d.spec.template.metadata, annotations={"rollout": "2"}
                        ),
                    ),
                ),
            ),
        )
        await trio.sleep(60)
        assert dc.template_matches.compared > compared
        d = dc.deployments.get("default/web")
        assert d is not None and d.status.updated_replicas == 3
        assert d.status.available_replicas == 3
        rss = [rs for rs in dc.replicasets.list() if rs.spec.replicas > 0]
        assert len(rss) == 1 and rss[0].spec.template.metadata.annotations == {"rollout": "2"}
        nursery.cancel_scope.cancel()


def test_an_up_to_date_new_replicaset_s_annotations_are_not_copied() -> None:
    """SetNewReplicaSetAnnotations copies the Deployment's annotations and the revision onto the
    new ReplicaSet; for the ReplicaSet that already has them (every sync but the first) nothing
    changes, and here nothing is copied either: the ReplicaSet's own mapping comes back. When
    something is to change, a copy is changed, never the ReplicaSet's."""
    d = deployment("web", annotations=None)
    d = attrs.evolve(d, metadata=attrs.evolve(d.metadata, annotations={"team": "a"}))
    rs = replicaset("web-abc")
    current = {"team": "a", deployment_util.DEPLOYMENT_REVISION_ANNOTATION: "2"}
    rs = attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, annotations=current))
    annotations, changed = deployment_util.new_rs_annotations(d, rs, 2, exists=True)
    assert annotations is current and not changed
    annotations, changed = deployment_util.new_rs_annotations(d, rs, 3, exists=True)
    assert changed and annotations is not current
    assert annotations[deployment_util.DEPLOYMENT_REVISION_ANNOTATION] == "3"
    assert current[deployment_util.DEPLOYMENT_REVISION_ANNOTATION] == "2"


# ---------------------------------------------------------------------------- ReplicaSet


async def test_a_replicaset_creates_its_pods_from_one_prototype_per_template() -> None:
    """pkg/controller/controller_utils.go GetPodFromTemplate builds each pod from the template
    (its labels, annotations and finalizers copied, ``generateName: <rs>-``, the controller
    reference) and RealPodControl.CreatePods sends it; the API server names it. The model builds
    that pod once per template object and sends the same object for every create: five pods,
    one ObjectMeta built by the controller (the old path built one per pod). A changed template
    makes a new prototype, and the pods made from it carry the new labels."""
    ctx = await control_plane()
    rc = ReplicaSetController(ctx)
    recorder = RecordingAPI(ctx.api)
    rc.api = recorder
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rc.run)
        nursery.start_soon(PodReadier(ctx).run)
        with calls_from(("controllers/replicaset.py",), meta=ObjectMeta.__init__) as counts:
            rs = await ctx.api.create(replicaset("web", replicas=5))
            await trio.sleep(10)
        sent = [obj for obj in recorder.created if isinstance(obj, Pod)]
        assert len(sent) == 5 and all(p is sent[0] for p in sent)
        assert counts["meta"] == 1
        pods = await owned_pods(ctx)
        assert len({p.metadata.name for p in pods}) == 5
        for p in pods:
            assert p.metadata.labels == {"app": "web"}
            assert p.metadata.controller_ref().uid == rs.metadata.uid  # type: ignore[union-attr]

        await ctx.api.patch(
            "replicasets",
            "default",
            "web",
            lambda rs: attrs.evolve(
                rs,
                spec=attrs.evolve(
                    rs.spec,
                    template=attrs.evolve(
                        rs.spec.template,
                        metadata=attrs.evolve(
                            rs.spec.template.metadata, labels={"app": "web", "tier": "front"}
                        ),
                    ),
                ),
            ),
        )
        await scale(ctx, "web", 7)
        await trio.sleep(10)
        sent = [obj for obj in recorder.created if isinstance(obj, Pod)]
        assert len(sent) == 7 and sent[5] is sent[6] and sent[5] is not sent[0]
        relabelled = [p for p in await owned_pods(ctx) if "tier" in p.metadata.labels]
        assert len(relabelled) == 2
        nursery.cancel_scope.cancel()


async def test_a_replicaset_sync_that_changes_nothing_reads_no_pod_and_builds_no_status() -> None:
    """pkg/controller/replicaset/replica_set.go syncReplicaSet lists and claims the pods, and
    updateReplicaSetStatus (replica_set_utils.go) writes calculateStatus only if it differs
    from the ReplicaSet's. The model keeps the counts from pod events: five syncs of a
    converged 20-replica ReplicaSet read no pod, build no ReplicaSetStatus (the counts are
    compared with the status first; the old path built one per sync), copy nothing and write
    nothing."""
    ctx = await control_plane()
    rc = ReplicaSetController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rc.run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=20))
        await trio.sleep(15)
        before = rc.replicasets.get("default/web")
        assert before is not None and before.status.ready_replicas == 20
        visited = workcount.PODS_VISITED
        with calls_from(
            ("controllers/replicaset.py", "controllers/rstally.py"),
            status=ReplicaSetStatus.__init__,
            evolve=attrs.evolve,
            replace=copying.replace,
            matches=LabelSelector.matches,
        ) as counts:
            for _ in range(5):
                await rc.sync("default/web")
        assert counts == Counter(), counts
        assert visited == workcount.PODS_VISITED
        assert rc.replicasets.get("default/web") is before  # nothing written
        nursery.cancel_scope.cancel()


async def forty_ready_pods(ctx: Context) -> list[Pod]:
    """A 40-replica ReplicaSet ``web`` created and left 15 s to get all its pods Ready (the
    caller runs the ReplicaSet controller and a PodReadier); its pods by name."""
    await ctx.api.create(replicaset("web", replicas=40))
    await trio.sleep(15)
    pods = sorted(await owned_pods(ctx), key=lambda p: p.metadata.name)
    assert len(pods) == 40 and all(p.is_ready() for p in pods)
    return pods


async def flip_unready(ctx: Context, pods: list[Pod]) -> None:
    """A status write per pod turning its Ready condition False (its labels and owner
    references kept as the very objects stored)."""
    for p in pods:
        current = await ctx.api.get("pods", "default", p.metadata.name)
        conditions = (PodCondition("Ready", "False"),)
        await ctx.api.update_status(
            attrs.evolve(current, status=attrs.evolve(current.status, conditions=conditions))
        )


async def assert_counted_half_ready(rc: ReplicaSetController) -> None:
    """After the flips of 20 of its 40 pods, ``web``'s status is what a fresh count gives."""
    await trio.sleep(5)
    rs = rc.replicasets.get("default/web")
    assert rs is not None
    assert rs.status == ReplicaSetStatus(
        replicas=40,
        fully_labeled_replicas=40,
        ready_replicas=20,
        available_replicas=20,
        observed_generation=rs.metadata.generation,
    )


async def test_a_pod_status_event_costs_the_replicaset_indexes_no_label_or_owner_reading() -> None:
    """pkg/controller/replicaset/replica_set.go updatePod resolves the pod's controller
    reference and queues its ReplicaSet; calculateStatus (replica_set_utils.go) counts the
    pods' labels and readiness at the next sync. The model keeps those counts from each pod
    event (rstally.py); a status write keeps the pod's labels and owner references objects, so
    the event re-reads neither: twenty readiness flips of a 40-pod ReplicaSet evaluate no
    selector and look up no controller reference in the indexes (the old path did both per
    event) and the handler itself looks the reference up once (it did twice); the counts are
    still those of a fresh count (ready 20 of 40)."""
    ctx = await control_plane()
    rc = ReplicaSetController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rc.run)
        nursery.start_soon(PodReadier(ctx).run)
        pods = await forty_ready_pods(ctx)
        visited = workcount.PODS_VISITED
        indexes = ("controllers/rstally.py", "controllers/ownership.py")
        with counted_calls(
            matches=(LabelSelector.matches, indexes),
            index_controller_ref=(ObjectMeta.controller_ref, indexes),
            handler_controller_ref=(ObjectMeta.controller_ref, ("controllers/replicaset.py",)),
        ) as counts:
            await flip_unready(ctx, pods[:20])
        assert counts == Counter(handler_controller_ref=20), counts
        assert visited == workcount.PODS_VISITED  # no handler looked at another pod
        await assert_counted_half_ready(rc)
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- Endpoints


def _variants() -> list[Pod]:
    base = pod("web-0", labels={"app": "web"})
    ready = PodCondition("Ready", "True")
    not_ready = PodCondition("Ready", "False")
    out = []
    for ip in ("", "10.0.0.1", "10.0.0.2"):
        for phase in ("Pending", "Running", "Succeeded", "Failed"):
            for conditions in ((), (ready,), (not_ready,), (PodCondition("Other", "True"), ready)):
                for deleting in (None, 5.0):
                    out.append(
                        attrs.evolve(
                            base,
                            metadata=attrs.evolve(base.metadata, deletion_timestamp=deleting),
                            status=PodStatus(phase=phase, pod_ip=ip, conditions=conditions),
                        )
                    )
    return out


def test_endpoint_changed_agrees_with_comparing_the_endpoint_views() -> None:
    """updatePod in pkg/controller/endpoint/endpoints_controller.go and the EndpointSlice
    controller queues the Service only if podEndpointsChanged
    (staging/src/k8s.io/endpointslice/util/controller_utils.go: IPs, readiness, deletion; the
    model adds the phase). The handlers now compare those facts field by field without building
    them (:func:`endpoint_changed`): for every pair of 192 pod versions (IPs, phases,
    conditions, deletion), and for pairs sharing their status objects, the answer is that of
    comparing the two views."""
    variants = _variants()
    for old in variants:
        for new in variants:
            assert endpoint_changed(old, new) == (endpoint_view(old) != endpoint_view(new))
        same_status = attrs.evolve(old, metadata=attrs.evolve(old.metadata, labels={"x": "y"}))
        assert not endpoint_changed(old, same_status)


async def test_the_endpoint_controllers_pod_handlers_build_no_view_and_read_no_other_pod() -> None:
    """The Endpoints and EndpointSlice controllers' pod handlers (updatePod: podEndpointsChanged,
    then the Services of the pod queued) cost O(1) per pod event: across 20 readiness flips of
    pods behind a 40-pod Service, no endpoint view is built (the old path built two per handler
    per event) and no pod is visited but the one that changed."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        for controller in (ReplicaSetController, EndpointsController, EndpointSliceController):
            nursery.start_soon(controller(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=40))
        await ctx.api.create(service("web"))
        await trio.sleep(15)
        pods = sorted(await owned_pods(ctx), key=lambda p: p.metadata.name)
        for i, p in enumerate(pods):
            await set_status(ctx, p.metadata.name, ip=f"10.0.0.{i + 2}", ready=True)
        await trio.sleep(2)
        visited = workcount.PODS_VISITED
        with calls_from(("controllers/servicepods.py",), view=endpoint_view) as counts:
            await flip_unready(ctx, pods[:20])
            await trio.sleep(2)
        assert counts == Counter(), counts
        assert visited == workcount.PODS_VISITED
        ep = await ctx.api.get("endpoints", "default", "web")
        assert sum(len(s.addresses) for s in ep.subsets) == 20
        assert sum(len(s.not_ready_addresses) for s in ep.subsets) == 20
        nursery.cancel_scope.cancel()
