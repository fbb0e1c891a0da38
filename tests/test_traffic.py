from __future__ import annotations

import trio

from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.node.network import PodNetwork
from kubechaos.node.proxy import ProxyFleet
from kubechaos.traffic import LATENCY_BUCKETS, TrafficGenerator, TrafficSpec, TrafficStats

from .factories import service
from .test_proxy import endpoints, set_endpoints

NODES = ("n1", "n2", "n3")
POD_IPS = {"n1": "10.128.0.2", "n2": "10.128.1.2", "n3": "10.128.2.2"}


class Rig:
    """A control plane, a kube-proxy fleet and a pod network wired by hand (no kubelets)."""

    def __init__(self, ctx: Context, specs: list[TrafficSpec]) -> None:
        self.ctx = ctx
        self.fleet = ProxyFleet(ctx)
        self.network = PodNetwork()
        for node in NODES:
            self.fleet.register(node)
            self.network.set_node_up(node, True)
        self.traffic = TrafficGenerator(ctx, self.fleet, self.network, specs)

    @property
    def stats(self) -> TrafficStats:
        return self.traffic.stats

    def pod(self, node: str, ready: bool = True) -> str:
        ip = POD_IPS[node]
        endpoint = self.network.attach(ip, node, f"default/web-{node}")
        endpoint.running = True
        endpoint.ready = ready
        return ip

    async def web(self, ips: list[str]) -> None:
        await self.ctx.api.create(service("web"))
        await self.ctx.api.create(endpoints("web", ips))

    def outcomes(self, source: str | None = None) -> dict[str, int]:
        found: dict[str, int] = {}
        for (_, _, src, outcome), n in self.stats.requests.items():
            if source is None or src == source:
                found[outcome] = found.get(outcome, 0) + n
        return found


async def rig(specs: list[TrafficSpec], seed: int = 1) -> Rig:
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    return Rig(ctx, specs)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def test_healthy_service_succeeds_from_every_node_with_round_robin_sources() -> None:
    r = await rig([TrafficSpec("web", rate=30.0)])
    ips = [r.pod(node) for node in NODES]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web(ips)
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(9.95)
        assert r.outcomes() == {"success": 300}
        assert [r.stats.count("default", "web", source=n) for n in NODES] == [100, 100, 100]
        assert r.stats.totals_by_service() == {"default/web": (300, 300)}
        assert r.stats.latency_count[("default", "web")] == 300
        # Healthy requests take about one round trip (2 ms +- 50%).
        buckets = r.stats.latency_buckets[("default", "web")]
        assert sum(buckets[: LATENCY_BUCKETS.index(0.005) + 1]) == 300
        timeline = r.stats.timeline("default", "web")
        assert sum(ok for _, ok, _ in timeline) == 300
        assert all(failed == 0 for _, _, failed in timeline)
        assert all(ok == 30 for _, ok, _ in timeline[1:-1])  # whole seconds in the middle
        assert r.stats.last_failure("default", "web") is None
        nursery.cancel_scope.cancel()


async def test_service_without_endpoints_is_refused_as_no_endpoints() -> None:
    r = await rig([TrafficSpec("web", rate=10.0), TrafficSpec("ghost", rate=10.0)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.ctx.api.create(service("web"))
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(4.95)
        assert r.stats.count("default", "web") == 50
        assert r.stats.count("default", "web", "no_endpoints") == 50
        assert r.stats.count("default", "ghost", "no_endpoints") == 50
        assert r.stats.first_failure("default", "web") is not None
        nursery.cancel_scope.cancel()


async def test_frozen_proxy_routes_to_a_deleted_pod_until_it_resyncs() -> None:
    r = await rig([TrafficSpec("web", rate=40.0, source_nodes=("n1", "n2"))])
    a, b = r.pod("n1"), r.pod("n2")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web([a, b])
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(4.95)
        assert r.outcomes() == {"success": 200}
        r.fleet.proxy("n1").freeze()
        # The pod behind `a` is deleted: out of Endpoints first, then its IP is released.
        await set_endpoints(r.ctx, "web", [b])
        await trio.sleep(2)
        r.network.detach(a)
        before_n1, before_n2 = r.outcomes("n1"), r.outcomes("n2")
        await trio.sleep(20)
        stale = delta(r.outcomes("n1"), before_n1)
        assert set(stale) == {"success", "connection_refused"}
        assert 100 <= stale["connection_refused"] <= 300  # about half of n1's 400
        assert delta(r.outcomes("n2"), before_n2) == {"success": 400}
        r.fleet.proxy("n1").unfreeze()
        await trio.sleep(2)
        recovered = trio.current_time()
        before = r.outcomes()
        await trio.sleep(10)
        assert delta(r.outcomes(), before) == {"success": 400}
        last = r.stats.last_failure("default", "web")
        assert last is not None and last < recovered
        nursery.cancel_scope.cancel()


async def test_not_ready_endpoint_stops_receiving_traffic_once_removed_and_synced() -> None:
    r = await rig([TrafficSpec("web", rate=30.0)])
    ips = [r.pod(node) for node in NODES]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web(ips)
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(2)
        # The pod on n3 fails readiness; the endpoints controller has not caught up yet.
        r.network.lookup(POD_IPS["n3"]).ready = False  # type: ignore[union-attr]
        await trio.sleep(5)
        assert r.outcomes().get("not_ready", 0) > 10
        await set_endpoints(r.ctx, "web", ips[:2])
        await trio.sleep(1.5)
        before = r.outcomes()
        await trio.sleep(10)
        assert delta(r.outcomes(), before) == {"success": 300}
        nursery.cancel_scope.cancel()


async def test_stopped_container_refuses_connections() -> None:
    r = await rig([TrafficSpec("web", rate=10.0, source_nodes=("n1",))])
    ip = r.pod("n2")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web([ip])
        await trio.sleep(1)
        r.network.lookup(ip).running = False  # type: ignore[union-attr]
        nursery.start_soon(r.traffic.run)
        await trio.sleep(1.95)
        assert r.outcomes() == {"connection_refused": 20}
        nursery.cancel_scope.cancel()


async def test_down_node_sends_nothing_and_its_pods_time_out() -> None:
    r = await rig([TrafficSpec("web", rate=30.0)])
    ips = [r.pod(node) for node in NODES]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web(ips)
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(2.05)  # between ticks, so the window below holds 300 whole ticks
        r.network.set_node_up("n3", False)
        sent_from_n3 = r.stats.count("default", "web", source="n3")
        before = r.outcomes()
        await trio.sleep(30)
        assert r.stats.count("default", "web", source="n3") == sent_from_n3
        unsent = r.stats.count_unsent("default", "web", source="n3")
        assert unsent == 300  # round robin: a third of the 900 requests was n3's turn
        assert r.stats.count_unsent("default", "web") == unsent
        new = delta(r.outcomes(), before)
        assert set(new) == {"success", "timeout"}
        assert sum(new.values()) == 600  # n1 and n2 go on sending their share
        assert 100 <= new["timeout"] <= 300  # about a third of it reaches n3's pod
        # Timeouts cost the client the connect timeout.
        buckets = r.stats.latency_buckets[("default", "web")]
        assert buckets[LATENCY_BUCKETS.index(1.0)] == new["timeout"]
        nursery.cancel_scope.cancel()


async def test_long_run_rate_is_exact_with_fractional_rates() -> None:
    r = await rig([TrafficSpec("web", rate=3.3), TrafficSpec("web", namespace="b", rate=0.25)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(99.95)  # 1,000 ticks
        assert r.stats.count("default", "web") == 330
        assert r.stats.count("b", "web") == 25
        nursery.cancel_scope.cancel()


async def test_spec_added_later_starts_counting_from_then() -> None:
    r = await rig([])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(50.05)
        r.traffic.add(TrafficSpec("web", rate=2.0))
        await trio.sleep(10)
        assert r.stats.count("default", "web") == 20
        nursery.cancel_scope.cancel()


async def run_once(seed: int) -> tuple[dict[tuple[str, str, str, str], int], float, int]:
    r = await rig([TrafficSpec("web", rate=50.0)], seed=seed)
    ips = [r.pod(node) for node in NODES]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.fleet.run)
        await r.web(ips)
        await trio.sleep(1)
        nursery.start_soon(r.traffic.run)
        await trio.sleep(3)
        r.fleet.proxy("n2").freeze()
        await set_endpoints(r.ctx, "web", ips[:2])
        r.network.detach(ips[2])
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    return dict(r.stats.requests), r.stats.latency_sum[("default", "web")], len(r.ctx.events)


async def test_same_seed_same_counts_and_latencies() -> None:
    first = await run_once(seed=5)
    again = await run_once(seed=5)
    other = await run_once(seed=6)
    assert first == again
    assert first[0][("default", "web", "n2", "connection_refused")] > 0
    assert other[1] != first[1]
