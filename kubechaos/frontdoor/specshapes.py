"""Upstream's JSON shape of the spec structures the model keeps under its own names: pod
affinity and topology spread, lifecycle hooks, a Service's routing, a StatefulSet's ordinals,
claim retention and partition, a DaemonSet's rolling update, an EndpointSlice's ports and a
budget's conditions. Each is written as staging/src/k8s.io/api/{core,apps,discovery,policy}/
v1/types.go tags it (and as the API server defaults it), so a client reads only fields
upstream's schema has (tests/test_frontdoor_read_shapes.py holds every served object to the
OpenAPI the front door serves). :class:`~.encoding.Encoder` calls these for their classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.objects import (
    DaemonSetUpdateStrategy,
    DeploymentCondition,
    DeploymentStrategy,
    PodAffinityRules,
    PodSpec,
    ServicePort,
    StatefulSetSpec,
    WeightedPodAffinityTerm,
)
from kubechaos.api.objects.lifecycle import Lifecycle, LifecycleHandler
from kubechaos.api.objects.service_routing import ServiceRouting

JSON = dict[str, Any]
Value = Callable[[Any], Any]  # the encoder's value(): any held value as JSON
Walk = Callable[[Any, tuple[str, ...]], JSON]  # the encoder's generic walk, skipping fields
Time = Callable[[float], str]

#: PodSpec fields written under upstream's names by :func:`pod_spec_extras`.
POD_SPEC_RESHAPED = (
    "node_affinity",
    "preferred_node_affinity",
    "pod_affinity",
    "pod_anti_affinity",
    "topology_spread",
)


def pod_spec_extras(spec: PodSpec, value: Value) -> JSON:
    """``affinity`` (nodeAffinity, podAffinity, podAntiAffinity) and
    ``topologySpreadConstraints`` (core/v1 Affinity, TopologySpreadConstraint)."""
    affinity: JSON = {}
    node: JSON = {}
    if spec.node_affinity:
        terms = [value(term) for term in spec.node_affinity]
        node["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms}
    if spec.preferred_node_affinity:
        node["preferredDuringSchedulingIgnoredDuringExecution"] = [
            value(term) for term in spec.preferred_node_affinity
        ]
    if node:
        affinity["nodeAffinity"] = node
    if spec.pod_affinity:
        affinity["podAffinity"] = pod_affinity(spec.pod_affinity, value)
    if spec.pod_anti_affinity:
        affinity["podAntiAffinity"] = pod_affinity(spec.pod_anti_affinity, value)
    out: JSON = {}
    if affinity:
        out["affinity"] = affinity
    if spec.topology_spread:
        out["topologySpreadConstraints"] = [value(c) for c in spec.topology_spread]
    return out


def pod_affinity(rules: PodAffinityRules, value: Value) -> JSON:
    """core/v1 PodAffinity / PodAntiAffinity."""
    out: JSON = {}
    if rules.required:
        out["requiredDuringSchedulingIgnoredDuringExecution"] = [value(t) for t in rules.required]
    if rules.preferred:
        out["preferredDuringSchedulingIgnoredDuringExecution"] = [
            weighted_term(t, value) for t in rules.preferred
        ]
    return out


def weighted_term(term: WeightedPodAffinityTerm, value: Value) -> JSON:
    """core/v1 WeightedPodAffinityTerm: ``weight`` and ``podAffinityTerm``."""
    return {"weight": term.weight, "podAffinityTerm": value(term.term)}


def lifecycle(hooks: Lifecycle, port: int) -> JSON:
    """core/v1 Lifecycle: each hook a LifecycleHandler with its one action. The model keeps
    an HTTP or TCP hook's kind, not its target: written with the container's first port."""
    out: JSON = {}
    if hooks.post_start is not None:
        out["postStart"] = lifecycle_handler(hooks.post_start, port)
    if hooks.pre_stop is not None:
        out["preStop"] = lifecycle_handler(hooks.pre_stop, port)
    return out


def lifecycle_handler(handler: LifecycleHandler, port: int) -> JSON:
    if handler.action == "exec":
        return {"exec": {"command": list(handler.command)}}
    if handler.action == "sleep":
        return {"sleep": {"seconds": handler.seconds}}
    if handler.action == "httpGet":
        return {"httpGet": {"path": "/", "port": port, "scheme": "HTTP"}}
    return {handler.action: {"port": port}}


def service_routing(routing: ServiceRouting) -> JSON:
    """``internalTrafficPolicy``, ``sessionAffinity`` and, for ClientIP affinity,
    ``sessionAffinityConfig.clientIP.timeoutSeconds``, as defaulted (core/v1 defaults.go)."""
    out: JSON = {
        "internalTrafficPolicy": routing.internal_traffic_policy,
        "sessionAffinity": routing.session_affinity,
    }
    if routing.client_ip:
        out["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": routing.timeout_seconds}}
    return out


def statefulset_spec(spec: StatefulSetSpec, walk: Walk) -> JSON:
    """apps/v1 StatefulSetSpec: ``ordinals.start``, ``persistentVolumeClaimRetentionPolicy``
    (defaulted Retain/Retain), ``updateStrategy.rollingUpdate.partition`` (defaulted 0 for
    RollingUpdate), claim templates as PersistentVolumeClaims (the model keeps their names)."""
    out = walk(
        spec,
        ("ordinals_start", "pvc_retention", "volume_claim_templates", "update_strategy"),
    )
    strategy: JSON = {"type": spec.update_strategy.type}
    if spec.update_strategy.type == "RollingUpdate":
        strategy["rollingUpdate"] = {"partition": spec.update_strategy.partition}
    out["updateStrategy"] = strategy
    if spec.ordinals_start:
        out["ordinals"] = {"start": spec.ordinals_start}
    deleted, scaled = spec.pvc_retention
    out["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": deleted, "whenScaled": scaled}
    if spec.volume_claim_templates:
        out["volumeClaimTemplates"] = [
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}}
            for name in spec.volume_claim_templates
        ]
    return out


def rolling_strategy(strategy: DaemonSetUpdateStrategy | DeploymentStrategy) -> JSON:
    """apps/v1 DeploymentStrategy and DaemonSetUpdateStrategy: a RollingUpdate's numbers
    under ``rollingUpdate``."""
    if strategy.type != "RollingUpdate":
        return {"type": strategy.type}
    return {
        "type": strategy.type,
        "rollingUpdate": {
            "maxSurge": strategy.max_surge,
            "maxUnavailable": strategy.max_unavailable,
        },
    }


def endpoint_port(port: ServicePort) -> JSON:
    """discovery/v1 EndpointPort (an EndpointSlice's ports: the pods' port, no target)."""
    out: JSON = {"port": port.port, "protocol": port.protocol}
    if port.name:
        out["name"] = port.name
    return out


def condition(cond: DeploymentCondition, time: Time) -> JSON:
    """meta/v1 Condition (a budget's conditions): type, status, lastTransitionTime, reason
    and message, all required; no lastUpdateTime."""
    return {
        "type": cond.type,
        "status": cond.status,
        "lastTransitionTime": time(cond.last_transition_time),
        "reason": cond.reason,
        "message": cond.message,
    }


def spec_shapes(walk: Walk) -> dict[type, Callable[[Any], Any]]:
    """The encoders this module adds, by class."""
    return {
        StatefulSetSpec: lambda spec: statefulset_spec(spec, walk),
        DaemonSetUpdateStrategy: rolling_strategy,
        DeploymentStrategy: rolling_strategy,
        ServicePort: endpoint_port,
    }


__all__ = [
    "POD_SPEC_RESHAPED",
    "condition",
    "endpoint_port",
    "lifecycle",
    "pod_affinity",
    "pod_spec_extras",
    "rolling_strategy",
    "service_routing",
    "spec_shapes",
    "statefulset_spec",
]
