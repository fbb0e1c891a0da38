"""kube-scheduler's NodePorts filter, as upstream v1.32 runs it.

Upstream sources: ``pkg/scheduler/framework/plugins/nodeports/node_ports.go`` (PreFilter:
``getContainerPorts``, the host ports of the regular containers, the plugin skipped for a pod
without any; Filter: ``fitsPorts`` fails a node with ``ErrReason``; EventsToRegister: a deleted
pod whose ports conflict requeues the pod, ``isSchedulableAfterPodDeleted``),
``pkg/scheduler/framework/types.go`` (``HostPortInfo``: sanitize, then ``CheckConflict``: 0.0.0.0
conflicts with every IP's use of the protocol and port, an IP with its own and 0.0.0.0's),
``pkg/scheduler/apis/config/v1/default_plugins.go`` (NodePorts in the default profile) and
``pkg/scheduler/framework/types.go`` ``FitError.Error`` (the FailedScheduling message).
"""

from __future__ import annotations

from typing import Any

import attrs

from kubechaos.api.objects import (
    Container,
    ContainerPort,
    ObjectMeta,
    Pod,
    PodSpec,
    PriorityClass,
    Resources,
)
from kubechaos.cluster import Cluster

from .factories import deployment
from .harness import pods, running, wait_until

PORTS_REASON = "node(s) didn't have free ports for the requested pod ports"


def fit_error(nodes: int) -> str:
    """FitError.Error for ``nodes`` nodes all rejected by NodePorts, when no pod has a lower
    priority (SelectVictimsOnNode in defaultpreemption/default_preemption.go)."""
    return (
        f"0/{nodes} nodes are available: {nodes} {PORTS_REASON}. preemption: 0/{nodes} nodes "
        f"are available: {nodes} No preemption victims found for incoming pod."
    )


def with_ports(*ports: ContainerPort) -> Container:
    return Container("app", "nginx:1.27", requests=Resources(100, 2**20), ports=ports)


def port_pod(name: str, *ports: ContainerPort) -> Pod:
    return Pod(ObjectMeta(name=name), PodSpec(containers=(with_ports(*ports),)))


def phase(cluster: Cluster, name: str) -> str:
    pod = cluster.api.cache("pods").get(f"/registry/pods/default/{name}")
    return pod.status.phase if pod is not None else ""


def failed_scheduling(cluster: Cluster, name: str) -> list[str]:
    return [
        e.message for e in cluster.events.find(reason="FailedScheduling", obj=f"default/{name}")
    ]


async def all_running(cluster: Cluster, *names: str) -> None:
    await wait_until(
        lambda: all(phase(cluster, n) == "Running" for n in names), 60, f"{names} running"
    )


async def unschedulable(cluster: Cluster, name: str) -> list[str]:
    """The FailedScheduling messages of a pod the scheduler could not place (still unbound)."""
    await wait_until(lambda: bool(failed_scheduling(cluster, name)), 60, f"{name} unschedulable")
    pod = cluster.api.cache("pods").get(f"/registry/pods/default/{name}")
    assert pod.spec.node_name == "" and pod.status.phase == "Pending"
    return failed_scheduling(cluster, name)


def kubelet_rejections(cluster: Cluster) -> list[Any]:
    return [e for e in cluster.events if e.component == "kubelet" and e.reason == "NodePorts"]


async def test_a_deployment_wanting_one_host_port_per_node_leaves_the_extra_replica_pending() -> (
    None
):
    """NodePorts.Filter (plugins/nodeports/node_ports.go fitsPorts): with 3 replicas of a pod
    asking for host port 8080 on 2 nodes, the third fits nowhere and stays Pending with
    FitError's message (one ErrReason per node); the kubelet never rejects a pod (no Failed
    pods, no replacement churn)."""
    container = with_ports(ContainerPort(80, host_port=8080))
    web = deployment("web", replicas=3)
    spec = attrs.evolve(web.spec.template.spec, containers=(container,))
    web = attrs.evolve(
        web, spec=attrs.evolve(web.spec, template=attrs.evolve(web.spec.template, spec=spec))
    )
    async with running(nodes=2) as cluster:
        await cluster.apply([web])
        await wait_until(
            lambda: sum(p.status.phase == "Running" for p in pods(cluster)) == 2, 60, "2 running"
        )
        pending = [p for p in pods(cluster) if not p.spec.node_name]
        assert len(pending) == 1
        key = f"default/{pending[0].metadata.name}"
        await wait_until(
            lambda: bool(cluster.events.find(reason="FailedScheduling", obj=key)), 60, "failure"
        )
        messages = [e.message for e in cluster.events.find(reason="FailedScheduling", obj=key)]
        assert messages[0] == fit_error(2)
        assert len(pods(cluster)) == 3
        assert not [p for p in pods(cluster) if p.status.phase == "Failed"]
        assert not kubelet_rejections(cluster)
        assert len({p.spec.node_name for p in pods(cluster) if p.spec.node_name}) == 2


async def test_deleting_the_holder_frees_its_port_for_the_pending_pod() -> None:
    """NodePorts.EventsToRegister and isSchedulableAfterPodDeleted (node_ports.go): a bound
    pod's deletion whose host port conflicts with a pending pod's requeues it, and the node's
    UsedPorts (types.go NodeInfo.RemovePod) no longer hold the port: it is bound and runs."""
    http = ContainerPort(80, host_port=8080)
    async with running(nodes=1) as cluster:
        await cluster.api.create(port_pod("holder", http))
        await all_running(cluster, "holder")
        await cluster.api.create(port_pod("waiter", http))
        assert (await unschedulable(cluster, "waiter"))[0] == fit_error(1)
        await cluster.api.delete("pods", "default", "holder", grace_period_seconds=0)
        await all_running(cluster, "waiter")
        assert not kubelet_rejections(cluster)


async def test_host_ports_on_different_ips_coexist_but_not_with_every_address() -> None:
    """HostPortInfo.CheckConflict (pkg/scheduler/framework/types.go): the same protocol and port
    on two specific host IPs do not conflict; an empty hostIP (sanitized to 0.0.0.0) conflicts
    with either, so that pod stays Pending."""
    async with running(nodes=1) as cluster:
        await cluster.api.create(
            port_pod("one", ContainerPort(80, host_port=8080, host_ip="10.0.0.1"))
        )
        await cluster.api.create(
            port_pod("two", ContainerPort(80, host_port=8080, host_ip="10.0.0.2"))
        )
        await all_running(cluster, "one", "two")
        await cluster.api.create(port_pod("every", ContainerPort(80, host_port=8080)))
        assert (await unschedulable(cluster, "every"))[0] == fit_error(1)
        assert not kubelet_rejections(cluster)


async def test_the_protocol_keeps_host_ports_apart() -> None:
    """HostPortInfo's ProtocolPort key (pkg/scheduler/framework/types.go): TCP and UDP on the
    same host port coexist; a second UDP user of the port does not fit."""
    tcp = ContainerPort(53, host_port=5353)  # protocol TCP by default
    udp = ContainerPort(53, protocol="UDP", host_port=5353)
    async with running(nodes=1) as cluster:
        await cluster.api.create(port_pod("tcp", tcp))
        await cluster.api.create(port_pod("udp", udp))
        await all_running(cluster, "tcp", "udp")
        await cluster.api.create(port_pod("udp-again", udp))
        assert (await unschedulable(cluster, "udp-again"))[0] == fit_error(1)
        assert not kubelet_rejections(cluster)


async def test_a_higher_priority_pod_preempts_the_holder_of_its_port() -> None:
    """NodePorts.Filter returns Unschedulable, not UnschedulableAndUnresolvable (node_ports.go),
    so DefaultPreemption (preemption.go findCandidates, default_preemption.go
    SelectVictimsOnNode) may evict a lower-priority pod holding the port: the holder is
    preempted and the high-priority pod runs."""
    http = ContainerPort(80, host_port=8080)
    async with running(nodes=1) as cluster:
        await cluster.api.create(PriorityClass(ObjectMeta(name="high"), 1000))
        await cluster.api.create(port_pod("holder", http))
        await all_running(cluster, "holder")
        urgent = port_pod("urgent", http)
        urgent = attrs.evolve(urgent, spec=attrs.evolve(urgent.spec, priority_class_name="high"))
        await cluster.api.create(urgent)
        await all_running(cluster, "urgent")
        assert cluster.events.find(reason="Preempted", obj="default/holder")
        assert not kubelet_rejections(cluster)
