"""Complexity guards for the whole cluster: deterministic work counts, never wall time (issue 16).

At a fixed seed one realistic shape runs at two sizes, 20 and 40 nodes (nodes and pods double):
a Deployment of 4 pods per node behind a Service with traffic from every node, a smaller one with
readiness and liveness probes spread over two zones, a DaemonSet, a StatefulSet of one replica
per 10 nodes; 90 virtual seconds in, 10 % of the big Deployment's pods are deleted, at 120 s it
rolls out a new image, and the run ends at 300 s. Upstream keeps each of these paths linear:

- a controller's sync reads the pods of the object it syncs, found through informer indexes,
  and ReplicaSet expectations keep it from acting on a stale cache (pkg/controller/replicaset/
  replica_set.go syncReplicaSet, pkg/controller/controller_utils.go ControllerExpectations);
- the scheduler evaluates at most numFeasibleNodesToFind nodes per attempt
  (pkg/scheduler/schedule_one.go; percentageOfNodesToScore);
- nothing in the data plane does per-event work over all pods or all nodes.

So doubling nodes and pods may at most double (<= 2.2x) the work counted here: label selector
evaluations, pods read per controller (summed over its syncs), nodes the scheduler filters and
scores, and Trio task wakeups per model event. The counters are test-side wrappers (a class
attribute or a module attribute replaced for the run), so the model pays nothing for them.
"""

from __future__ import annotations

import contextvars
import functools
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import (
    APIObject,
    Container,
    ContainerPort,
    DaemonSet,
    DaemonSetSpec,
    Deployment,
    DeploymentSpec,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplate,
    Probe,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
    TopologySpreadConstraint,
)
from kubechaos.api.selectors import LabelSelector, Requirement
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.controllers import ownership, servicepods
from kubechaos.control.controllers.daemon.controller import DaemonSetController
from kubechaos.control.controllers.deployment.controller import DeploymentController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice.controller import EndpointSliceController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.statefulset.controller import StatefulSetController
from kubechaos.control.scheduler import Scheduler
from kubechaos.sim.clock import run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec

SMALL, LARGE = 20, 40
GROWTH = 2.2  # per doubling of nodes and pods
ZONE = "topology.kubernetes.io/zone"
READINESS = Probe(initial_delay_seconds=5, period_seconds=10)
LIVENESS = Probe(initial_delay_seconds=15, period_seconds=10)
CONTROLLERS = {
    "ReplicaSet": ReplicaSetController,
    "Deployment": DeploymentController,
    "EndpointSlice": EndpointSliceController,
    "Endpoints": EndpointsController,
    "DaemonSet": DaemonSetController,
    "StatefulSet": StatefulSetController,
}

_syncing: contextvars.ContextVar[str] = contextvars.ContextVar("syncing", default="")


def _container(name: str, liveness: bool) -> Container:
    return Container(
        name,
        f"registry.example/{name}:1",
        requests=Resources(50, 32 * 2**20),
        ports=(ContainerPort(8080),),
        readiness_probe=READINESS,
        liveness_probe=LIVENESS if liveness else None,
    )


def _template(name: str, liveness: bool, spread: bool = False) -> PodTemplate:
    labels = {"app": name}
    constraints = (
        (TopologySpreadConstraint(1, ZONE, "DoNotSchedule", LabelSelector(labels)),)
        if spread
        else ()
    )
    spec = PodSpec(containers=(_container(name, liveness),), topology_spread=constraints)
    return PodTemplate(ObjectMeta(labels=labels), spec)


def _meta(name: str) -> ObjectMeta:
    return ObjectMeta(name=name, namespace="default")


def shape(nodes: int) -> list[APIObject]:
    """The workload at ``nodes`` nodes: every count in it is proportional to ``nodes``."""
    web = DeploymentSpec(LabelSelector({"app": "web"}), _template("web", False), 4 * nodes)
    api = DeploymentSpec(LabelSelector({"app": "api"}), _template("api", True, True), nodes)
    agent = DaemonSetSpec(LabelSelector({"app": "agent"}), _template("agent", True))
    db = StatefulSetSpec(
        LabelSelector({"app": "db"}), _template("db", True), nodes // 10, service_name="db"
    )
    return [
        Deployment(_meta("web"), web),
        Service(_meta("web"), ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80, 8080),))),
        Deployment(_meta("api"), api),
        Service(_meta("api"), ServiceSpec(selector={"app": "api"}, ports=(ServicePort(80, 8080),))),
        DaemonSet(_meta("agent"), agent),
        Service(
            _meta("db"),
            ServiceSpec(
                selector={"app": "db"}, ports=(ServicePort(5432, 8080),), cluster_ip="None"
            ),
        ),
        StatefulSet(_meta("db"), db),
    ]


def _new_image(deployment: Deployment) -> Deployment:
    template = deployment.spec.template
    containers = tuple(attrs.evolve(c, image=c.image + "-2") for c in template.spec.containers)
    template = attrs.evolve(template, spec=attrs.evolve(template.spec, containers=containers))
    return attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, template=template))


@attrs.define
class Work:
    """What one run did, counted."""

    pods: int = 0
    events: int = 0
    wakeups: int = 0
    selector_evaluations: int = 0
    claimed_candidates: int = 0
    pod_reads: Counter[str] = attrs.field(factory=Counter)  # per controller, over its syncs
    syncs: Counter[str] = attrs.field(factory=Counter)  # per controller
    nodes_evaluated: int = 0
    attempts: int = 0


class _Wakeups(trio.abc.Instrument):
    def __init__(self, work: Work) -> None:
        self.work = work

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.work.wakeups += 1


def _replace_everywhere(mp: pytest.MonkeyPatch, original: Any, replacement: Any) -> None:
    """Replace a module-level function in every kubechaos module that imported it by name."""
    for name, module in list(sys.modules.items()):
        if name.startswith("kubechaos") and module is not None:
            for attr, value in list(vars(module).items()):
                if value is original:
                    mp.setattr(module, attr, replacement)


def _instrument(mp: pytest.MonkeyPatch, work: Work) -> None:
    def count_selector(method: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(method)
        def counted(*args: Any) -> bool:
            work.selector_evaluations += 1
            return method(*args)

        return counted

    def count_pod_read(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(*args: Any) -> Any:
            who = _syncing.get()
            if who:
                work.pod_reads[who] += 1
            return method(*args)

        return counted

    def in_sync(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def syncing(*args: Any) -> Any:
            work.syncs[name] += 1
            token = _syncing.set(name)
            try:
                return await method(*args)
            finally:
                _syncing.reset(token)

        return syncing

    original_claim = ownership.claim

    async def claim(api: Any, resource: str, owner: Any, candidates: Any, recheck: Any) -> Any:
        candidates = list(candidates)
        work.claimed_candidates += len(candidates)
        return await original_claim(api, resource, owner, candidates, recheck)

    for cls in (LabelSelector, Requirement):
        mp.setattr(cls, "matches", count_selector(cls.matches))
    _replace_everywhere(
        mp, servicepods.selector_matches, count_selector(servicepods.selector_matches)
    )
    _replace_everywhere(mp, original_claim, claim)
    # a pod "read": its conditions or its phase looked at (is_ready, ready_since, is_active, ...)
    mp.setattr(PodStatus, "condition", count_pod_read(PodStatus.condition))
    mp.setattr(Pod, "is_terminal", count_pod_read(Pod.is_terminal))
    for name, cls in CONTROLLERS.items():
        mp.setattr(cls, "sync", in_sync(name, cls.sync))


def run(nodes: int) -> Work:
    """Run the shape at ``nodes`` nodes for 300 virtual seconds, counting its work."""
    work = Work()
    half = nodes // 2
    groups = (
        NodeGroupSpec("zone-a", half, labels={ZONE: "a"}),
        NodeGroupSpec("zone-b", nodes - half, labels={ZONE: "b"}),
    )
    cluster = Cluster(ClusterSpec(groups), seed=3)
    objects = shape(nodes)
    traffic = TrafficGenerator(
        cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=nodes)]
    )

    async def main() -> None:
        trio.lowlevel.add_instrument(_Wakeups(work))
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            await cluster.apply(objects)
            nursery.start_soon(traffic.run)
            await trio.sleep(90)
            pods, _ = await cluster.api.list("pods", "default")
            web = sorted(p.metadata.name for p in pods if p.metadata.name.startswith("web-"))
            for name in random.Random(3).sample(web, len(web) // 10):
                await cluster.api.delete("pods", "default", name)
            await trio.sleep(30)
            await cluster.api.patch("deployments", "default", "web", _new_image)
            await trio.sleep(180)
            pods, _ = await cluster.api.list("pods", "default")
            work.pods = sum(p.is_ready() for p in pods)
            scheduler = cluster.scheduler.instance
            assert isinstance(scheduler, Scheduler)
            work.nodes_evaluated = scheduler.nodes_filtered + scheduler.nodes_scored
            work.attempts = sum(scheduler.schedule_attempts.values())
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        _instrument(mp, work)
        run_virtual(main, seed=3)
    work.events = len(cluster.ctx.events)
    return work


@pytest.fixture(scope="module")
def works() -> Iterator[tuple[Work, Work]]:
    yield run(SMALL), run(LARGE)


def _grows_linearly(small: float, large: float, what: str, growth: float = GROWTH) -> None:
    assert small > 0, f"{what}: nothing counted at {SMALL} nodes (the counter is not wired)"
    assert large <= growth * small, (
        f"{what}: {small:.0f} at {SMALL} nodes, {large:.0f} at {LARGE} nodes"
        f" ({large / small:.2f}x for 2x nodes and pods; at most {growth}x)"
    )


def test_the_shape_doubles_and_settles(works: tuple[Work, Work]) -> None:
    """The comparison is fair: every pod of the shape is Ready at the end, at both sizes, and
    the large run has twice the pods (4 + 1 + 1 per node, one StatefulSet replica per 10 nodes)."""
    small, large = works
    assert small.pods == SMALL * 6 + SMALL // 10
    assert large.pods == LARGE * 6 + LARGE // 10


def test_selector_evaluations_grow_linearly(works: tuple[Work, Work]) -> None:
    """Label selector evaluations (LabelSelector/Requirement.matches, a Service's selector
    against a pod's labels): upstream finds a controller's pods through informer indexes and
    claims only candidates (pkg/controller/controller_ref_manager.go ClaimPods), so each pod
    event costs a bounded number of evaluations, not one per pod in the namespace."""
    small, large = works
    _grows_linearly(small.selector_evaluations, large.selector_evaluations, "selector evaluations")


def test_claim_candidates_grow_linearly(works: tuple[Work, Work]) -> None:
    """Objects offered to ownership.claim (upstream's ClaimObject) over all syncs: the owned and
    the orphaned pods of one owner, never the namespace's pods."""
    small, large = works
    _grows_linearly(small.claimed_candidates, large.claimed_candidates, "claim candidates")


READING_PODS = [name for name in CONTROLLERS if name != "Deployment"]


@pytest.mark.parametrize("controller", READING_PODS)
def test_pods_read_per_sync_grow_linearly(works: tuple[Work, Work], controller: str) -> None:
    """Pods a controller reads (conditions or phase) per sync: at most the pods of the one
    object synced, found through an index (upstream: the ReplicaSet's status from its own pods,
    pkg/controller/replicaset/replica_set_utils.go calculateStatus; the EndpointSlice and
    Endpoints reconcilers from the Service's pods, pkg/controller/endpointslice/reconciler.go;
    the DaemonSet's nodeToDaemonPods, the StatefulSet's getPodsForStatefulSet), never the
    namespace's pods."""
    small, large = works
    _grows_linearly(
        small.pod_reads[controller] / small.syncs[controller],
        large.pod_reads[controller] / large.syncs[controller],
        f"{controller} pods read per sync",
    )


@pytest.mark.parametrize("controller", READING_PODS)
def test_pods_read_over_the_run_grow_linearly(works: tuple[Work, Work], controller: str) -> None:
    """Pods a controller reads over the whole run: a sync per pod event that re-reads every pod
    of an object growing with the cluster (a 4-pods-per-node Deployment's ReplicaSet, its
    Service's endpoints, a DaemonSet) is quadratic; status is computed from the pods that
    changed, with expectations holding syncs back while creations are pending
    (pkg/controller/controller_utils.go ControllerExpectations)."""
    small, large = works
    _grows_linearly(small.pod_reads[controller], large.pod_reads[controller], controller)


def test_a_rolling_update_reads_no_pods_in_the_deployment_controller(
    works: tuple[Work, Work],
) -> None:
    """The Deployment controller works on ReplicaSets; it lists pods only for a Recreate
    rollout (pkg/controller/deployment/recreate.go oldPodsRunning), so a RollingUpdate reads
    none, at any size."""
    small, large = works
    assert small.syncs["Deployment"] > 0 and large.syncs["Deployment"] > 0
    assert small.pod_reads["Deployment"] == large.pod_reads["Deployment"] == 0


def test_scheduler_nodes_evaluated_grow_linearly(works: tuple[Work, Work]) -> None:
    """Nodes filtered plus nodes scored over every scheduling attempt: at these sizes every
    node is feasible-to-find (numFeasibleNodesToFind's minimum is 100 nodes,
    pkg/scheduler/schedule_one.go), so this is attempts x nodes, which grows 4x per doubling
    unless per-attempt work is bounded; counted per attempt, it may at most double."""
    small, large = works
    _grows_linearly(
        small.nodes_evaluated / small.attempts,
        large.nodes_evaluated / large.attempts,
        "nodes evaluated per scheduling attempt",
    )


def test_task_wakeups_per_event_grow_linearly(works: tuple[Work, Work]) -> None:
    """Trio task steps per model event: a per-event fan-out to every node's or every pod's
    task (a broadcast, a timer per probe waking each period) shows as wakeups per event growing
    with the cluster."""
    small, large = works
    _grows_linearly(small.wakeups / small.events, large.wakeups / large.events, "wakeups/event")
