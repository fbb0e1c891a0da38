"""The API objects the model serves, as immutable attrs classes, one module per API group.

Objects are frozen: the API server stores them, the watch cache hands the same instance to every
watcher, and a component that wants to change one builds a new one with :func:`attrs.evolve`
(see the ``with_*`` helpers). Field names are the snake_case of the upstream camelCase names.
Only the fields the model acts on exist; :mod:`kubechaos.api.modelled` says which manifest fields
are read, which are accepted silently and which are warned about.

Each API group's kinds live in their own module (``core``, ``apps``, ``policy``, ...), as upstream
keeps ``k8s.io/api/<group>/<version>/types.go``; this package re-exports them all, so callers
import from :mod:`kubechaos.api.objects` and a new kind is one module plus a line in
:data:`APIObject`.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from kubechaos.api.objects.apps import (
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
)
from kubechaos.api.objects.autoscaling import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerSpec,
    HorizontalPodAutoscalerStatus,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricStatus,
    MetricTarget,
)
from kubechaos.api.objects.batch import Job, JobCondition, JobSpec, JobStatus
from kubechaos.api.objects.config import (
    ConfigMap,
    PriorityClass,
    Secret,
    ServiceAccount,
)
from kubechaos.api.objects.coordination import (
    Lease,
    LeaseSpec,
)
from kubechaos.api.objects.copying import replace
from kubechaos.api.objects.core import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    TAINT_EFFECTS,
    ConfigRef,
    Container,
    ContainerPort,
    ContainerStatus,
    EndpointAddress,
    Endpoints,
    EndpointSubset,
    Namespace,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Probe,
    Service,
    ServicePort,
    ServiceSpec,
    Taint,
    Toleration,
)
from kubechaos.api.objects.daemonset import (
    DaemonSet,
    DaemonSetSpec,
    DaemonSetStatus,
    DaemonSetUpdateStrategy,
)
from kubechaos.api.objects.endpointslice import (
    EndpointConditions,
    EndpointSlice,
    EndpointTargetRef,
    SliceEndpoint,
)
from kubechaos.api.objects.initc import SIDECAR_RESTART_POLICY, effective_requests, is_sidecar
from kubechaos.api.objects.lifecycle import HOOK_ACTIONS, Lifecycle, LifecycleHandler
from kubechaos.api.objects.meta import (
    Labels,
    ObjectMeta,
    OwnerReference,
    Resources,
)
from kubechaos.api.objects.podaffinity import (
    NO_POD_AFFINITY,
    PodAffinityRules,
    PodAffinityTerm,
    TopologySpreadConstraint,
    WeightedPodAffinityTerm,
)
from kubechaos.api.objects.policy import (
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
)
from kubechaos.api.objects.scheduling import (
    ContainerImage,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PreferredSchedulingTerm,
    normalized_image_name,
)
from kubechaos.api.objects.service_routing import ServiceRouting
from kubechaos.api.objects.statefulset import (
    StatefulSet,
    StatefulSetSpec,
    StatefulSetStatus,
    StatefulSetUpdateStrategy,
)

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
    | DaemonSet
    | HorizontalPodAutoscaler
    | StatefulSet
    | Job
    | EndpointSlice
)


def key_of(obj: APIObject) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go keys objects."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def with_meta(obj: APIObject, **changes: Any) -> APIObject:
    return replace(obj, metadata=replace(obj.metadata, **changes))


__all__ = [
    "HOOK_ACTIONS",
    "NO_EXECUTE",
    "NO_POD_AFFINITY",
    "NO_SCHEDULE",
    "PREFER_NO_SCHEDULE",
    "SIDECAR_RESTART_POLICY",
    "TAINT_EFFECTS",
    "APIObject",
    "ConfigMap",
    "ConfigRef",
    "Container",
    "ContainerImage",
    "ContainerPort",
    "ContainerStatus",
    "CrossVersionObjectReference",
    "DaemonSet",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "EndpointAddress",
    "EndpointConditions",
    "EndpointSlice",
    "EndpointSubset",
    "EndpointTargetRef",
    "Endpoints",
    "HPAScalingPolicy",
    "HPAScalingRules",
    "HorizontalPodAutoscaler",
    "HorizontalPodAutoscalerBehavior",
    "HorizontalPodAutoscalerCondition",
    "HorizontalPodAutoscalerSpec",
    "HorizontalPodAutoscalerStatus",
    "Job",
    "JobCondition",
    "JobSpec",
    "JobStatus",
    "Labels",
    "Lease",
    "LeaseSpec",
    "Lifecycle",
    "LifecycleHandler",
    "MetricSpec",
    "MetricStatus",
    "MetricTarget",
    "Namespace",
    "Node",
    "NodeCondition",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "NodeSpec",
    "NodeStatus",
    "ObjectMeta",
    "OwnerReference",
    "Pod",
    "PodAffinityRules",
    "PodAffinityTerm",
    "PodCondition",
    "PodDisruptionBudget",
    "PodDisruptionBudgetSpec",
    "PodDisruptionBudgetStatus",
    "PodSpec",
    "PodStatus",
    "PodTemplate",
    "PreferredSchedulingTerm",
    "PriorityClass",
    "Probe",
    "ReplicaSet",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "Resources",
    "Secret",
    "Service",
    "ServiceAccount",
    "ServicePort",
    "ServiceRouting",
    "ServiceSpec",
    "SliceEndpoint",
    "StatefulSet",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "StatefulSetUpdateStrategy",
    "Taint",
    "Toleration",
    "TopologySpreadConstraint",
    "WeightedPodAffinityTerm",
    "effective_requests",
    "is_sidecar",
    "key_of",
    "normalized_image_name",
    "with_meta",
]
