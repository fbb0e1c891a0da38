"""Small builders for API objects, so tests say what matters and nothing else."""

from __future__ import annotations

from kubechaos.api.objects import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    Node,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplate,
    Probe,
    ReplicaSet,
    ReplicaSetSpec,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
    Taint,
)
from kubechaos.api.selectors import LabelSelector


def pod_spec(
    cpu: int = 100,
    memory: int = 64 * 2**20,
    readiness: Probe | None = None,
    liveness: Probe | None = None,
    **kwargs: object,
) -> PodSpec:
    container = Container(
        "app",
        "nginx:1.27",
        requests=Resources(cpu, memory),
        readiness_probe=readiness,
        liveness_probe=liveness,
    )
    return PodSpec(containers=(container,), **kwargs)  # type: ignore[arg-type]


def pod(name: str, namespace: str = "default", labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **spec_kwargs: object) -> Pod:
    return Pod(ObjectMeta(name=name, namespace=namespace, labels=labels or {}, annotations=annotations or {}), pod_spec(**spec_kwargs))  # type: ignore[arg-type]


def template(labels: dict[str, str], annotations: dict[str, str] | None = None, **spec_kwargs: object) -> PodTemplate:
    return PodTemplate(ObjectMeta(labels=labels, annotations=annotations or {}), pod_spec(**spec_kwargs))  # type: ignore[arg-type]


def deployment(
    name: str,
    replicas: int = 3,
    labels: dict[str, str] | None = None,
    strategy: DeploymentStrategy | None = None,
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    **spec_kwargs: object,
) -> Deployment:
    labels = labels or {"app": name}
    return Deployment(
        ObjectMeta(name=name, namespace=namespace),
        DeploymentSpec(
            selector=LabelSelector(labels),
            template=template(labels, annotations, **spec_kwargs),
            replicas=replicas,
            strategy=strategy or DeploymentStrategy(),
        ),
    )


def replicaset(name: str, replicas: int = 3, labels: dict[str, str] | None = None, namespace: str = "default", **spec_kwargs: object) -> ReplicaSet:
    labels = labels or {"app": name}
    return ReplicaSet(
        ObjectMeta(name=name, namespace=namespace),
        ReplicaSetSpec(selector=LabelSelector(labels), template=template(labels, **spec_kwargs), replicas=replicas),
    )


def service(name: str, selector: dict[str, str] | None = None, namespace: str = "default", port: int = 80) -> Service:
    return Service(ObjectMeta(name=name, namespace=namespace), ServiceSpec(selector=selector or {"app": name}, ports=(ServicePort(port, 8080),)))


def node(name: str, cpu: int = 4000, memory: int = 16 * 2**30, pods: int = 110, labels: dict[str, str] | None = None, taints: tuple[Taint, ...] = ()) -> Node:
    capacity = Resources(cpu, memory, pods)
    return Node(ObjectMeta(name=name, labels=labels or {}), NodeSpec(taints=taints), NodeStatus(capacity=capacity, allocatable=capacity))
