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
from kubechaos.sim.clock import run_virtual
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
    """component-helpers/apimachinery/lease/controller.go Run: wait.JitterUntil(c.sync,
    renewInterval, 0.04, true): each renewal a period plus up to 4 % after the last one ended."""
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
    """The jitter (lease/controller.go Run, pkg/kubelet/kubelet.go Run's syncNodeStatus loop) is
    drawn from the node's seeded stream; nodeHeartbeatJitterFactor 0 is wait.Until's fixed
    period (still sliding: measured from the end of the last renewal)."""
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


async def fail_together(seed: int, settings: Settings | None = None) -> dict[str, int]:
    """Five nodes run half an hour, then their kubelets all stop at once: when the node lifecycle
    controller marks each NotReady (its NodeNotReady event), after the failure, in seconds."""
    async with running(nodes=5, seed=seed, settings=settings) as cluster:
        await trio.sleep(1800)
        failed = trio.current_time()
        for agent in cluster.nodes.values():
            agent.stop_kubelet()
        await trio.sleep(70)
        return {  # to the monitor pass (the order of nodes within one pass is not fixed)
            e.object: round(e.time - failed)
            for e in cluster.events
            if e.reason == "NodeNotReady" and e.kind == "Node"
        }


def test_nodes_that_fail_together_drift_apart_in_their_not_ready_times() -> None:
    """The node lifecycle controller marks a node NotReady once its Lease is older than
    node-monitor-grace-period (50 s), checked every nodeMonitorPeriod (5 s)
    (pkg/controller/nodelifecycle/node_lifecycle_controller.go ``tryUpdateNodeHealth``). Nodes
    that started together and renew on a fixed period would all be marked in the same pass; with
    upstream's 4 % sliding jitter their renewals have drifted apart after half an hour, so a
    fleet that fails at one instant goes NotReady over several passes, the same way for a seed.

    Each cluster runs in a seeded run of its own (:func:`run_virtual`), as the CLI runs one: the
    model's promise is "same seed, same run". Two clusters inside one Trio run share its
    scheduler's seeded stream, so the second sees other same-instant orders than the first."""

    def run(settings: Settings | None = None) -> dict[str, int]:
        return run_virtual(fail_together, 1, settings, seed=1)

    jittered = run()
    assert len(jittered) == 5
    assert len(set(jittered.values())) > 1
    spread = max(jittered.values()) - min(jittered.values())
    assert spread >= 5.0, jittered  # at least two monitor passes apart
    assert run() == jittered  # deterministic per seed
    steady = run(Settings(node_heartbeat_jitter_factor=0.0))
    assert len(steady) == 5
    assert max(steady.values()) - min(steady.values()) < 1.0, steady  # one pass
