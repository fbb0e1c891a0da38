"""The API objects the model serves, as immutable attrs classes.

Objects are frozen: the API server stores them, the watch cache hands the same instance to every
watcher, and a component that wants to change one builds a new one with :func:`attrs.evolve`
(see the ``with_*`` helpers). Field names are the snake_case of the upstream camelCase names.
Only the fields the model acts on exist; the manifest reader rejects nothing else but ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias

import attrs

from kubechaos.api.selectors import LabelSelector

Labels: TypeAlias = Mapping[str, str]


@attrs.frozen(slots=True)
class OwnerReference:
    kind: str
    name: str
    uid: str
    controller: bool = True


@attrs.frozen(slots=True)
class ObjectMeta:
    name: str = ""
    namespace: str = ""
    generate_name: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: float | None = None
    deletion_timestamp: float | None = None
    deletion_grace_period_seconds: int | None = None
    labels: Labels = attrs.field(factory=dict)
    annotations: Labels = attrs.field(factory=dict)
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()

    def controller_ref(self) -> OwnerReference | None:
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


@attrs.frozen(slots=True)
class Resources:
    """A resource vector: CPU in millicores, memory in bytes, and a pod count."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.pods + other.pods,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.pods - other.pods,
        )


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


@attrs.frozen(slots=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"


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

    def requests(self) -> Resources:
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
    type: str  # PodScheduled | Initialized | ContainersReady | Ready
    status: str
    last_transition_time: float = 0.0
    reason: str = ""


@attrs.frozen(slots=True)
class PodStatus:
    phase: str = "Pending"  # Pending | Running | Succeeded | Failed | Unknown
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    pod_ip: str = ""
    host_ip: str = ""
    start_time: float | None = None
    reason: str = ""
    message: str = ""

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


# ---------------------------------------------------------------------------- workloads


@attrs.frozen(slots=True)
class PodTemplate:
    metadata: ObjectMeta
    spec: PodSpec


@attrs.frozen(slots=True)
class ReplicaSetSpec:
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    min_ready_seconds: int = 0


@attrs.frozen(slots=True)
class ReplicaSetStatus:
    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0


@attrs.frozen(slots=True)
class ReplicaSet:
    KIND: ClassVar[str] = "ReplicaSet"
    metadata: ObjectMeta
    spec: ReplicaSetSpec
    status: ReplicaSetStatus = ReplicaSetStatus()


@attrs.frozen(slots=True)
class DeploymentStrategy:
    type: str = "RollingUpdate"  # RollingUpdate | Recreate
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"


@attrs.frozen(slots=True)
class DeploymentCondition:
    type: str  # Available | Progressing | ReplicaFailure
    status: str
    reason: str = ""
    message: str = ""
    last_update_time: float = 0.0
    last_transition_time: float = 0.0


@attrs.frozen(slots=True)
class DeploymentSpec:
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    strategy: DeploymentStrategy = DeploymentStrategy()
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600
    paused: bool = False


@attrs.frozen(slots=True)
class DeploymentStatus:
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[DeploymentCondition, ...] = ()

    def condition(self, type_: str) -> DeploymentCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class Deployment:
    KIND: ClassVar[str] = "Deployment"
    metadata: ObjectMeta
    spec: DeploymentSpec
    status: DeploymentStatus = DeploymentStatus()


# ---------------------------------------------------------------------------- networking


@attrs.frozen(slots=True)
class ServicePort:
    port: int
    target_port: int | str = 0  # 0 = same as port
    name: str = ""
    protocol: str = "TCP"


@attrs.frozen(slots=True)
class ServiceSpec:
    selector: Labels = attrs.field(factory=dict)
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str = ""
    type: str = "ClusterIP"
    publish_not_ready_addresses: bool = False


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


# ---------------------------------------------------------------------------- coordination


@attrs.frozen(slots=True)
class LeaseSpec:
    holder_identity: str = ""
    lease_duration_seconds: int = 40
    acquire_time: float | None = None
    renew_time: float | None = None


@attrs.frozen(slots=True)
class Lease:
    KIND: ClassVar[str] = "Lease"
    metadata: ObjectMeta
    spec: LeaseSpec = LeaseSpec()


# ---------------------------------------------------------------------------- config


@attrs.frozen(slots=True)
class ConfigMap:
    KIND: ClassVar[str] = "ConfigMap"
    metadata: ObjectMeta
    data: Labels = attrs.field(factory=dict)
    binary_data: Labels = attrs.field(factory=dict)  # base64 text, as the manifest has it
    immutable: bool = False


@attrs.frozen(slots=True)
class Secret:
    KIND: ClassVar[str] = "Secret"
    metadata: ObjectMeta
    data: Labels = attrs.field(factory=dict)  # base64 text, as the manifest has it
    string_data: Labels = attrs.field(factory=dict)
    type: str = "Opaque"
    immutable: bool = False


@attrs.frozen(slots=True)
class ServiceAccount:
    KIND: ClassVar[str] = "ServiceAccount"
    metadata: ObjectMeta
    automount_service_account_token: bool | None = None


@attrs.frozen(slots=True)
class PriorityClass:
    KIND: ClassVar[str] = "PriorityClass"
    metadata: ObjectMeta
    value: int = 0
    global_default: bool = False
    preemption_policy: str = "PreemptLowerPriority"
    description: str = ""


# ---------------------------------------------------------------------------- policy


@attrs.frozen(slots=True)
class PodDisruptionBudgetSpec:
    """policy/v1 ``PodDisruptionBudgetSpec``: exactly one of min_available / max_unavailable."""

    selector: LabelSelector | None = None
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    unhealthy_pod_eviction_policy: str = "IfHealthyBudget"  # IfHealthyBudget | AlwaysAllow


@attrs.frozen(slots=True)
class PodDisruptionBudgetStatus:
    observed_generation: int = 0
    # pod name -> when the Eviction API evicted it (upstream's ``disruptedPods``)
    disrupted_pods: Mapping[str, float] = attrs.field(factory=dict)
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: tuple[DeploymentCondition, ...] = ()

    def condition(self, type_: str) -> DeploymentCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class PodDisruptionBudget:
    KIND: ClassVar[str] = "PodDisruptionBudget"
    metadata: ObjectMeta
    spec: PodDisruptionBudgetSpec = PodDisruptionBudgetSpec()
    status: PodDisruptionBudgetStatus = PodDisruptionBudgetStatus()


APIObject: TypeAlias = (
    Namespace
    | Node
    | Pod
    | ReplicaSet
    | Deployment
    | Service
    | Endpoints
    | Lease
    | ConfigMap
    | Secret
    | ServiceAccount
    | PriorityClass
    | PodDisruptionBudget
)


def key_of(obj: APIObject) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go keys objects."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def with_meta(obj: APIObject, **changes: Any) -> APIObject:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, **changes))
