"""A rebooting node is back only once it has booted, its kubelet has started and its container
runtime and network plugin are ready (kubechaos/node/boot.py).

Upstream: the kubelet posts ``Ready=False`` (``KubeletNotReady``) with its ``runtimeState``'s
errors until the runtime has answered and PLEG has relisted (pkg/kubelet/runtime.go
``runtimeErrors``, pkg/kubelet/pleg/generic.go ``Healthy``), then with "container runtime network
not ready: NetworkReady=false reason:NetworkPluginNotReady ..." until the CNI plugin is
initialised (kubelet.go ``updateRuntimeUp``), aggregated by the Ready condition setter
(pkg/kubelet/nodestatus/setters.go ``ReadyCondition``); the fast status update posts Ready as soon
as both are (kubelet_node_status.go ``fastNodeStatusUpdate``). A pod's sync fails before its
sandbox while the network is not ready, with event ``NetworkNotReady`` "network is not ready: ..."
(kubelet.go ``SyncPod``), and is tried again after the pod workers' back-off.
"""

from __future__ import annotations

import trio

from kubechaos.api.objects import Node
from kubechaos.cluster import Cluster
from kubechaos.defaults import Settings
from kubechaos.node.boot import NETWORK_NOT_READY, POD_NETWORK_NOT_READY, RUNTIME_NOT_READY
from kubechaos.sim.events import Event

from .factories import deployment
from .harness import available, pods, running, wait_until

# distinct step lengths, so that each is seen to count
BOOT, KUBELET, RUNTIME, CNI = 20.0, 4.0, 3.0, 7.0
SETTINGS = Settings(
    node_boot_duration=BOOT,
    kubelet_startup_duration=KUBELET,
    container_runtime_startup_duration=RUNTIME,
    cni_startup_duration=CNI,
)
DOWN = 30.0  # how long the machine is off


def ready(cluster: Cluster, name: str) -> tuple[str, str, str] | None:
    node: Node | None = cluster.api.cache("nodes").get(f"/registry/nodes/{name}")
    condition = node.status.condition("Ready") if node is not None else None
    if condition is None:
        return None
    return condition.status, condition.reason, condition.message


async def reboot(cluster: Cluster, name: str) -> float:
    """Power the node off for DOWN seconds; return when it powered on."""
    agent = cluster.nodes[name]
    agent.crash()
    await trio.sleep(DOWN)
    agent.boot()
    return trio.current_time()


async def watch_ready(cluster: Cluster, name: str, seconds: float) -> list[tuple[float, tuple]]:
    """The node's Ready condition (status, reason, message) each time it changes."""
    seen: list[tuple[float, tuple]] = []
    end = trio.current_time() + seconds
    while trio.current_time() < end:
        now = ready(cluster, name)
        if now is not None and (not seen or seen[-1][1] != now):
            seen.append((trio.current_time(), now))
        await trio.sleep(0.05)
    return seen


async def test_a_reboot_is_ready_again_after_boot_kubelet_runtime_and_cni_and_not_before() -> None:
    async with running(nodes=2, settings=SETTINGS) as cluster:
        await trio.sleep(20)
        crashed = trio.current_time()
        powered_on = await reboot(cluster, "worker-0")
        changes = await watch_ready(cluster, "worker-0", BOOT + KUBELET + RUNTIME + CNI + 20)
    api_at = powered_on + BOOT + KUBELET
    runtime_at = api_at + RUNTIME
    network_at = runtime_at + CNI
    assert powered_on - crashed == DOWN
    # dark through the OS boot and the kubelet's start: it posts nothing (its last status stays,
    # or the node lifecycle controller's Unknown once the grace period is over)
    assert all(t >= api_at or status[0] in ("True", "Unknown") for t, status in changes)
    posted = [(t, s) for t, s in changes if t >= api_at]
    assert [s for _, s in posted] == [
        ("False", "KubeletNotReady", RUNTIME_NOT_READY),
        ("False", "KubeletNotReady", NETWORK_NOT_READY),
        ("True", "KubeletReady", "kubelet is posting ready status"),
    ]
    (registered, _), (network_wait, _), (back, _) = posted
    assert api_at <= registered < api_at + 0.5
    assert runtime_at <= network_wait < runtime_at + 0.5
    # Ready again DOWN + boot + kubelet + runtime + CNI after the crash, not before
    assert network_at <= back < network_at + 0.5
    assert back - crashed >= DOWN + BOOT + KUBELET + RUNTIME + CNI


async def test_the_reboot_events_and_a_kubelet_restart_without_reboot_is_ready_at_once() -> None:
    async with running(nodes=2, settings=SETTINGS) as cluster:
        await trio.sleep(20)
        powered_on = await reboot(cluster, "worker-1")
        await trio.sleep(BOOT + KUBELET + RUNTIME + CNI + 5)
        kubelet = [e for e in cluster.events if e.component == "kubelet" and e.object == "worker-1"]
        started = [e.time for e in kubelet if e.reason == "Starting"]
        assert started[-1] == powered_on + BOOT  # "Starting kubelet." once the OS has booted
        order = [e.reason for e in kubelet if e.time > powered_on]
        assert order == ["Starting", "Rebooted", "NodeNotReady", "NodeReady"]
        # a kubelet restart finds the runtime and the network up: no boot steps
        agent = cluster.nodes["worker-1"]
        agent.stop_kubelet()
        await trio.sleep(5)
        agent.start_kubelet()
        restarted = trio.current_time()
        await trio.sleep(2)
        assert ready(cluster, "worker-1") == (
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        )
        assert [
            e.time for e in cluster.events if e.reason == "Starting" and e.object == "worker-1"
        ][-1] == restarted


async def test_pods_on_a_rebooted_node_start_only_once_the_network_is_ready() -> None:
    async with running(nodes=1, settings=SETTINGS) as cluster:
        await cluster.apply([deployment("web", 2)])
        await wait_until(lambda: available(cluster) == 2, 60, "the pods")
        powered_on = await reboot(cluster, "worker-0")
        runtime_at = powered_on + BOOT + KUBELET + RUNTIME
        network_at = runtime_at + CNI
        names = {p.metadata.name for p in pods(cluster)}

        def after() -> list[Event]:
            return [
                e
                for e in cluster.events
                if e.time > powered_on and e.object.split("/")[-1] in names
            ]

        await wait_until(
            lambda: sum(e.reason == "Started" for e in after()) == 2, 120, "the pods started"
        )
    seen = after()
    refused = [e for e in seen if e.reason == "NetworkNotReady"]
    started = [e for e in seen if e.reason == "Started"]
    assert len(started) == 2 and all(e.time >= network_at for e in started)
    # each pod's sync failed on the network once the runtime was up (none while it was not), and
    # was tried again after the pod workers' back-off (10 s to 15 s)
    assert sorted(e.object for e in refused) == sorted(f"default/{n}" for n in names)
    assert all(runtime_at <= e.time < network_at for e in refused)
    assert all(e.message == POD_NETWORK_NOT_READY for e in refused)
    sandboxes = [e.time for e in seen if e.reason in ("Pulled", "Created")]
    assert min(sandboxes) >= runtime_at + 10.0


async def test_the_boot_steps_are_settings_and_0_boots_at_once() -> None:
    instant = Settings(
        node_boot_duration=0.0,
        kubelet_startup_duration=0.0,
        container_runtime_startup_duration=0.0,
        cni_startup_duration=0.0,
    )
    async with running(nodes=1, settings=instant) as cluster:
        await trio.sleep(20)
        powered_on = await reboot(cluster, "worker-0")
        changes = await watch_ready(cluster, "worker-0", 3)
    assert changes[-1][1][0] == "True" and changes[-1][0] < powered_on + 0.5
    defaults = Settings()
    assert (
        defaults.node_boot_duration,
        defaults.kubelet_startup_duration,
        defaults.container_runtime_startup_duration,
        defaults.cni_startup_duration,
    ) == (30.0, 3.0, 2.0, 10.0)
