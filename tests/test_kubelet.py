from __future__ import annotations

import ipaddress
import itertools

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Pod, Probe, Resources, Taint
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.defaults import (
    BEHAVIOUR_ANNOTATION,
    NODE_LEASE_NAMESPACE,
    POD_STATUS_SYNC_PERIOD,
    Settings,
)
from kubechaos.node.kubelet import Kubelet
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.kubelet.timers import TimerKind, TimerQueue
from kubechaos.node.network import PodNetwork
from kubechaos.node.podstate import Backoff, PodState
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now, run_virtual
from kubechaos.sim.events import Event

from .factories import pod
from .harness import wait_until

CIDR = "10.128.3.0/24"
ADDRESS = "172.16.0.5"


def node_config(name: str = "n1", pods: int = 110, **kwargs: object) -> NodeConfig:
    return NodeConfig(
        name=name,
        capacity=Resources(16000, 64 * 2**30, pods),
        labels={"kubechaos.io/node-group": "pool"},
        pod_cidr=CIDR,
        address=ADDRESS,
        **kwargs,  # type: ignore[arg-type]
    )


async def plane(seed: int = 0, settings: Settings | None = None) -> tuple[Context, PodNetwork]:
    _, ctx = new_control_plane(seed, settings)
    await bootstrap(ctx)
    return ctx, PodNetwork()


def start(
    nursery: trio.Nursery,
    ctx: Context,
    network: PodNetwork,
    config: NodeConfig | None = None,
    runtime: ContainerRuntime | None = None,
) -> tuple[Kubelet, trio.CancelScope]:
    """Run a kubelet in its own cancel scope (cancelling it = the node dying)."""
    config = config or node_config()
    runtime = runtime or ContainerRuntime(ctx.settings, ctx.stream("runtime"), config.name)
    kubelet = Kubelet(ctx, config, network, runtime)
    scope = trio.CancelScope()

    async def main() -> None:
        with scope:
            await kubelet.run()

    nursery.start_soon(main)
    return kubelet, scope


def stored(ctx: Context, name: str, namespace: str = "default") -> Pod | None:
    """The pod as the API server has it now (from its watch cache: costs no virtual time)."""
    return ctx.api.cache("pods").get(f"/registry/pods/{namespace}/{name}")  # type: ignore[return-value]


def must(ctx: Context, name: str) -> Pod:
    found = stored(ctx, name)
    assert found is not None, f"pod {name} is gone"
    return found


def ready(ctx: Context, name: str) -> bool:
    found = stored(ctx, name)
    return found is not None and found.is_ready()


def events(ctx: Context, reason: str, name: str | None = None) -> list[Event]:
    obj = None if name is None else f"default/{name}"
    return [e for e in ctx.events.find(reason=reason, obj=obj) if e.component == "kubelet"]


def times(ctx: Context, reason: str, name: str, contains: str = "") -> list[float]:
    return [e.time for e in events(ctx, reason, name) if contains in e.message]


# The kubelet without PLEG's relist delay and the pod workers' jittered back-off re-sync (see
# kubechaos/node/kubelet/timing.py and tests/test_kubelet_timing.py): exits seen at once and
# restarts exactly at the CrashLoopBackOff expiry, for the tests of the back-off itself.
UNJITTERED = Settings(
    pleg_relist_period=0, pod_worker_backoff_period=0, node_heartbeat_jitter_factor=0.0
)

# How long a wait here may take (virtual seconds), and how often it checks: every 50 ms, as this
# file always has, since what a test reads after a wait depends on when it resumes.
WAIT_TIMEOUT = 600.0
WAIT_STEP = 0.05


def behaving(name: str, behaviour: str, **kwargs: object) -> Pod:
    return pod(name, node_name="n1", annotations={BEHAVIOUR_ANNOTATION: behaviour}, **kwargs)


# ---------------------------------------------------------------------------- start-up


async def test_pod_becomes_running_and_ready_with_an_ip_from_the_node_cidr() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        await ctx.api.create(pod("web", node_name="n1"))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        p = must(ctx, "web")
        assert p.status.phase == "Running"
        assert ipaddress.ip_address(p.status.pod_ip) in ipaddress.ip_network(CIDR)
        assert p.status.host_ip == ADDRESS and p.status.start_time is not None
        conditions = {c.type: c.status for c in p.status.conditions}
        assert conditions == {
            "PodScheduled": "True",
            "PodReadyToStartContainers": "True",
            "Initialized": "True",
            "ContainersReady": "True",
            "Ready": "True",
        }
        (cs,) = p.status.container_statuses
        assert (cs.state, cs.ready, cs.started, cs.restart_count) == ("running", True, True, 0)
        # plausible: sandbox + image pull + create + start, each within its jitter band
        s = ctx.settings
        steps = (
            s.sandbox_create_seconds
            + s.image_pull_seconds
            + s.container_create_seconds
            + s.container_start_seconds
        )
        (duration,) = kubelet.pod_start_durations
        assert 0.5 * steps <= duration <= 1.5 * steps + 0.2
        assert net.serving(p.status.pod_ip) and net.lookup(p.status.pod_ip).pod == "default/web"
        assert kubelet.running_pods() == 1
        reasons = [e.reason for e in ctx.events if e.object == "default/web"]
        assert reasons[-4:] == ["Pulling", "Pulled", "Created", "Started"]
        nursery.cancel_scope.cancel()


async def test_images_are_pulled_once_per_node() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(pod("a", node_name="n1"))
        await wait_until(lambda: ready(ctx, "a"), WAIT_TIMEOUT, "a ready", WAIT_STEP)
        await ctx.api.create(pod("b", node_name="n1"))
        await wait_until(lambda: ready(ctx, "b"), WAIT_TIMEOUT, "b ready", WAIT_STEP)
        assert len(events(ctx, "Pulling")) == 1
        assert times(ctx, "Pulled", "b", "already present on machine")
        nursery.cancel_scope.cancel()


async def test_node_registration_lease_renewal_and_status_reports() -> None:
    ctx, net = await plane()
    taint = Taint("dedicated", "NoSchedule", "db")
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net, node_config(taints=(taint,)))
        await trio.sleep(1)
        node = await ctx.api.get("nodes", "", "n1")
        assert node.metadata.labels["kubernetes.io/hostname"] == "n1"
        assert node.metadata.labels["kubechaos.io/node-group"] == "pool"
        assert node.spec.pod_cidr == CIDR and node.spec.taints == (taint,)
        assert node.status.capacity == node.status.allocatable == node_config().capacity
        assert node.status.address == ADDRESS
        assert {c.type: c.status for c in node.status.conditions} == {
            "MemoryPressure": "False",
            "DiskPressure": "False",
            "PIDPressure": "False",
            "Ready": "True",
        }
        registered = node.status.condition("Ready").last_heartbeat_time
        assert net.node_up("n1")
        renewals = []
        for _ in range(60):
            lease = await ctx.api.get("leases", NODE_LEASE_NAMESPACE, "n1")
            if not renewals or lease.spec.renew_time != renewals[-1]:
                renewals.append(lease.spec.renew_time)
            await trio.sleep(1)
        assert lease.spec.holder_identity == "n1" and lease.spec.lease_duration_seconds == 40
        gaps = [b - a for a, b in itertools.pairwise(renewals)]
        # every 10 s plus wait.JitterUntil's up to 4 %, from the end of the last renewal
        assert len(gaps) >= 4 and all(10.0 <= g <= 10.0 * 1.04 + 0.05 for g in gaps)
        # nothing changed: no status post until nodeStatusReportFrequency (5 min) has passed
        node = await ctx.api.get("nodes", "", "n1")
        assert node.status.condition("Ready").last_heartbeat_time == registered
        await trio.sleep(320 - now())
        node = await ctx.api.get("nodes", "", "n1")
        heartbeat = node.status.condition("Ready").last_heartbeat_time
        assert registered + 300 <= heartbeat <= registered + 311
        assert node.status.condition("Ready").last_transition_time == pytest.approx(registered)
        nursery.cancel_scope.cancel()


async def test_node_status_is_reasserted_when_someone_else_changed_it() -> None:
    """The node lifecycle controller writes Ready=Unknown; a live kubelet fixes it within 10 s."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await trio.sleep(15)
        node = await ctx.api.get("nodes", "", "n1")
        unknown = tuple(
            attrs.evolve(c, status="Unknown") if c.type == "Ready" else c
            for c in node.status.conditions
        )
        await ctx.api.update_status(
            attrs.evolve(node, status=attrs.evolve(node.status, conditions=unknown))
        )
        await trio.sleep(10.5)
        node = await ctx.api.get("nodes", "", "n1")
        assert node.is_ready()
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- restarts


def test_backoff_is_flowcontrol_backoff() -> None:
    b = Backoff(10, 300, 600)
    assert not b.is_in_backoff_since("k", 0, 0)
    waits = []
    t = 0.0
    for _ in range(8):
        b.next("k", t, t)
        waits.append(b.get("k"))
        t += b.get("k") + 30
    assert waits == [10, 20, 40, 80, 160, 300, 300, 300]
    assert b.is_in_backoff_since("k", t, t + 299) and not b.is_in_backoff_since("k", t, t + 300)
    # an exit more than 600 s after the last restart: the entry has expired
    assert not b.is_in_backoff_since("k", t + 601, t + 601)
    b.next("k", t + 601, t + 601)
    assert b.get("k") == 10


async def test_crash_loop_backoff_waits_exactly_0_10_20_40_80_160_300_300() -> None:
    ctx, net = await plane(settings=UNJITTERED)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("web", "crash-after=30s"))
        await wait_until(
            lambda: len(events(ctx, "ContainerDied", "web")) >= 3,
            WAIT_TIMEOUT,
            "3 deaths of web",
            WAIT_STEP,
        )
        await trio.sleep(1)
        p = must(ctx, "web")
        (cs,) = p.status.container_statuses
        assert (cs.state, cs.reason, cs.exit_code, cs.restart_count) == (
            "waiting",
            "CrashLoopBackOff",
            1,
            2,
        )
        assert cs.last_termination_reason == "Error"
        assert p.status.phase == "Running" and not p.is_ready()
        assert not net.serving(p.status.pod_ip)
        assert events(ctx, "BackOff", "web")[-1].message.startswith(
            "Back-off restarting failed container app in pod web_default("
        )
        await trio.sleep(1300 - now())
        died = times(ctx, "ContainerDied", "web")
        restarted = times(ctx, "Pulled", "web", "already present")
        waits = [round(r - d, 6) for d, r in zip(died, restarted, strict=False)]
        assert waits[:8] == [0, 10, 20, 40, 80, 160, 300, 300]
        (cs,) = must(ctx, "web").status.container_statuses
        assert cs.restart_count == len(times(ctx, "Started", "web")) - 1 >= 8
        nursery.cancel_scope.cancel()


async def test_backoff_resets_after_ten_minutes_of_clean_running() -> None:
    ctx, net = await plane(settings=UNJITTERED)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("short", "crash-after=590s"))
        await ctx.api.create(behaving("long", "crash-after=610s"))
        await trio.sleep(2500)

        def waits(name: str) -> list[float]:
            died = times(ctx, "ContainerDied", name)
            restarted = times(ctx, "Pulled", name, "already present")
            return [round(r - d, 6) for d, r in zip(died, restarted, strict=False)][:3]

        assert waits("short") == [0, 10, 20]
        assert waits("long") == [0, 0, 0]
        nursery.cancel_scope.cancel()


async def test_restart_policies() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        cases = {
            "never-crash": ("Never", "crash-after=5s"),
            "never-exit": ("Never", "exit-after=5s"),
            "onfailure-exit": ("OnFailure", "exit-after=5s"),
            "onfailure-crash": ("OnFailure", "crash-after=5s"),
            "always-exit": ("Always", "exit-after=5s"),
        }
        for name, (policy, behaviour) in cases.items():
            await ctx.api.create(behaving(name, behaviour, restart_policy=policy))
        await trio.sleep(60)
        phase = {name: must(ctx, name).status.phase for name in cases}
        restarts = {
            name: must(ctx, name).status.container_statuses[0].restart_count for name in cases
        }
        assert phase == {
            "never-crash": "Failed",
            "never-exit": "Succeeded",
            "onfailure-exit": "Succeeded",
            "onfailure-crash": "Running",
            "always-exit": "Running",
        }
        assert restarts["never-crash"] == restarts["never-exit"] == restarts["onfailure-exit"] == 0
        assert restarts["onfailure-crash"] >= 2 and restarts["always-exit"] >= 2
        failed = must(ctx, "never-crash")
        (cs,) = failed.status.container_statuses
        assert (cs.state, cs.reason, cs.exit_code) == ("terminated", "Error", 1)
        assert failed.status.condition("Ready").reason == "PodCompleted"
        # finished pods give their IP back (the status keeps it, as upstream)
        assert net.lookup(failed.status.pod_ip) is None
        assert kubelet.running_pods() == 2
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- probes


async def test_liveness_failure_restarts_after_failure_threshold_periods() -> None:
    ctx, net = await plane()
    probe = Probe(initial_delay_seconds=5, period_seconds=10, failure_threshold=3)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("web", "liveness-fail-after=60s", liveness=probe))
        await wait_until(
            lambda: bool(times(ctx, "Started", "web")), WAIT_TIMEOUT, "web started", WAIT_STEP
        )
        started = times(ctx, "Started", "web")[0]
        await trio.sleep(started + 100 - now())
        # ticks at +5, +15, ...; failing from +60: +65, +75, +85 -> killed at +85
        (killing,) = events(ctx, "Killing", "web")
        assert killing.time == pytest.approx(started + 85)
        assert killing.message == "Container app failed liveness probe, will be restarted"
        (unhealthy,) = events(ctx, "Unhealthy", "web")
        assert unhealthy.message.startswith("Liveness probe failed")
        assert unhealthy.time == pytest.approx(started + 85)
        assert times(ctx, "ContainerDied", "web") == [pytest.approx(started + 85)]
        (cs,) = must(ctx, "web").status.container_statuses
        assert cs.state == "running" and cs.restart_count == 1
        nursery.cancel_scope.cancel()


async def test_readiness_failure_flips_ready_and_serving_while_running_and_back() -> None:
    ctx, net = await plane()
    probe = Probe(period_seconds=5, success_threshold=2, failure_threshold=3)
    behaviour = "readiness-fail-after=60s,readiness-fail-for=30s"
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("web", behaviour, readiness=probe))
        await wait_until(
            lambda: bool(times(ctx, "Started", "web")), WAIT_TIMEOUT, "web started", WAIT_STEP
        )
        s = times(ctx, "Started", "web")[0]
        await trio.sleep(s + 4.9 - now())
        ip = must(ctx, "web").status.pod_ip
        assert not net.serving(ip)  # successThreshold 2: ticks +0 and +5
        await trio.sleep(s + 69.9 - now())
        assert net.serving(ip) and ready(ctx, "web")
        await trio.sleep(s + 70.5 - now())  # +60, +65, +70 failed
        p = must(ctx, "web")
        assert not net.serving(ip) and not p.is_ready()
        assert p.status.condition("ContainersReady").status == "False"
        (cs,) = p.status.container_statuses
        assert (cs.state, cs.ready, cs.restart_count, p.status.phase) == (
            "running",
            False,
            0,
            "Running",
        )
        assert net.lookup(ip).running
        await trio.sleep(s + 94.9 - now())
        assert not net.serving(ip)
        await trio.sleep(s + 95.5 - now())  # +90 and +95 passed
        assert net.serving(ip) and ready(ctx, "web")
        assert [e.time for e in events(ctx, "Unhealthy", "web")] == [pytest.approx(s + 70)]
        nursery.cancel_scope.cancel()


async def test_startup_probe_delays_readiness_or_kills_a_container_that_never_starts() -> None:
    ctx, net = await plane()
    startup = Probe(period_seconds=10, failure_threshold=5)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        slow = behaving("slow", "startup=25s", readiness=Probe())
        slow = attrs.evolve(
            slow,
            spec=attrs.evolve(
                slow.spec,
                containers=(attrs.evolve(slow.spec.containers[0], startup_probe=startup),),
            ),
        )
        stuck = attrs.evolve(
            slow,
            metadata=attrs.evolve(
                slow.metadata, name="stuck", annotations={BEHAVIOUR_ANNOTATION: "startup=100s"}
            ),
        )
        stuck = attrs.evolve(
            stuck,
            spec=attrs.evolve(
                stuck.spec,
                containers=(
                    attrs.evolve(
                        stuck.spec.containers[0], startup_probe=Probe(failure_threshold=3)
                    ),
                ),
            ),
        )
        await ctx.api.create(slow)
        await ctx.api.create(stuck)
        await wait_until(
            lambda: bool(times(ctx, "Started", "slow")), WAIT_TIMEOUT, "slow started", WAIT_STEP
        )
        s = times(ctx, "Started", "slow")[0]
        await trio.sleep(s + 29 - now())
        (cs,) = must(ctx, "slow").status.container_statuses
        assert (cs.state, cs.started, cs.ready) == ("running", False, False)
        assert not net.serving(must(ctx, "slow").status.pod_ip)
        await trio.sleep(s + 30.5 - now())  # startup passes at tick +30, readiness with it
        (cs,) = must(ctx, "slow").status.container_statuses
        assert (cs.started, cs.ready) == (True, True) and ready(ctx, "slow")
        assert not events(ctx, "Killing", "slow")
        stuck_start = times(ctx, "Started", "stuck")[0]
        kill = events(ctx, "Killing", "stuck")[0]
        assert kill.message == "Container app failed startup probe, will be restarted"
        assert kill.time == pytest.approx(stuck_start + 20)
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- termination


async def test_graceful_deletion_takes_min_of_shutdown_and_grace_then_frees_the_ip() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        await ctx.api.create(behaving("quick", "shutdown=5s"))
        await ctx.api.create(behaving("stubborn", "shutdown=60s"))
        await wait_until(
            lambda: ready(ctx, "quick") and ready(ctx, "stubborn"),
            WAIT_TIMEOUT,
            "quick and stubborn ready",
            WAIT_STEP,
        )
        ips = {name: must(ctx, name).status.pod_ip for name in ("quick", "stubborn")}
        t = now()
        await ctx.api.delete("pods", "default", "quick")
        await ctx.api.delete("pods", "default", "stubborn")
        await trio.sleep(t + 4.5 - now())
        assert must(ctx, "quick").metadata.deletion_timestamp is not None
        assert net.serving(ips["quick"])  # still shutting down gracefully, still answering
        assert [e.message for e in events(ctx, "Killing", "quick")] == ["Stopping container app"]
        await trio.sleep(t + 5.5 - now())
        assert stored(ctx, "quick") is None and net.lookup(ips["quick"]) is None
        await trio.sleep(t + 29.5 - now())
        assert stored(ctx, "stubborn") is not None
        await trio.sleep(t + 30.5 - now())
        assert stored(ctx, "stubborn") is None and net.lookup(ips["stubborn"]) is None
        assert events(ctx, "ContainerDied", "stubborn")[-1].message.endswith("code 137")
        assert kubelet.running_pods() == 0 and not kubelet.pods
        # a replacement pod with the same name gets a new IP
        await ctx.api.create(behaving("quick", "serve"))
        await wait_until(lambda: ready(ctx, "quick"), WAIT_TIMEOUT, "quick ready", WAIT_STEP)
        assert must(ctx, "quick").status.pod_ip not in ips.values()
        nursery.cancel_scope.cancel()


async def test_shorter_grace_on_second_delete_and_force_delete() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("a", "shutdown=60s"))
        await ctx.api.create(behaving("b", "shutdown=60s"))
        await wait_until(
            lambda: ready(ctx, "a") and ready(ctx, "b"), WAIT_TIMEOUT, "a and b ready", WAIT_STEP
        )
        ip_b = must(ctx, "b").status.pod_ip
        t = now()
        await ctx.api.delete("pods", "default", "a")
        await trio.sleep(1)
        await ctx.api.delete("pods", "default", "a", grace_period_seconds=3)
        await trio.sleep(t + 4.5 - now())
        assert stored(ctx, "a") is None
        await ctx.api.delete("pods", "default", "b", grace_period_seconds=0)
        await trio.sleep(0.1)
        assert net.lookup(ip_b) is None
        assert events(ctx, "Killing", "b")
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- reboot


async def test_rebooted_kubelet_resyncs_its_pods_from_an_empty_runtime() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        first, scope = start(nursery, ctx, net)
        await ctx.api.create(pod("web", node_name="n1"))
        await ctx.api.create(pod("once", node_name="n1", restart_policy="Never"))
        await ctx.api.create(behaving("job", "exit-after=5s", restart_policy="Never"))
        await ctx.api.create(behaving("doomed", "shutdown=10s"))
        await wait_until(
            lambda: (
                ready(ctx, "web")
                and ready(ctx, "once")
                and ready(ctx, "doomed")
                and must(ctx, "job").status.phase == "Succeeded"
            ),
            WAIT_TIMEOUT,
            "web, once and doomed ready and job succeeded",
            WAIT_STEP,
        )
        stale = [must(ctx, name).status.pod_ip for name in ("once", "doomed")]
        job_starts = len(times(ctx, "Started", "job"))
        scope.cancel()  # the node dies
        net.set_node_up("n1", False)
        await trio.sleep(60)
        await ctx.api.delete("pods", "default", "doomed")  # nobody there to finish it
        assert stored(ctx, "doomed") is not None
        reboot = now()
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime-2"), "n1")
        second, _ = start(nursery, ctx, net, runtime=runtime)
        await wait_until(
            lambda: ready(ctx, "web") and must(ctx, "once").status.phase == "Failed",
            WAIT_TIMEOUT,
            "web ready and once failed",
            WAIT_STEP,
        )
        web = must(ctx, "web")
        (cs,) = web.status.container_statuses
        assert cs.state == "running" and cs.restart_count == 1 and cs.started_at > reboot
        assert cs.last_termination_reason == "ContainerStatusUnknown"
        assert net.serving(web.status.pod_ip) and second.running_pods() == 1
        assert runtime.running_containers() == 1
        assert times(ctx, "SandboxChanged", "web")
        (once,) = must(ctx, "once").status.container_statuses
        assert (once.state, once.reason, once.exit_code) == (
            "terminated",
            "ContainerStatusUnknown",
            137,
        )
        assert must(ctx, "job").status.phase == "Succeeded"
        assert len(times(ctx, "Started", "job")) == job_starts
        await trio.sleep(1)
        assert stored(ctx, "doomed") is None
        # the dead incarnation's endpoints are gone: nothing answers at their IPs any more
        assert [net.lookup(ip) for ip in stale] == [None, None]
        lease = await ctx.api.get("leases", NODE_LEASE_NAMESPACE, "n1")
        assert lease.spec.renew_time >= reboot
        assert [e.reason for e in ctx.events.find(kind="Node", obj="n1")].count("Rebooted") == 1
        assert first.pods and net.node_up("n1")
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- odds and ends


async def test_bad_behaviour_annotation_is_reported_and_blocks_the_container() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("typo", "crash=3s"))
        await trio.sleep(10)
        (event,) = events(ctx, "FailedBehaviour", "typo")
        assert "unknown clause 'crash=3s'" in event.message
        p = must(ctx, "typo")
        assert p.status.phase == "Pending"
        assert p.status.container_statuses[0].reason == "CreateContainerConfigError"
        nursery.cancel_scope.cancel()


async def test_per_container_behaviour() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        base = pod("duo", node_name="n1")
        sidecar = attrs.evolve(base.spec.containers[0], name="sidecar", image="envoy:1.30")
        duo = attrs.evolve(
            base,
            metadata=attrs.evolve(
                base.metadata, annotations={f"{BEHAVIOUR_ANNOTATION}.sidecar": "crash-after=20s"}
            ),
            spec=attrs.evolve(base.spec, containers=(*base.spec.containers, sidecar)),
        )
        await ctx.api.create(duo)
        await trio.sleep(60)
        app, side = must(ctx, "duo").status.container_statuses
        assert app.restart_count == 0 and app.state == "running"
        assert side.restart_count >= 1
        assert len(times(ctx, "Pulling", "duo")) == 2  # containers start one after another
        nursery.cancel_scope.cancel()


async def test_admission_rejects_pods_beyond_capacity() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net, node_config(pods=2))
        for name in ("a", "b", "c"):
            await ctx.api.create(pod(name, node_name="n1"))
        await trio.sleep(10)
        assert ready(ctx, "a") and ready(ctx, "b")
        rejected = must(ctx, "c")
        assert (rejected.status.phase, rejected.status.reason) == ("Failed", "OutOfpods")
        assert rejected.status.message.startswith("Pod was rejected")
        nursery.cancel_scope.cancel()


async def test_image_pull_failures_back_off_and_recover() -> None:
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), "n1")
        runtime.image_pull_fails = True
        start(nursery, ctx, net, runtime=runtime)
        await ctx.api.create(pod("web", node_name="n1"))
        await trio.sleep(20)
        (cs,) = must(ctx, "web").status.container_statuses
        assert (cs.state, cs.reason) == ("waiting", "ImagePullBackOff")
        assert events(ctx, "Failed", "web") and events(ctx, "BackOff", "web")
        runtime.image_pull_fails = False
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        pulls = times(ctx, "Pulling", "web")
        fails = times(ctx, "Failed", "web")
        # retries wait 10 s, 20 s, ... after each failure
        assert [round(p - f, 6) for f, p in zip(fails, pulls[1:], strict=False)][:2] == [10, 20]
        nursery.cancel_scope.cancel()


async def test_api_errors_are_retried_not_fatal() -> None:
    ctx, net = await plane()
    real = ctx.api.update_status
    failures = {"left": 3}

    async def flaky(obj: Pod) -> Pod:
        if isinstance(obj, Pod) and failures["left"] > 0:
            failures["left"] -= 1
            raise errors.ServiceUnavailable("the server is currently unable to handle the request")
        return await real(obj)

    ctx.api.update_status = flaky  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(pod("web", node_name="n1"))
        await wait_until(lambda: ready(ctx, "web"), 60, "web ready", WAIT_STEP)
        assert failures["left"] == 0
        nursery.cancel_scope.cancel()


async def test_foreign_pod_status_write_is_reasserted() -> None:
    """Like the node lifecycle controller marking pods not ready: the live kubelet fixes it at its
    next reconcile (upstream syncBatch, every syncPeriod), not at once, so that it does not fight
    a writer that answers its writes in a tight loop."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(pod("web", node_name="n1"))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        p = must(ctx, "web")
        conditions = tuple(
            attrs.evolve(c, status="False") if c.type == "Ready" else c for c in p.status.conditions
        )
        await ctx.api.update_status(
            attrs.evolve(p, status=attrs.evolve(p.status, conditions=conditions))
        )
        await trio.sleep(0.5)
        assert not ready(ctx, "web")
        await trio.sleep(POD_STATUS_SYNC_PERIOD)
        assert ready(ctx, "web")
        nursery.cancel_scope.cancel()


async def test_a_full_node_stays_cheap_over_an_hour() -> None:
    """110 probed pods for an hour: wakeups and writes scale with changes, not probe ticks."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        kubelet, _ = start(nursery, ctx, net)
        for i in range(110):
            await ctx.api.create(
                pod(f"web-{i}", node_name="n1", readiness=Probe(), liveness=Probe())
            )
        await trio.sleep(3600)
        assert (
            all(ps.running_and_ready()[1] for ps in kubelet.pods.values())
            and len(kubelet.pods) == 110
        )
        probe_ticks = 110 * 2 * 360
        assert kubelet.loop_wakeups < 110 * 6 < probe_ticks / 100
        assert kubelet.status_writes <= 110 * 3
        nursery.cancel_scope.cancel()


def test_same_seed_same_event_log() -> None:
    async def scenario() -> list[str]:
        ctx, net = await plane(seed=5)
        async with trio.open_nursery() as nursery:
            start(nursery, ctx, net)
            for i in range(5):
                await ctx.api.create(behaving(f"p{i}", "crash-after=20s", readiness=Probe()))
            await trio.sleep(200)
            nursery.cancel_scope.cancel()
        return [e.to_json() for e in ctx.events]

    assert run_virtual(scenario, seed=5) == run_virtual(scenario, seed=5)


def test_settings_drive_the_kubelet() -> None:
    """Backoff and lease cadences come from Settings, so scenarios can override them."""

    async def scenario() -> tuple[list[float], list[float]]:
        settings = attrs.evolve(
            UNJITTERED, crash_loop_backoff_initial=2.0, node_lease_duration_seconds=20
        )
        _, ctx = new_control_plane(0, settings)
        await bootstrap(ctx)
        net = PodNetwork()
        async with trio.open_nursery() as nursery:
            start(nursery, ctx, net)
            await ctx.api.create(behaving("web", "crash-after=5s"))
            await trio.sleep(1)
            renewals = []
            for _ in range(40):
                lease = await ctx.api.get("leases", NODE_LEASE_NAMESPACE, "n1")
                renewals.append(lease.spec.renew_time)
                await trio.sleep(1)
            nursery.cancel_scope.cancel()
        died = times(ctx, "ContainerDied", "web")
        restarted = times(ctx, "Pulled", "web", "already present")
        return [round(r - d, 6) for d, r in zip(died, restarted, strict=False)], renewals

    waits, renewals = run_virtual(scenario)
    assert waits[:3] == [0, 2, 4]
    distinct = sorted(set(renewals))
    # every 5 s (a quarter of 20), from the end of the last renewal (JitterUntil's sliding)
    assert all(5.0 <= b - a <= 5.05 for a, b in itertools.pairwise(distinct))


def test_timers_come_due_by_time_then_in_the_order_they_were_set() -> None:
    """The node loop's order, on which the event log depends: (when, order of setting)."""
    queue = TimerQueue()
    target = PodState(pod("web", node_name="n1"))
    for when, label in ((2.0, "c"), (1.0, "a"), (2.0, "d"), (1.0, "b"), (3.0, "e")):
        queue.at(when, TimerKind.SANDBOX, target, 0, label)
    assert queue.deadline() == 1.0
    assert queue.pop_due(0.5) is None
    due = []
    while (timer := queue.pop_due(2.0)) is not None:
        due.append(timer.arg)
    assert due == ["a", "b", "c", "d"]
    assert queue.deadline() == 3.0
