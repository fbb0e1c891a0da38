"""Network faults end to end: stale kube-proxy routes, partitions, delay and loss, on a real
cluster with real service traffic, and each healing after its revert."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from kubechaos.api.objects import Pod, Probe
from kubechaos.client.identity import as_client
from kubechaos.cluster import Cluster
from kubechaos.faults import (
    Chaos,
    Injection,
    NetworkDelay,
    NetworkLoss,
    NetworkPartition,
    PodKill,
    ProxyPartition,
    Target,
)
from kubechaos.faults.base import Fault
from kubechaos.faults.network import APIServerUnreachable
from kubechaos.traffic import LATENCY_BUCKETS, TrafficGenerator, TrafficSpec

from .factories import deployment, service
from .harness import pods, ready_pods, running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)
NODES = ("worker-0", "worker-1", "worker-2")
WEB = ("default", "web")


async def web_on_every_node(cluster: Cluster) -> dict[str, Pod]:
    """Three web replicas, one per node, routed by every kube-proxy; node -> its pod."""
    await cluster.apply([deployment("web", 3, readiness=READINESS), service("web")])
    await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "3 ready web pods")
    await trio.sleep(3)  # kube-proxy syncs within its min sync period
    by_node = {p.spec.node_name: p for p in ready_pods(cluster)}
    assert sorted(by_node) == list(NODES), "the scheduler spreads the replicas"
    return by_node


def send(cluster: Cluster, rate: float, *sources: str) -> TrafficGenerator:
    traffic = TrafficGenerator(
        cluster.ctx,
        cluster.proxies,
        cluster.network,
        [TrafficSpec("web", rate=rate, source_nodes=sources)],
    )
    cluster.nursery.start_soon(traffic.run)
    return traffic


class Window:
    """What traffic did between two instants: outcomes per source node, and latencies."""

    def __init__(self, traffic: TrafficGenerator) -> None:
        self.stats = traffic.stats
        self._requests = dict(self.stats.requests)
        self._buckets = list(self.stats.latency_buckets[WEB])
        self._sum = self.stats.latency_sum[WEB]
        self._count = self.stats.latency_count[WEB]

    def outcomes(self, source: str | None = None) -> Counter[str]:
        found: Counter[str] = Counter()
        for (_, _, src, outcome), n in self.stats.requests.items():
            if source is None or src == source:
                found[outcome] += n - self._requests.get(("default", "web", src, outcome), 0)
        return +found  # drop zeros

    def all(self, outcome: str, expected: int, source: str | None = None) -> bool:
        """Every request had ``outcome``, about ``expected`` of them (a window may hold one batch
        of requests more or less, as it begins on a tick or between two)."""
        seen = self.outcomes(source)
        assert set(seen) == {outcome}, seen
        assert seen.total() == pytest.approx(expected, rel=0.02), seen
        return True

    def mean_latency(self) -> float:
        count = self.stats.latency_count[WEB] - self._count
        return (self.stats.latency_sum[WEB] - self._sum) / count

    def buckets(self) -> list[int]:
        """Requests per latency bucket (upper bounds LATENCY_BUCKETS, then +Inf)."""
        return [a - b for a, b in zip(self.stats.latency_buckets[WEB], self._buckets, strict=True)]

    def share_in(self, low: float, high: float) -> float:
        """The share of requests whose latency bucket lies within (low, high]."""
        counts = self.buckets()
        bounds = (0.0, *LATENCY_BUCKETS)
        inside = sum(
            n for i, n in enumerate(counts[:-1]) if bounds[i] >= low and bounds[i + 1] <= high
        )
        return inside / sum(counts)


async def inject(chaos: Chaos, fault: Fault) -> Injection:
    injection = await chaos.inject(fault)
    assert injection is not None
    return injection


def ready_status(cluster: Cluster, node: str) -> str:
    cond = cluster.api.cache("nodes").get(f"/registry/nodes/{node}").status.condition("Ready")
    return cond.status if cond else ""


# ---------------------------------------------------------------------- proxy-partition
async def test_proxy_partition_strands_cut_off_nodes_on_a_killed_pods_old_ip() -> None:
    async with running(nodes=3) as cluster:
        by_node = await web_on_every_node(cluster)
        chaos = Chaos(cluster)
        traffic = send(cluster, 20, "worker-0", "worker-1")
        partition = await inject(chaos, ProxyPartition(target=Target(nodes=("worker-0",))))
        assert partition.targets == ["worker-0"]
        victim = by_node["worker-1"]
        old_ip = victim.status.pod_ip
        await inject(
            chaos,
            PodKill(target=Target(names=(victim.metadata.name,)), grace_period=0),
        )
        await wait_until(
            lambda: (
                len(ready_pods(cluster)) == 3
                and victim.metadata.name not in {p.metadata.name for p in pods(cluster)}
            ),
            60,
            "a ready replacement",
        )
        await trio.sleep(3)  # every proxy that still gets updates has synced the replacement
        stuck = cluster.proxies.proxy("worker-0")
        assert stuck.frozen and old_ip in stuck.endpoints("default/web")
        assert old_ip not in cluster.proxies.proxy("worker-1").endpoints("default/web")

        window = Window(traffic)
        await trio.sleep(30)
        cut_off = window.outcomes("worker-0")
        assert set(cut_off) == {"success", "connection_refused"}
        assert 0.2 < cut_off["connection_refused"] / cut_off.total() < 0.5  # 1 IP of 3 is dead
        assert window.all("success", 300, "worker-1")

        await chaos.revert(partition)
        await trio.sleep(3)  # the proxy resyncs with the fleet's next sync
        assert not stuck.frozen and old_ip not in stuck.endpoints("default/web")
        assert cluster.events.find(reason="Synced", obj="worker-0"), "the proxy caught up"
        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("success", 200)


async def test_overlapping_freezes_hold_the_proxy_until_the_last_revert() -> None:
    async with running(nodes=2) as cluster:
        chaos = Chaos(cluster)
        proxy = cluster.proxies.proxy("worker-0")
        one = await inject(chaos, ProxyPartition(target=Target(nodes=("worker-0",))))
        cut = await inject(
            chaos, NetworkPartition(target=Target(nodes=("worker-0",)), control_plane=True)
        )
        two = await inject(chaos, ProxyPartition(target=Target(nodes=("worker-0",))))
        for injection in (one, cut):
            await chaos.revert(injection)
            assert proxy.frozen, "another fault still cuts the proxy off"
        await chaos.revert(two)
        assert not proxy.frozen


# ---------------------------------------------------------------------- network-partition
async def test_network_partition_drops_traffic_between_the_sides_only() -> None:
    async with running(nodes=3) as cluster:
        await web_on_every_node(cluster)
        chaos = Chaos(cluster)
        traffic = send(cluster, 30, *NODES)
        settings = cluster.ctx.settings
        partition = await inject(
            chaos,
            NetworkPartition(target=Target(nodes=("worker-0",)), peers=Target(nodes=("worker-1",))),
        )
        window = Window(traffic)
        await trio.sleep(20)
        # worker-0 and worker-1 cannot reach each other's pods: a third of their requests time
        # out; worker-2 is on neither side and reaches everyone.
        for side in ("worker-0", "worker-1"):
            seen = window.outcomes(side)
            assert set(seen) == {"success", "timeout"}
            assert 0.2 < seen["timeout"] / seen.total() < 0.5
        assert window.all("success", 200, "worker-2")
        # Each timeout cost its client the request timeout.
        timeout = LATENCY_BUCKETS.index(settings.request_timeout_seconds)
        assert window.buckets()[timeout] == window.outcomes()["timeout"]
        # The data plane only: the kubelets still heartbeat.
        assert all(ready_status(cluster, n) == "True" for n in NODES)

        await chaos.revert(partition)
        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("success", 300)


async def test_network_partition_from_the_control_plane_loses_heartbeats_until_it_heals() -> None:
    async with running(nodes=3) as cluster:
        settings = cluster.ctx.settings
        by_node = await web_on_every_node(cluster)
        stranded = by_node["worker-0"]
        chaos = Chaos(cluster)
        traffic = send(cluster, 20, "worker-0", "worker-1")
        cut_at = trio.current_time()
        partition = await inject(
            chaos, NetworkPartition(target=Target(nodes=("worker-0",)), control_plane=True)
        )
        assert partition.targets == ["worker-0"]

        # The cut-off kubelet's requests fail after its client's timeout; other clients are fine.
        with as_client("kubelet/worker-0"):
            start = trio.current_time()
            with pytest.raises(APIServerUnreachable):
                await cluster.api.get("pods", "default", stranded.metadata.name)
            assert trio.current_time() - start >= settings.client_connect_timeout_seconds
            start = trio.current_time()
            with pytest.raises(APIServerUnreachable):
                await cluster.api.get("nodes", "", "worker-0")
            heartbeat_timeout = min(
                settings.node_status_update_frequency, settings.node_lease_duration_seconds
            )
            assert trio.current_time() - start == pytest.approx(heartbeat_timeout, abs=0.1)
        with as_client("kubelet/worker-1"):
            await cluster.api.get("nodes", "", "worker-1")
        await cluster.api.get("nodes", "", "worker-0")

        not_ready_at = await wait_until(
            lambda: ready_status(cluster, "worker-0") == "Unknown", 120, "worker-0 NotReady"
        )
        lease_period = settings.node_lease_duration_seconds / 4
        grace = settings.node_monitor_grace_period
        assert (
            grace - lease_period
            <= not_ready_at - cut_at
            <= grace + settings.node_monitor_period + 1
        )
        assert cluster.proxies.proxy("worker-0").frozen

        await trio.sleep(5)  # the endpoints lose worker-0's pod; worker-1's proxy follows
        window = Window(traffic)
        await trio.sleep(20)
        # Across the cut: worker-0 still routes to worker-1/2's pods and times out; it reaches
        # its own pod (its kubelet keeps it running). worker-1 no longer routes to worker-0.
        cut_off = window.outcomes("worker-0")
        assert set(cut_off) == {"success", "timeout"}
        assert 0.5 < cut_off["timeout"] / cut_off.total() < 0.85
        assert window.all("success", 200, "worker-1")

        # Eviction after the not-ready toleration; the kubelet cannot hear of it.
        def evicted() -> bool:
            pod = cluster.api.cache("pods").get(f"/registry/pods/default/{stranded.metadata.name}")
            return pod is not None and pod.metadata.deletion_timestamp is not None

        evicted_at = await wait_until(evicted, 400, "eviction of worker-0's pod")
        toleration = settings.default_unreachable_toleration_seconds
        assert toleration - 5 <= evicted_at - not_ready_at <= toleration + 10
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "a replacement elsewhere")
        endpoint = cluster.network.lookup(stranded.status.pod_ip)
        assert endpoint is not None and endpoint.running, "the cut-off kubelet kept its container"

        healed_at = trio.current_time()
        await chaos.revert(partition)
        ready_at = await wait_until(
            lambda: ready_status(cluster, "worker-0") == "True", 120, "worker-0 Ready again"
        )
        assert ready_at - healed_at <= heartbeat_timeout + settings.node_status_update_frequency
        # The kubelet resumes its watch, learns of the eviction and finishes it.
        await wait_until(
            lambda: stranded.metadata.name not in {p.metadata.name for p in pods(cluster)},
            60,
            "the evicted pod gone",
        )
        assert cluster.network.lookup(stranded.status.pod_ip) is None
        await trio.sleep(3)
        assert not cluster.proxies.proxy("worker-0").frozen
        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("success", 200)


# ---------------------------------------------------------------------- network-delay
async def test_network_delay_shifts_latency_by_the_delay_and_a_long_one_times_out() -> None:
    async with running(nodes=3) as cluster:
        await web_on_every_node(cluster)
        chaos = Chaos(cluster)
        traffic = send(cluster, 30, *NODES)
        before = Window(traffic)
        await trio.sleep(10)
        baseline = before.mean_latency()
        assert before.share_in(0, 0.005) == 1.0

        delay = await inject(chaos, NetworkDelay(latency=0.2, jitter=0.02))
        assert delay.targets == list(NODES)
        window = Window(traffic)
        await trio.sleep(10)
        assert window.mean_latency() - baseline == pytest.approx(0.2, abs=0.005)
        assert window.share_in(0.1, 0.25) == 1.0  # every request, p0 to p100, moved up
        assert window.all("success", 300)
        await chaos.revert(delay)

        # Only requests sent from worker-0: a third of them (sources take turns).
        delay = await inject(
            chaos, NetworkDelay(target=Target(nodes=("worker-0",)), latency=0.05, direction="from")
        )
        window = Window(traffic)
        await trio.sleep(10)
        assert window.share_in(0.025, 0.1) == pytest.approx(1 / 3, abs=0.01)
        await chaos.revert(delay)

        # Slower than the client waits: a timeout.
        delay = await inject(
            chaos, NetworkDelay(latency=2 * cluster.ctx.settings.request_timeout_seconds)
        )
        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("timeout", 300)
        await chaos.revert(delay)

        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("success", 300)
        assert window.mean_latency() == pytest.approx(baseline, abs=0.001)


async def test_overlapping_delays_add_and_reverting_one_leaves_the_other() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 2, readiness=READINESS), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 60, "2 ready web pods")
        await trio.sleep(3)
        chaos = Chaos(cluster)
        traffic = send(cluster, 20)
        before = Window(traffic)
        await trio.sleep(5)
        baseline = before.mean_latency()

        async def extra_latency() -> float:
            window = Window(traffic)
            await trio.sleep(5)
            assert window.all("success", 100)
            return window.mean_latency() - baseline

        first = await inject(chaos, NetworkDelay(name="slow", latency=0.1))
        second = await inject(chaos, NetworkDelay(name="slower", latency=0.15))
        assert await extra_latency() == pytest.approx(0.25, abs=0.002)
        await chaos.revert(second)
        assert await extra_latency() == pytest.approx(0.1, abs=0.002)
        await chaos.revert(first)
        assert await extra_latency() == pytest.approx(0.0, abs=0.002)
        assert cluster.network.path_hooks == []


# ---------------------------------------------------------------------- network-loss
async def test_network_loss_drops_about_the_configured_share_then_stops() -> None:
    async with running(nodes=3) as cluster:
        await web_on_every_node(cluster)
        chaos = Chaos(cluster)
        traffic = send(cluster, 50, *NODES)
        loss = await inject(chaos, NetworkLoss(probability=0.3))
        window = Window(traffic)
        await trio.sleep(40)
        seen = window.outcomes()
        assert set(seen) == {"success", "timeout"}
        assert seen["timeout"] / seen.total() == pytest.approx(0.3, abs=0.03)

        await chaos.revert(loss)
        window = Window(traffic)
        await trio.sleep(10)
        assert window.all("success", 500)


async def test_network_loss_to_a_node_loses_only_requests_to_its_pods() -> None:
    async with running(nodes=3) as cluster:
        by_node = await web_on_every_node(cluster)
        chaos = Chaos(cluster)
        traffic = send(cluster, 30, *NODES)
        await inject(
            chaos,
            NetworkLoss(target=Target(nodes=("worker-2",)), probability=1.0, direction="to"),
        )
        window = Window(traffic)
        await trio.sleep(20)
        # Every node's requests to worker-2's pod (a third, chosen at random) are lost.
        for source in NODES:
            seen = window.outcomes(source)
            assert 0.2 < seen["timeout"] / seen.total() < 0.5
        assert cluster.network.serving(by_node["worker-2"].status.pod_ip)


def test_delay_and_loss_refuse_to_be_built_without_their_amount() -> None:
    with pytest.raises(ValueError, match=r"needs params\.latency"):
        NetworkDelay()
    with pytest.raises(ValueError, match=r"needs params\.probability"):
        NetworkLoss()
    with pytest.raises(ValueError, match="direction"):
        NetworkLoss(probability=0.5, direction="sideways")
