"""Honest traffic outcomes: a request that kube-proxy routes to a pod is answered by the pod's
processes, as in a real cluster, not by the kubelet's verdict about them.

Upstream, probes notice a failing process only after ``failureThreshold`` x ``periodSeconds``
(pkg/kubelet/prober/worker.go: a result changes after that many consecutive failures), the
Endpoints controller then drops the pod (pkg/controller/endpoint/endpoints_controller.go:
``podutil.IsPodReady``), and kube-proxy a sync later (pkg/proxy/iptables/proxier.go). Until
then packets keep reaching the process, and the client sees what the process does: a deadlocked
server accepts the TCP connection (the kernel does) and never answers, so the client times out;
a server whose readiness check fails answers with errors; a process not yet listening or gone
refuses (RST). After SIGTERM a process keeps serving until it exits, unless it closes its
listener first (https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/ and
https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination: the kubelet
only signals; the process decides).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from kubechaos.api.objects import Pod, Probe
from kubechaos.cluster import Cluster
from kubechaos.defaults import BEHAVIOUR_ANNOTATION
from kubechaos.node.behaviour import HUNG, SERVING, STARTING, UNREADY, parse_behaviour
from kubechaos.traffic import TrafficGenerator, TrafficSpec
from tests.golden import run_of

from .factories import pod, service
from .harness import running, wait_until

PROBE = Probe(period_seconds=10, failure_threshold=3)  # upstream's defaults: 30 s to notice
NODES = ("worker-0", "worker-1", "worker-2")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def web_pod(i: int, behaviour: str = "serve", grace: int = 30) -> Pod:
    return pod(
        f"web-{i}",
        labels={"app": "web"},
        annotations={BEHAVIOUR_ANNOTATION: behaviour},
        readiness=PROBE,
        liveness=PROBE,
        node_name=NODES[i],
        termination_grace_period_seconds=grace,
    )


def live(cluster: Cluster, name: str) -> Pod | None:
    return cluster.api.cache("pods").get(f"/registry/pods/default/{name}")


def started_at(cluster: Cluster, name: str) -> float:
    p = live(cluster, name)
    assert p is not None and p.status.container_statuses
    at = p.status.container_statuses[0].started_at
    assert at is not None
    return at


@asynccontextmanager
async def web_with_traffic(
    behaviour: str, grace: int = 30
) -> AsyncIterator[tuple[Cluster, TrafficGenerator]]:
    """Three web pods, one per node (``web-0`` with ``behaviour``), behind Service ``web``, with
    30 requests/s from every node once all are ready."""
    async with running(nodes=3) as cluster:
        await cluster.apply([web_pod(0, behaviour, grace), web_pod(1), web_pod(2), service("web")])
        await wait_until(
            lambda: all((p := live(cluster, f"web-{i}")) and p.is_ready() for i in range(3)),
            120,
            "three ready web pods",
        )
        await trio.sleep(3)  # kube-proxy has synced them
        traffic = TrafficGenerator(
            cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=30)]
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(traffic.run)
            yield cluster, traffic
            nursery.cancel_scope.cancel()


def outcomes(traffic: TrafficGenerator) -> dict[str, int]:
    found: dict[str, int] = {}
    for (_, _, _, outcome), n in traffic.stats.requests.items():
        found[outcome] = found.get(outcome, 0) + n
    return found


async def test_a_hung_container_times_out_from_the_moment_it_hangs_until_it_is_dropped() -> None:
    """``liveness-fail-after=60s``: from 60 s on the process is deadlocked. Every request
    routed to it times out at once (the client waits ``request_timeout_seconds``), not only once
    the probes notice: upstream's liveness and readiness probes need ``failureThreshold`` (3)
    failures ``periodSeconds`` (10) apart (pkg/kubelet/prober/worker.go), then the Endpoints
    controller and kube-proxy drop it. Before this model, those requests succeeded until the
    readiness probe failed and were ``not_ready`` after."""
    async with web_with_traffic("liveness-fail-after=60s") as (cluster, traffic):
        hung_ip = live(cluster, "web-0").status.pod_ip  # type: ignore[union-attr]
        hangs_at = started_at(cluster, "web-0") + 60
        await trio.sleep_until(hangs_at - 0.5)
        assert outcomes(traffic) == {"success": traffic.stats.latency_count[("default", "web")]}
        await trio.sleep(2)
        first = traffic.stats.first_failure("default", "web")
        assert first is not None and hangs_at - 1 <= first <= hangs_at + 1, "fails as it hangs"
        unhealthy = cluster.events.find(reason="Unhealthy", obj="default/web-0")
        assert not unhealthy, "the probes have not noticed yet"
        await trio.sleep(60)  # the kubelet kills it, restarts it; kube-proxy dropped it
        got = outcomes(traffic)
        assert got.get("timeout", 0) > 50
        assert "not_ready" not in got
        assert traffic.stats.failed_by_ip[hung_ip] == got["timeout"] + got.get(
            "connection_refused", 0
        )
        # the client pays its timeout for each
        timeout = cluster.ctx.settings.request_timeout_seconds
        assert traffic.stats.latency_sum[("default", "web")] >= got["timeout"] * timeout


async def test_failing_readiness_answers_not_ready_while_it_is_still_routed_to() -> None:
    """``readiness-fail-after=60s``: the process answers errors (``not_ready``) from 60 s on,
    for every request kube-proxy still sends it, until the readiness probe (3 x 10 s,
    pkg/kubelet/prober/worker.go) takes it out of the Endpoints and kube-proxy resyncs; then
    the failures stop although the process still fails readiness."""
    async with web_with_traffic("readiness-fail-after=60s") as (cluster, traffic):
        ip = live(cluster, "web-0").status.pod_ip  # type: ignore[union-attr]
        fails_at = started_at(cluster, "web-0") + 60
        await trio.sleep_until(fails_at + 60)
        got = outcomes(traffic)
        assert set(got) == {"success", "not_ready"} and got["not_ready"] > 50
        assert traffic.stats.failed_by_ip[ip] == got["not_ready"]
        first = traffic.stats.first_failure("default", "web")
        last = traffic.stats.last_failure("default", "web")
        assert first is not None and fails_at - 1 <= first <= fails_at + 1
        assert last is not None and last <= fails_at + 35, "out of the rules once unready"
        assert not live(cluster, "web-0").is_ready()  # type: ignore[union-attr]


async def test_a_process_that_serves_while_unready_keeps_answering() -> None:
    """``serves-while-unready``: a readiness check that fails on something the requests do not
    need (a dependency's health): the pod leaves the Service as upstream does, but the requests
    that still reach it meanwhile succeed."""
    async with web_with_traffic("readiness-fail-after=60s,serves-while-unready") as (
        cluster,
        traffic,
    ):
        await trio.sleep_until(started_at(cluster, "web-0") + 120)
        assert set(outcomes(traffic)) == {"success"}
        assert not live(cluster, "web-0").is_ready()  # type: ignore[union-attr]


async def _delete_behind_frozen_proxies(cluster: Cluster) -> tuple[str, float]:
    """Freeze every kube-proxy (its routes go stale: the terminating pod stays routed to), then
    delete ``web-0``; its IP and the deletion time."""
    ip = live(cluster, "web-0").status.pod_ip  # type: ignore[union-attr]
    for node in NODES:
        cluster.proxies.proxy(node).freeze()
    deleted_at = trio.current_time()
    await cluster.api.delete("pods", "default", "web-0")
    return ip, deleted_at


async def test_after_sigterm_a_container_serves_until_it_exits() -> None:
    """``shutdown=20s``: SIGTERM at deletion, the process exits 20 s later (within the 30 s
    grace period). Requests that stale routes still send it succeed until it exits, then are
    refused (nothing listens; the sandbox and its IP are gone)."""
    async with web_with_traffic("shutdown=20s") as (cluster, traffic):
        await trio.sleep(10)
        ip, deleted_at = await _delete_behind_frozen_proxies(cluster)
        await trio.sleep(19)
        assert ip not in traffic.stats.failed_by_ip, "it serves while it shuts down"
        await trio.sleep(10)
        assert traffic.stats.failed_by_ip[ip] > 0
        assert set(outcomes(traffic)) == {"success", "connection_refused"}
        first = traffic.stats.first_failure("default", "web")
        assert first is not None and first >= deleted_at + 19


async def test_a_container_that_closes_on_sigterm_refuses_at_once() -> None:
    """``closes-on-term``: the process closes its listener on SIGTERM: requests reaching it
    during its 20 s shutdown are refused from the deletion on."""
    async with web_with_traffic("shutdown=20s,closes-on-term") as (cluster, traffic):
        await trio.sleep(10)
        ip, deleted_at = await _delete_behind_frozen_proxies(cluster)
        await trio.sleep(5)
        assert traffic.stats.failed_by_ip[ip] > 0
        assert set(outcomes(traffic)) == {"success", "connection_refused"}
        first = traffic.stats.first_failure("default", "web")
        assert first is not None and deleted_at - 1 <= first <= deleted_at + 1


@pytest.mark.parametrize(
    ("text", "t", "expected"),
    [
        ("startup=5s", 1.0, (STARTING, 5.0)),
        ("startup=5s", 5.0, (SERVING, math.inf)),
        ("startup=5s,liveness-fail-after=30s", 6.0, (SERVING, 30.0)),
        ("liveness-fail-after=30s", 30.0, (HUNG, math.inf)),
        ("readiness-fail-after=10s,readiness-fail-for=5s", 11.0, (UNREADY, 15.0)),
        ("readiness-fail-after=10s,readiness-fail-for=5s", 15.0, (SERVING, math.inf)),
        ("readiness-fail-after=10s,serves-while-unready", 11.0, (SERVING, math.inf)),
    ],
)
def test_a_behaviour_says_what_a_request_meets_and_until_when(
    text: str, t: float, expected: tuple[str, float]
) -> None:
    """The answer is piecewise constant with the behaviour's own breakpoints, which is what
    lets the endpoint cache it: a request costs one comparison, not a look at the pod."""
    assert parse_behaviour(text).answer(t) == expected


async def test_the_answer_is_cached_until_the_behaviour_or_the_kubelet_changes_it() -> None:
    """The per-request lookup is O(1): the endpoint keeps its answer until the time the
    behaviour said it holds, and the kubelet invalidates it on a container change."""
    async with web_with_traffic("liveness-fail-after=60s") as (cluster, _):
        endpoint = cluster.network.lookup(live(cluster, "web-0").status.pod_ip)  # type: ignore[union-attr,arg-type]
        assert endpoint is not None
        first_start = started_at(cluster, "web-0")
        await trio.sleep(1)
        assert endpoint.answer == "success"
        assert endpoint.answer_until == pytest.approx(first_start + 60)
        await trio.sleep_until(first_start + 61)
        assert endpoint.answer == "timeout" and endpoint.answer_until == math.inf
        # the liveness probe kills it; the restarted process serves again (same IP)
        await wait_until(lambda: started_at(cluster, "web-0") > first_start, 60, "a restart")
        await trio.sleep(1)
        assert endpoint.answer == "success"
        assert endpoint.answer_until == pytest.approx(started_at(cluster, "web-0") + 60)


def test_the_hung_container_scenario_times_out_from_each_hang_until_readiness_drops_it() -> None:
    """scenarios/hung-container.yaml: one of three pods deadlocks 3 min after each start. Its
    requests time out from the hang until the readiness probe (periodSeconds 5, failureThreshold
    3: 10 s) takes it out of the Endpoints and kube-proxy resyncs; none is answered
    ``not_ready`` (a hung server answers nothing), and the liveness probe restarts it."""
    run = run_of("hung-container")
    stats = run.traffic.stats
    starts = [e.time for e in run.events.find(reason="Started", obj="default/web-legacy")]
    unready = [
        e.time
        for e in run.events.find(reason="Unhealthy", obj="default/web-legacy")
        if e.message.startswith("Readiness")
    ]
    hangs = [start + 180 for start in starts if start + 180 < run.scenario.duration]
    assert len(hangs) == 3 and len(unready) == 2  # the third hang is at the end of the run
    assert stats.count("default", "frontend", "not_ready") == 0
    assert stats.count("default", "frontend", "timeout") > 150
    failing = {s for s, _, failed in stats.timeline("default", "frontend") if failed and s > 10}
    windows = [
        (math.floor(hang), next((d for d in unready if d >= hang), run.scenario.duration))
        for hang in hangs
    ]
    for first, dropped in windows:
        if first + 5 >= run.scenario.duration:
            continue  # a hang in the run's last seconds: its requests time out after the end
        assert first in failing, "timeouts from the second it hangs"
        assert dropped - first <= 11, "until the readiness probe notices (3 x 5 s)"
    assert all(any(first <= s <= dropped + 1 for first, dropped in windows) for s in failing)
