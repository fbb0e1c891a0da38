"""What the Deployment and EndpointSlice controllers' own code costs per sync in a cluster's
steady state (issue 16), counted deterministically, never timed.

- a Deployment sync asks for its ReplicaSets twice (isScalingEvent, then the rollout: upstream's
  getAllReplicaSetsAndSyncRevision each time); when the first answer wrote nothing the second
  is that answer, so the new ReplicaSet's annotations are checked once per sync, not twice;
- a Deployment sync whose status does change counts its ReplicaSets' replicas once (the counts
  it compared with the status are the ones it builds the new status from);
- an EndpointSlice sync that changes one endpoint of a Service of 300 replaces that endpoint in
  the one slice holding it (found by its position), not endpoint by endpoint, and reads no
  slice's addresses again once they are known;
- a pod's readiness flip (only its conditions changed) adjusts its ReplicaSet's Ready count and
  nothing else: its owner and its node, hence its placement, are those of its last version;
- the garbage collector's update handler, for an object not being deleted whose owner
  references tuple is kept (every status write), is one call: itself;
- an owner's event that keeps its selector object (a status write of a Deployment, ReplicaSet,
  PodDisruptionBudget, ...) re-files it in the selector index without working out its index
  pair again, in the same order.

Each count fails if the removed work (the second getAllReplicaSetsAndSyncRevision, a second
status count, the per-endpoint loop over a touched slice, a rewritten slice's addresses read
again, a readiness flip placing the pod afresh, the selector's index pair worked out on every
owner event) comes back. That the slice-at-once path
plans what the per-endpoint loop plans is checked at every sync of a long random history by
tests/test_endpointslice_incremental.py (incremental plan == full plan).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import attrs
import trio

from kubechaos.api.objects import DeploymentStatus, Pod
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.controllers.deployment import sync as deployment_sync
from kubechaos.control.controllers.deployment import util as deployment_util
from kubechaos.control.controllers.garbagecollector import GarbageCollector
from kubechaos.control.controllers.ownership import SelectorIndex
from kubechaos.control.controllers.replicaset import ReplicaSetController

from .factories import PodReadier, pod, service
from .test_cost_controllers_sync import (
    _converged_deployment,
    assert_counted_half_ready,
    calls_from,
    flip_unready,
    forty_ready_pods,
    stale_converged_deployment,
)
from .test_cost_pod_handlers import calls_of, status_write
from .test_endpoints import set_status
from .test_endpointslice_incremental import _ip, _start
from .test_endpointslices import controlling
from .test_replicaset import control_plane


async def test_a_deployment_sync_checks_its_new_replicaset_once() -> None:
    """pkg/controller/deployment/sync.go getAllReplicaSetsAndSyncRevision (called by
    isScalingEvent and again by rolloutRolling, rolling.go): find the new ReplicaSet, bring its
    annotations up to date (SetNewReplicaSetAnnotations), the Deployment's revision and its
    Progressing condition. With nothing to write the second call has the very same inputs and
    answer; five syncs of a converged Deployment check the new ReplicaSet's annotations five
    times (the old path: ten) and write nothing."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await _converged_deployment(ctx, nursery)
        before = dc.deployments.get("default/web")
        with calls_from(
            ("controllers/deployment/",),
            annotations=deployment_util.new_rs_annotations,
            get_new_rs=deployment_sync.DeploymentSync.get_new_rs,
        ) as counts:
            for _ in range(5):
                await dc.sync("default/web")
        assert counts == Counter(annotations=5, get_new_rs=5), counts
        assert dc.deployments.get("default/web") is before  # nothing written
        nursery.cancel_scope.cancel()


async def test_a_deployment_sync_that_writes_status_counts_its_replicasets_once() -> None:
    """pkg/controller/deployment/sync.go calculateStatus and progress.go syncRolloutStatus: the
    status is computed from the ReplicaSets' counts and written when it differs
    (``reflect.DeepEqual``). The model compares the counts first; when they differ the status is
    built from those same counts: one count of the ReplicaSets per sync (the old path: two). The
    status written is upstream's: the counts of the ReplicaSets, whatever the cached status."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await stale_converged_deployment(ctx, nursery)
        with calls_from(
            ("controllers/deployment/",),
            counts=deployment_util.status_counts,
            status=DeploymentStatus.__init__,
        ) as counts:
            await dc.sync("default/web")
        assert counts == Counter(counts=1, status=1), counts
        written = await ctx.api.get("deployments", "default", "web")
        assert written.status.ready_replicas == 3
        nursery.cancel_scope.cancel()


@contextmanager
def per_endpoint_work() -> Iterator[Counter[str]]:
    """Count what the EndpointSlice reconciler does endpoint by endpoint: its calls of the
    builtin methods ``add`` and ``append`` (``set.add``, ``list.append``), and the passes over a
    slice's endpoints (comprehensions) in the reconciler's ``_keep`` and the controller's ``_ips``."""
    counts: Counter[str] = Counter()
    passes = ("_ips", "_keep")

    def profile(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if event == "c_call" and code.co_filename.endswith("endpointslice/reconciler.py"):
            name = getattr(arg, "__name__", "")
            if name in ("add", "append"):
                counts[name] += 1
        elif (
            event == "call"
            and code.co_name in ("<listcomp>", "<dictcomp>", "<setcomp>")
            and frame.f_back is not None
            and frame.f_back.f_code.co_name in passes
        ):
            counts["comprehension"] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)


async def test_an_endpointslice_sync_that_changes_one_endpoint_handles_no_endpoint_singly() -> None:
    """staging/src/k8s.io/endpointslice/reconciler.go reconcileByPortMapping: each existing
    slice keeps the desired endpoints it holds (updated where one changed), unchanged slices are
    left alone. A pod of a 300-endpoint Service (three full slices) turning not ready, then
    ready again, changes one endpoint of one slice each time: that slice is rewritten with the
    endpoint's new conditions, the others are not written. The slice holding it is kept by
    replacing the one endpoint that changed (found by its position): no endpoint is appended or
    placed one at a time (the old loop: about 200 calls per sync, two per endpoint of the slice)
    and, once each slice's addresses are known, no pass over a slice's endpoints at all (the
    old path read every rewritten slice's addresses again at the next sync)."""
    async with controlling() as (ctx, controller):
        await ctx.api.create(service("web"))
        for i in range(300):
            await _start(ctx, f"web-{i}", _ip(i), {"app": "web"}, f"n{i % 10}")
        await trio.sleep(5)
        slices = controller.current_slices("default/web")
        assert sorted(len(s.endpoints) for s in slices) == [100, 100, 100]
        for ready in (False, True):
            syncs = controller.syncs
            with per_endpoint_work() as counts:
                await set_status(ctx, "web-7", ready=ready)
                await trio.sleep(5)
            assert controller.syncs == syncs + 1
            # per slice: filed by port list, then listed as unchanged or updating
            assert counts["add"] == 0 and counts["append"] <= 2 * len(slices), counts
            if ready:  # the first sync read the addresses of the slices as created
                assert counts["comprehension"] == 0, counts
            after = controller.current_slices("default/web")
            rewritten = [s for s in after if s not in slices]
            assert len(rewritten) == 1
            flipped = [e for s in after for e in s.endpoints if not e.conditions.ready]
            assert [e.addresses[0] for e in flipped] == ([] if ready else [_ip(7)])
            slices = after


def test_an_owner_re_filed_with_its_selector_object_keeps_its_order_without_reworking_it() -> None:
    """pkg/controller/replicaset/replica_set.go getPodReplicaSets and
    pkg/controller/deployment/deployment_controller.go getDeploymentsForReplicaSet: an orphan
    is offered to every owner whose selector matches it. The model indexes owners by one pair of
    their selector and re-files an owner on each of its events (status writes, mostly). Re-filed
    with the same selector object, it lands where discard-then-file puts it (the end of its
    slot: :meth:`SelectorIndex.matching` lists owners in that order) without working out the
    selector's index pair again; a new selector is filed afresh."""
    index = SelectorIndex()
    web = LabelSelector(match_labels={"app": "web"})
    other = LabelSelector(match_labels={"app": "web", "tier": "a"})
    index.put("default/a", "default", web)
    index.put("default/b", "default", other)
    labels = {"app": "web", "tier": "a"}
    assert index.matching("default", labels) == ["default/a", "default/b"]
    with calls_from(("controllers/ownership.py",), pair=LabelSelector.index_key) as counts:
        for _ in range(5):
            index.put("default/a", "default", web)
    assert counts == Counter(), counts  # the old path: two per put (discard, then file)
    assert index.matching("default", labels) == ["default/b", "default/a"]  # moved to the end
    narrower = LabelSelector(match_labels={"tier": "b"})
    index.put("default/a", "default", narrower)
    assert index.matching("default", labels) == ["default/b"]
    assert index.matching("default", {"tier": "b"}) == ["default/a"]
    index.discard("default/a")
    assert index.matching("default", {"tier": "b"}) == []
    index.put("default/a", "default", narrower)
    assert index.matching("default", {"tier": "b"}) == ["default/a"]


async def test_a_readiness_flip_moves_only_its_replicasets_ready_count() -> None:
    """pkg/controller/replicaset/replica_set_utils.go calculateStatus counts, at each sync, the
    ReplicaSet's active pods (controller_utils.go IsPodActive: not Succeeded, Failed or being
    deleted), their Ready ones and available ones. The model keeps the counts from pod events
    (rstally.py). A readiness flip changes only a pod's conditions: its owner, labels, phase,
    deletion and node are the same objects as in its last version, so neither whether it is
    active nor where it is placed (scale-down's pods per node) can change: twenty flips of a
    40-pod ReplicaSet ask no pod whether it is active (the old path: once per flip) and the
    counts are still those of a fresh count (ready 20 of 40)."""
    ctx = await control_plane()
    rc = ReplicaSetController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rc.run)
        nursery.start_soon(PodReadier(ctx).run)
        pods = await forty_ready_pods(ctx)
        with calls_from(("controllers/rstally.py",), active=Pod.is_active) as counts:
            await flip_unready(ctx, pods[:20])
        assert counts == Counter(), counts
        await assert_counted_half_ready(rc)
        nursery.cancel_scope.cancel()


async def test_the_garbage_collectors_update_handler_is_one_call_for_a_status_write() -> None:
    """pkg/controller/garbagecollector/graph_builder.go processGraphChanges: an update is
    compared with the graph node (``referencesDiffs``; ``beingDeleted`` and
    ``hasDeleteDependentsFinalizer`` only matter for an object being deleted). The model's
    handler sees every update of every kind (about four per pod as it starts); for an object not
    being deleted whose owner references are the very tuple of its last version (the API server
    keeps it through a status write) it makes no call (the old path asked needs_collector on
    every update and compared the references element by element)."""
    ctx = await control_plane()
    gc = GarbageCollector(ctx)
    handler = gc._on_update_handler("pods")
    base = pod("web-0")
    old = attrs.evolve(base, metadata=attrs.evolve(base.metadata, uid="u1", resource_version="1"))
    counts = calls_of(handler, old, status_write(old, "probe"))
    assert sum(counts.values()) == 1, counts  # the handler itself
    assert not gc.queue.dirty
