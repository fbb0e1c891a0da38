from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import OwnerReference, Pod, PodStatus, Taint, Toleration
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.scheduler import Scheduler
from kubechaos.control.scheduler.queue import backoff_duration
from kubechaos.control.scheduler.scheduler import num_feasible_nodes_to_find
from kubechaos.defaults import TAINT_UNSCHEDULABLE

from .factories import pod, ready_node, service

SETTLE = 5.0  # virtual seconds in which a handful of pods is scheduled and bound


async def control_plane(seed: int = 1) -> Context:
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    return ctx


@asynccontextmanager
async def running(ctx: Context) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        yield scheduler
        nursery.cancel_scope.cancel()


def owned(name: str, owner_uid: str, **kwargs: object) -> Pod:
    """A pod of ReplicaSet ``web`` (not in the API) selected by Service ``web``: the Service is
    what gives the system default spread its selector (helper.DefaultSelector)."""
    base = pod(name, labels={"app": "web"}, **kwargs)  # type: ignore[arg-type]
    ref = OwnerReference("ReplicaSet", "web", owner_uid)
    return attrs.evolve(base, metadata=attrs.evolve(base.metadata, owner_references=(ref,)))


def placements(ctx: Context) -> dict[str, str]:
    return {p.metadata.name: p.spec.node_name for p in ctx.api.cache("pods").list()}


def failures(ctx: Context, name: str) -> list[str]:
    return [e.message for e in ctx.events.find("FailedScheduling", obj=f"default/{name}")]


async def add_nodes(ctx: Context, *nodes: object) -> None:
    for node in nodes:
        await ctx.api.create(node)


# ---------------------------------------------------------------------------- pure functions


def test_num_feasible_nodes_to_find_is_upstreams_adaptive_percentage() -> None:
    assert num_feasible_nodes_to_find(0, 3) == 3
    assert num_feasible_nodes_to_find(0, 99) == 99
    assert num_feasible_nodes_to_find(0, 200) == 100  # 49 % is 98, raised to the minimum 100
    assert num_feasible_nodes_to_find(0, 1000) == 420  # 50 - 8 = 42 %
    assert num_feasible_nodes_to_find(0, 5000) == 500  # 50 - 40 = 10 %
    assert num_feasible_nodes_to_find(0, 6000) == 300  # 50 - 48 = 2 %, raised to 5 %
    assert num_feasible_nodes_to_find(30, 1000) == 300
    assert num_feasible_nodes_to_find(100, 1000) == 1000


def test_backoff_doubles_from_one_second_to_ten() -> None:
    assert [backoff_duration(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


# ---------------------------------------------------------------------------- scoring


async def test_replicas_of_one_owner_spread_over_equal_nodes() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, *(ready_node(f"worker-{i}") for i in range(3)))
    await ctx.api.create(service("web"))
    async with running(ctx):
        for i in range(3):
            await ctx.api.create(owned(f"web-{i}", "rs-uid"))
        await trio.sleep(SETTLE)
    nodes = placements(ctx)
    assert sorted(nodes.values()) == ["worker-0", "worker-1", "worker-2"]
    scheduled = ctx.events.find("Scheduled", obj="default/web-0")
    assert scheduled[0].message == f"Successfully assigned default/web-0 to {nodes['web-0']}"


async def test_spreading_outweighs_least_allocated() -> None:
    """A big node is the emptiest for every pod; only the pods a Service selects still spread out
    (PodTopologySpread's system default hostname constraint, weight 2, beats LeastAllocated)."""
    nodes = (ready_node("big", cpu=64000, memory=256 * 2**30), ready_node("a"), ready_node("b"))
    ctx = await control_plane()
    await add_nodes(ctx, *nodes)
    await ctx.api.create(service("web"))
    async with running(ctx):
        for i in range(3):
            await ctx.api.create(pod(f"loose-{i}"))
        await trio.sleep(SETTLE)
        assert set(placements(ctx).values()) == {"big"}  # LeastAllocated alone
        for i in range(3):
            await ctx.api.create(owned(f"web-{i}", "rs-uid"))
        await trio.sleep(SETTLE)
    owned_nodes = [n for name, n in placements(ctx).items() if name.startswith("web-")]
    assert sorted(owned_nodes) == ["a", "b", "big"]


async def test_same_seed_same_placements() -> None:
    async def run(seed: int) -> dict[str, str]:
        ctx = await control_plane(seed)
        await add_nodes(ctx, *(ready_node(f"worker-{i}") for i in range(4)))
        await ctx.api.create(service("web"))
        for i in range(12):
            await ctx.api.create(owned(f"web-{i}", "rs-uid", cpu=0, memory=0))
        async with running(ctx):
            await trio.sleep(SETTLE)
        return placements(ctx)

    first = await run(7)
    assert await run(7) == first
    assert all(first.values())
    others = [await run(seed) for seed in (1, 2, 3)]
    assert any(other != first for other in others)  # ties really are broken by the seed


# ---------------------------------------------------------------------------- filters


async def test_pod_too_big_waits_until_another_pod_is_deleted() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, *(ready_node(f"worker-{i}", cpu=1000) for i in range(3)))
    async with running(ctx) as scheduler:
        for i in range(3):
            await ctx.api.create(pod(f"filler-{i}", cpu=800))
        await trio.sleep(SETTLE)
        await ctx.api.create(pod("big", cpu=500))
        await trio.sleep(120)
        assert placements(ctx)["big"] == ""
        # One attempt, one event (not one per node); no retries while nothing changes.
        assert failures(ctx, "big") == [
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
            "available: 3 No preemption victims found for incoming pod."
        ]
        assert scheduler.pending_pods() == {"active": 0, "backoff": 0, "unschedulable": 1}
        assert scheduler.schedule_attempts == {"scheduled": 3, "unschedulable": 1, "error": 0}
        freed = placements(ctx)["filler-1"]
        await ctx.api.delete("pods", "default", "filler-1", grace_period_seconds=0)
        await trio.sleep(0.5)
        assert placements(ctx)["big"] == freed
        assert scheduler.pending_pods() == {"active": 0, "backoff": 0, "unschedulable": 0}


async def test_a_finished_pod_frees_its_resources() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("worker-0", cpu=1000))
    async with running(ctx):
        await ctx.api.create(pod("job", cpu=800, restart_policy="Never"))
        await ctx.api.create(pod("web", cpu=800))
        await trio.sleep(SETTLE)
        assert placements(ctx) == {"job": "worker-0", "web": ""}
        job = await ctx.api.get("pods", "default", "job")
        await ctx.api.update_status(attrs.evolve(job, status=PodStatus(phase="Succeeded")))
        await trio.sleep(0.5)
        assert placements(ctx)["web"] == "worker-0"


async def test_only_pods_for_this_scheduler_are_scheduled() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("worker-0"))
    async with running(ctx) as scheduler:
        await ctx.api.create(pod("custom", scheduler_name="my-scheduler"))
        await trio.sleep(SETTLE)
        assert placements(ctx) == {"custom": ""}
        assert scheduler.pending_pods() == {"active": 0, "backoff": 0, "unschedulable": 0}
        assert not ctx.events.find("FailedScheduling")


async def test_pod_too_big_waits_until_a_bigger_node_is_added() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("small", cpu=1000, memory=2**30))
    async with running(ctx):
        await ctx.api.create(pod("big", cpu=2000, memory=4 * 2**30))
        await trio.sleep(60)
        assert failures(ctx, "big")[0].startswith(
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        )
        await ctx.api.create(ready_node("large", cpu=8000))
        await trio.sleep(0.5)
        assert placements(ctx)["big"] == "large"


async def test_pod_count_limit() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("tiny", pods=2))
    async with running(ctx):
        for i in range(3):
            await ctx.api.create(pod(f"p-{i}"))
        await trio.sleep(SETTLE)
    assert sorted(placements(ctx).values()) == ["", "tiny", "tiny"]
    assert failures(ctx, "p-2")[0].startswith("0/1 nodes are available: 1 Too many pods.")


async def test_node_selector() -> None:
    ctx = await control_plane()
    await add_nodes(
        ctx, ready_node("ssd", labels={"disk": "ssd"}), ready_node("hdd", labels={"disk": "hdd"})
    )
    async with running(ctx):
        for i in range(4):
            await ctx.api.create(pod(f"db-{i}", node_selector={"disk": "ssd"}))
        await ctx.api.create(pod("nvme", node_selector={"disk": "nvme"}))
        await trio.sleep(SETTLE)
    nodes = placements(ctx)
    assert [nodes[f"db-{i}"] for i in range(4)] == ["ssd"] * 4
    assert nodes["nvme"] == ""
    assert failures(ctx, "nvme") == [
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    ]


async def test_taints_block_unless_tolerated() -> None:
    ctx = await control_plane()
    await add_nodes(
        ctx,
        ready_node("gpu", taints=(Taint("dedicated", "NoSchedule", "gpu"),)),
        ready_node("drain", taints=(Taint("draining", "NoExecute"),)),
    )
    async with running(ctx):
        await ctx.api.create(pod("plain"))
        tolerant = Toleration("dedicated", "Equal", "gpu", "NoSchedule")
        await ctx.api.create(pod("trainer", tolerations=(tolerant,)))
        await trio.sleep(SETTLE)
        assert placements(ctx) == {"plain": "", "trainer": "gpu"}
        assert failures(ctx, "plain")[0].startswith(
            "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
            "1 node(s) had untolerated taint {draining: }."
        )
        # A PreferNoSchedule taint only lowers a node's appeal; adding the node unparks the pod.
        await ctx.api.create(ready_node("soft", taints=(Taint("spot", "PreferNoSchedule"),)))
        await trio.sleep(SETTLE)
        assert placements(ctx)["plain"] == "soft"


async def test_cordoned_node_is_skipped_until_uncordoned() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("cordoned", unschedulable=True), ready_node("open", pods=2))
    async with running(ctx):
        for i in range(3):
            await ctx.api.create(pod(f"p-{i}"))
        await trio.sleep(SETTLE)
        assert sorted(placements(ctx).values()) == ["", "open", "open"]
        pending = next(name for name, node in placements(ctx).items() if not node)
        assert failures(ctx, pending) == [
            "0/2 nodes are available: 1 Too many pods, 1 node(s) were unschedulable. "
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming "
            "pod, 1 Preemption is not helpful for scheduling."
        ]
        # A pod that tolerates the unschedulable taint may use a cordoned node (DaemonSets do).
        tolerant = Toleration(TAINT_UNSCHEDULABLE, "Exists", effect="NoSchedule")
        await ctx.api.create(pod("agent", tolerations=(tolerant,)))
        await trio.sleep(SETTLE)
        assert placements(ctx)["agent"] == "cordoned"
        node = await ctx.api.get("nodes", "", "cordoned")
        await ctx.api.update(attrs.evolve(node, spec=attrs.evolve(node.spec, unschedulable=False)))
        await trio.sleep(SETTLE)
        assert placements(ctx)[pending] == "cordoned"


async def test_not_ready_nodes_are_skipped_even_without_taints() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("down", ready="False"), ready_node("lost", ready="Unknown"))
    async with running(ctx):
        await ctx.api.create(pod("web"))
        await trio.sleep(SETTLE)
        assert placements(ctx)["web"] == ""
        assert failures(ctx, "web")[0].startswith(
            "0/2 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint "
            "{node.kubernetes.io/unreachable: }."
        )
        await ctx.api.update_status(ready_node("down"))  # the kubelet reports Ready again
        await trio.sleep(SETTLE)
        assert placements(ctx)["web"] == "down"


async def test_assumed_pods_prevent_overcommit() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, *(ready_node(f"worker-{i}", cpu=1000) for i in range(3)))
    async with running(ctx) as scheduler:
        async with trio.open_nursery() as creators:
            for i in range(10):
                creators.start_soon(ctx.api.create, pod(f"p-{i}", cpu=400))
        await trio.sleep(SETTLE)
        per_node: dict[str, int] = {}
        for node in placements(ctx).values():
            per_node[node] = per_node.get(node, 0) + 1
        assert per_node == {"worker-0": 2, "worker-1": 2, "worker-2": 2, "": 4}
        assert scheduler.pending_pods()["unschedulable"] == 4
        assert scheduler.schedule_attempts["scheduled"] == 6


# ---------------------------------------------------------------------------- the queue


async def test_bind_errors_back_off_exponentially(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("worker-0"))
    attempts: list[float] = []
    real_bind = ctx.api.bind

    async def flaky_bind(namespace: str, name: str, node_name: str) -> Pod:
        attempts.append(trio.current_time())
        if len(attempts) <= 7:
            raise errors.InternalError("etcdserver: request timed out")
        return await real_bind(namespace, name, node_name)

    monkeypatch.setattr(ctx.api, "bind", flaky_bind)
    async with running(ctx) as scheduler:
        await ctx.api.create(pod("web"))
        await trio.sleep(2.5)  # second attempt failed at ~1 s; third due at ~3 s
        assert scheduler.pending_pods() == {"active": 0, "backoff": 1, "unschedulable": 0}
        await trio.sleep(60)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert placements(ctx)["web"] == "worker-0"
    assert scheduler.schedule_attempts == {"scheduled": 1, "unschedulable": 0, "error": 7}
    assert failures(ctx, "web")[0] == (
        'running Bind plugin "DefaultBinder": etcdserver: request timed out'
    )


async def test_cluster_event_respects_remaining_backoff() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("small", cpu=1000))
    async with running(ctx):
        await ctx.api.create(pod("big", cpu=2000))
        with trio.fail_after(5):
            while not failures(ctx, "big"):
                await trio.sleep(0.001)
        failed_at = ctx.events.find("FailedScheduling")[0].time
        await ctx.api.create(ready_node("large", cpu=8000))  # fits, but the pod backs off first
        await trio.sleep(SETTLE)
    scheduled = ctx.events.find("Scheduled", obj="default/big")
    assert 1.0 <= scheduled[0].time - failed_at < 1.1


async def test_unschedulable_pods_are_retried_after_five_minutes() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("small", cpu=1000))
    async with running(ctx):
        await ctx.api.create(pod("big", cpu=2000))
        await trio.sleep(1)
        first = ctx.events.find("FailedScheduling")[0].time
        await trio.sleep(first + 299 - trio.current_time())
        assert len(failures(ctx, "big")) == 1
        await trio.sleep(2)
        assert len(failures(ctx, "big")) == 2


async def test_no_nodes_backs_off_then_schedules() -> None:
    ctx = await control_plane()
    async with running(ctx) as scheduler:
        await ctx.api.create(pod("web"))
        await trio.sleep(20)  # attempts at ~0, 1, 3, 7, 15 s
        assert failures(ctx, "web") == ["no nodes available to schedule pods"] * 5
        assert scheduler.pending_pods()["backoff"] == 1
        await ctx.api.create(ready_node("worker-0"))
        await trio.sleep(10)
    assert placements(ctx)["web"] == "worker-0"


async def test_each_cycle_filters_only_enough_nodes_from_a_rotating_start() -> None:
    """200 nodes: a cycle stops after 100 feasible ones and the next starts where it stopped."""
    ctx = await control_plane()
    await add_nodes(ctx, *(ready_node(f"n-{i:03}") for i in range(200)))
    for i in range(4):
        await ctx.api.create(pod(f"p-{i}"))
    async with running(ctx):
        await trio.sleep(SETTLE)
    halves = [int(placements(ctx)[f"p-{i}"][2:]) // 100 for i in range(4)]
    assert halves == [0, 1, 0, 1]


async def test_fresh_scheduler_rebuilds_its_cache_from_informers() -> None:
    ctx = await control_plane()
    await add_nodes(ctx, ready_node("a", cpu=1000), ready_node("b", cpu=1000))
    async with running(ctx):
        await ctx.api.create(pod("first", cpu=800))
        await ctx.api.create(pod("second", cpu=800))
        await trio.sleep(SETTLE)
    assert sorted(placements(ctx).values()) == ["a", "b"]
    # While no scheduler runs: a new pod and a new node.
    await ctx.api.create(pod("late", cpu=800))
    await ctx.api.create(ready_node("c", cpu=1000))
    async with running(ctx) as fresh:
        await trio.sleep(SETTLE)
        assert placements(ctx)["late"] == "c"
        await ctx.api.create(pod("extra", cpu=800))
        await trio.sleep(SETTLE)
        assert placements(ctx)["extra"] == ""
        assert fresh.schedule_attempts == {"scheduled": 1, "unschedulable": 1, "error": 0}
