"""Heartbeat jitter: the node lease and node status loops run as upstream's wait.JitterUntil with
jitter factor 0.04 and sliding periods (component-helpers/apimachinery/lease/controller.go
``Run``: ``wait.JitterUntil(c.sync, c.renewInterval, 0.04, true, stopCh)``; pkg/kubelet/kubelet.go
``Run``: ``wait.JitterUntil(kl.syncNodeStatus, kl.nodeStatusUpdateFrequency, 0.04, true, ...)``),
so a fleet's heartbeats drift apart instead of ticking in step, deterministically per seed.
"""

from __future__ import annotations

import itertools

import trio

from kubechaos.cluster import Cluster
from kubechaos.defaults import Settings
from tests.harness import running

RENEW_EVERY = 10.0  # nodeLeaseDurationSeconds 40 / 4


async def renewals(cluster: Cluster, seconds: float) -> dict[str, list[float]]:
    """Each node's Lease renewTimes seen over ``seconds`` of virtual time."""
    seen: dict[str, list[float]] = {}
    end = trio.current_time() + seconds
    while trio.current_time() < end:
        for lease in cluster.api.cache("leases").list("kube-node-lease"):
            times = seen.setdefault(lease.metadata.name, [])
            renew = lease.spec.renew_time
            if renew is not None and (not times or times[-1] != renew):
                times.append(renew)
        await trio.sleep(0.05)
    return seen


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_lease_renewals_are_jittered_up_to_4_percent_and_drift_apart() -> None:
    async with running(nodes=3, seed=3) as cluster:
        await trio.sleep(30)
        seen = await renewals(cluster, 200)
    for node, times in seen.items():
        periods = gaps(times)
        assert len(periods) >= 15, node
        assert all(RENEW_EVERY <= p <= RENEW_EVERY * 1.04 + 0.1 for p in periods), (node, periods)
        assert len({round(p, 3) for p in periods}) > 5, "jittered, not a fixed period"
    offsets = {node: times[-1] % RENEW_EVERY for node, times in seen.items()}
    assert len({round(o, 2) for o in offsets.values()}) == 3, "the nodes drifted apart"


async def test_the_same_seed_gives_the_same_heartbeats_and_factor_0_a_fixed_period() -> None:
    async with running(nodes=2, seed=5) as cluster:
        await trio.sleep(30)
        first = await renewals(cluster, 60)
    async with running(nodes=2, seed=5) as cluster:
        await trio.sleep(30)
        again = await renewals(cluster, 60)

    # (the second cluster starts later on the test's clock: compare the periods)
    def periods(seen: dict[str, list[float]]) -> dict[str, list[float]]:
        return {node: [round(p, 6) for p in gaps(times)] for node, times in seen.items()}

    assert periods(first) == periods(again)
    steady = Settings(node_heartbeat_jitter_factor=0.0)
    async with running(nodes=2, seed=5, settings=steady) as cluster:
        await trio.sleep(30)
        fixed = await renewals(cluster, 60)
    for times in fixed.values():
        assert all(RENEW_EVERY <= p <= RENEW_EVERY + 0.1 for p in gaps(times))
