"""Node and runtime faults end to end: each one's effect on a running cluster and its recovery."""

from __future__ import annotations

import random

import attrs
import trio

from kubechaos.api.objects import Pod, Probe
from kubechaos.cluster import Cluster
from kubechaos.faults import (
    Chaos,
    ContainerKill,
    FaultEnv,
    ImagePullFailure,
    KubeletStop,
    NodeCrash,
    NodeDrain,
    PodFailure,
    RuntimeSlow,
    Target,
)
from kubechaos.traffic import TrafficGenerator, TrafficSpec

from .factories import deployment, pod, service
from .harness import pods, ready_pods, running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)


def get_pod(cluster: Cluster, name: str) -> Pod:
    return cluster.api.cache("pods").get(f"/registry/pods/default/{name}")


def node_ready(cluster: Cluster, name: str) -> str:
    node = cluster.api.cache("nodes").get(f"/registry/nodes/{name}")
    cond = node.status.condition("Ready")
    return cond.status if cond else ""


def on_node(cluster: Cluster, node: str) -> list[Pod]:
    return [p for p in pods(cluster) if p.spec.node_name == node]


def pinned(name: str, node: str, image: str = "nginx:1.27", **kwargs: object) -> Pod:
    """A pod that only fits ``node``, running ``image``."""
    base = pod(name, node_selector={"kubernetes.io/hostname": node}, readiness=READINESS, **kwargs)
    container = attrs.evolve(base.spec.containers[0], image=image)
    return attrs.evolve(base, spec=attrs.evolve(base.spec, containers=(container,)))


def restarts(p: Pod) -> list[int]:
    return [s.restart_count for s in p.status.container_statuses]


# ============================================================================ container-kill


async def test_container_kill_restarts_only_the_named_container_once() -> None:
    async with running(nodes=1) as cluster:
        base = pod("duo", readiness=READINESS)
        sidecar = attrs.evolve(base.spec.containers[0], name="sidecar")
        duo = attrs.evolve(
            base, spec=attrs.evolve(base.spec, containers=(*base.spec.containers, sidecar))
        )
        await cluster.apply([duo, pod("other", readiness=READINESS)])
        await wait_until(
            lambda: get_pod(cluster, "duo").is_ready() and get_pod(cluster, "other").is_ready(),
            30,
            "both pods ready",
        )
        uid = get_pod(cluster, "duo").metadata.uid
        chaos = Chaos(cluster)
        kill = ContainerKill(target=Target(names=("duo",)), container="sidecar")
        injection = await chaos.inject(kill)
        assert injection is not None and injection.targets == ["default/duo"]
        await wait_until(lambda: restarts(get_pod(cluster, "duo")) == [0, 1], 10, "a restart")
        await wait_until(lambda: get_pod(cluster, "duo").is_ready(), 10, "ready again")
        duo_now = get_pod(cluster, "duo")
        assert duo_now.metadata.uid == uid  # the same pod: only its container restarted
        app_status, side_status = duo_now.status.container_statuses
        assert side_status.last_termination_reason == "Error"
        assert app_status.state == "running" and app_status.last_termination_reason == ""
        died = cluster.events.find(reason="ContainerDied", obj="default/duo")
        assert [e.message for e in died] == ["Container sidecar exited with code 137"]
        assert restarts(get_pod(cluster, "other")) == [0]
        # the kubelet heals by itself: the container stays up, the count stays at one
        await trio.sleep(60)
        assert restarts(get_pod(cluster, "duo")) == [0, 1]


# ============================================================================ pod-failure


async def test_pod_failure_crash_loops_during_the_fault_and_recovers_after_it() -> None:
    async with running(nodes=1) as cluster:
        await cluster.apply([pod("web", readiness=READINESS), pod("calm", readiness=READINESS)])
        await wait_until(lambda: get_pod(cluster, "web").is_ready(), 30, "web ready")
        chaos = Chaos(cluster)
        injection = await chaos.inject(PodFailure(target=Target(names=("web",))))
        assert injection is not None and injection.targets == ["default/web"]
        seen: dict[str, None] = {}
        for _ in range(90):  # 90 s of fault
            await trio.sleep(1)
            (status,) = get_pod(cluster, "web").status.container_statuses
            seen[status.reason or status.state] = None
            assert not get_pod(cluster, "web").is_ready()
        assert "CrashLoopBackOff" in seen
        # killed at injection, then each start crashes: restarts at once, after 10, 20, 40 s
        assert restarts(get_pod(cluster, "web")) == [4]
        assert len(cluster.events.find(reason="BackOff", obj="default/web")) >= 3
        assert restarts(get_pod(cluster, "calm")) == [0]
        await chaos.revert(injection)
        backoff_max = cluster.ctx.settings.crash_loop_backoff_max
        await wait_until(lambda: get_pod(cluster, "web").is_ready(), backoff_max, "ready again")
        after = restarts(get_pod(cluster, "web"))
        await trio.sleep(60)
        assert restarts(get_pod(cluster, "web")) == after  # it behaves again


# ============================================================================ node-crash


async def test_node_crash_with_default_timings_marks_it_not_ready_then_evicts() -> None:
    async with running(nodes=2) as cluster:
        s = cluster.ctx.settings
        await cluster.apply([deployment("web", 2, readiness=READINESS), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 60, "2 ready pods")
        victim = ready_pods(cluster)[0].spec.node_name
        stranded = {p.metadata.name: p.status.pod_ip for p in on_node(cluster, victim)}
        agent = cluster.nodes[victim]
        crashed_at = trio.current_time()
        injection = await Chaos(cluster).inject(NodeCrash(target=Target(nodes=(victim,))))
        assert injection is not None and injection.targets == [victim]
        # the machine is gone at once: nothing runs, nothing answers, kube-proxy is stopped
        assert agent.runtime.running_containers() == 0 and not agent.runtime.sandboxes
        assert not any(cluster.network.serving(ip) for ip in stranded.values())
        assert not cluster.proxies.proxy(victim).running and not agent.process.running
        # ... but the API does not know yet
        assert node_ready(cluster, victim) == "True"
        unknown_at = await wait_until(lambda: node_ready(cluster, victim) == "Unknown", 120, "NR")
        lease_renew = s.node_lease_duration_seconds / 4
        assert (
            s.node_monitor_grace_period - lease_renew
            <= unknown_at - crashed_at
            <= s.node_monitor_grace_period + s.node_monitor_period + 1
        )

        def evicted() -> bool:
            return all(
                p.metadata.deletion_timestamp is not None
                for p in pods(cluster)
                if p.metadata.name in stranded
            )

        toleration = s.default_unreachable_toleration_seconds
        evicted_at = await wait_until(evicted, toleration + 60, "eviction", step=1)
        assert (
            toleration - s.node_monitor_period
            <= evicted_at - unknown_at
            <= toleration + 2 * s.node_monitor_period
        )
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 60, "replacements elsewhere")
        assert all(p.spec.node_name != victim for p in ready_pods(cluster))
        assert node_ready(cluster, victim) == "Unknown"  # without a duration it stays dead


async def test_node_crash_with_a_duration_boots_an_empty_node_that_restarts_its_pods() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 2, readiness=READINESS), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 60, "2 ready pods")
        victim = ready_pods(cluster)[0].spec.node_name
        before = {p.metadata.uid: restarts(p) for p in on_node(cluster, victim)}
        agent = cluster.nodes[victim]
        images = agent.runtime.images()
        chaos = Chaos(cluster)
        injection = await chaos.inject(NodeCrash(target=Target(nodes=(victim,))))
        assert injection is not None
        await wait_until(lambda: node_ready(cluster, victim) == "Unknown", 120, "NotReady")
        # the same monitor pass marks its pods not ready, a request after the node's own
        await wait_until(
            lambda: not any(p.is_ready() for p in on_node(cluster, victim)), 5, "pods not ready"
        )
        await chaos.revert(injection)
        booted_at = trio.current_time()
        # a rebooted machine: no containers, the images still on its disk
        assert agent.runtime.running_containers() == 0 and agent.runtime.images() == images
        # Ready once booted: OS, kubelet, runtime and CNI (30 + 3 + 2 + 10 s, test_node_boot.py)
        back = await wait_until(lambda: node_ready(cluster, victim) == "True", 60, "Ready again")
        assert back >= booted_at + 45
        assert cluster.events.find(reason="Rebooted", obj=victim)
        await wait_until(
            lambda: all(p.is_ready() for p in on_node(cluster, victim)), 30, "pods re-synced"
        )
        after = {p.metadata.uid: restarts(p) for p in on_node(cluster, victim)}
        assert after == {uid: [r + 1 for r in counts] for uid, counts in before.items()}
        for p in on_node(cluster, victim):
            assert p.status.container_statuses[0].started_at > booted_at
            assert cluster.network.serving(p.status.pod_ip)
        assert agent.runtime.running_containers() == len(before)
        assert cluster.proxies.proxy(victim).running


async def test_overlapping_node_faults_hold_the_node_down_until_the_last_lets_go() -> None:
    async with running(nodes=1) as cluster:
        await cluster.apply([pod("web", readiness=READINESS)])
        await wait_until(lambda: get_pod(cluster, "web").is_ready(), 30, "web ready")
        agent = cluster.nodes["worker-0"]
        chaos = Chaos(cluster)
        target = Target(nodes=("worker-0",))
        crash = await chaos.inject(NodeCrash(name="crash", target=target))
        again = await chaos.inject(NodeCrash(name="again", target=target))
        stop = await chaos.inject(KubeletStop(target=target))
        assert crash is not None and again is not None and stop is not None
        await chaos.revert(crash)
        assert not agent.up and not agent.process.running
        await chaos.revert(again)
        # the machine is up, but its kubelet is still held stopped: nothing runs, nothing answers
        assert agent.up and not agent.process.running
        assert cluster.proxies.proxy("worker-0").running
        await trio.sleep(30)
        assert agent.runtime.running_containers() == 0
        await chaos.revert(stop)
        await wait_until(
            lambda: restarts(get_pod(cluster, "web")) == [1] and get_pod(cluster, "web").is_ready(),
            60,
            "web restarted and ready again",
        )
        assert agent.runtime.running_containers() == 1


def test_each_occurrence_reverts_what_it_did() -> None:
    """A fault object injected twice remembers each occurrence by its random stream."""
    fault = RuntimeSlow()
    first, second = FaultEnv(None, random.Random(1), None), FaultEnv(None, random.Random(2), None)
    fault._remember(first, ["a"])
    fault._remember(second, ["b"])
    assert fault._recall(second) == ["b"] and fault._recall(first) == ["a"]
    assert fault._recall(first) is None


# ============================================================================ kubelet-stop


async def test_kubelet_stop_keeps_containers_serving_while_the_node_goes_not_ready() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 4, readiness=READINESS), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 4, 60, "4 ready pods")
        victim = ready_pods(cluster)[0].spec.node_name
        mine = {p.metadata.uid: p.status.container_statuses[0] for p in on_node(cluster, victim)}
        ips = [p.status.pod_ip for p in on_node(cluster, victim)]
        traffic = TrafficGenerator(
            cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=20)]
        )
        cluster.nursery.start_soon(traffic.run)
        await trio.sleep(5)
        chaos = Chaos(cluster)
        injection = await chaos.inject(KubeletStop(target=Target(nodes=(victim,))))
        assert injection is not None and injection.targets == [victim]
        await wait_until(lambda: node_ready(cluster, victim) == "Unknown", 120, "NotReady")
        await trio.sleep(10)
        assert not any(p.is_ready() for p in on_node(cluster, victim))  # the API thinks so...
        assert all(cluster.network.serving(ip) for ip in ips)  # ... the containers still serve
        await chaos.revert(injection)
        await wait_until(lambda: node_ready(cluster, victim) == "True", 30, "Ready again")
        await wait_until(lambda: len(ready_pods(cluster)) == 4, 30, "its pods ready again")
        # adopted, not restarted: same pods, same containers, same start times
        for p in on_node(cluster, victim):
            (status,) = p.status.container_statuses
            assert (
                status.restart_count == 0 and status.started_at == mine[p.metadata.uid].started_at
            )
        assert set(mine) == {p.metadata.uid for p in on_node(cluster, victim)}
        assert not cluster.events.find(reason="Rebooted", obj=victim)
        total, ok = traffic.stats.totals_by_service()["default/web"]
        assert total > 0 and ok == total  # no request failed at any time


async def test_a_restarted_kubelet_removes_pods_deleted_meanwhile_and_sees_kills() -> None:
    async with running(nodes=1) as cluster:
        await cluster.apply([pod("gone", readiness=READINESS), pod("kept", readiness=READINESS)])
        await wait_until(
            lambda: get_pod(cluster, "gone").is_ready() and get_pod(cluster, "kept").is_ready(),
            30,
            "both pods ready",
        )
        gone_ip = get_pod(cluster, "gone").status.pod_ip
        chaos = Chaos(cluster)
        stop = await chaos.inject(KubeletStop(target=Target(nodes=("worker-0",))))
        assert stop is not None
        await cluster.api.delete("pods", "default", "gone", grace_period_seconds=0)
        killed = await chaos.inject(ContainerKill(target=Target(names=("kept",))))
        assert killed is not None and killed.targets == ["default/kept"]
        await trio.sleep(5)
        assert restarts(get_pod(cluster, "kept")) == [0]  # nobody there to restart it
        await chaos.revert(stop)
        await wait_until(lambda: restarts(get_pod(cluster, "kept")) == [1], 10, "restart")
        await wait_until(lambda: get_pod(cluster, "kept").is_ready(), 10, "kept ready")
        runtime = cluster.nodes["worker-0"].runtime
        assert len(runtime.sandboxes) == 1 and cluster.network.lookup(gone_ip) is None


# ============================================================================ node-drain


async def test_node_drain_cordons_moves_the_pods_and_uncordons_after_the_last_drain() -> None:
    async with running(nodes=3) as cluster:
        await cluster.apply([deployment("web", 3, readiness=READINESS), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "3 ready pods")
        victim = ready_pods(cluster)[0].spec.node_name
        evicted = {p.metadata.uid for p in on_node(cluster, victim)}

        def unschedulable() -> bool:
            return cluster.api.cache("nodes").get(f"/registry/nodes/{victim}").spec.unschedulable

        chaos = Chaos(cluster)
        first = await chaos.inject(
            NodeDrain(name="drain", target=Target(nodes=(victim,)), grace_period=5)
        )
        assert first is not None and first.targets == [victim]
        assert unschedulable()
        await wait_until(
            lambda: (
                len(ready_pods(cluster)) == 3
                and all(p.spec.node_name != victim for p in pods(cluster))
            ),
            60,
            "pods recreated on the other nodes",
        )
        assert not evicted & {p.metadata.uid for p in pods(cluster)}
        deletes = cluster.api.stats.total[("delete", "pods", 200)]
        assert deletes >= len(evicted)
        second = await chaos.inject(NodeDrain(name="drain-again", target=Target(nodes=(victim,))))
        assert second is not None
        await chaos.revert(first)
        assert unschedulable()  # the second drain still holds it
        await chaos.revert(second)
        assert not unschedulable()
        await trio.sleep(5)
        assert node_ready(cluster, victim) == "True"


# ============================================================================ runtime-slow


async def test_runtime_slow_stretches_pod_starts_and_overlapping_factors_multiply() -> None:
    async with running(nodes=2) as cluster:
        slow_runtime = cluster.nodes["worker-0"].runtime
        chaos = Chaos(cluster)
        ten = await chaos.inject(RuntimeSlow(target=Target(nodes=("worker-0",))))
        assert ten is not None and slow_runtime.slow_factor == 10
        await cluster.apply([pinned("slow", "worker-0"), pinned("fast", "worker-1")])
        await wait_until(lambda: get_pod(cluster, "fast").is_ready(), 10, "fast ready")
        assert not get_pod(cluster, "slow").is_ready()
        await wait_until(lambda: get_pod(cluster, "slow").is_ready(), 120, "slow ready at last")
        four = await chaos.inject(
            RuntimeSlow(name="four", target=Target(nodes=("worker-0",)), factor=4)
        )
        assert four is not None and slow_runtime.slow_factor == 40
        await chaos.revert(ten)
        assert slow_runtime.slow_factor == 4  # the other factor stays in force, exactly
        await chaos.revert(four)
        assert slow_runtime.slow_factor == 1 and not slow_runtime.slow_factors
        # at full speed again: a pod starts there as fast as anywhere (its image is cached)
        await cluster.apply([pinned("quick", "worker-0")])
        await wait_until(lambda: get_pod(cluster, "quick").is_ready(), 5, "quick ready")


# ============================================================================ image-pull-failure


async def test_image_pull_failure_backs_off_until_the_last_outage_ends() -> None:
    async with running(nodes=2) as cluster:
        image = "registry.example/fresh:1.0"
        chaos = Chaos(cluster)
        everything = await chaos.inject(
            ImagePullFailure(name="registry-down", target=Target(nodes=("worker-0",)))
        )
        just_fresh = await chaos.inject(
            ImagePullFailure(name="fresh-gone", target=Target(nodes=("worker-0",)), images=(image,))
        )
        assert everything is not None and just_fresh is not None
        await cluster.apply(
            [pinned("fresh", "worker-0", image), pinned("elsewhere", "worker-1", image)]
        )
        await trio.sleep(15)
        (status,) = get_pod(cluster, "fresh").status.container_statuses
        assert status.state == "waiting" and status.reason in ("ErrImagePull", "ImagePullBackOff")
        assert cluster.events.find(reason="Failed", obj="default/fresh")
        assert get_pod(cluster, "elsewhere").is_ready()  # another node's pulls are fine
        await chaos.revert(everything)
        await trio.sleep(60)
        assert not get_pod(cluster, "fresh").is_ready()  # its image is still refused
        await chaos.revert(just_fresh)
        reverted_at = trio.current_time()
        ready_at = await wait_until(
            lambda: get_pod(cluster, "fresh").is_ready(),
            cluster.ctx.settings.crash_loop_backoff_max + 30,
            "the next pull retry to succeed",
        )
        pulls = [e.time for e in cluster.events.find(reason="Pulling", obj="default/fresh")]
        assert [t for t in pulls if t >= reverted_at] == [pulls[-1]]  # the first retry worked
        assert ready_at - pulls[-1] < 10
