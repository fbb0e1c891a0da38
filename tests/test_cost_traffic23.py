"""A successful request's counting, counted deterministically (issue 16).

``kubechaos_service_requests_total`` counts every request by Service, source node and outcome
(:attr:`kubechaos.traffic.TrafficStats.requests`). Upstream nothing counts per packet at all
(a client's request meets its node's iptables rules, ``writeServiceToEndpointRules`` in
pkg/proxy/iptables/proxier.go); the model's counter is its own bookkeeping, so it may cost as
little as it can while reading exactly what it always did. A success, nearly every request in
the realistic shapes, is tallied by its source's position in the batch's node list; the
tally is added to the counters whenever they are read, so a read between batches sees every
request, keyed in the order the keys first occurred.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import trio

from kubechaos.traffic import SUCCESS, TrafficGenerator

from .test_cost_traffic_batch import NODES, _rig, profile_ticks


def _count_lookups_of(traffic: TrafficGenerator, table: dict[Any, int], into: list[int]) -> None:
    """Count, during the traffic's ticks, the calls of ``table``'s bound methods."""

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__self__", None) is table:
            into[0] += 1

    profile_ticks(traffic, profile)


async def test_a_success_is_not_looked_up_in_the_counters() -> None:
    """400 requests/s from 20 nodes for 10 s, all successes: the counters' table is looked up
    once per source node (its first success adds its key), not once per request (4,000)."""
    fleet, _, traffic = await _rig(400.0)
    lookups = [0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        await trio.sleep(1)
        _count_lookups_of(traffic, traffic.stats.requests, lookups)
        nursery.start_soon(traffic.run)
        await trio.sleep(10 - 0.05)
        nursery.cancel_scope.cancel()
    stats = traffic.stats
    assert stats.count("default", "web", SUCCESS) == stats.count("default", "web") == 4000
    assert lookups[0] == len(NODES), f"{lookups[0]} counter lookups for 4000 requests"


async def test_every_read_between_batches_sees_every_request() -> None:
    """Read every 0.35 s (between batches, as a scrape does): the successes counted per source
    node add up to the Service's successes so far, each node's key entered once, in the order
    the nodes first sent (the order of the node list, 20 requests a batch from 20 nodes)."""
    fleet, _, traffic = await _rig(200.0)
    stats = traffic.stats
    reads = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await fleet.synced.wait()
        await trio.sleep(1)
        nursery.start_soon(traffic.run)
        for _ in range(10):
            await trio.sleep(0.35)
            reads.append((dict(stats.requests), stats.success_count[("default", "web")]))
        nursery.cancel_scope.cancel()
    for requests, successes in reads:
        assert sum(requests.values()) == successes > 0
        assert list(requests) == [("default", "web", node, SUCCESS) for node in NODES]
    assert [s for _, s in reads] == sorted({s for _, s in reads})  # every read saw more
