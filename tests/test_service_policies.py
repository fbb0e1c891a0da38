"""A Service's routing policies, as kube-proxy (iptables mode) applies them on each node.

Sources: pkg/proxy/iptables/proxier.go (``syncProxyRules``: a Service with endpoints but none
usable for internal traffic gets a DROP rule, "has no local endpoints"; with no endpoints at
all, REJECT; ``writeServiceToEndpointRules``: ClientIP affinity's ``-m recent --rcheck
--seconds <timeout> --reap`` before the random pick, ``--set`` in each endpoint chain),
pkg/proxy/topology.go (``CategorizeEndpoints``: ``internalTrafficPolicy: Local`` uses only the
endpoints on the proxy's node), https://kubernetes.io/docs/concepts/services-networking/
service-traffic-policy/ and https://kubernetes.io/docs/reference/networking/virtual-ips/
#session-affinity, and the API's validation and defaults (pkg/apis/core/validation/
validation.go ``ValidateService``; pkg/apis/core/v1/defaults.go: timeout 10800 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.modelled import unmodelled_fields
from kubechaos.api.objects import Pod, Service, ServiceRouting
from kubechaos.cluster import Cluster
from kubechaos.traffic import TrafficGenerator, TrafficSpec
from tests.golden import run_of

from .factories import pod, service
from .harness import running, wait_until

NODES = ("worker-0", "worker-1", "worker-2")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def web_pod(i: int, node: str) -> Pod:
    return pod(f"web-{i}", labels={"app": "web"}, node_name=node)


def routed(routing: ServiceRouting) -> Service:
    svc = service("web")
    return attrs.evolve(svc, spec=attrs.evolve(svc.spec, routing=routing))


def ips(cluster: Cluster) -> dict[str, str]:
    """pod name -> IP of the running web pods."""
    return {
        p.metadata.name: p.status.pod_ip
        for p in cluster.api.cache("pods").list("default")
        if p.status.pod_ip and p.metadata.deletion_timestamp is None
    }


def served(cluster: Cluster) -> dict[str, int]:
    """pod name -> requests it answered."""
    out = {}
    for name, ip in ips(cluster).items():
        endpoint = cluster.network.lookup(ip)
        out[name] = endpoint.served if endpoint is not None else 0
    return out


@asynccontextmanager
async def cluster_with(pods: list[Pod], svc: Service) -> AsyncIterator[Cluster]:
    async with running(nodes=3) as cluster:
        await cluster.apply([*pods, svc])
        await wait_until(
            lambda: (
                sum(1 for p in cluster.api.cache("pods").list("default") if p.is_ready())
                == len(pods)
            ),
            120,
            "ready web pods",
        )
        await trio.sleep(3)  # kube-proxy has synced them
        yield cluster


async def send(cluster: Cluster, specs: list[TrafficSpec], seconds: float) -> TrafficGenerator:
    traffic = TrafficGenerator(cluster.ctx, cluster.proxies, cluster.network, specs)
    with trio.move_on_after(seconds):
        await traffic.run()
    return traffic


# ------------------------------------------------------------------ internalTrafficPolicy


async def test_internal_traffic_policy_local_routes_only_to_the_clients_node() -> None:
    """``internalTrafficPolicy: Local``: each node's kube-proxy routes the cluster IP only to the
    endpoints on its own node (pkg/proxy/topology.go); a node with none DROPs the packets
    ("has no local endpoints", pkg/proxy/iptables/proxier.go), so its clients time out, while
    with ``Cluster`` they would have been balanced to the other nodes."""
    local = routed(ServiceRouting(internal_traffic_policy="Local"))
    async with cluster_with([web_pod(0, "worker-0"), web_pod(1, "worker-1")], local) as cluster:
        traffic = await send(cluster, [TrafficSpec("web", rate=30)], 20)
        stats = traffic.stats
        assert stats.count("default", "web", "success", "worker-0") == 200
        assert stats.count("default", "web", "success", "worker-1") == 200
        assert stats.count("default", "web", "timeout", "worker-2") == 200
        assert served(cluster) == {"web-0": 200, "web-1": 200}, "never crosses nodes"
        timeout = cluster.ctx.settings.request_timeout_seconds
        assert stats.latency_sum[("default", "web")] >= 200 * timeout


async def test_local_policy_with_no_endpoints_anywhere_still_rejects() -> None:
    """A Local Service with no endpoints at all gets upstream's REJECT, as any Service does
    (``no_endpoints``: refused at once), not the DROP of a node without local ones."""
    local = routed(ServiceRouting(internal_traffic_policy="Local"))
    async with cluster_with([], local) as cluster:
        traffic = await send(cluster, [TrafficSpec("web", rate=30)], 10)
        assert {k[3] for k in traffic.stats.requests} == {"no_endpoints"}


async def test_cluster_policy_balances_across_nodes() -> None:
    """The default ``Cluster`` policy: every node routes to every endpoint (the DROP above is
    the Local policy's doing)."""
    async with cluster_with([web_pod(0, "worker-0"), web_pod(1, "worker-1")], service("web")) as (
        cluster
    ):
        traffic = await send(cluster, [TrafficSpec("web", rate=30, source_nodes=("worker-2",))], 10)
        assert traffic.stats.count("default", "web", "success") == 300
        assert all(n > 100 for n in served(cluster).values())


# ------------------------------------------------------------------ sessionAffinity


async def test_client_ip_affinity_keeps_a_client_on_one_endpoint_until_it_leaves() -> None:
    """``sessionAffinity: ClientIP``: a client (one flow's client on one node) keeps the
    endpoint it first got while that endpoint stays in the rules (``-m recent --rcheck``);
    when it leaves, the client is balanced anew and sticks to its new endpoint."""
    sticky = routed(ServiceRouting(session_affinity="ClientIP"))
    pods = [web_pod(i, node) for i, node in enumerate(NODES)]
    async with cluster_with(pods, sticky) as cluster:
        spec = TrafficSpec("web", rate=20, source_nodes=("worker-0",))
        traffic = TrafficGenerator(cluster.ctx, cluster.proxies, cluster.network, [spec])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(traffic.run)
            await trio.sleep(30)
            first = served(cluster)
            counts = sorted(first.values())
            assert counts[:2] == [0, 0] and counts[2] >= 590, "one endpoint took every request"
            chosen = max(first, key=lambda name: first[name])
            await cluster.api.delete("pods", "default", chosen)
            await trio.sleep(30)  # it leaves the Endpoints, kube-proxy resyncs
            before = {k: v for k, v in served(cluster).items() if k != chosen}
            await trio.sleep(20)
            after = {k: v - before[k] for k, v in served(cluster).items() if k in before}
            assert sorted(after.values()) == [0, 400], "a new endpoint, kept"
            nursery.cancel_scope.cancel()


async def test_affinity_expires_after_timeout_seconds_without_a_connection() -> None:
    """``sessionAffinityConfig.clientIP.timeoutSeconds``: the affinity holds while the client
    connects again within the timeout (xt_recent's ``--seconds``, measured from its last
    connection); a client that connects every 10 s keeps its endpoint with a 20 s timeout and
    is balanced afresh each time with a 5 s one."""
    pods = [web_pod(i, node) for i, node in enumerate(NODES)]
    for timeout, endpoints_used in ((20, 1), (5, 3)):
        sticky = routed(ServiceRouting(session_affinity="ClientIP", affinity_timeout=timeout))
        async with cluster_with(pods, sticky) as cluster:
            spec = TrafficSpec("web", rate=0.1, source_nodes=("worker-0",))
            await send(cluster, [spec], 300)
            used = [name for name, n in served(cluster).items() if n]
            assert len(used) == endpoints_used, f"timeoutSeconds={timeout}"


async def test_two_clients_on_one_node_are_two_client_ips() -> None:
    """Two flows from one node are two clients: each keeps its own endpoint (with a fixed seed
    they land on different ones here), every request of each on one."""
    sticky = routed(ServiceRouting(session_affinity="ClientIP"))
    pods = [web_pod(i, node) for i, node in enumerate(NODES)]
    async with cluster_with(pods, sticky) as cluster:
        specs = [TrafficSpec("web", rate=10, source_nodes=("worker-1",)) for _ in range(2)]
        await send(cluster, specs, 20)
        counts = sorted(served(cluster).values())
        assert sum(counts) == 400 and counts.count(0) >= 1
        assert all(n in (0, 200, 400) for n in counts)


# ------------------------------------------------------------------ the manifest


def svc_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }


def test_the_routing_fields_are_read_with_upstream_defaults() -> None:
    """Read as the API server defaults them (pkg/apis/core/v1/defaults.go): Cluster, None, and
    a ClientIP affinity without a config times out after 10800 s (3 hours)."""
    plain = read_manifest(svc_doc())
    assert isinstance(plain, Service) and plain.spec.routing == ServiceRouting()
    sticky = read_manifest(svc_doc(sessionAffinity="ClientIP", internalTrafficPolicy="Local"))
    assert isinstance(sticky, Service)
    assert sticky.spec.routing.local and sticky.spec.routing.client_ip
    assert sticky.spec.routing.timeout_seconds == 10800
    short = read_manifest(
        svc_doc(
            sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
        )
    )
    assert isinstance(short, Service) and short.spec.routing.timeout_seconds == 60
    fields = svc_doc(
        sessionAffinity="ClientIP",
        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
        internalTrafficPolicy="Local",
        externalTrafficPolicy="Local",
    )
    assert unmodelled_fields(fields) == [], "read, or silent for external traffic"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}},
            },
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be "
            "greater than 0 and less than 86400",
        ),
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}},
            },
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401",
        ),
        (
            {"sessionAffinity": "Sticky"},
            'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", '
            '"None"',
        ),
        (
            {"internalTrafficPolicy": "Nearby"},
            'spec.internalTrafficPolicy: Unsupported value: "Nearby": supported values: '
            '"Cluster", "Local"',
        ),
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": "1h"}},
            },
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: expected an integer",
        ),
    ],
)
def test_invalid_routing_fields_are_one_located_error(spec: dict[str, Any], error: str) -> None:
    """As upstream's ``ValidateService``: timeoutSeconds 1..86400 with ClientIP
    (``validateClientIPAffinityConfig``, ``validateAffinityTimeout``); the policies' values
    from their supported sets. (A config beside affinity None is cleared by defaulting before
    validation: tests/test_service_defaults.py.)"""
    with pytest.raises(ManifestError) as exc:
        read_manifest(svc_doc(**spec))
    assert any(f"{e.dotted()}: {e.message}".startswith(error) for e in exc.value.errors), (
        exc.value.errors
    )
    assert "\n" not in str(exc.value)


def test_timeout_of_a_client_ip_service_is_valid_at_the_bounds() -> None:
    for timeout in (1, 86400):
        svc = read_manifest(
            svc_doc(
                sessionAffinity="ClientIP",
                sessionAffinityConfig={"clientIP": {"timeoutSeconds": timeout}},
            )
        )
        assert isinstance(svc, Service) and svc.spec.routing.timeout_seconds == timeout


def test_the_service_traffic_policies_scenario() -> None:
    """scenarios/service-traffic-policies.yaml: after the kill of one node's cache pod, only
    that node's clients fail, and they time out (kube-proxy's DROP for a Local Service without
    a local endpoint, pkg/proxy/iptables/proxier.go), until the DaemonSet's replacement is
    Ready; the web Service's three clients all pin to the first pod that was Ready
    (ClientIP affinity never rebalances a client that keeps connecting)."""
    run = run_of("service-traffic-policies")
    stats = run.traffic.stats
    (injected,) = [
        e for e in run.events.find(reason="FaultInjected") if e.object == "kill-one-cache-pod"
    ]
    killed = injected.message.split("(")[1].rstrip(")")
    (killed_node,) = {
        e.message.split(" to ")[1] for e in run.events.find(reason="Scheduled", obj=killed)
    }
    failures = {
        (src, outcome): n
        for (_, svc, src, outcome), n in stats.requests.items()
        if svc == "cache" and outcome not in ("success", "no_endpoints")
    }
    assert failures.get((killed_node, "timeout"), 0) > 30
    others = {k: n for k, n in failures.items() if k[0] != killed_node}
    assert sum(others.values()) < 10, "the other nodes only dropped while booting"
    web_served = {
        e.pod: e.served for e in run.cluster.network.endpoints() if e.pod.startswith("default/web")
    }
    assert sorted(web_served.values())[:-1] == [0] * (len(web_served) - 1), web_served
    assert stats.count("default", "web", "success") == max(web_served.values())
