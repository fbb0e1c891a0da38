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


def pod(
    name: str,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec_kwargs: object,
) -> Pod:
    return Pod(
        ObjectMeta(
            name=name, namespace=namespace, labels=labels or {}, annotations=annotations or {}
        ),
        pod_spec(**spec_kwargs),
    )  # type: ignore[arg-type]


def template(
    labels: dict[str, str], annotations: dict[str, str] | None = None, **spec_kwargs: object
) -> PodTemplate:
    return PodTemplate(
        ObjectMeta(labels=labels, annotations=annotations or {}), pod_spec(**spec_kwargs)
    )  # type: ignore[arg-type]


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


def replicaset(
    name: str,
    replicas: int = 3,
    labels: dict[str, str] | None = None,
    namespace: str = "default",
    **spec_kwargs: object,
) -> ReplicaSet:
    labels = labels or {"app": name}
    return ReplicaSet(
        ObjectMeta(name=name, namespace=namespace),
        ReplicaSetSpec(
            selector=LabelSelector(labels),
            template=template(labels, **spec_kwargs),
            replicas=replicas,
        ),
    )


def service(
    name: str, selector: dict[str, str] | None = None, namespace: str = "default", port: int = 80
) -> Service:
    return Service(
        ObjectMeta(name=name, namespace=namespace),
        ServiceSpec(selector=selector or {"app": name}, ports=(ServicePort(port, 8080),)),
    )


def node(
    name: str,
    cpu: int = 4000,
    memory: int = 16 * 2**30,
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
) -> Node:
    capacity = Resources(cpu, memory, pods)
    # the kubelet registers every node with its hostname label (kubernetes.io/hostname)
    return Node(
        ObjectMeta(name=name, labels={"kubernetes.io/hostname": name} | (labels or {})),
        NodeSpec(taints=taints),
        NodeStatus(capacity=capacity, allocatable=capacity),
    )


def ready_node(
    name: str,
    cpu: int = 4000,
    memory: int = 16 * 2**30,
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
    ready: str = "True",
    unschedulable: bool = False,
) -> Node:
    """A node as a kubelet would have registered it: with a Ready condition (status ``ready``)."""
    import attrs

    from kubechaos.api.objects import NodeCondition

    base = node(name, cpu, memory, pods, labels, taints)
    return attrs.evolve(
        base,
        spec=attrs.evolve(base.spec, unschedulable=unschedulable),
        status=attrs.evolve(base.status, conditions=(NodeCondition("Ready", ready),)),
    )


class PodReadier:
    """Stands in for kubelets in controller tests: marks each new pod Running and Ready.

    ``delay`` seconds after a pod appears it gets phase Running and Ready/ContainersReady
    conditions (transition time = now) through ``update_status``, as a kubelet would write them,
    unless ``ready(pod)`` says no. With ``node_name`` the pod is first bound there, so deleting it
    is graceful; a pod being deleted is then removed ``termination_seconds`` later, as a kubelet
    finishes a graceful deletion. Start :meth:`run` in the test's nursery.
    """

    def __init__(
        self,
        ctx,
        delay: float = 1.0,
        ready=None,
        node_name: str = "",
        termination_seconds: float = 5.0,
    ) -> None:
        self.ctx = ctx
        self.delay = delay
        self.ready = ready
        self.node_name = node_name
        self.termination_seconds = termination_seconds

    async def run(self) -> None:
        import trio

        api = self.ctx.api
        items, revision = await api.list("pods")
        terminating: set[str] = set()
        async with trio.open_nursery() as nursery:
            for item in items:
                nursery.start_soon(self._ready_later, item)
            with await api.watch("pods", resource_version=revision, client="pod-readier") as w:
                while True:
                    for event in await w.next_batch():
                        pod = event.object
                        if event.type == "ADDED":
                            nursery.start_soon(self._ready_later, pod)
                        elif (
                            event.type == "MODIFIED"
                            and pod.metadata.deletion_timestamp is not None
                            and pod.metadata.uid not in terminating
                        ):
                            terminating.add(pod.metadata.uid)
                            nursery.start_soon(self._finish_deletion, pod)

    async def _finish_deletion(self, pod: Pod) -> None:
        import contextlib

        import trio

        from kubechaos.api import errors

        await trio.sleep(self.termination_seconds)
        meta = pod.metadata
        with contextlib.suppress(errors.NotFound, errors.Conflict):  # already gone or replaced
            await self.ctx.api.delete(
                "pods", meta.namespace, meta.name, grace_period_seconds=0, uid=meta.uid
            )

    async def _ready_later(self, pod: Pod) -> None:
        import attrs
        import trio

        from kubechaos.api import errors
        from kubechaos.api.objects import PodCondition
        from kubechaos.sim.clock import now

        api = self.ctx.api
        meta = pod.metadata
        if self.node_name and not pod.spec.node_name:
            try:
                await api.bind(meta.namespace, meta.name, self.node_name)
            except (errors.NotFound, errors.Conflict):
                return
        await trio.sleep(self.delay)
        if self.ready is not None and not self.ready(pod):
            return
        while True:
            try:
                current = await api.get("pods", meta.namespace, meta.name)
            except errors.NotFound:
                return
            if current.metadata.uid != meta.uid or not current.is_active():
                return
            t = now()
            kept = tuple(
                c for c in current.status.conditions if c.type not in ("Ready", "ContainersReady")
            )
            status = attrs.evolve(
                current.status,
                phase="Running",
                conditions=(
                    *kept,
                    PodCondition("ContainersReady", "True", t),
                    PodCondition("Ready", "True", t),
                ),
            )
            try:
                await api.update_status(attrs.evolve(current, status=status))
                return
            except errors.Conflict:
                continue
