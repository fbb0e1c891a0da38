from __future__ import annotations

import random

import pytest

from kubechaos.defaults import Settings
from kubechaos.node.runtime import ContainerRuntime


def runtime(seed: int = 0, **settings: float) -> ContainerRuntime:
    return ContainerRuntime(Settings(**settings), random.Random(seed), "n1")  # type: ignore[arg-type]


def test_latencies_are_jittered_around_the_settings() -> None:
    rt = runtime()
    s = rt.settings
    for _ in range(50):
        assert (
            0.5 * s.sandbox_create_seconds
            <= rt.sandbox_duration()
            <= 1.5 * s.sandbox_create_seconds
        )
        assert (
            0.5 * s.container_create_seconds
            <= rt.create_duration()
            <= 1.5 * s.container_create_seconds
        )
        assert (
            0.5 * s.container_start_seconds
            <= rt.start_duration()
            <= 1.5 * s.container_start_seconds
        )
        assert 0.5 * s.image_pull_seconds <= rt.pull_duration("a") <= 1.5 * s.image_pull_seconds


def test_same_stream_same_durations() -> None:
    a, b = runtime(seed=7), runtime(seed=7)
    assert [a.sandbox_duration() for _ in range(5)] == [b.sandbox_duration() for _ in range(5)]


def test_slow_factor_stretches_every_latency() -> None:
    fast, slow = runtime(seed=3), runtime(seed=3)
    slow.slow_factor = 4.0
    assert slow.create_duration() == pytest.approx(4 * fast.create_duration())
    assert slow.pull_duration("x") == pytest.approx(4 * fast.pull_duration("x"))


def test_image_is_pulled_once_then_cached() -> None:
    rt = runtime()
    ticket = rt.request_pull("nginx:1.27", at=10.0)
    assert (
        ticket.ok and ticket.pulled and ticket.done_at == pytest.approx(10.0 + ticket.pull_seconds)
    )
    assert not rt.has_image("nginx:1.27")
    # a second request while the pull runs joins it
    assert rt.request_pull("nginx:1.27", at=10.5) == ticket
    assert rt.finish_pull("nginx:1.27", ticket.done_at)
    assert rt.has_image("nginx:1.27") and rt.pull_duration("nginx:1.27") == 0.0
    cached = rt.request_pull("nginx:1.27", at=20.0)
    assert cached.done_at == 20.0 and not cached.pulled
    assert rt.pulls_total == 1


def test_pulls_are_serialized_per_node() -> None:
    rt = runtime()
    first = rt.request_pull("a", at=0.0)
    second = rt.request_pull("b", at=0.1)
    assert second.done_at == pytest.approx(first.done_at + second.pull_seconds)


def test_an_unclaimed_pull_lands_by_itself() -> None:
    rt = runtime()
    ticket = rt.request_pull("a", at=0.0)
    assert rt.request_pull("a", at=ticket.done_at + 1).pulled is False
    assert rt.has_image("a")


def test_failing_pulls_leave_no_image() -> None:
    rt = runtime()
    rt.image_pull_fails = True
    ticket = rt.request_pull("a", at=0.0)
    assert not ticket.ok
    assert not rt.finish_pull("a", ticket.done_at)
    rt.image_pull_fails = False
    retry = rt.request_pull("a", at=ticket.done_at + 10)
    assert retry.ok and rt.finish_pull("a", retry.done_at)


def test_containers_and_sandboxes_and_reboot() -> None:
    rt = runtime()
    rt.run_pod_sandbox("uid-1", "10.0.0.2")
    cid = rt.create_container("uid-1", "app", "a", attempt=0)
    assert rt.containers[cid].state == "created" and rt.running_containers() == 0
    rt.start_container(cid, 1.0)
    assert rt.running_containers() == 1
    rt.container_exited(cid, 5.0, 1)
    assert rt.containers[cid].exit_code == 1 and rt.running_containers() == 0
    other = rt.create_container("uid-1", "app", "a", attempt=1)
    assert other != cid
    ticket = rt.request_pull("img", at=0.0)
    rt.finish_pull("img", ticket.done_at)
    rt.forget_workloads()
    assert not rt.containers and not rt.sandboxes
    assert rt.has_image("img")  # images survive a reboot on the node's disk
