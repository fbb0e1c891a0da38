"""Kubelet timing that shapes recovery: readiness after a kubelet restart, the pod workers'
back-off re-sync, PLEG's relist.

Upstream: pkg/kubelet/prober/worker.go and prober_manager.go (a new worker's first result),
pkg/kubelet/pod_workers.go, pkg/kubelet/pleg/generic.go.
"""

from __future__ import annotations

import pytest
import trio

from kubechaos.api.objects import Probe
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now

from .harness import wait_until
from .test_kubelet import (
    WAIT_STEP,
    WAIT_TIMEOUT,
    behaving,
    must,
    node_config,
    plane,
    ready,
    start,
    times,
)


async def test_a_restarted_kubelet_holds_readiness_false_until_the_next_successful_probe() -> None:
    """prober/worker.go: a readiness worker's initial result is Failure, and a restarted
    kubelet's prober starts empty; the status it posts says not Ready (the Endpoints controller
    takes the pod out of service) until the first successful probe after the restart, even
    though the container never stopped."""
    ctx, net = await plane()
    config = node_config()
    runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), config.name)
    probe = Probe(period_seconds=10)
    async with trio.open_nursery() as nursery:
        _, scope = start(nursery, ctx, net, config, runtime)
        await ctx.api.create(behaving("web", "serve", readiness=probe))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        s = times(ctx, "Started", "web")[0]
        ip = must(ctx, "web").status.pod_ip
        await trio.sleep(s + 22 - now())
        scope.cancel()  # the kubelet process stops; the runtime and its containers go on
        await trio.sleep(1)
        start(nursery, ctx, net, config, runtime)
        await trio.sleep(s + 29.5 - now())
        assert not ready(ctx, "web") and not net.serving(ip)
        (cs,) = must(ctx, "web").status.container_statuses
        assert cs.state == "running" and cs.restart_count == 0
        await trio.sleep(s + 31 - now())  # the readiness tick at +30 succeeds
        assert ready(ctx, "web") and net.serving(ip)
        nursery.cancel_scope.cancel()


async def crash_loop(seed: int) -> tuple[list[float], list[float], list[float], float]:
    """Start, PLEG-seen death and restart times of a container crashing 5 s after each start,
    and when the kubelet started."""
    ctx, net = await plane(seed)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(behaving("web", "crash-after=5s"))
        await trio.sleep(400)
        nursery.cancel_scope.cancel()
    started = times(ctx, "Started", "web")
    died = times(ctx, "ContainerDied", "web")
    restarted = times(ctx, "Pulled", "web", "already present")
    (kubelet_start,) = [e.time for e in ctx.events.find(reason="Starting")]
    return started, died, restarted, kubelet_start


async def test_pleg_sees_an_exit_at_its_next_relist() -> None:
    """pkg/kubelet/pleg/generic.go: the kubelet learns of an exit at the next relist, every
    genericPlegRelistPeriod = 1 s from the kubelet's start; the recorded finish time is the
    runtime's, and the first restart follows the relist (no back-off yet)."""
    started, died, restarted, kubelet_start = await crash_loop(1)
    exit_at = started[0] + 5
    assert exit_at <= died[0] < exit_at + 1
    since_start = died[0] - kubelet_start
    assert since_start == pytest.approx(round(since_start))  # on the relist grid
    assert restarted[0] == pytest.approx(died[0])


async def test_crash_loop_restarts_land_on_the_pod_workers_jittered_re_syncs() -> None:
    """pod_workers.go completeWork: a sync failing in CrashLoopBackOff is retried after
    wait.Jitter(10 s, 0.5), uniform in [10 s, 15 s) (kubelet.go backOffPeriod,
    workerBackOffPeriodJitterFactor; kubernetes#123602). Each restart comes at the first retry
    after the back-off (10, 20, 40, 80, 160 s from the exit) expired: never before it, less than
    15 s after, and not all on the expiry. The same seed replays the same times."""
    started, died, restarted, origin = await crash_loop(1)
    late = []
    for i, backoff in enumerate((10, 20, 40, 80, 160), start=1):
        exit_at = started[i] + 5
        wait = restarted[i] - exit_at
        assert backoff <= wait < backoff + 15 + 1, (i, wait)
        late.append(wait - backoff)
    assert max(late) > 1

    def relative(run: tuple[list[float], list[float], list[float], float]) -> list[float]:
        return [round(t - run[3], 6) for t in run[2]]

    first = relative((started, died, restarted, origin))
    assert relative(await crash_loop(1)) == first
    assert relative(await crash_loop(2)) != first
