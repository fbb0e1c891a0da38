from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    Lease,
    LeaseSpec,
    Node,
    NodeCondition,
    ObjectMeta,
    Pod,
    PodCondition,
    Taint,
    Toleration,
)
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllermanager import node_lifecycle_controllers
from kubechaos.control.controllers.nodelifecycle import desired_taints
from kubechaos.control.controllers.tainteviction import eviction_delay
from kubechaos.defaults import (
    NODE_LEASE_NAMESPACE,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    Settings,
)

from .factories import node, pod

S = Settings()
GRACE = S.node_monitor_grace_period
PERIOD = S.node_monitor_period
LEASE_RENEW = S.node_lease_duration_seconds / 4
_IPS = itertools.count(2)


class FakeKubelet:
    """Just the part of a kubelet the controller watches: registration, Lease renewals every
    10 s, and node status posts (only when the test asks, as nodeStatusReportFrequency is 5 min).
    """

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.alive = True
        self.last_renew = 0.0

    async def register(self, ready: str = "True") -> None:
        at = trio.current_time()
        await self.ctx.api.create(
            attrs.evolve(
                node(self.name),
                status=attrs.evolve(
                    node(self.name).status,
                    conditions=(NodeCondition("Ready", ready, at, at, "KubeletReady"),),
                ),
            )
        )
        lease = Lease(
            ObjectMeta(name=self.name, namespace=NODE_LEASE_NAMESPACE),
            LeaseSpec(self.name, S.node_lease_duration_seconds, at, at),
        )
        await self.ctx.api.create(lease)
        self.last_renew = at

    async def renew(self) -> None:
        at = trio.current_time()
        await self.ctx.api.patch(
            "leases",
            NODE_LEASE_NAMESPACE,
            self.name,
            lambda lease: attrs.evolve(lease, spec=attrs.evolve(lease.spec, renew_time=at)),
        )
        self.last_renew = at

    async def run(self) -> None:
        while True:
            await trio.sleep(LEASE_RENEW)
            if self.alive:
                await self.renew()

    async def post_status(self, ready: str) -> None:
        while True:
            current = await self.ctx.api.get("nodes", "", self.name)
            at = trio.current_time()
            old = current.status.condition("Ready")
            changed = old is None or old.status != ready
            cond = NodeCondition(
                "Ready", ready, at, at if changed else old.last_transition_time, "KubeletReady"
            )
            others = tuple(c for c in current.status.conditions if c.type != "Ready")
            try:
                await self.ctx.api.update_status(
                    attrs.evolve(
                        current, status=attrs.evolve(current.status, conditions=(cond, *others))
                    )
                )
                return
            except errors.Conflict:
                continue

    async def recover(self) -> None:
        self.alive = True
        await self.renew()
        await self.post_status("True")


async def running_pod(ctx: Context, name: str, node_name: str, *tolerations: Toleration) -> Pod:
    created = await ctx.api.create(pod(name, node_name=node_name, tolerations=tolerations))
    return await ctx.api.update_status(
        attrs.evolve(
            created,
            status=attrs.evolve(
                created.status,
                phase="Running",
                pod_ip=f"10.128.0.{next(_IPS)}",
                conditions=(*created.status.conditions, PodCondition("Ready", "True")),
            ),
        )
    )


@asynccontextmanager
async def cluster(
    *names: str, seed: int = 1
) -> AsyncIterator[tuple[Context, dict[str, FakeKubelet]]]:
    """A control plane, a fake kubelet per node and the controller, all running."""
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    kubelets = {name: FakeKubelet(ctx, name) for name in names}
    async with trio.open_nursery() as nursery:
        for kubelet in kubelets.values():
            await kubelet.register()
            nursery.start_soon(kubelet.run)
        nursery.start_soon(node_lifecycle_controllers(ctx)[0].run)
        yield ctx, kubelets
        nursery.cancel_scope.cancel()


async def get_node(ctx: Context, name: str = "n1") -> Node:
    return await ctx.api.get("nodes", "", name)


async def get_pod(ctx: Context, name: str) -> Pod:
    return await ctx.api.get("pods", "default", name)


def no_execute_taint(n: Node, key: str = TAINT_UNREACHABLE) -> Taint | None:
    return next((t for t in n.spec.taints if t.key == key and t.effect == "NoExecute"), None)


def deleted_at(p: Pod) -> float | None:
    """When the pod's deletion was requested (its deletionTimestamp minus its grace period)."""
    if p.metadata.deletion_timestamp is None:
        return None
    return p.metadata.deletion_timestamp - (p.metadata.deletion_grace_period_seconds or 0)


async def kill_and_wait_for_taint(ctx: Context, kubelet: FakeKubelet) -> float:
    """Stop the kubelet; return the time the unreachable NoExecute taint was added (a monitor
    period after the node went Unknown)."""
    kubelet.alive = False
    deadline = trio.current_time() + GRACE + 3 * PERIOD + LEASE_RENEW
    while (taint := no_execute_taint(await get_node(ctx))) is None:
        assert trio.current_time() < deadline
        await trio.sleep(0.1)
    assert taint.time_added is not None
    return taint.time_added


async def test_node_becomes_unknown_after_the_grace_period_and_its_pods_not_ready() -> None:
    async with cluster("n1", "n2") as (ctx, kubelets):
        await running_pod(ctx, "on-dead", "n1")
        await running_pod(ctx, "on-live", "n2")
        await trio.sleep(95)
        kubelets["n1"].alive = False
        last = kubelets["n1"].last_renew
        await trio.sleep(GRACE - 1)
        assert (await get_node(ctx)).is_ready()  # still inside the grace period
        await trio.sleep(PERIOD + 3)

        dead = await get_node(ctx)
        ready = dead.status.condition("Ready")
        assert ready is not None and ready.status == "Unknown"
        assert ready.reason == "NodeStatusUnknown"
        assert ready.message == "Kubelet stopped posting node status."
        # The lease was last renewed at `last`; the controller noticed within one monitor period
        # after the grace period ran out.
        assert last + GRACE < ready.last_transition_time <= last + GRACE + PERIOD + 0.1
        assert {c.type: c.status for c in dead.status.conditions} == {
            "Ready": "Unknown",
            "MemoryPressure": "Unknown",
            "DiskPressure": "Unknown",
            "PIDPressure": "Unknown",
        }
        assert {(t.key, t.effect) for t in dead.spec.taints} == {
            (TAINT_UNREACHABLE, "NoSchedule"),
            (TAINT_UNREACHABLE, "NoExecute"),
        }
        taint = no_execute_taint(dead)
        assert taint is not None and taint.time_added is not None
        # NoExecute comes from the next monitor pass, which observes the Unknown the previous
        # one wrote (processTaintBaseEviction reads the observed condition), then the zone's
        # tainting queue takes it at once (a token is there).
        assert ready.last_transition_time + PERIOD - 0.1 <= taint.time_added
        assert taint.time_added < ready.last_transition_time + PERIOD + 0.5

        assert not (await get_pod(ctx, "on-dead")).is_ready()
        assert (await get_pod(ctx, "on-live")).is_ready()
        assert (await get_node(ctx, "n2")).is_ready() and not (
            await get_node(ctx, "n2")
        ).spec.taints
        assert [e.object for e in ctx.events.find("NodeNotReady", kind="Node")] == ["n1"]
        assert [e.object for e in ctx.events.find("NodeNotReady", kind="Pod")] == [
            "default/on-dead"
        ]


async def test_pods_are_evicted_when_their_tolerations_run_out() -> None:
    # A second, healthy node: were n1 the only one, every zone would be fully disrupted and the
    # controller in master disruption mode (no NoExecute taints; see test_zone_disruption.py).
    async with cluster("n1", "n2") as (ctx, kubelets):
        ten = Toleration(TAINT_UNREACHABLE, "Exists", effect="NoExecute", toleration_seconds=10)
        forever = Toleration(TAINT_UNREACHABLE, "Exists", effect="NoExecute")
        defaulted = await running_pod(ctx, "web-default", "n1")
        assert {t.toleration_seconds for t in defaulted.spec.tolerations} == {300}
        await running_pod(ctx, "web-ten", "n1", ten)
        await running_pod(ctx, "web-forever", "n1", forever)
        tainted_at = await kill_and_wait_for_taint(ctx, kubelets["n1"])

        await trio.sleep(tainted_at + 20 - trio.current_time())
        ten_at = deleted_at(await get_pod(ctx, "web-ten"))
        assert ten_at is not None and tainted_at + 10 <= ten_at < tainted_at + 10.5
        assert deleted_at(await get_pod(ctx, "web-default")) is None

        await trio.sleep(tainted_at + 400 - trio.current_time())
        default_at = deleted_at(await get_pod(ctx, "web-default"))
        assert default_at is not None and tainted_at + 300 <= default_at < tainted_at + 300.5
        assert deleted_at(await get_pod(ctx, "web-forever")) is None
        # Graceful deletion: on a dead node nobody finishes it, so the pods stay, marked.
        assert (await get_pod(ctx, "web-default")).metadata.deletion_grace_period_seconds == 30
        messages = [e.message for e in ctx.events.find("TaintManagerEviction")]
        assert messages == [
            "Marking for deletion Pod default/web-ten",
            "Marking for deletion Pod default/web-default",
        ]


async def test_an_untolerated_no_execute_taint_evicts_at_once() -> None:
    async with cluster("n1") as (ctx, _):
        await running_pod(ctx, "plain", "n1")
        tolerant = Toleration("example.com/drain", "Exists", effect="NoExecute")
        await running_pod(ctx, "tolerant", "n1", tolerant)
        await trio.sleep(3)
        added = trio.current_time()
        drain = Taint("example.com/drain", "NoExecute", time_added=added)
        await ctx.api.patch(
            "nodes",
            "",
            "n1",
            lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, taints=(*n.spec.taints, drain))),
        )
        await trio.sleep(1)
        plain_at = deleted_at(await get_pod(ctx, "plain"))
        assert plain_at is not None and plain_at < added + 0.5
        assert deleted_at(await get_pod(ctx, "tolerant")) is None
        await trio.sleep(30)
        assert (await get_node(ctx)).spec.taints == (drain,)  # not a taint the controller owns


async def test_a_pod_on_a_long_tainted_node_gets_its_whole_toleration() -> None:
    """pkg/controller/tainteviction/taint_eviction.go processPodOnNode: a pod's toleration runs
    from when the controller processes the pod on the tainted node (``startTime := now``), not
    from the taint's ``timeAdded``: a pod arriving on a node tainted 100 s ago, tolerating it for
    60 s, is deleted 60 s after it arrived, not at once. (So pods the scheduler places on a
    returning node before its NoExecute taint is lifted are not evicted on the spot.)"""
    async with cluster("n1") as (ctx, _):
        maint = Taint("example.com/maint", "NoExecute", time_added=trio.current_time())
        await ctx.api.patch(
            "nodes",
            "",
            "n1",
            lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, taints=(*n.spec.taints, maint))),
        )
        await trio.sleep(100)
        sixty = Toleration("example.com/maint", "Exists", effect="NoExecute", toleration_seconds=60)
        arrived = trio.current_time()
        await running_pod(ctx, "late", "n1", sixty)
        await trio.sleep(30)
        assert deleted_at(await get_pod(ctx, "late")) is None
        await trio.sleep(40)
        late_at = deleted_at(await get_pod(ctx, "late"))
        assert late_at is not None and arrived + 60 <= late_at < arrived + 61


async def test_recovery_clears_the_taints_and_cancels_pending_evictions() -> None:
    # A second, healthy node: were n1 the only one, every zone would be fully disrupted and the
    # controller in master disruption mode (no NoExecute taints; see test_zone_disruption.py).
    async with cluster("n1", "n2") as (ctx, kubelets):
        await running_pod(ctx, "web", "n1")
        tainted_at = await kill_and_wait_for_taint(ctx, kubelets["n1"])
        await trio.sleep(tainted_at + 100 - trio.current_time())
        await kubelets["n1"].recover()
        await trio.sleep(PERIOD + 1)  # the NoExecute taint goes at the next monitor pass
        recovered = await get_node(ctx)
        assert recovered.is_ready() and recovered.spec.taints == ()
        assert [e.message for e in ctx.events.find("TaintManagerEviction")] == [
            "Cancelling deletion of Pod default/web"
        ]
        assert [e.object for e in ctx.events.find("NodeReady")] == ["n1"]
        await trio.sleep(400)
        assert deleted_at(await get_pod(ctx, "web")) is None
        assert (await get_node(ctx)).is_ready()


async def test_a_node_reporting_not_ready_gets_the_not_ready_taints() -> None:
    # A second, healthy node: were n1 the only one, every zone would be fully disrupted and the
    # controller in master disruption mode (no NoExecute taints; see test_zone_disruption.py).
    async with cluster("n1", "n2") as (ctx, kubelets):
        await trio.sleep(10)
        await kubelets["n1"].post_status("False")
        await trio.sleep(1)
        assert {(t.key, t.effect) for t in (await get_node(ctx)).spec.taints} == {
            (TAINT_NOT_READY, "NoSchedule")  # at once, on the node update
        }
        await trio.sleep(PERIOD)  # NoExecute: at the next monitor pass that observes False
        sick = await get_node(ctx)
        assert {(t.key, t.effect) for t in sick.spec.taints} == {
            (TAINT_NOT_READY, "NoSchedule"),
            (TAINT_NOT_READY, "NoExecute"),
        }
        assert ctx.events.find("NodeNotReady", kind="Node")
        # The kubelet is alive (it renews its lease), so the node is never made Unknown.
        await trio.sleep(GRACE * 3)
        status = (await get_node(ctx)).status.condition("Ready")
        assert status is not None and status.status == "False"
        await kubelets["n1"].post_status("True")
        await trio.sleep(PERIOD + 1)
        assert (await get_node(ctx)).spec.taints == ()


async def test_cordoning_adds_the_unschedulable_taint() -> None:
    async with cluster("n1") as (ctx, _):

        def cordon(value: bool) -> Callable[[Node], Node]:
            return lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, unschedulable=value))

        await trio.sleep(1)
        await ctx.api.patch("nodes", "", "n1", cordon(True))
        await trio.sleep(1)
        taints = (await get_node(ctx)).spec.taints
        assert [(t.key, t.effect, t.time_added) for t in taints] == [
            (TAINT_UNSCHEDULABLE, "NoSchedule", None)
        ]
        await ctx.api.patch("nodes", "", "n1", cordon(False))
        await trio.sleep(1)
        assert (await get_node(ctx)).spec.taints == ()


async def test_a_node_that_never_posted_status_gets_the_startup_grace_period() -> None:
    _, ctx = new_control_plane(2)
    await bootstrap(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node_lifecycle_controllers(ctx)[0].run)
        await trio.sleep(1)
        created = (await ctx.api.create(node("silent"))).metadata.creation_timestamp
        await trio.sleep(S.node_startup_grace_period - 2)
        assert (await get_node(ctx, "silent")).status.conditions == ()  # 50 s would be too early
        await trio.sleep(PERIOD + 3)
        ready = (await get_node(ctx, "silent")).status.condition("Ready")
        assert ready is not None and ready.status == "Unknown"
        assert ready.reason == "NodeStatusNeverUpdated"
        startup = S.node_startup_grace_period
        assert created + startup < ready.last_transition_time <= created + startup + PERIOD + 0.1
        nursery.cancel_scope.cancel()


async def test_a_restarted_controller_counts_tolerations_afresh() -> None:
    """pkg/controller/tainteviction/taint_eviction.go: scheduled evictions live in the process's
    timed queue, and processPodOnNode starts a pod's toleration at ``now``; so a controller
    manager that restarts 120 s into a pod's 300 s toleration deletes it 300 s after the
    restart, not 300 s after the taint (a restart delays evictions, as upstream)."""
    _, ctx = new_control_plane(4)
    await bootstrap(ctx)
    kubelet, healthy = FakeKubelet(ctx, "n1"), FakeKubelet(ctx, "n2")
    await kubelet.register()
    await healthy.register()
    async with trio.open_nursery() as outer:
        outer.start_soon(kubelet.run)
        outer.start_soon(healthy.run)
        await running_pod(ctx, "web", "n1")
        async with trio.open_nursery() as first:
            first.start_soon(node_lifecycle_controllers(ctx)[0].run)
            tainted_at = await kill_and_wait_for_taint(ctx, kubelet)
            await trio.sleep(100)
            first.cancel_scope.cancel()  # the controller manager crashes
        await trio.sleep(20)
        restarted_at = trio.current_time()
        async with trio.open_nursery() as second:
            second.start_soon(node_lifecycle_controllers(ctx)[0].run)
            await trio.sleep(tainted_at + 310 - trio.current_time())
            assert deleted_at(await get_pod(ctx, "web")) is None  # the old deadline is gone
            await trio.sleep(restarted_at + 310 - trio.current_time())
            evicted = deleted_at(await get_pod(ctx, "web"))
            assert evicted is not None and restarted_at + 300 <= evicted < restarted_at + 301
            second.cancel_scope.cancel()
        outer.cancel_scope.cancel()


def test_eviction_delay_is_the_shortest_matching_toleration() -> None:
    unreachable = Taint(TAINT_UNREACHABLE, "NoExecute", time_added=0.0)
    other = Taint("example.com/x", "NoExecute", value="y")
    spec_pod = pod("p")
    short = Toleration(TAINT_UNREACHABLE, "Exists", effect="NoExecute", toleration_seconds=30)
    anything = Toleration(operator="Exists", toleration_seconds=600)
    forever = Toleration("example.com/x", "Equal", "y", "NoExecute")

    def with_tolerations(*tolerations: Toleration) -> Pod:
        return attrs.evolve(spec_pod, spec=attrs.evolve(spec_pod.spec, tolerations=tolerations))

    assert eviction_delay((unreachable,), with_tolerations()) == 0.0
    assert eviction_delay((unreachable,), with_tolerations(short)) == 30
    assert eviction_delay((unreachable, other), with_tolerations(short)) == 0.0
    assert eviction_delay((unreachable, other), with_tolerations(short, forever)) == 30
    assert eviction_delay((other,), with_tolerations(forever)) is None
    # Each taint is matched by the first toleration that tolerates it.
    assert eviction_delay((unreachable, other), with_tolerations(anything, short)) == 600


def test_desired_taints_keep_foreign_taints_and_time_added() -> None:
    base = node("n1")
    foreign = Taint("dedicated", "NoSchedule", "gpu")
    old = Taint(TAINT_NOT_READY, "NoExecute", time_added=5.0)
    sick = attrs.evolve(
        base,
        spec=attrs.evolve(base.spec, taints=(foreign, old)),
        status=attrs.evolve(base.status, conditions=(NodeCondition("Ready", "False"),)),
    )
    assert desired_taints(sick, 9.0) == (foreign, old, Taint(TAINT_NOT_READY, "NoSchedule"))
    gone = attrs.evolve(
        sick, status=attrs.evolve(sick.status, conditions=(NodeCondition("Ready", "Unknown"),))
    )
    # NoExecute taints are not this function's: the monitor pass and the zone queues swap them.
    assert desired_taints(gone, 9.0) == (foreign, old, Taint(TAINT_UNREACHABLE, "NoSchedule"))
