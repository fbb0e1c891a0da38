"""The fault machinery: target modes, the injector's record, schedules, and pod-kill end to end."""

from __future__ import annotations

import random

import pytest
import trio

from kubechaos.faults import (
    CATALOGUE,
    Chaos,
    NetworkDelay,
    NodeCrash,
    PodKill,
    ScheduledFault,
    Target,
    pick,
    run_schedule,
)
from kubechaos.faults.base import Param
from kubechaos.testing.harness import Harness

from .factories import deployment, service
from .harness import available, pods, ready_pods, running

CATALOGUE_TYPES = {
    "pod-kill", "pod-evict", "container-kill", "pod-failure", "node-crash", "kubelet-stop", "node-drain",
    "proxy-partition", "network-partition", "network-delay", "network-loss", "etcd-write-drop",
    "etcd-latency", "etcd-unavailable", "apiserver-unavailable", "apiserver-throttle",
    "apiserver-latency", "watch-drop", "watch-delay", "scheduler-crash",
    "controller-manager-crash", "runtime-slow", "image-pull-failure", "node-taint",
    "etcd-member-crash", "apiserver-crash", "control-plane-node-crash", "process-kill",
}  # fmt: skip


def test_catalogue_has_every_type_with_documented_params() -> None:
    assert set(CATALOGUE) == CATALOGUE_TYPES
    for name, cls in CATALOGUE.items():
        assert cls.type == name and cls.summary, name
        for p in cls.params():
            assert p.help and p.name[0].islower() and "_" not in p.name, (name, p.name)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("one", 0, 1), ("all", 0, 10), ("fixed", 3, 3), ("fixed", 30, 10), ("fixed-percent", 25, 2)],
)
def test_pick_modes_follow_chaos_mesh(mode: str, value: float, expected: int) -> None:
    chosen = pick(list(range(10)), mode, value, random.Random(1))
    assert len(chosen) == expected
    assert chosen == sorted(set(chosen))


def test_random_max_percent_never_exceeds_its_share() -> None:
    counts = {
        len(pick(list(range(10)), "random-max-percent", 50, random.Random(s))) for s in range(50)
    }
    assert max(counts) <= 5 and len(counts) > 2


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        Target(mode="some")


def test_param_parsing_explains_what_was_expected() -> None:
    fraction = Param("p", "probability", "fraction", 1.0, "help")
    assert fraction.parse("25%") == 0.25 and fraction.parse(1) == 1.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        fraction.parse(2)
    duration = Param("d", "delay", "duration", 0.0, "help")
    assert duration.parse("1m30s") == 90
    choice = Param("m", "mode", "choice", "error", "help", ("error", "silent"))
    with pytest.raises(ValueError, match="expected one of error, silent"):
        choice.parse("loud")


def test_schedule_times_repeat_until_the_end() -> None:
    scheduled = ScheduledFault(PodKill(), at=10, every=30)
    assert scheduled.times(100) == [10, 40, 70]
    assert ScheduledFault(PodKill(), at=200).times(100) == []


@pytest.mark.kubechaos(seed=1)
async def test_pod_kill_deletes_one_matching_pod_and_the_deployment_replaces_it(
    kubechaos: Harness,
) -> None:
    cluster = await kubechaos.boot(nodes=3)
    await kubechaos.apply([deployment("web", 3), service("web")])
    await kubechaos.wait_for(lambda: len(ready_pods(cluster)) == 3, timeout=60, what="3 ready pods")
    before = {p.metadata.name for p in pods(cluster)}
    kill = PodKill(
        name="kill-web",
        target=Target(namespace="default", label_selector={"app": "web"}, mode="one"),
        grace_period=0,
    )
    injection = await kubechaos.inject(kill)
    assert len(injection.targets) == 1
    victim = injection.targets[0].split("/")[1]
    assert victim in before
    await kubechaos.wait_for(
        lambda: victim not in {p.metadata.name for p in pods(cluster)}, timeout=5, what="gone"
    )
    await kubechaos.wait_for(
        lambda: len(ready_pods(cluster)) == 3, timeout=60, what="a replacement"
    )
    assert available(cluster) == 3
    injected = kubechaos.events(reason="FaultInjected")
    assert injected and injected[0].object == "kill-web"
    assert injected[0].fields == {
        "type": "pod-kill",
        "targets": [f"default/{victim}"],
        "lasting": False,
    }
    # The deletion went through the API server as the chaos tool's client.
    assert kubechaos.api.stats.total[("delete", "pods", 200)] == 1
    assert await kubechaos.recovery("kill-web") < 30


async def test_a_fault_whose_target_matches_nothing_fails_to_inject() -> None:
    """Chaos Mesh refuses a selector that matches no pod ("cannot generate pods from empty
    list", pkg/selector/pod/selector.go); an injection that hit nothing measures nothing, so it
    is a FaultFailed event, never a recovery of 0 s."""
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        assert await chaos.inject(PodKill(target=Target(names=("nope",)))) is None
        assert await chaos.inject(NodeCrash(target=Target(label_selector={"app": "web"}))) is None
        assert not cluster.events.find(reason="FaultInjected")
        failed = [e.message for e in cluster.events.find(reason="FaultFailed")]
        assert failed == [
            "pod-kill could not be injected: its target matched no pod (names=nope all)",
            "node-crash could not be injected: its target matched no node (app=web all)",
        ]
        assert chaos.injections == []


async def test_schedule_injects_on_time_and_reverts_after_the_duration() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        schedule = [ScheduledFault(NetworkDelay(name="k", latency=0.1), at=5, every=10)]
        with trio.move_on_after(30):
            await run_schedule(chaos, schedule, end=30)
        times = [round(e.time) for e in cluster.events.find(reason="FaultInjected")]
        assert times == [5, 15, 25]
