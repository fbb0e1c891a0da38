"""The traffic clients' cost per batch and per request, counted deterministically (issue 16).

Upstream every client's packet meets its own node's iptables rules: the KUBE-SVC chain of the
Service as the node's kube-proxy last synced it, which sends a new connection to one of the
ready endpoints at random (``-m statistic --mode random --probability 1/n`` per endpoint chain,
``writeServiceToEndpointRules`` in pkg/proxy/iptables/proxier.go), or REJECTs when there is
none. Nothing is looked up per packet beyond those rules. In the model every proxy that follows
the fleet holds the same rules, so a batch looks the Service's rules up once
(:meth:`~kubechaos.node.proxy.ProxyFleet.rules`), and only a proxy pinned to older rules
(frozen, restarting: its rules are stale) is asked per request. A request then costs no Python
call: these tests count the calls and the table lookups, never time.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import trio

from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.node import proxy as proxy_module
from kubechaos.node.network import ANSWERED, PodNetwork
from kubechaos.node.proxy import KubeProxy, ProxyFleet
from kubechaos.traffic import TrafficGenerator, TrafficSpec

from .factories import service
from .test_proxy import endpoints

NODES = tuple(f"n{i}" for i in range(20))


class _Serves:
    """A Ready pod's processes: the answer holds for ever (as the kubelet's PodAnswerer says of
    a container that always answers), so the endpoint caches it."""

    def answer(self, t: float) -> tuple[str, float]:
        return ANSWERED, math.inf


class _CountingTable(dict[str, Any]):
    """The fleet's rules table, counting lookups."""

    lookups = 0

    def get(self, key: str, default: Any = None) -> Any:
        type(self).lookups += 1
        return super().get(key, default)


async def _rig(rate: float) -> tuple[ProxyFleet, PodNetwork, TrafficGenerator]:
    _, ctx = new_control_plane(3)
    await bootstrap(ctx)
    fleet, network = ProxyFleet(ctx), PodNetwork()
    ips = []
    for i, node in enumerate(NODES):
        fleet.register(node)
        network.set_node_up(node, True)
        ip = f"10.128.{i}.2"
        endpoint = network.attach(ip, node, f"default/web-{i}")
        endpoint.running = endpoint.ready = True
        endpoint.answerer = _Serves()
        ips.append(ip)
    await ctx.api.create(service("web"))
    await ctx.api.create(endpoints("web", ips))
    return fleet, network, TrafficGenerator(ctx, fleet, network, [TrafficSpec("web", rate=rate)])


def profile_ticks(
    traffic: TrafficGenerator,
    profile: Callable[[FrameType, str, Any], None],
    before: Callable[[], None] | None = None,
) -> None:
    """Run ``profile`` (a ``sys.setprofile`` function) during each of the traffic's ticks,
    ``before`` ahead of each."""
    tick = traffic._tick

    def profiled(flows: Any) -> None:
        if before is not None:
            before()
        sys.setprofile(profile)
        try:
            tick(flows)
        finally:
            sys.setprofile(None)

    traffic._tick = profiled  # type: ignore[method-assign]


def _calls_per_tick(traffic: TrafficGenerator, into: Counter[str]) -> None:
    """Count, by function, the Python calls the traffic's ticks make."""

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            into[frame.f_code.co_name] += 1

    def count_tick() -> None:
        into["<ticks>"] += 1

    profile_ticks(traffic, profile, count_tick)


async def _run(rate: float, seconds: float, frozen: str = "") -> tuple[Counter[str], int, int]:
    """Traffic at ``rate`` requests/s from all 20 nodes for ``seconds``; the Python calls of
    its ticks by function, the rules-table lookups and the requests sent (all successes)."""
    fleet, _, traffic = await _rig(rate)
    calls: Counter[str] = Counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        await trio.sleep(1)
        if frozen:
            fleet.proxy(frozen).freeze()
        table = _CountingTable(fleet._table)
        fleet._table = table
        _CountingTable.lookups = 0
        _calls_per_tick(traffic, calls)
        nursery.start_soon(traffic.run)
        await trio.sleep(seconds - 0.05)
        nursery.cancel_scope.cancel()
    sent = traffic.stats.count("default", "web")
    assert traffic.stats.count("default", "web", "success") == sent == round(rate * seconds)
    return calls, _CountingTable.lookups, sent


async def test_a_batch_looks_the_services_rules_up_once() -> None:
    """400 requests/s from 20 nodes for 10 s: 100 batches of 40 requests, each from another
    node. Every proxy follows the fleet, so a batch looks the Service's rules up once (one
    table lookup per batch, not per request as when each request asked its node's proxy) and
    no request asks its proxy (``KubeProxy.endpoints`` is never called): upstream a packet
    meets the node's synced iptables rules, nothing more (pkg/proxy/iptables/proxier.go)."""
    calls, lookups, sent = await _run(400.0, 10.0)
    batches = calls["<ticks>"]
    assert sent == 4000 and batches == 100
    assert lookups == batches, f"{lookups} rules lookups for {batches} batches"
    assert calls["rules"] == batches
    assert calls["endpoints"] == 0


async def test_a_request_costs_no_python_call() -> None:
    """The Python calls of a batch do not grow with its requests: 40 and 400 requests a batch
    make the same calls (the batch, its rules lookup, its counters); a call per request (the
    proxy's lookup, a judging function) would add 36,000. Upstream's per-packet path is the
    kernel's rule walk (pkg/proxy/iptables/proxier.go), independent of other traffic."""
    small, _, small_sent = await _run(400.0, 10.0)
    large, _, large_sent = await _run(4000.0, 10.0)
    assert large_sent == 10 * small_sent
    assert sum(large.values()) == sum(small.values()), (small, large)
    # per batch: the tick, the clock, the batch, its source list, its rules (and this test's
    # counting lookup), its counters; each endpoint's first answer, cached since; and the
    # success tally's start on the node list (once per list: the nodes registered before)
    first_answers = 2 * len(NODES)
    tally_start = large["rebase"] + large["settle"]
    assert large["rebase"] == 1
    assert sum(large.values()) - first_answers - tally_start <= 8 * large["<ticks>"], large


async def test_only_a_pinned_proxy_is_asked_per_request() -> None:
    """One of 20 proxies frozen (cut off from the API server: its rules stay as last synced,
    pkg/proxy keeps the kernel rules it wrote): its node's requests, and only those, ask that
    proxy for its (stale) rules; the other 19 nodes' requests use the batch's lookup."""
    spy: Counter[str] = Counter()
    endpoints_of = KubeProxy.endpoints

    def counted(self: KubeProxy, key: str) -> tuple[str, ...]:
        spy[self.node] += 1
        return endpoints_of(self, key)

    proxy_module.KubeProxy.endpoints = counted  # type: ignore[method-assign]
    try:
        _, _, sent = await _run(400.0, 10.0, frozen="n3")
    finally:
        proxy_module.KubeProxy.endpoints = endpoints_of  # type: ignore[method-assign]
    assert spy == Counter({"n3": sent // len(NODES)})
