"""The kubelet's pod admission (GeneralPredicates) as upstream v1.32 runs it.

Upstream sources: ``pkg/kubelet/lifecycle/predicate.go`` (``predicateAdmitHandler.Admit``
reports the first reason of ``generalFilter``: ``scheduler.AdmissionCheck``, then untolerated
``NoExecute`` taints, static pods excepted), ``pkg/scheduler/schedule_one.go``
(``AdmissionCheck``: ``noderesources.Fits``, then ``GetRequiredNodeAffinity(pod).Match(node)``,
then ``nodename.Fits``, then ``nodeports.Fits``), ``pkg/scheduler/framework/plugins/
noderesources/fit.go`` (``fitsRequest``: the pod count first, then cpu and memory when requested),
``pkg/scheduler/framework/types.go`` (``HostPortInfo.CheckConflict``) and the kubelet's
``rejectPod`` (pkg/kubelet/kubelet.go: phase Failed, the status message prefixed
``Pod was rejected: ``).

Pods are bound by hand (``spec.nodeName``) so that only the kubelet decides.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from kubechaos.api.objects import (
    NO_EXECUTE,
    NO_SCHEDULE,
    Container,
    ContainerPort,
    Node,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    ObjectMeta,
    Pod,
    PodSpec,
    Resources,
    Taint,
    Toleration,
)
from kubechaos.node.kubelet.admission import Admission
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.podstate import PodState

from .harness import running, wait_until

NODE = "worker-0"
AFFINITY_MESSAGE = (
    "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node "
    "affinity/selector"
)
PORTS_MESSAGE = (
    "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the "
    "requested pod ports"
)
# the taint eviction controller deletes such a pod at once, so the kubelet's event is checked
# (upstream's event message is the status message without its "Pod was rejected: " prefix)
TAINT_MESSAGE_END = (
    "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
)


def bound_pod(
    name: str,
    cpu: int = 100,
    ports: tuple[ContainerPort, ...] = (),
    node: str = NODE,
    **spec: Any,
) -> Pod:
    container = Container("app", "nginx:1.27", requests=Resources(cpu, 2**20), ports=ports)
    return Pod(ObjectMeta(name=name), PodSpec(containers=(container,), node_name=node, **spec))


def term(*expressions: NodeSelectorRequirement, fields: tuple[Any, ...] = ()) -> NodeSelectorTerm:
    return NodeSelectorTerm(match_expressions=expressions, match_fields=fields)


def phase_of(cluster: Any, name: str) -> tuple[str, str, str]:
    pod = cluster.api.cache("pods").get(f"/registry/pods/default/{name}")
    if pod is None:
        return "", "", ""
    return pod.status.phase, pod.status.reason, pod.status.message


async def kubelet_rejection(cluster: Any, name: str) -> tuple[str, str]:
    """The (reason, message) of the kubelet's event rejecting pod ``name``."""

    def found() -> list[Any]:
        return [
            e for e in cluster.ctx.events.find(obj=f"default/{name}") if e.component == "kubelet"
        ]

    await wait_until(lambda: bool(found()), 60, f"the kubelet's event about {name}")
    return found()[0].reason, found()[0].message


async def settled(cluster: Any, *names: str) -> dict[str, tuple[str, str, str]]:
    """Each pod's (phase, reason, message) once none of them is Pending any more."""
    await wait_until(
        lambda: all(phase_of(cluster, n)[0] not in ("", "Pending") for n in names),
        60,
        f"{names} admitted or rejected",
    )
    return {n: phase_of(cluster, n) for n in names}


async def test_required_node_affinity_is_checked_by_the_kubelet() -> None:
    """GetRequiredNodeAffinity(pod).Match(node) (component-helpers/scheduling/corev1/
    nodeaffinity, called by AdmissionCheck in pkg/scheduler/schedule_one.go): a pod bound by hand
    whose requiredDuringSchedulingIgnoredDuringExecution misses the node (a label expression, or
    matchFields metadata.name) is rejected NodeAffinity; one whose terms match runs."""
    async with running(nodes=1, labels={"disk": "ssd"}) as cluster:
        await cluster.api.create(
            bound_pod("hdd", node_affinity=(term(NodeSelectorRequirement("disk", "In", ("hdd",))),))
        )
        not_here = NodeSelectorRequirement("metadata.name", "NotIn", (NODE,))
        await cluster.api.create(bound_pod("elsewhere", node_affinity=(term(fields=(not_here,)),)))
        ssd = term(NodeSelectorRequirement("disk", "Exists"))
        await cluster.api.create(bound_pod("ssd", node_affinity=(ssd,)))
        found = await settled(cluster, "hdd", "elsewhere", "ssd")
    assert found["hdd"] == ("Failed", "NodeAffinity", AFFINITY_MESSAGE)
    assert found["elsewhere"] == ("Failed", "NodeAffinity", AFFINITY_MESSAGE)
    assert found["ssd"][0] == "Running"


async def test_resources_are_checked_before_node_affinity() -> None:
    """AdmissionCheck (pkg/scheduler/schedule_one.go) runs noderesources.Fits first and the
    kubelet's Admit (pkg/kubelet/lifecycle/predicate.go) reports reasons[0]: a pod that both
    misses the node selector and asks for more CPU than the node has is OutOfcpu."""
    async with running(nodes=1) as cluster:
        await cluster.api.create(bound_pod("both", cpu=64000, node_selector={"disk": "hdd"}))
        found = await settled(cluster, "both")
    assert found["both"][:2] == ("Failed", "OutOfcpu")
    assert found["both"][2].startswith(
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 64000, used: "
    )


async def test_a_host_port_in_use_rejects_the_next_pod_until_released() -> None:
    """nodeports.Fits (pkg/scheduler/framework/plugins/nodeports/node_ports.go, via
    AdmissionCheck): a pod asking for a host port another admitted pod holds is rejected
    NodePorts; once the holder is deleted the port is free again."""
    http = (ContainerPort(80, host_port=8080),)
    async with running(nodes=1) as cluster:
        await cluster.api.create(bound_pod("first", ports=http))
        await settled(cluster, "first")
        await cluster.api.create(bound_pod("second", ports=http))
        found = await settled(cluster, "second")
        await cluster.api.delete("pods", "default", "first", grace_period_seconds=0)
        await wait_until(
            lambda: cluster.api.cache("pods").get("/registry/pods/default/first") is None,
            60,
            "first gone",
        )
        await cluster.api.create(bound_pod("third", ports=http))
        later = await settled(cluster, "third")
    assert found["second"] == ("Failed", "NodePorts", PORTS_MESSAGE)
    assert later["third"][0] == "Running"


async def test_an_untolerated_no_execute_taint_rejects_the_pod() -> None:
    """generalFilter (pkg/kubelet/lifecycle/predicate.go): FindMatchingUntoleratedTaint with
    only NoExecute taints counted; an untolerated one is TaintToleration, a tolerated one or a
    NoSchedule one is no reason (the kubelet ignores NoSchedule: the scheduler's business)."""
    taints = (Taint("dedicated", NO_EXECUTE, "gpu"), Taint("spot", NO_SCHEDULE, "yes"))
    tolerates = (Toleration("dedicated", "Equal", "gpu", NO_EXECUTE),)
    async with running(nodes=1, taints=taints) as cluster:
        await cluster.api.create(bound_pod("plain"))
        await cluster.api.create(bound_pod("tolerant", tolerations=tolerates))
        reason, message = await kubelet_rejection(cluster, "plain")
        found = await settled(cluster, "tolerant")
    assert reason == "TaintToleration"
    assert message.endswith(TAINT_MESSAGE_END)
    assert found["tolerant"][0] == "Running"


async def test_a_taint_added_to_the_node_later_is_seen() -> None:
    """Admit checks the Node as the kubelet's lister has it (getNodeAnyWayFunc,
    pkg/kubelet/lifecycle/predicate.go), not as it registered: a NoExecute taint added to the
    Node by a user rejects the pods bound after the kubelet read it."""
    async with running(nodes=1) as cluster:
        await cluster.api.create(bound_pod("early"))
        await settled(cluster, "early")  # the node is registered and runs pods
        node: Node = await cluster.api.get("nodes", "", NODE)
        tainted = attrs.evolve(node.spec, taints=(Taint("maintenance", NO_EXECUTE),))
        await cluster.api.update(attrs.evolve(node, spec=tainted))
        # the kubelet reads its Node again at its next status sync
        await trio.sleep(2 * cluster.spec.settings.node_status_update_frequency)
        await cluster.api.create(bound_pod("late"))
        reason, message = await kubelet_rejection(cluster, "late")
    assert reason == "TaintToleration"
    assert message.endswith(TAINT_MESSAGE_END)


# ------------------------------------------------------------------ the Admission unit


def _state(pod: Pod) -> PodState:
    return PodState(pod)


def test_the_pod_count_is_checked_before_cpu() -> None:
    """fitsRequest (pkg/scheduler/framework/plugins/noderesources/fit.go) appends the pod count
    first, and cpu and memory only when the pod requests them: a full node with too little CPU
    left is OutOfpods; a pod requesting no CPU is not rejected for the CPU others use."""
    gate = Admission(NodeConfig("n1", Resources(1000, 2**30, 1)), lambda: None)
    gate.used = Resources(1200, 0, 1)
    assert gate.failure(_state(bound_pod("big", cpu=500, node="n1"))) == (
        "OutOfpods",
        "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1",
    )
    gate.used = Resources(1200, 0, 0)
    assert gate.failure(_state(bound_pod("none", cpu=0, node="n1"))) is None


def test_host_ports_conflict_as_host_port_info_says() -> None:
    """HostPortInfo.CheckConflict (pkg/scheduler/framework/types.go): an empty hostIP is
    0.0.0.0 and conflicts with the port on any address; a specific address conflicts with the
    same address or 0.0.0.0; another protocol or another address is no conflict. The ports held
    are counted: one of two holders released keeps the port in use."""
    gate = Admission(NodeConfig("n1", Resources(8000, 2**34, 110)), lambda: None)

    def pod(name: str, *ports: ContainerPort) -> PodState:
        made = bound_pod(name, ports=ports, node="n1")
        return _state(attrs.evolve(made, metadata=attrs.evolve(made.metadata, uid=name)))

    a = pod("a", ContainerPort(80, host_port=9000, host_ip="10.0.0.1"))
    b = pod("b", ContainerPort(80, host_port=9000, host_ip="10.0.0.2"))
    for held in (a, b):
        assert gate.failure(held) is None
        gate.hold(held)
    assert gate.failure(pod("udp", ContainerPort(80, "", "UDP", 9000))) is None
    assert gate.failure(pod("other", ContainerPort(80, host_port=9000, host_ip="10.0.0.3"))) is None
    assert gate.failure(pod("all", ContainerPort(80, host_port=9000)))[0] == "NodePorts"  # type: ignore[index]
    gate.release(a)
    assert gate.failure(pod("all2", ContainerPort(80, host_port=9000)))[0] == "NodePorts"  # type: ignore[index]
    assert gate.failure(pod("a2", ContainerPort(80, host_port=9000, host_ip="10.0.0.1"))) is None
    gate.release(b)
    assert gate.failure(pod("all3", ContainerPort(80, host_port=9000))) is None
