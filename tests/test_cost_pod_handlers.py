"""What each controller's pod-update handler costs per pod update (issue 16), counted
deterministically (Python function calls made inside the handler, with ``sys.setprofile``),
never timed.

Every pod update of a cluster (about four per pod while it starts: bind, then the kubelet's
status writes) is handed to every controller's pod informer handler. Nearly all of them concern
one controller at most, so each handler must decide "nothing for me" in a few attribute reads:

- a pod owned by a ReplicaSet costs the DaemonSet, StatefulSet and Job handlers one owner-kind
  check (upstream's updatePod resolves the controller reference to none of theirs and returns);
- a status write that changes none of the facts the ReplicaSet controller tallies (owner,
  labels, deletion, phase, conditions, node) is one comparison in the tally, and re-adding its
  ReplicaSet's key while that key is still queued is one set lookup (client-go's workqueue
  ``Add``: a key already in the dirty set is dropped);
- the Endpoints and EndpointSlice handlers compare the few endpoint facts and read nothing else.

Each bound is the handler's count today; the old paths (the tally recomputing a pod's
contribution, ``WorkQueue.add`` called for a queued key, the DaemonSet, Job and StatefulSet
handlers indexing or resolving another controller's pod) each exceed it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import attrs
import trio

from kubechaos.api.objects import Pod
from kubechaos.client.context import Context
from kubechaos.client.workqueue import WorkQueue
from kubechaos.control.controllers.daemon.controller import DaemonSetController
from kubechaos.control.controllers.deployment.controller import DeploymentController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.job.controller import JobController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.rstally import Tally
from kubechaos.control.controllers.statefulset.controller import StatefulSetController

from .factories import PodReadier, deployment, service
from .test_replicaset import control_plane


def calls_of(fn: Callable[..., object], *args: object) -> Counter[str]:
    """Every Python function called by ``fn(*args)`` (itself included), by qualified name."""
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            counts[frame.f_code.co_qualname] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(previous)
    return counts


def status_write(pod: Pod, message: str) -> Pod:
    """The pod after a status write that changes only its message (as the API server stores it:
    a new resourceVersion; the owner references, labels and conditions objects kept)."""
    meta = pod.metadata
    return attrs.evolve(
        pod,
        metadata=attrs.evolve(meta, resource_version=str(int(meta.resource_version) + 1)),
        status=attrs.evolve(pod.status, message=message),
    )


async def _cluster(ctx: Context, nursery: trio.Nursery) -> dict[str, Any]:
    """A converged Deployment of three pods behind a Service, and the controllers watching."""
    controllers = {
        "replicaset": ReplicaSetController(ctx),
        "deployment": DeploymentController(ctx),
        "daemonset": DaemonSetController(ctx),
        "statefulset": StatefulSetController(ctx),
        "job": JobController(ctx),
        "endpoints": EndpointsController(ctx),
        "endpointslice": EndpointSliceController(ctx),
    }
    for controller in controllers.values():
        nursery.start_soon(controller.run)
    nursery.start_soon(PodReadier(ctx).run)
    await ctx.api.create(deployment("web", replicas=3))
    await ctx.api.create(service("web", selector={"app": "web"}))
    await trio.sleep(30)
    return controllers


def _handler(controller: Any) -> Callable[[Pod, Pod], None]:
    """The controller's pod informer's update handler."""
    handlers = [h.on_update for h in controller.pods._handlers if h.on_update is not None]
    assert len(handlers) == 1, handlers
    return handlers[0]


# the Python calls each handler makes for a status write of a ReplicaSet's pod that changes
# nothing it reads (the handler itself included)
BOUNDS = {
    "replicaset": 6,  # handler, TalliedIndex.put (key_of, OwnedIndex.put), controller_ref,
    # Controller.enqueue
    "deployment": 3,  # handler, OwnedIndex.put, key_of
    "daemonset": 3,  # handler, still_owned_by_other_kind, controller_ref
    "statefulset": 3,  # handler, _tracked, controller_ref
    "job": 3,  # handler, still_owned_by_other_kind, controller_ref
    "endpoints": 2,  # handler, endpoint_changed
    "endpointslice": 2,
}


async def test_each_pod_update_handler_decides_nothing_for_me_in_a_few_calls() -> None:
    """pkg/controller/replicaset/replica_set.go updatePod (enqueue the owner of a pod whose
    controller reference is unchanged), daemon/daemon_controller.go updatePod,
    statefulset/stateful_set.go updatePod and job/job_controller.go updatePod (a controller
    reference of another kind resolves to nothing: return), deployment/deployment_controller.go
    updatePod (nothing for a pod not being deleted), endpointslice/util podEndpointsChanged.
    For a status write of a ReplicaSet's pod that changes none of the facts they read, each
    handler makes at most the calls in BOUNDS; the ReplicaSet tally computes no contribution
    and the ReplicaSet's key, still queued, never reaches WorkQueue.add."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        controllers = await _cluster(ctx, nursery)
        pods = [p for p in controllers["replicaset"].pods.list() if p.is_ready()]
        assert len(pods) == 3
        old = pods[0]
        rs_key = f"default/{old.metadata.controller_ref().name}"  # type: ignore[union-attr]
        controllers["replicaset"].queue.add(rs_key)  # queued: the next adds are no-ops
        measured: dict[str, Counter[str]] = {}
        for name, controller in controllers.items():
            handler = _handler(controller)
            warm = status_write(old, "warm-up")
            handler(old, warm)  # the pod's facts seen once before
            measured[name] = calls_of(handler, warm, status_write(warm, f"probe {name}"))
        totals = {name: sum(counts.values()) for name, counts in measured.items()}
        over = {n: measured[n] for n, total in totals.items() if total > BOUNDS[n]}
        assert not over, (totals, over)
        assert measured["replicaset"][Tally.add.__qualname__] == 0
        assert measured["replicaset"][Tally.contribution.__qualname__] == 0
        assert measured["replicaset"][WorkQueue.add.__qualname__] == 0
        nursery.cancel_scope.cancel()


async def test_a_changed_pod_still_reaches_its_owner_and_its_tally() -> None:
    """The fast paths skip only what would change nothing: a pod turning not Ready (new
    conditions) is tallied again (the ReplicaSet's readyReplicas, replica_set_utils.go
    calculateStatus, drops) and its ReplicaSet is woken; and a pod whose owner's key is not
    queued is added to the queue (WorkQueue.add, client-go workqueue Add)."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        controllers = await _cluster(ctx, nursery)
        rsc: ReplicaSetController = controllers["replicaset"]
        old = next(p for p in rsc.pods.list() if p.is_ready())
        ref = old.metadata.controller_ref()
        assert ref is not None
        rs_key = f"default/{ref.name}"
        tally = rsc._pods_by_owner._tallies[ref.uid]
        ready = tally.ready
        assert rs_key not in rsc.queue.dirty
        not_ready = tuple(
            attrs.evolve(c, status="False") if c.type == "Ready" else c
            for c in old.status.conditions
        )
        new = attrs.evolve(
            status_write(old, ""), status=attrs.evolve(old.status, conditions=not_ready)
        )
        counts = calls_of(_handler(rsc), old, new)
        assert counts[Tally.add.__qualname__] == 1
        assert counts[WorkQueue.add.__qualname__] == 1
        assert tally.ready == ready - 1
        assert rs_key in rsc.queue.dirty
        nursery.cancel_scope.cancel()
