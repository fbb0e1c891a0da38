from __future__ import annotations

import random
import time
from collections import Counter

import attrs
import trio

from kubechaos.api.objects import EndpointConditions, EndpointSlice, ObjectMeta, SliceEndpoint
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.defaults import Settings
from kubechaos.node.proxy import ProxyFleet

from .factories import service

KEY = "default/web"


async def plane(seed: int = 1, **settings: object) -> Context:
    _, ctx = new_control_plane(seed, Settings(**settings))  # type: ignore[arg-type]
    await bootstrap(ctx)
    return ctx


def endpoints(name: str, ips: list[str], not_ready: list[str] | None = None) -> EndpointSlice:
    """The one EndpointSlice of Service ``name``: ``ips`` ready, ``not_ready`` neither ready nor
    serving."""
    unready = EndpointConditions(ready=False, serving=False)
    return EndpointSlice(
        ObjectMeta(name=f"{name}-abcde", namespace="default", labels={LABEL_SERVICE_NAME: name}),
        endpoints=(
            *(SliceEndpoint((ip,)) for ip in ips),
            *(SliceEndpoint((ip,), unready) for ip in not_ready or ()),
        ),
    )


async def set_endpoints(ctx: Context, name: str, ips: list[str]) -> None:
    current = await ctx.api.get("endpointslices", "default", f"{name}-abcde")
    await ctx.api.update(attrs.evolve(current, endpoints=endpoints(name, ips).endpoints))


async def web(ctx: Context, ips: list[str]) -> None:
    await ctx.api.create(service("web"))
    await ctx.api.create(endpoints("web", ips))


async def test_routes_appear_after_a_sync_and_syncs_are_spaced_by_min_sync_period() -> None:
    ctx = await plane(proxy_min_sync_period=5.0)
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        assert proxy.synced_revision == 1
        await trio.sleep(100)  # idle: the runner's bucket holds its burst of 2 again
        await web(ctx, ["10.128.0.2"])
        # The API has it; the rules do not yet.
        assert proxy.route(KEY) is None
        await trio.sleep(0.3)
        assert proxy.route(KEY) == "10.128.0.2"  # first changes after idle: synced at once
        await trio.sleep(100)
        # Upstream's runner allows a burst of two syncs, then one per minSyncPeriod.
        await set_endpoints(ctx, "web", ["10.128.0.3"])
        await trio.sleep(0.3)
        assert proxy.endpoints(KEY) == ("10.128.0.3",)
        await set_endpoints(ctx, "web", ["10.128.0.4"])
        await trio.sleep(0.3)
        assert proxy.endpoints(KEY) == ("10.128.0.4",)
        changed_at = trio.current_time()
        await set_endpoints(ctx, "web", ["10.128.0.5"])
        await set_endpoints(ctx, "web", ["10.128.0.6"])
        await trio.sleep(3.0)
        assert proxy.endpoints(KEY) == ("10.128.0.4",)  # held back by minSyncPeriod
        await trio.sleep(2.5)
        assert proxy.endpoints(KEY) == ("10.128.0.6",)  # both changes in one sync
        assert proxy.last_sync_time - changed_at > 4.0
        nursery.cancel_scope.cancel()


async def test_periodic_sync_runs_every_sync_period_without_changes() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        first = proxy.last_sync_time
        await trio.sleep(29)
        assert proxy.last_sync_time == first
        await trio.sleep(2)
        assert 30 <= proxy.last_sync_time - first < 31
        assert fleet.syncs_total == 2
        # Only the initial sync is worth an event, not every tick.
        assert len(ctx.events.find(reason="Synced")) == 1
        nursery.cancel_scope.cancel()


async def test_load_balancing_is_uniform_across_ready_endpoints() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    ips = ["10.128.0.2", "10.128.0.3", "10.128.0.4"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await web(ctx, ips)
        await trio.sleep(2)
        rng = random.Random(7)
        counts = Counter(proxy.route(KEY, rng) for _ in range(3000))
        assert set(counts) == set(ips)
        assert all(900 <= n <= 1100 for n in counts.values()), counts
        nursery.cancel_scope.cancel()


async def test_not_ready_addresses_and_missing_endpoints_route_nowhere() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await ctx.api.create(service("web"))
        await ctx.api.create(service("db"))
        await ctx.api.create(endpoints("db", [], not_ready=["10.128.0.9"]))
        await trio.sleep(2)
        assert proxy.route("default/web") is None  # no EndpointSlice: REJECT
        assert proxy.route("default/db") is None  # only a not-ready address
        assert proxy.route("default/nope") is None  # no Service at all
        nursery.cancel_scope.cancel()


async def test_frozen_proxy_keeps_stale_routes_and_resyncs_after_unfreeze() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    stuck, fine = fleet.register("n1"), fleet.register("n2")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await web(ctx, ["10.128.0.2", "10.128.0.3"])
        await trio.sleep(2)
        stuck.freeze()
        frozen_at = stuck.last_sync_time
        await set_endpoints(ctx, "web", ["10.128.0.3"])
        await trio.sleep(40)
        assert fine.endpoints(KEY) == ("10.128.0.3",)
        assert stuck.endpoints(KEY) == ("10.128.0.2", "10.128.0.3")
        assert stuck.last_sync_time == frozen_at  # the staleness a metric would show
        assert stuck.synced_revision < fine.synced_revision
        # History the frozen proxy still sees is kept.
        assert len(fleet.history(KEY)) == 2
        stuck.unfreeze()
        assert stuck.endpoints(KEY) == ("10.128.0.2", "10.128.0.3")  # until the next sync
        await trio.sleep(1.5)
        assert stuck.endpoints(KEY) == ("10.128.0.3",)
        assert stuck.following and stuck.synced_revision == fine.synced_revision
        assert [e.object for e in ctx.events.find(reason="Synced", kind="Node")] == ["n1"]
        # Nobody can see the old entry any more: pruned.
        assert len(fleet.history(KEY)) == 1
        nursery.cancel_scope.cancel()


async def test_history_of_deleted_services_is_pruned() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await web(ctx, ["10.128.0.2"])
        await trio.sleep(2)
        await ctx.api.delete("services", "default", "web")
        await ctx.api.delete("endpointslices", "default", "web-abcde")
        await trio.sleep(2)
        assert proxy.route(KEY) is None
        assert fleet.history(KEY) == []
        assert fleet.services_with_rules == 0 and fleet.total_endpoints == 0
        nursery.cancel_scope.cancel()


async def test_restarted_proxy_has_no_rules_until_its_full_sync() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    proxy = fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await web(ctx, ["10.128.0.2"])
        await trio.sleep(2)
        proxy.stop()
        await set_endpoints(ctx, "web", ["10.128.0.3"])
        await trio.sleep(5)
        assert proxy.endpoints(KEY) == ("10.128.0.2",)  # dead: no syncs
        proxy.start()  # after a reboot the kernel tables are empty
        assert proxy.route(KEY) is None
        await trio.sleep(fleet.sync_duration(full=True) + 0.01)
        assert proxy.endpoints(KEY) == ("10.128.0.3",)
        assert proxy.following
        # A kube-proxy process restart keeps the kernel's rules meanwhile.
        proxy.stop()
        proxy.start(kernel_rules_kept=True)
        assert proxy.endpoints(KEY) == ("10.128.0.3",)
        # A node added later starts empty too, then catches up.
        late = fleet.register("n2")
        assert late.route(KEY) is None
        await trio.sleep(1)
        assert late.route(KEY) == "10.128.0.3"
        assert len(ctx.events.find(reason="Starting")) == 4
        nursery.cancel_scope.cancel()


async def test_sync_duration_grows_with_rules() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    fleet.register("n1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        empty = fleet.sync_duration(full=True)
        assert empty == ctx.settings.proxy_sync_base_seconds
        await web(ctx, [f"10.128.{i // 200}.{i % 200 + 2}" for i in range(250)])
        await trio.sleep(2)
        assert fleet.total_endpoints == 250
        full = fleet.sync_duration(full=True)
        partial = fleet.sync_duration(full=False, changed_endpoints=1)
        assert full > partial > empty
        # At the upstream scale limit a full sync takes seconds.
        fleet.services_with_rules, fleet.total_endpoints = 5_000, 150_000
        assert 3.0 < fleet.sync_duration(full=True) < 6.0
        assert fleet.sync_duration(full=False) < 0.5
        nursery.cancel_scope.cancel()


class _NoIteration(dict):  # type: ignore[type-arg]
    """A dict of proxies that fails the test if anything walks over it."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a sync iterated over every proxy")

    def values(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a sync iterated over every proxy")

    def items(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a sync iterated over every proxy")

    def keys(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a sync iterated over every proxy")


async def test_endpoint_churn_costs_nothing_per_proxy() -> None:
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    nodes = [f"node-{i}" for i in range(2000)]
    for node in nodes:
        fleet.register(node)
    fleet._proxies = _NoIteration(fleet._proxies)
    fleet.proxy(nodes[7]).freeze()  # one pinned proxy keeps a little history alive
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        services = [f"svc-{i}" for i in range(20)]
        for name in services:
            await ctx.api.create(service(name))
            await ctx.api.create(endpoints(name, ["10.128.0.2"]))
        started = time.perf_counter()
        for round_ in range(30):
            for i, name in enumerate(services):
                await set_endpoints(ctx, name, [f"10.128.{round_}.{i + 2}"])
            await trio.sleep(0.5)
        await trio.sleep(2)
        elapsed = time.perf_counter() - started
        assert elapsed < 2.0, elapsed
        assert fleet.syncs_total < 40  # batched by minSyncPeriod, not one per change
        for node in nodes:
            if node != nodes[7]:
                assert fleet.proxy(node).endpoints("default/svc-3") == ("10.128.29.5",)
        assert fleet.proxy(nodes[7]).route("default/svc-3") is None
        assert len(fleet.history("default/svc-3")) <= 2
        nursery.cancel_scope.cancel()
