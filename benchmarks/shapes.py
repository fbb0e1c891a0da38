"""The cluster shapes ``benchmarks/scale.py --shape`` measures (issue 16).

Every shape keeps about 30 pods per node, so ``--nodes`` scales nodes and pods together:

- ``many-small``: one Deployment of 30 replicas per node, each behind a Service with 1 request/s
  from 3 client nodes (the benchmark's original, friendly shape);
- ``few-large``: one Deployment of 300 replicas per 10 nodes (100 x 300 at 1,000 nodes), a
  readiness probe on every pod, each behind a Service with 1 request/s from 3 client nodes;
- ``mixed``: Deployments of 3..500 replicas with readiness and liveness probes on every
  container, zone topology spread on the Deployments of 100 replicas or more (3 zones), a
  node-agent DaemonSet on every node, a 3-replica StatefulSet per 20 nodes, 10 Services at
  100 requests/s each from every node; 60 virtual seconds after convergence 10 % of the
  Deployments' pods are deleted, 60 s later 1 % of the nodes crash (and stay down);
- ``churn``: ``few-large``, and 30 virtual seconds after convergence a rolling update of every
  Deployment (a new image: maxSurge/maxUnavailable 25 %, the default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubechaos.api.objects import (
    APIObject,
    Container,
    ContainerPort,
    DaemonSet,
    DaemonSetSpec,
    Deployment,
    DeploymentSpec,
    ObjectMeta,
    PodSpec,
    PodTemplate,
    Probe,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
    TopologySpreadConstraint,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import NodeGroupSpec

SHAPES = ("many-small", "few-large", "mixed", "churn")
PODS_PER_NODE = 30
NODES_PER_STATEFULSET = 20
STATEFULSET_REPLICAS = 3
# Deployment sizes of the mixed shape, in turn until the pods per node are reached
MIXED_SIZES = (3, 3, 5, 10, 20, 50, 100, 300, 500)
SPREAD_FROM = 100  # mixed: Deployments this large spread over the zones
ZONES = ("a", "b", "c")
ZONE_KEY = "topology.kubernetes.io/zone"
READINESS = Probe(initial_delay_seconds=5, period_seconds=10)
LIVENESS = Probe(initial_delay_seconds=15, period_seconds=10)


@dataclass
class Workload:
    """What one benchmark run applies, sends and breaks."""

    objects: list[APIObject]
    pods: int
    node_groups: tuple[NodeGroupSpec, ...]
    # (service, requests/s in all, source nodes: empty = every node)
    traffic: list[tuple[str, float, tuple[str, ...]]] = field(default_factory=list)
    kill_fraction: float = 0.0  # of the Deployments' pods, 60 s after convergence
    crash_fraction: float = 0.0  # of the nodes, 120 s after convergence
    rollout: bool = False  # every Deployment gets a new image 30 s after convergence


def client_nodes(index: int, nodes: int, clients: int) -> tuple[str, ...]:
    """The source nodes of Service ``index``'s traffic: ``clients`` neighbouring nodes (its
    client pods live there), or every node when ``clients`` is 0."""
    if clients <= 0:
        return ()
    return tuple(f"node-{(index * clients + j) % nodes}" for j in range(min(clients, nodes)))


def _container(image: str, readiness: bool, liveness: bool) -> Container:
    return Container(
        "app",
        image,
        requests=Resources(100, 64 * 2**20),
        ports=(ContainerPort(8080),),
        readiness_probe=READINESS if readiness else None,
        liveness_probe=LIVENESS if liveness else None,
    )


def deployment(
    name: str,
    replicas: int,
    *,
    readiness: bool = False,
    liveness: bool = False,
    spread: bool = False,
) -> Deployment:
    labels = {"app": name}
    constraints = (
        (TopologySpreadConstraint(1, ZONE_KEY, "DoNotSchedule", LabelSelector(labels)),)
        if spread
        else ()
    )
    template = PodTemplate(
        ObjectMeta(labels=labels),
        PodSpec(
            containers=(_container("registry.example/app:1", readiness, liveness),),
            topology_spread=constraints,
        ),
    )
    return Deployment(
        ObjectMeta(name=name, namespace="default"),
        DeploymentSpec(selector=LabelSelector(labels), template=template, replicas=replicas),
    )


def service(name: str, port: int = 80, headless: bool = False) -> Service:
    return Service(
        ObjectMeta(name=name, namespace="default"),
        ServiceSpec(
            selector={"app": name},
            ports=(ServicePort(port, 8080),),
            cluster_ip="None" if headless else "",
        ),
    )


def _uniform(nodes: int, replicas: int, readiness: bool, rate: float, clients: int) -> Workload:
    count = max(1, nodes * PODS_PER_NODE // replicas)
    objects: list[APIObject] = []
    traffic = []
    for i in range(count):
        objects += [deployment(f"app-{i}", replicas, readiness=readiness), service(f"app-{i}")]
        traffic.append((f"app-{i}", rate, client_nodes(i, nodes, clients)))
    return Workload(objects, count * replicas, (NodeGroupSpec("node", nodes),), traffic)


def _extra_kinds(nodes: int) -> tuple[list[APIObject], int]:
    """A node-agent DaemonSet and a 3-replica StatefulSet (headless Service) per 20 nodes."""
    labels = {"app": "node-agent"}
    agent = Container(
        "agent",
        "registry.example/agent:1",
        requests=Resources(50, 32 * 2**20),
        ports=(ContainerPort(8080),),
        readiness_probe=READINESS,
        liveness_probe=LIVENESS,
    )
    objects: list[APIObject] = [
        DaemonSet(
            ObjectMeta(name="node-agent", namespace="default"),
            DaemonSetSpec(
                selector=LabelSelector(labels),
                template=PodTemplate(ObjectMeta(labels=labels), PodSpec(containers=(agent,))),
            ),
        )
    ]
    sets = max(1, nodes // NODES_PER_STATEFULSET)
    for i in range(sets):
        name = f"db-{i}"
        db = _container("registry.example/db:1", True, True)
        objects.append(service(name, 5432, headless=True))
        objects.append(
            StatefulSet(
                ObjectMeta(name=name, namespace="default"),
                StatefulSetSpec(
                    selector=LabelSelector({"app": name}),
                    template=PodTemplate(
                        ObjectMeta(labels={"app": name}), PodSpec(containers=(db,))
                    ),
                    replicas=STATEFULSET_REPLICAS,
                    service_name=name,
                ),
            )
        )
    return objects, nodes + sets * STATEFULSET_REPLICAS


def _mixed(nodes: int) -> Workload:
    objects, extra_pods = _extra_kinds(nodes)
    budget = nodes * PODS_PER_NODE - extra_pods
    sizes: list[int] = []
    while budget >= MIXED_SIZES[0]:
        size = min(MIXED_SIZES[len(sizes) % len(MIXED_SIZES)], budget)
        sizes.append(size)
        budget -= size
    # the 10 largest Deployments get a Service and the traffic
    served = {i for _, i in sorted(((-s, i) for i, s in enumerate(sizes)))[:10]}
    traffic = []
    for i, size in enumerate(sizes):
        name = f"app-{i}"
        objects.append(
            deployment(name, size, readiness=True, liveness=True, spread=size >= SPREAD_FROM)
        )
        if i in served:
            objects.append(service(name))
            traffic.append((name, 100.0, ()))
    per_zone, rest = divmod(nodes, len(ZONES))
    groups = tuple(
        NodeGroupSpec(f"node-{z}", per_zone + (1 if n < rest else 0), labels={ZONE_KEY: z})
        for n, z in enumerate(ZONES)
    )
    return Workload(
        objects,
        sum(sizes) + extra_pods,
        groups,
        traffic,
        kill_fraction=0.10,
        crash_fraction=0.01,
    )


def build(shape: str, nodes: int, rate: float = 1.0, clients: int = 3) -> Workload:
    """The workload of ``shape`` at ``nodes`` nodes (``rate`` and ``clients``: the traffic of
    the uniform shapes; ``mixed`` sends its own)."""
    if shape == "many-small":
        return _uniform(nodes, 30, False, rate, clients)
    if shape == "few-large":
        return _uniform(nodes, 300, True, rate, clients)
    if shape == "churn":
        workload = _uniform(nodes, 300, True, rate, clients)
        workload.rollout = True
        return workload
    if shape == "mixed":
        return _mixed(nodes)
    raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")
