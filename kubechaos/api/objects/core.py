"""The core/v1 kinds the model acts on: Namespace, Node, Pod, Service and Endpoints."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.initc import effective_requests
from kubechaos.api.objects.lifecycle import Lifecycle
from kubechaos.api.objects.meta import Labels, ObjectMeta, Resources
from kubechaos.api.objects.podaffinity import (
    NO_POD_AFFINITY,
    PodAffinityRules,
    TopologySpreadConstraint,
)
from kubechaos.api.objects.scheduling import (
    ContainerImage,
    NodeSelectorTerm,
    PreferredSchedulingTerm,
)
from kubechaos.api.objects.service_routing import DEFAULT_ROUTING, ServiceRouting

# ---------------------------------------------------------------------------- Namespace


@attrs.frozen(slots=True)
class Namespace:
    KIND: ClassVar[str] = "Namespace"
    metadata: ObjectMeta
    phase: str = "Active"


# ---------------------------------------------------------------------------- Node


# Taint effects (core/v1 TaintEffect*).
NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
TAINT_EFFECTS = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)


@attrs.frozen(slots=True)
class Taint:
    key: str
    effect: str  # NO_SCHEDULE | PREFER_NO_SCHEDULE | NO_EXECUTE
    value: str = ""
    time_added: float | None = None


@attrs.frozen(slots=True)
class NodeCondition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    last_heartbeat_time: float = 0.0
    last_transition_time: float = 0.0
    reason: str = ""
    message: str = ""


@attrs.frozen(slots=True)
class NodeSpec:
    pod_cidr: str = ""
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()


@attrs.frozen(slots=True)
class NodeStatus:
    capacity: Resources = Resources()
    allocatable: Resources = Resources()
    conditions: tuple[NodeCondition, ...] = ()
    address: str = ""
    # the images on the node, biggest first, as the kubelet reports them (nodeStatusMaxImages)
    images: tuple[ContainerImage, ...] = attrs.field(default=(), metadata={"omitempty": True})

    def condition(self, type_: str) -> NodeCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class Node:
    KIND: ClassVar[str] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()

    def is_ready(self) -> bool:
        cond = self.status.condition("Ready")
        return cond is not None and cond.status == "True"


# ---------------------------------------------------------------------------- Pod


@attrs.frozen(slots=True)
class Probe:
    """A probe's timing; what it checks is the container behaviour's business."""

    handler: str = "httpGet"  # httpGet | tcpSocket | exec | grpc
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    # liveness/startup: the grace period of the kill a failure causes (None: the pod's)
    termination_grace_period_seconds: int | None = attrs.field(
        default=None, metadata={"omitempty": True}
    )


@attrs.frozen(slots=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"
    # what the kubelet's admission keeps apart on a node (omitempty: see the template hash)
    host_port: int | None = attrs.field(default=None, metadata={"omitempty": True})
    host_ip: str = attrs.field(default="", metadata={"omitempty": True})


@attrs.frozen(slots=True)
class Container:
    name: str
    image: str
    requests: Resources = Resources()
    limits: Resources = Resources()
    ports: tuple[ContainerPort, ...] = ()
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str = "IfNotPresent"
    # env valueFrom and envFrom references (omitempty: see the deployment's template hash)
    config_refs: tuple[ConfigRef, ...] = attrs.field(default=(), metadata={"omitempty": True})
    lifecycle: Lifecycle | None = attrs.field(default=None, metadata={"omitempty": True})
    # an init container's restartPolicy: "Always" makes it a sidecar ("" otherwise)
    restart_policy: str = attrs.field(default="", metadata={"omitempty": True})


@attrs.frozen(slots=True)
class ConfigRef:
    """A reference to a ConfigMap or Secret (``key`` empty: the whole object, as envFrom or a
    volume); a volume's reference is held by the pod spec."""

    kind: str  # ConfigMap | Secret
    name: str
    key: str = ""
    optional: bool = False
    volume: str = ""  # the volume's name, for a volume source


@attrs.frozen(slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" matches every effect
    toleration_seconds: int | None = None

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


@attrs.frozen(slots=True)
class PodSpec:
    containers: tuple[Container, ...]
    node_name: str = ""
    node_selector: Labels = attrs.field(factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    restart_policy: str = "Always"  # Always | OnFailure | Never
    termination_grace_period_seconds: int = 30
    scheduler_name: str = "default-scheduler"
    volume_refs: tuple[ConfigRef, ...] = attrs.field(default=(), metadata={"omitempty": True})
    # affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms
    # (empty: no required node affinity)
    node_affinity: tuple[NodeSelectorTerm, ...] = attrs.field(
        default=(), metadata={"omitempty": True}
    )
    init_containers: tuple[Container, ...] = attrs.field(default=(), metadata={"omitempty": True})
    # affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution
    preferred_node_affinity: tuple[PreferredSchedulingTerm, ...] = attrs.field(
        default=(), metadata={"omitempty": True}
    )
    # priorityClassName, and the priority and preemptionPolicy the Priority admission plugin
    # resolves from it on create (None / "": not set)
    priority_class_name: str = attrs.field(default="", metadata={"omitempty": True})
    priority: int | None = attrs.field(default=None, metadata={"omitempty": True})
    preemption_policy: str = attrs.field(default="", metadata={"omitempty": True})
    # affinity.podAffinity / affinity.podAntiAffinity, topologySpreadConstraints
    pod_affinity: PodAffinityRules = attrs.field(
        default=NO_POD_AFFINITY, metadata={"omitempty": True}
    )
    pod_anti_affinity: PodAffinityRules = attrs.field(
        default=NO_POD_AFFINITY, metadata={"omitempty": True}
    )
    topology_spread: tuple[TopologySpreadConstraint, ...] = attrs.field(
        default=(), metadata={"omitempty": True}
    )
    # readinessGates[].conditionType: Ready also waits for these conditions to be True
    readiness_gates: tuple[str, ...] = attrs.field(default=(), metadata={"omitempty": True})

    def requests(self) -> Resources:
        """The pod's effective requests (upstream ``resource.PodRequests``, see
        :func:`kubechaos.api.objects.initc.effective_requests`), plus one pod."""
        if self.init_containers:
            cpu, memory = effective_requests(
                self, lambda c: (c.requests.cpu_millis, c.requests.memory_bytes)
            )
            return Resources(cpu, memory, 1)
        total = Resources(pods=1)
        for container in self.containers:
            total = total + container.requests
        return total


@attrs.frozen(slots=True)
class ContainerStatus:
    name: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    last_termination_reason: str = ""
    message: str = attrs.field(default="", metadata={"omitempty": True})  # of the waiting state


@attrs.frozen(slots=True)
class PodCondition:
    type: str  # PodScheduled | Initialized | ContainersReady | Ready | DisruptionTarget
    status: str
    last_transition_time: float = 0.0
    reason: str = ""
    message: str = attrs.field(default="", metadata={"omitempty": True})


@attrs.frozen(slots=True)
class PodStatus:
    phase: str = "Pending"  # Pending | Running | Succeeded | Failed | Unknown
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    init_container_statuses: tuple[ContainerStatus, ...] = attrs.field(
        default=(), metadata={"omitempty": True}
    )
    pod_ip: str = ""
    host_ip: str = ""
    start_time: float | None = None
    reason: str = ""
    message: str = ""
    nominated_node_name: str = ""  # set by the scheduler when its preemption made room

    def condition(self, type_: str) -> PodCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class Pod:
    KIND: ClassVar[str] = "Pod"
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus = PodStatus()

    def is_ready(self) -> bool:
        cond = self.status.condition("Ready")
        return cond is not None and cond.status == "True"

    def ready_since(self) -> float | None:
        cond = self.status.condition("Ready")
        if cond is None or cond.status != "True":
            return None
        return cond.last_transition_time

    def is_terminal(self) -> bool:
        return self.status.phase in ("Succeeded", "Failed")

    def is_active(self) -> bool:
        """Counted by controllers: not terminal and not being deleted."""
        return not self.is_terminal() and self.metadata.deletion_timestamp is None


# ---------------------------------------------------------------------------- networking


@attrs.frozen(slots=True)
class ServicePort:
    port: int
    target_port: int | str = 0  # 0 = same as port
    name: str = ""
    protocol: str = "TCP"

    @property
    def endpoint_port(self) -> int:
        """The number an Endpoints subset lists for this port: the pods' (an int targetPort),
        else the Service's own (a named targetPort is not resolved per pod in the model)."""
        target = self.target_port
        return target if isinstance(target, int) and target else self.port


@attrs.frozen(slots=True)
class ServiceSpec:
    selector: Labels = attrs.field(factory=dict)
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str = ""
    type: str = "ClusterIP"
    publish_not_ready_addresses: bool = False
    routing: ServiceRouting = DEFAULT_ROUTING  # internalTrafficPolicy, sessionAffinity


@attrs.frozen(slots=True)
class Service:
    KIND: ClassVar[str] = "Service"
    metadata: ObjectMeta
    spec: ServiceSpec = ServiceSpec()


@attrs.frozen(slots=True)
class EndpointAddress:
    ip: str
    node_name: str = ""
    target_pod: str = ""


@attrs.frozen(slots=True)
class EndpointSubset:
    addresses: tuple[EndpointAddress, ...] = ()
    not_ready_addresses: tuple[EndpointAddress, ...] = ()
    ports: tuple[ServicePort, ...] = ()


@attrs.frozen(slots=True)
class Endpoints:
    KIND: ClassVar[str] = "Endpoints"
    metadata: ObjectMeta
    subsets: tuple[EndpointSubset, ...] = ()

    def ready_addresses(self) -> tuple[EndpointAddress, ...]:
        if len(self.subsets) == 1:
            return self.subsets[0].addresses
        return tuple(a for s in self.subsets for a in s.addresses)
