"""Kubelet timing that shapes recovery: readiness after a kubelet restart, the pod workers'
back-off re-sync, PLEG's relist.

Upstream: pkg/kubelet/prober/worker.go and prober_manager.go (a new worker's first result),
pkg/kubelet/pod_workers.go, pkg/kubelet/pleg/generic.go.
"""

from __future__ import annotations

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
