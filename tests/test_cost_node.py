"""The node side's cost, counted deterministically (issue 16): never wall time.

Every node runs a kubelet, a kube-proxy and traffic clients, so their cost is paid once per node
and is most of a large cluster's steady state. These tests count what that cost is made of and
fail if work upstream does not do comes back:

- pod status writes per pod lifecycle: upstream's status manager writes a status only when it
  changed apart from timestamps (pkg/kubelet/status/status_manager.go ``updateStatusInternal``,
  ``isPodStatusByKubeletEqual``), one per pod worker sync that changed it;
- task steps of an idle kubelet: its heartbeats (a Lease renewal and a node status check, each
  one wakeup and one request, pkg/kubelet/nodelease and ``tryUpdateNodeStatus`` in
  pkg/kubelet/kubelet_node_status.go), and nothing at all from its pod workers or status manager
  while no pod changes;
- copies made per status write, and Python calls per request of the traffic clients, which must
  not grow with the number of nodes.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import Pod, PodStatus, Probe
from kubechaos.api.objects.copying import replace
from kubechaos.client.context import Context
from kubechaos.node.kubelet import status_manager
from kubechaos.node.kubelet.node_status import NodeHeartbeat
from kubechaos.sim.clock import now, run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec
from tests.factories import deployment, pod, service
from tests.harness import ready_pods, running, steps_by_task, wait_until
from tests.test_cost_traffic_batch import profile_ticks
from tests.test_kubelet import plane, ready, start, stored

READINESS = Probe(initial_delay_seconds=5, period_seconds=10)
LIVENESS = Probe(initial_delay_seconds=15, period_seconds=10)


def _record_pod_status_writes(ctx: Context, into: list[tuple[float, PodStatus]]) -> None:
    """Wrap the API client so every pod status write is recorded with its time."""
    update_status = ctx.api.update_status

    async def recorded(obj: Any) -> Any:
        if isinstance(obj, Pod):
            into.append((now(), obj.status))
        return await update_status(obj)

    ctx.api.update_status = recorded  # type: ignore[method-assign]


def _summary(status: PodStatus) -> tuple[str, str, str]:
    ready_cond = status.condition("Ready")
    (container,) = status.container_statuses
    return status.phase, container.state, ready_cond.status if ready_cond else ""


def test_a_pod_lifecycle_writes_four_statuses() -> None:
    """A pod with a readiness probe (5 s initial delay), created, Ready, then deleted, gets
    exactly four status writes, as upstream: the first sync's (Pending, ContainerCreating:
    kubelet.go SyncPod calls statusManager.SetPodStatus before the runtime creates the sandbox),
    the sync after PLEG saw the container start (Running, not ready), the readiness prober's
    result (statusManager.SetContainerReadiness: Ready), and the terminating pod's final status
    after its containers stopped (kubelet.go SyncTerminatingPod:
    ``generateAPIPodStatus(pod, stoppedPodStatus, true)``, a terminal phase; SyncTerminatedPod
    sets the same status again, which writes nothing), after which the status manager deletes
    it. Probe results that do not change the verdict (every period) and the
    pod's own update events write nothing (updateStatusInternal skips a status equal apart
    from timestamps; pkg/kubelet/status/status_manager.go)."""
    writes: list[tuple[float, PodStatus]] = []

    async def main() -> int:
        ctx, net = await plane()
        _record_pod_status_writes(ctx, writes)
        async with trio.open_nursery() as nursery:
            kubelet, _ = start(nursery, ctx, net)
            await ctx.api.create(pod("web", node_name="n1", readiness=READINESS, liveness=LIVENESS))
            await wait_until(lambda: ready(ctx, "web"), 120, "web ready", 0.05)
            await trio.sleep(300)  # 30 readiness and liveness periods
            await ctx.api.delete("pods", "default", "web")
            await wait_until(lambda: stored(ctx, "web") is None, 120, "web gone", 0.05)
            await trio.sleep(60)
            nursery.cancel_scope.cancel()
        return kubelet.status_writes

    accepted = run_virtual(main, seed=0)
    assert [_summary(s) for _, s in writes] == [
        ("Pending", "waiting", "False"),
        ("Running", "running", "False"),
        ("Running", "running", "True"),
        ("Succeeded", "terminated", "False"),
    ]
    assert accepted == 4


def test_an_idle_kubelet_only_heartbeats() -> None:
    """20 Ready pods with readiness and liveness probes, 10 virtual minutes with nothing
    changing. The heartbeat task takes two steps per Lease renewal (renewed every
    leaseDuration/4 = 10 s: a wakeup and the request) and two per node status check (every
    nodeStatusUpdateFrequency = 10 s: a wakeup and the GET from the watch cache), with a
    status write only each nodeStatusReportFrequency (5 min) as nothing changed
    (pkg/kubelet/kubelet_node_status.go tryUpdateNodeStatus); the status it would post is not
    even built while the node it GETs is the one it last found up to date. The pod workers and the status
    manager take no step at all: probes whose verdict stands are computed ahead, not polled,
    and no pod status changes (status_manager.go writes only changes)."""
    steps: Counter[str] = Counter()
    minutes = 10

    async def main() -> tuple[int, int]:
        ctx, net = await plane()
        async with trio.open_nursery() as nursery:
            kubelet, _ = start(nursery, ctx, net)
            for i in range(20):
                await ctx.api.create(
                    pod(f"web-{i}", node_name="n1", readiness=READINESS, liveness=LIVENESS)
                )
            await wait_until(
                lambda: all(ready(ctx, f"web-{i}") for i in range(20)), 120, "ready", 0.5
            )
            await trio.sleep(60)
            pod_writes = kubelet.status_writes
            node_rv = int(_node(ctx).metadata.resource_version)
            instrument = steps_by_task(steps)
            trio.lowlevel.add_instrument(instrument)
            await trio.sleep(minutes * 60)
            trio.lowlevel.remove_instrument(instrument)  # the cancellation below wakes them all
            node_writes = int(_node(ctx).metadata.resource_version) > node_rv
            nursery.cancel_scope.cancel()
        return kubelet.status_writes - pod_writes, node_writes

    built = Counter[str]()
    node_status = NodeHeartbeat._node_status

    def counted(self: NodeHeartbeat, old: Any) -> Any:
        built["status"] += 1
        return node_status(self, old)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(NodeHeartbeat, "_node_status", counted)
        pod_writes, node_written = run_virtual(main, seed=0)
    assert pod_writes == 0
    assert node_written
    # the desired node status is built only when one is due (or something changed), not at
    # every check: the stored status the watch cache hands back is the same object meanwhile
    assert built["status"] <= 3 + 60 // 10  # registration and the first minute, then 2 reports
    heartbeats = minutes * 60 // 10  # each of the two loops, jitter aside (it only lengthens)
    assert steps["NodeHeartbeat.run"] <= 2 * 2 * heartbeats
    assert steps["NodeHeartbeat.run"] >= 2 * 2 * heartbeats * 0.9
    assert steps["PodWorkers.run"] == 0
    assert steps["PodStatusManager.run"] == 0


def _node(ctx: Context) -> Any:
    return ctx.api.cache("nodes").get("/registry/nodes/n1")


def _count_node_copies(
    into: Counter[str], evolve: Callable[..., Any] = attrs.evolve
) -> Callable[..., Any]:
    """``evolve`` (``attrs.evolve`` or its cheaper twin ``copying.replace``) counting the calls
    made from the kubelet's modules."""

    def counted(inst: Any, **changes: Any) -> Any:
        caller: FrameType = sys._getframe(1)
        if "/kubechaos/node/" in caller.f_code.co_filename:
            into[caller.f_code.co_name] += 1
        return evolve(inst, **changes)

    return counted


async def _ten_pods_to_ready() -> Any:
    """One kubelet brings ten pods with a readiness probe to Ready; returns the kubelet."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        for i in range(10):
            await ctx.api.create(pod(f"web-{i}", node_name="n1", readiness=READINESS))
        await wait_until(lambda: all(ready(ctx, f"web-{i}") for i in range(10)), 120, "ready", 0.5)
        nursery.cancel_scope.cancel()
    return kubelet


def test_a_status_write_copies_the_pod_once() -> None:
    """Each status write builds the pod to send (the pod with the new status and no
    resourceVersion precondition: one ``attrs.evolve`` of the pod, with the metadata copied
    without its resourceVersion once per pod, tests/test_cost_kubelet23.py), and
    deciding whether to write copies nothing: the comparison with the last posted status
    (upstream's isPodStatusByKubeletEqual) goes field by field instead of comparing copies with
    the foreign conditions dropped."""
    copies: Counter[str] = Counter()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(attrs, "evolve", _count_node_copies(copies))
        # the status manager copies with copying.replace (attrs.evolve, cheaper): counted too
        mp.setattr(status_manager, "replace", _count_node_copies(copies, replace))
        writes = run_virtual(_ten_pods_to_ready, seed=0).status_writes
    assert writes == 30
    assert copies == Counter({"_sync": writes, "_unconditioned": 10})


def _traffic_calls(nodes: int, seconds: int = 20) -> tuple[int, int]:
    """Python calls made by the traffic clients' ticks over ``seconds`` of steady traffic at
    400 requests/s from every node of a ``nodes``-node cluster, and the requests sent."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    async def main() -> tuple[int, int]:
        async with running(nodes=nodes, seed=4) as cluster:
            await cluster.apply([deployment("web", replicas=2 * nodes), service("web")])
            await wait_until(lambda: len(ready_pods(cluster)) == 2 * nodes, 300, "web ready")
            await trio.sleep(15)  # every kube-proxy has synced the endpoints
            traffic = TrafficGenerator(
                cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=400)]
            )
            profile_ticks(traffic, profile)
            with trio.move_on_after(seconds):
                await traffic.run()
            ok = traffic.stats.count("default", "web", "success")
            return calls, ok

    calls, ok = run_virtual(main, seed=4)
    assert ok >= 400 * (seconds - 1), "the traffic did not flow: nothing is measured"
    return calls, ok


def test_traffic_work_per_request_does_not_grow_with_nodes() -> None:
    """Requests from every node: a request costs the same work at 4 and at 8 nodes (its source
    is the next node in turn, its route one table lookup on that node's kube-proxy, its answer
    one lookup in the pod network), and at most five Python calls (the proxy, the source node
    up, its endpoints, the IP's endpoint, its node up), the common case being judged in the
    batch loop itself. Upstream every client's packet takes its own node's iptables/IPVS rules
    (pkg/proxy); nothing is walked per request."""
    small_calls, small_sent = _traffic_calls(4)
    large_calls, large_sent = _traffic_calls(8)
    small, large = small_calls / small_sent, large_calls / large_sent
    assert large <= 1.05 * small, f"{small:.2f} calls per request at 4 nodes, {large:.2f} at 8"
    assert large <= 5.5, f"{large:.2f} Python calls per request"


def test_the_node_loops_wait_without_a_new_event_each_time() -> None:
    """The node loop and the status manager wake once per instant with work (pod_workers.py,
    status_manager.py); each wait re-arms one :class:`~kubechaos.node.kubelet.wakeup.Wakeup`
    instead of making a ``trio.Event`` (an object and a parking lot per wait, tens of thousands
    per node over a run). Ten pods to Ready make no Event in the loops: only the one-off ones
    built with the kubelet (the heartbeat's ``registered``)."""
    made: Counter[str] = Counter()
    event = trio.Event

    def counted() -> trio.Event:
        caller = sys._getframe(1)
        if "/kubechaos/node/" in caller.f_code.co_filename:
            made[caller.f_code.co_name] += 1
        return event()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trio, "Event", counted)
        wakeups = run_virtual(_ten_pods_to_ready, seed=0).loop_wakeups
    assert wakeups > 10  # the loop did run
    assert made["run"] == 0, f"trio.Event made by the kubelet's loops: {dict(made)}"
    assert sum(made.values()) <= 2, f"trio.Event made by the kubelet: {dict(made)}"
