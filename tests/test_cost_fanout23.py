"""What the informer event handlers that every pod event reaches cost (issue 16, sitting 23),
counted deterministically (Python calls made inside a handler, with ``sys.setprofile``), never
timed.

- The Endpoints and EndpointSlice controllers find the Services that select a pod once per
  labels object (pkg/controller/endpoint/endpoints_controller.go and
  pkg/controller/endpointslice/endpointslice_controller.go getPodServiceMemberships read the
  Service lister on each pod event): a pod's later events (its binding, IP, readiness), which
  keep the labels object, reuse that answer while no Service has joined, left or changed its
  selector; one that has is seen by the next pod event.
- The node lifecycle controller marks the ready pods of a node that is not Ready
  (pkg/controller/nodelifecycle/node_lifecycle_controller.go podUpdated/processPod): a pod event
  on a Ready node (all of them in a healthy cluster) reads neither the pod's conditions nor the
  node cache, while a ready pod on a not-Ready node still gets its node queued.
  The taint eviction controller's pod handler builds no pod key while no eviction is pending.
- The convergence watch formats a workload's counts only for the event that reports them, and
  the Deployment controller's ReplicaSet handler compares owner references only when the
  tuple is a new one.
- The watch cache hands a pod event to a node's watch (a kubelet's, selected by
  ``spec.nodeName``) by comparing the pod's node before and after, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs
import trio

from kubechaos.api.objects import Deployment, DeploymentStatus, Pod, PodCondition, PodStatus, key_of
from kubechaos.api.selectors import FieldSelector
from kubechaos.api.watch import ADDED, DELETED, MODIFIED
from kubechaos.control.controllers.deployment.controller import DeploymentController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.nodelifecycle import NodeLifecycleController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.servicepods import ServicePodsController, selector_matches
from kubechaos.control.controllers.tainteviction import TaintEvictionController
from kubechaos.control.registry import stamp
from kubechaos.control.watchcache import Watch, WatchCache
from kubechaos.control.watchcache import _CachedEvent as CachedEvent
from kubechaos.observe.convergence import ConvergenceWatch, progress

from .factories import PodReadier, deployment, pod, ready_node, service
from .test_cost_pod_handlers import calls_of, status_write
from .test_replicaset import control_plane


def not_ready(p: Pod) -> Pod:
    """``p`` after a status write turning it not Ready (an endpoint change)."""
    conditions = tuple(
        attrs.evolve(c, status="False") if c.type == "Ready" else c for c in p.status.conditions
    )
    return attrs.evolve(status_write(p, ""), status=attrs.evolve(p.status, conditions=conditions))


def record_services_reached(controller: ServicePodsController) -> list[str]:
    """The Service keys the controller's pod handler reaches from now on, in order."""
    reached: list[str] = []
    enqueue = controller.enqueue_pod_services

    def recording(keys: Iterable[str], pod_key: str) -> None:
        keys = list(keys)
        reached.extend(keys)
        enqueue(keys, pod_key)

    controller.enqueue_pod_services = recording  # type: ignore[method-assign]
    return reached


def apply_to_each(controllers: list[ServicePodsController], new: Pod) -> Callable[[], None]:
    """Each controller's pod informer hearing of ``new`` (each has its own in this test)."""

    def apply() -> None:
        for controller in controllers:
            controller.pods._apply(MODIFIED, new)

    return apply


selector_matches_name = selector_matches.__qualname__


async def test_a_pods_services_are_looked_up_once_per_labels_object() -> None:
    """A readiness flip of a pod already seen matches no Service selector again in either
    controller, yet reaches the Service; after a second Service selecting the pod is created,
    the next flip reaches both (the lookup is redone once the Services changed), and once that
    Service's selector no longer matches, only the first again."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        controllers = [EndpointsController(ctx), EndpointSliceController(ctx)]
        for controller in (*controllers, ReplicaSetController(ctx), DeploymentController(ctx)):
            nursery.start_soon(controller.run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(deployment("web", replicas=3))
        await ctx.api.create(service("web", selector={"app": "web"}))
        await trio.sleep(30)
        reached = [record_services_reached(controller) for controller in controllers]
        old = next(p for p in controllers[0].pods.list() if p.is_ready())
        assert calls_of(apply_to_each(controllers, not_ready(old)))[selector_matches_name] == 0
        assert reached == [["default/web"]] * len(controllers)

        await ctx.api.create(service("all-web", selector={"app": "web"}))
        await trio.sleep(1)
        for keys in reached:
            keys.clear()
        counts = calls_of(apply_to_each(controllers, status_write(old, "ready again")))
        assert counts[selector_matches_name] == 2 * len(controllers)
        assert reached == [["default/web", "default/all-web"]] * len(controllers)

        svc = await ctx.api.get("services", "default", "all-web")
        moved = attrs.evolve(svc.spec, selector={"app": "other"})
        await ctx.api.update(attrs.evolve(svc, spec=moved))
        await trio.sleep(1)
        for keys in reached:
            keys.clear()
        apply_to_each(controllers, not_ready(old))()
        assert reached == [["default/web"]] * len(controllers)
        nursery.cancel_scope.cancel()


def ready_pod(name: str, node_name: str) -> Pod:
    bound = pod(name, node_name=node_name)
    return attrs.evolve(
        bound,
        metadata=attrs.evolve(bound.metadata, resource_version="1"),
        status=PodStatus(phase="Running", conditions=(PodCondition("Ready", "True"),)),
    )


async def test_a_pod_event_on_a_ready_node_reads_neither_pod_nor_node() -> None:
    """On a Ready node a ready pod's update is one set lookup (no readiness read, no node
    cache read), and the taint eviction controller (pkg/controller/tainteviction/
    taint_eviction.go podUpdated) builds no pod key while no eviction is pending and the node
    has no NoExecute taint; on a node turned not Ready the pod's node is queued for its pods
    to be marked."""
    ctx = await control_plane()
    controller = NodeLifecycleController(ctx)
    TaintEvictionController(ctx, controller.nodes, controller.pods, controller.pods_by_node)
    controller.nodes._apply(ADDED, ready_node("n1"))
    controller.nodes._apply(ADDED, ready_node("n2"))
    p = ready_pod("a", "n1")
    controller.pods._apply(ADDED, p)
    counts = calls_of(lambda: controller.pods._apply(MODIFIED, status_write(p, "probe")))
    assert counts[Pod.is_ready.__qualname__] == 0
    assert counts["Informer.get"] == 0
    assert counts[key_of.__qualname__] == 0
    assert not controller.queue.dirty

    controller.nodes._apply(MODIFIED, ready_node("n1", ready="Unknown"))
    controller.pods._apply(MODIFIED, status_write(p, "probe again"))
    assert "n1" in controller.queue.dirty
    controller.nodes._apply(MODIFIED, ready_node("n2", ready="False"))
    controller.queue.dirty.discard("n2")
    controller.nodes._apply(MODIFIED, ready_node("n2"))  # Ready again: no mark
    controller.pods._apply(ADDED, ready_pod("b", "n2"))
    assert "n2" not in controller.queue.dirty


def deployment_with_status(replicas: int, available: int, version: int) -> Deployment:
    d = deployment("web", replicas=replicas)
    return attrs.evolve(
        d,
        metadata=attrs.evolve(d.metadata, uid="d-1", resource_version=str(version)),
        status=DeploymentStatus(
            replicas=replicas, updated_replicas=replicas, available_replicas=available
        ),
    )


async def test_the_convergence_watch_formats_counts_only_for_an_event() -> None:
    """A Deployment update that leaves it as complete (or incomplete) as before formats no
    counts; the one that completes it records DeploymentAvailable with them, as before."""
    ctx = await control_plane()
    watch = ConvergenceWatch(ctx)
    informer = watch.informer
    informer._apply(ADDED, deployment_with_status(3, 1, 1))
    counts = calls_of(lambda: informer._apply(MODIFIED, deployment_with_status(3, 2, 2)))
    assert counts[progress.__qualname__] == 0
    counts = calls_of(lambda: informer._apply(MODIFIED, deployment_with_status(3, 3, 3)))
    assert counts[progress.__qualname__] == 1
    available = [e for e in ctx.events if e.reason == "DeploymentAvailable"]
    assert [e.message for e in available] == ["3/3 available, 3 updated"]


async def test_a_replicaset_status_write_compares_no_owner_references() -> None:
    """deployment_controller.go updateReplicaSet: a ReplicaSet whose controller reference is
    unchanged wakes its Deployment; the same owner references tuple (a status write) is that
    answer without comparing the references (no attrs ``__ne__``)."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = DeploymentController(ctx)
        for controller in (dc, ReplicaSetController(ctx)):
            nursery.start_soon(controller.run)
        await ctx.api.create(deployment("web", replicas=1))
        await trio.sleep(5)
        rs = dc.replicasets.list()[0]
        written = attrs.evolve(
            rs,
            metadata=attrs.evolve(rs.metadata, resource_version=rs.metadata.resource_version + "0"),
            status=attrs.evolve(rs.status, observed_generation=rs.status.observed_generation + 1),
        )
        dc.queue.dirty.clear()
        counts = calls_of(lambda: dc.replicasets._apply(MODIFIED, written))
        assert counts["__ne__"] == 0
        assert "default/web" in dc.queue.dirty
        nursery.cancel_scope.cancel()


def test_a_node_watch_sees_a_pod_by_its_node_without_a_visibility_call() -> None:
    """cacher.go filters each event for a watch with a field selector on ``spec.nodeName`` (a
    kubelet's) by the pod's node before and after: a pod bound to the node arrives as ADDED,
    its later updates as MODIFIED, another node's pod not at all. For such a watch (no label
    selector) that is the node compared, with no general visibility test per object."""
    cache = WatchCache("pods", stamp.decode, 100)
    watch = cache.watch(None, None, FieldSelector("n1"), 0, "kubelet-n1")
    unbound = pod("p")
    bound = attrs.evolve(unbound, spec=attrs.evolve(unbound.spec, node_name="n1"))
    running = attrs.evolve(bound, status=PodStatus("Running"))
    elsewhere = attrs.evolve(unbound, spec=attrs.evolve(unbound.spec, node_name="n2"))
    events = [
        CachedEvent(2, ADDED, unbound, None),
        CachedEvent(3, MODIFIED, bound, unbound),
        CachedEvent(4, MODIFIED, running, bound),
        CachedEvent(5, DELETED, running, running),
        CachedEvent(6, ADDED, elsewhere, None),
    ]

    def offer_each() -> None:
        for event in events:
            watch._offer(event)

    counts = calls_of(offer_each)
    assert counts[Watch._visible.__qualname__] == 0
    assert [(e.type, e.resource_version) for e in watch._pending] == [
        (ADDED, 3),
        (MODIFIED, 4),
        (DELETED, 5),
    ]
