"""The node side's steady cost, counted deterministically (issue 16): never wall time.

At 1,000 nodes the steady state leaves about 5 ms of CPU per virtual second for the whole
cluster, and most of what runs then runs once per node: the heartbeat, the probes of every
container, the traffic clients. These tests count the work each of them does and fail if a
path that costs more than upstream's behaviour needs comes back:

- a Lease renewal builds one Lease and one LeaseSpec (upstream's ``newLease`` in
  staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go, the controller the
  kubelet runs for its node lease, copies the lease it holds and sets ``renewTime``), and a
  node status check that finds nothing changed lists no images and builds no status
  (``tryUpdateNodeStatus``, pkg/kubelet/kubelet_node_status.go, posts only a change or a due
  report);
- a probe whose result cannot change (a container that always answers) is one computation when
  the container starts and then nothing (pkg/kubelet/prober/worker.go ticks every period, but
  only a result that flips after ``successThreshold``/``failureThreshold`` ticks changes the
  status: here the flip is computed, not polled);
- a pod's status is built once per change the status manager posts, never rebuilt to find it
  unchanged (pkg/kubelet/status/status_manager.go ``updateStatusInternal``);
- an idle node's tasks wake only for its two heartbeats, and a traffic request costs no Python
  call but the proxy's table lookup.
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

from kubechaos.api.objects import Probe
from kubechaos.node import podstate
from kubechaos.node.behaviour import Behaviour
from kubechaos.node.kubelet import nodelease, pod_workers, status_manager
from kubechaos.node.kubelet.node_status import NodeHeartbeat
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now, run_virtual
from tests.factories import pod
from tests.harness import running, steps_by_task, wait_until
from tests.test_cost_node import _ten_pods_to_ready, _traffic_calls
from tests.test_kubelet import plane, ready, start, stored

READINESS = Probe(initial_delay_seconds=5, period_seconds=10)
LIVENESS = Probe(initial_delay_seconds=15, period_seconds=10)


def _counting(into: Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        into[name] += 1
        return fn(*args, **kwargs)

    return counted


def _node_evolves(into: Counter[str]) -> Callable[..., Any]:
    """``attrs.evolve`` counting the calls made from the node's modules, by function."""
    evolve = attrs.evolve

    def counted(inst: Any, **changes: Any) -> Any:
        caller: FrameType = sys._getframe(1)
        if "/kubechaos/node/" in caller.f_code.co_filename:
            into[caller.f_code.co_name] += 1
        return evolve(inst, **changes)

    return counted


async def _idle_kubelet(minutes: int, pods: int = 0) -> tuple[Any, Any]:
    """One kubelet with ``pods`` Ready pods (readiness and liveness probes), then ``minutes``
    idle virtual minutes; returns the kubelet and its node as stored at the end."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        for i in range(pods):
            await ctx.api.create(
                pod(f"web-{i}", node_name="n1", readiness=READINESS, liveness=LIVENESS)
            )
        await wait_until(lambda: all(ready(ctx, f"web-{i}") for i in range(pods)), 120, "ready")
        await trio.sleep(minutes * 60)
        node = ctx.api.cache("nodes").get("/registry/nodes/n1")
        nursery.cancel_scope.cancel()
    return kubelet, node


def test_a_heartbeat_builds_one_lease_and_lists_no_images() -> None:
    """Ten idle minutes of one kubelet: 60 Lease renewals (every leaseDuration/4 = 10 s,
    component-helpers/apimachinery/lease/controller.go ``newLease``) each build exactly one Lease and one LeaseSpec with their
    constructors, no ``attrs.evolve`` (the generic copy reads every field by name: two per
    renewal before); and of the 60 node status checks (nodeStatusUpdateFrequency = 10 s), only
    those that build the status to post (registration, the first one, and the reports due every
    nodeStatusReportFrequency = 5 min) list the runtime's images. The others compare a version
    number (``tryUpdateNodeStatus`` posts only a change or a due report)."""
    built: Counter[str] = Counter()
    evolves: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nodelease, "Lease", _counting(built, "Lease", nodelease.Lease))
        mp.setattr(nodelease, "LeaseSpec", _counting(built, "LeaseSpec", nodelease.LeaseSpec))
        mp.setattr(attrs, "evolve", _node_evolves(evolves))
        mp.setattr(ContainerRuntime, "images", _counting(built, "images", ContainerRuntime.images))
        mp.setattr(
            NodeHeartbeat,
            "_node_status",
            _counting(built, "status", NodeHeartbeat._node_status),
        )
        run_virtual(_idle_kubelet, 10, seed=0)
    renewals = 10 * 60 // 10
    assert renewals * 0.9 <= built["Lease"] <= renewals + 1
    assert built["LeaseSpec"] == built["Lease"]
    assert evolves["_renewed"] == 0
    assert built["images"] == built["status"] <= 5, dict(built)
    # node status writes are the only evolves left (a due report: the node with its status)
    assert set(evolves) <= {"_sync_node_status"}, dict(evolves)
    assert evolves["_sync_node_status"] <= 2


def test_a_probe_that_cannot_flip_is_computed_once_and_never_again() -> None:
    """Ten pods whose container always answers, with a readiness and a liveness probe, to
    Ready and then ten idle minutes. Each probe's verdict is computed once, when its container
    starts (readiness: Success after successThreshold ticks; liveness: stays Success), without
    walking the behaviour's failure intervals (``Behaviour.passes`` / ``next_change``: the loop
    that finds a flip the long way, which a probe that always passes does not need): upstream's
    prober worker (pkg/kubelet/prober/worker.go) ticks every period, but a result that stays
    the same sets nothing (``resultsManager.Set`` only reports a change), so none of those
    ticks costs a status computation here either."""
    calls: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Behaviour, "passes", _counting(calls, "passes", Behaviour.passes))
        mp.setattr(Behaviour, "next_change", _counting(calls, "change", Behaviour.next_change))
        mp.setattr(status_manager, "build_status", _counting(calls, "built", podstate.build_status))
        kubelet, _ = run_virtual(_idle_kubelet, 10, 10, seed=0)
    assert calls["passes"] == 0
    assert calls["change"] == 0
    # Pending, Running, Ready: one build per status posted, none after Ready
    assert kubelet.status_writes == 30
    assert calls["built"] == kubelet.status_writes


async def five_pod_lifecycles() -> int:
    """Five pods with a readiness probe on one kubelet: created, Ready, two idle minutes,
    deleted and gone; the kubelet's status writes (four per pod)."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        names = [f"web-{i}" for i in range(5)]
        for name in names:
            await ctx.api.create(pod(name, node_name="n1", readiness=READINESS))
        await wait_until(lambda: all(ready(ctx, n) for n in names), 120, "ready")
        await trio.sleep(120)
        for name in names:
            await ctx.api.delete("pods", "default", name)
        await wait_until(lambda: all(stored(ctx, n) is None for n in names), 120, "gone")
        nursery.cancel_scope.cancel()
    return int(kubelet.status_writes)


def test_a_status_is_built_once_per_change_over_a_whole_lifecycle() -> None:
    """Five pods created, Ready, deleted and gone: every status the status manager builds is
    posted (Pending, Running, Ready, and the terminated pod's final status), none is rebuilt
    only to be found equal to the last one posted (status_manager.go updateStatusInternal
    keeps a status equal apart from timestamps from being written; here it is not computed
    either, because nothing marks a pod dirty unless its state changed)."""
    built: Counter[str] = Counter()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(status_manager, "build_status", _counting(built, "built", podstate.build_status))
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert built["built"] == writes


def test_an_idle_node_wakes_four_times_per_heartbeat_period() -> None:
    """An idle cluster of four nodes, five virtual minutes: per node and minute the node's
    tasks take at most 24 steps, the heartbeat's two loops (the Lease renewal every 10 s and
    the node status check every 10 s, each a wakeup and its request's answer: upstream's node
    lease controller and ``syncNodeStatus`` loops); the pod workers, the status managers and the
    pod informers take none, and kube-proxy's fleet wakes once per syncPeriod for all nodes
    (pkg/proxy/iptables/proxier.go ``syncPeriod``), never per node."""
    steps: Counter[str] = Counter()
    nodes, minutes = 4, 5

    async def main() -> None:
        async with running(nodes=nodes, seed=4) as cluster:
            await trio.sleep(60)
            instrument = steps_by_task(steps)
            trio.lowlevel.add_instrument(instrument)
            await trio.sleep(minutes * 60)
            trio.lowlevel.remove_instrument(instrument)
            assert cluster.proxies.syncs_total > 0

    run_virtual(main, seed=4)
    per_node_minute = steps["NodeHeartbeat.run"] / nodes / minutes
    # and a status report every nodeStatusReportFrequency (5 min): one more step for its write
    assert 24 * 0.9 <= per_node_minute <= 24 + 1 / 5 * 2, dict(steps)
    assert steps["PodWorkers.run"] == 0
    assert steps["PodStatusManager.run"] == 0
    # the fleet's task ("kube-proxy"): a wakeup and the end of its sync, every syncPeriod (30 s)
    assert steps["kube-proxy"] <= 2 * minutes * 2 + 2, dict(steps)
    node_tasks = {"NodeHeartbeat.run", "kube-proxy"}
    controllers = {"kube-scheduler", "kube-controller-manager", "NodeLifecycleController._monitor"}
    others = {t: n for t, n in steps.items() if t not in node_tasks | controllers}
    assert sum(others.values()) <= minutes * 2, others  # the runtime's own (gc, compaction)


def test_a_traffic_request_makes_no_python_call() -> None:
    """Traffic from every node of an 8-node cluster: no Python call per request. Upstream a
    packet meets its node's synced iptables rules (pkg/proxy/iptables/proxier.go): the batch
    looks the Service's rules up once for every proxy that follows the fleet, and the source's
    proxy, its node's state, the endpoint at the IP and the counters are dict lookups in the
    batch loop, which judges every request itself (a function per request, or one per lookup,
    costs 1 to 5 calls)."""
    calls, sent = _traffic_calls(8)
    # at 400 requests/s a batch (a tick of 0.1 s) is 40 requests, and a batch's own calls
    # (the tick, the clock, the batch, its rules, its counters) about 6
    assert calls / sent <= 0.25, f"{calls / sent:.2f} Python calls per request"


def test_the_status_manager_rechecks_only_when_a_recheck_is_due() -> None:
    """Ten pods to Ready, 30 status writes. Each write is re-checked once, half to one
    syncPeriod (10 s) later (a write etcd acknowledged and then lost is posted again, as
    upstream's syncBatch reconciles every syncPeriod, pkg/kubelet/status/status_manager.go):
    the loop looks at its oldest entry's time and calls the re-check only once it may be due,
    not at every wake (46 calls for these 30 writes when it was called each time round)."""
    calls: Counter[str] = Counter()
    recheck = status_manager.PodStatusManager._recheck
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            status_manager.PodStatusManager, "_recheck", _counting(calls, "recheck", recheck)
        )
        writes = run_virtual(_ten_pods_to_ready, seed=0).status_writes
    assert writes == 30
    assert 0 < calls["recheck"] <= writes // 2


def test_the_node_loop_wakes_only_with_work_due() -> None:
    """Ten pods (readiness and liveness probes) created, Ready, five idle minutes, deleted and
    gone: every time the node loop wakes, an informer change or a timer is due (upstream's pod
    workers sleep until a sync is due, pkg/kubelet/pod_workers.go; the probes' ticks between
    verdicts are computed, pkg/kubelet/prober/worker.go), apart from its first pass when the
    kubelet starts. A wakeup for nothing (a poll, a periodic resync of every pod) is what this
    would catch coming back."""
    wakes: Counter[str] = Counter()
    run_due = pod_workers.PodWorkers._run_due

    def counted(self: pod_workers.PodWorkers) -> None:
        due = self._pending or self.timers.deadline() <= now()
        wakes["work" if due else "idle"] += 1
        run_due(self)

    async def main() -> None:
        ctx, net = await plane()
        async with trio.open_nursery() as nursery:
            start(nursery, ctx, net)
            names = [f"web-{i}" for i in range(10)]
            for name in names:
                await ctx.api.create(
                    pod(name, node_name="n1", readiness=READINESS, liveness=LIVENESS)
                )
            await wait_until(lambda: all(ready(ctx, n) for n in names), 120, "ready")
            await trio.sleep(300)
            for name in names:
                await ctx.api.delete("pods", "default", name)
            await wait_until(lambda: all(stored(ctx, n) is None for n in names), 120, "gone")
            await trio.sleep(60)
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pod_workers.PodWorkers, "_run_due", counted)
        run_virtual(main, seed=0)
    assert wakes["work"] >= 10 * 3  # added, started, Ready, deleted: the loop did run
    assert wakes["idle"] <= 1, dict(wakes)
