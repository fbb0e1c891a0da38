"""End to end: the whole cluster, every component talking through the API server, on virtual time.

Each test boots a real cluster (etcd, API server, scheduler, controller manager, kubelets,
runtimes, kube-proxy) and checks what an operator would see.
"""

from __future__ import annotations

import itertools

import attrs
import pytest
import trio

from kubechaos.api.objects import Deployment, DeploymentStrategy, Pod, Probe, Resources
from kubechaos.cluster import Cluster
from kubechaos.defaults import BEHAVIOUR_ANNOTATION
from kubechaos.testing.harness import Harness
from kubechaos.traffic import TrafficGenerator, TrafficSpec

from .factories import deployment, pod, service
from .harness import running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)


def pods(cluster: Cluster, app: str = "web") -> list[Pod]:
    return [
        p for p in cluster.api.cache("pods").list("default") if p.metadata.labels.get("app") == app
    ]


def ready_pods(cluster: Cluster, app: str = "web") -> list[Pod]:
    return [p for p in pods(cluster, app) if p.is_ready() and p.metadata.deletion_timestamp is None]


def web(cluster: Cluster) -> Deployment:
    return cluster.api.cache("deployments").get("/registry/deployments/default/web")


def available(cluster: Cluster) -> int:
    d = web(cluster)
    return d.status.available_replicas if d else 0


async def test_deployment_converges_spread_over_nodes_and_traffic_succeeds() -> None:
    async with running() as cluster:
        await cluster.apply([deployment("web", 3, readiness=READINESS), service("web")])
        converged = await wait_until(lambda: available(cluster) == 3, 60, "3 available replicas")
        assert converged < 30, "stateless pods start well within the startup SLO"
        assert len({p.spec.node_name for p in ready_pods(cluster)}) == 3
        assert len({p.status.pod_ip for p in ready_pods(cluster)}) == 3
        await trio.sleep(3)  # kube-proxy syncs within its min sync period
        traffic = TrafficGenerator(
            cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=50)]
        )
        with trio.move_on_after(60):
            await traffic.run()
        total, ok = traffic.stats.totals_by_service()["default/web"]
        assert total == 3000 and ok == total


@pytest.mark.kubechaos(seed=1)
async def test_deleted_pod_is_replaced_with_a_new_ip_and_traffic_recovers(
    kubechaos: Harness,
) -> None:
    cluster = await kubechaos.boot(nodes=3)
    await kubechaos.apply([deployment("web", 3, readiness=READINESS), service("web")])
    await kubechaos.wait_for(lambda: available(cluster) == 3, what="3 available replicas")
    kubechaos.traffic("web", rate=20)
    await kubechaos.advance(10)
    victim = ready_pods(cluster)[0]
    await kubechaos.api.delete("pods", "default", victim.metadata.name)
    await kubechaos.wait_for(
        lambda: (
            len(ready_pods(cluster)) == 3
            and victim.metadata.name not in {p.metadata.name for p in pods(cluster)}
        ),
        timeout=120,
        what="a ready replacement and the victim gone",
    )
    replacement_ips = {p.status.pod_ip for p in ready_pods(cluster)}
    assert victim.status.pod_ip not in replacement_ips
    await kubechaos.advance(30)
    stats = kubechaos.run.traffic.stats
    last = stats.last_failure("default", "web")
    assert last is None or last < kubechaos.now - 20, "traffic recovered"
    total, ok = stats.totals_by_service()["default/web"]
    assert ok / total > 0.9
    assert kubechaos.metric("kubechaos_service_requests_total", service="web") == total


async def test_crashing_container_enters_crash_loop_backoff_with_upstream_delays() -> None:
    async with running(nodes=1) as cluster:
        await cluster.apply([pod("crasher", annotations={BEHAVIOUR_ANNOTATION: "crash-after=1s"})])
        await trio.sleep(900)
        p = cluster.api.cache("pods").get("/registry/pods/default/crasher")
        status = p.status.container_statuses[0]
        assert status.restart_count >= 6
        starts = [e.time for e in cluster.events.find(reason="Started", obj="default/crasher")]
        gaps = [b - a - 1.0 for a, b in itertools.pairwise(starts)]  # minus 1s of running
        # each restart at the pod workers' first jittered 10-15 s re-sync after the back-off
        # expired, the exit seen at PLEG's next 1 s relist (tests/test_kubelet_timing.py)
        for gap, backoff in zip(gaps, [0, 10, 20, 40, 80, 160, 300], strict=False):
            assert backoff <= gap < backoff + (16 if backoff else 1.5), (gaps, backoff)
        assert cluster.events.find(reason="BackOff", obj="default/crasher")


async def test_node_that_stops_heartbeating_is_marked_not_ready_and_its_pods_move() -> None:
    async with running() as cluster:
        settings = cluster.ctx.settings
        await cluster.apply([deployment("web", 3, readiness=READINESS), service("web")])
        await wait_until(lambda: available(cluster) == 3, 60, "3 available replicas")
        victim_node = ready_pods(cluster)[0].spec.node_name
        stranded = {p.metadata.name for p in pods(cluster) if p.spec.node_name == victim_node}
        stopped_at = trio.current_time()
        cluster.nodes[victim_node].process.stop()  # the kubelet dies; its containers keep running
        node_key = f"/registry/nodes/{victim_node}"

        def ready_status() -> str:
            cond = cluster.api.cache("nodes").get(node_key).status.condition("Ready")
            return cond.status if cond else ""

        not_ready_at = await wait_until(
            lambda: ready_status() == "Unknown", 120, "node Ready=Unknown"
        )
        grace = settings.node_monitor_grace_period
        lease_period = settings.node_lease_duration_seconds / 4
        assert (
            grace - lease_period
            <= not_ready_at - stopped_at
            <= grace + settings.node_monitor_period + 1
        )
        await wait_until(  # in the same pass, right after the node (a poll may fall between)
            lambda: not any(p.is_ready() for p in pods(cluster) if p.spec.node_name == victim_node),
            1,
            "the node's pods not ready",
            step=0.01,
        )

        def evicted() -> bool:
            return all(
                p.metadata.deletion_timestamp is not None
                for p in pods(cluster)
                if p.metadata.name in stranded
            )

        evicted_at = await wait_until(evicted, 400, "eviction of the stranded pods")
        assert 295 <= evicted_at - not_ready_at <= 310
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 120, "3 ready replicas elsewhere")
        assert all(p.spec.node_name != victim_node for p in ready_pods(cluster))


async def test_liveness_failure_restarts_and_readiness_failure_leaves_the_service() -> None:
    async with running(nodes=2) as cluster:
        liveness = Probe(period_seconds=10, failure_threshold=3)
        await cluster.apply(
            [
                pod(
                    "sick",
                    annotations={BEHAVIOUR_ANNOTATION: "liveness-fail-after=30s"},
                    liveness=liveness,
                ),
                pod(
                    "shy",
                    labels={"app": "shy"},
                    annotations={BEHAVIOUR_ANNOTATION: "readiness-fail-after=30s"},
                    readiness=READINESS,
                ),
                pod("fine", labels={"app": "shy"}, readiness=READINESS),
                service("shy"),
            ]
        )
        traffic = TrafficGenerator(
            cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("shy", rate=10)]
        )
        cluster.nursery.start_soon(traffic.run)
        # half a tick off the traffic's 0.1 s ticks, so the 30 s window below holds 300 of them
        # whatever order tasks waking at the same instant run in
        await trio.sleep(120.05)
        sick = cluster.api.cache("pods").get("/registry/pods/default/sick")
        assert sick.status.container_statuses[0].restart_count >= 1
        assert cluster.events.find(reason="Unhealthy", obj="default/sick")
        endpoints = cluster.api.cache("endpoints").get("/registry/endpoints/default/shy")
        ready_ips = {a.ip for a in endpoints.ready_addresses()}
        shy = cluster.api.cache("pods").get("/registry/pods/default/shy")
        fine = cluster.api.cache("pods").get("/registry/pods/default/fine")
        assert ready_ips == {fine.status.pod_ip}
        assert shy.status.pod_ip in {a.ip for s in endpoints.subsets for a in s.not_ready_addresses}
        assert shy.status.container_statuses[0].state == "running"
        before = traffic.stats.count("default", "shy", outcome="success")
        failures_before = traffic.stats.count("default", "shy") - before
        await trio.sleep(30)
        after = traffic.stats.count("default", "shy", outcome="success")
        assert after - before == 300, "traffic avoids the unready pod"
        assert traffic.stats.count("default", "shy") - after == failures_before


async def test_rolling_update_never_drops_below_max_unavailable() -> None:
    async with running(nodes=3) as cluster:
        strategy = DeploymentStrategy(max_surge=1, max_unavailable=1)
        await cluster.apply(
            [deployment("web", 4, readiness=READINESS, strategy=strategy), service("web")]
        )
        await wait_until(lambda: available(cluster) == 4, 60, "4 available replicas")
        current = web(cluster)
        new_template = attrs.evolve(
            current.spec.template,
            spec=attrs.evolve(
                current.spec.template.spec,
                containers=(
                    attrs.evolve(current.spec.template.spec.containers[0], image="nginx:1.28"),
                ),
            ),
        )
        await cluster.api.update(
            attrs.evolve(current, spec=attrs.evolve(current.spec, template=new_template))
        )
        lowest, highest = 4, 4
        while True:
            await trio.sleep(0.25)
            live = [p for p in pods(cluster) if p.metadata.deletion_timestamp is None]
            lowest = min(lowest, len(ready_pods(cluster)))
            highest = max(highest, len(live))
            d = web(cluster)
            if (
                d.status.updated_replicas == 4
                and d.status.available_replicas == 4
                and d.status.replicas == 4
            ):
                break
            assert trio.current_time() < 600, "rollout did not finish"
        assert lowest >= 3 and highest <= 5
        images = {p.spec.containers[0].image for p in ready_pods(cluster)}
        assert images == {"nginx:1.28"}


async def test_pod_that_fits_nowhere_waits_until_a_node_frees_up() -> None:
    async with running(nodes=2, capacity=Resources(2000, 8 * 2**30, 110)) as cluster:
        await cluster.apply([pod("hog-0", cpu=1500), pod("hog-1", cpu=1500)])
        await wait_until(
            lambda: all(p.spec.node_name for p in cluster.api.cache("pods").list()),
            30,
            "hogs bound",
        )
        await cluster.apply([pod("big", cpu=1500)])
        await trio.sleep(60)
        big = cluster.api.cache("pods").get("/registry/pods/default/big")
        assert big.spec.node_name == "" and big.status.phase == "Pending"
        assert cluster.events.find(reason="FailedScheduling", obj="default/big")
        await cluster.api.delete("pods", "default", "hog-0")
        await wait_until(
            lambda: cluster.api.cache("pods").get("/registry/pods/default/big").is_ready(),
            120,
            "big running",
        )


async def test_apply_creates_a_missing_namespace_once() -> None:
    async with running(nodes=1) as cluster:
        await cluster.apply(
            [
                pod("a", namespace="shop"),
                pod("b", namespace="shop"),
                service("web", namespace="shop"),
            ]
        )
        attempts = sum(
            n
            for (verb, resource, _), n in cluster.api.stats.total.items()
            if (verb, resource) == ("create", "namespaces")
        )
        assert attempts == 4 + 1  # the cluster's own namespaces, then "shop" once
        assert cluster.api.cache("namespaces").get("/registry/namespaces/shop") is not None
        assert [e.object for e in cluster.events.find(reason="Applied")] == [
            "shop/a",
            "shop/b",
            "shop/web",
        ]
