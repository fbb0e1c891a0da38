"""Validation as the API server does it: each function returns a list of causes (empty = valid).

One ``validate_<kind>`` per kind (upstream's pkg/apis/core/validation and pkg/apis/apps/validation),
called by that kind's registry strategy (:mod:`kubechaos.control.registry`); it lives here, below
the control plane, because the manifest loader checks objects with the same rules before any API
server sees them.

Causes read like upstream's field errors: ``spec.replicas: Invalid value: -1: must be greater
than or equal to 0``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from kubechaos.api.nodeaffinity import node_affinity_causes, preferred_affinity_causes
from kubechaos.api.objects import (
    TAINT_EFFECTS,
    ConfigMap,
    Container,
    Deployment,
    Lease,
    LeaseSpec,
    Namespace,
    Node,
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    PodSpec,
    PriorityClass,
    Probe,
    ReplicaSet,
    Secret,
    ServiceAccount,
)
from kubechaos.api.validation_initc import init_container_causes
from kubechaos.api.validation_lifecycle import lifecycle_causes
from kubechaos.api.validation_podaffinity import pod_placement_causes
from kubechaos.api.validation_priority import pod_priority_causes

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def is_dns1123_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS1123_LABEL.fullmatch(name))


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.fullmatch(name))


def is_dns1035_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS1035_LABEL.fullmatch(name))


# metadata.name rules: the check and what it asks for (built once: every write validates)
_NAME_RULES = {
    "subdomain": (is_dns1123_subdomain, "a lowercase RFC 1123 subdomain"),
    "label": (is_dns1123_label, "a lowercase RFC 1123 label"),
    "dns1035": (is_dns1035_label, "a DNS-1035 label (start with a letter)"),
}


def _name_causes(name: str, rule: str) -> list[str]:
    if not name:
        return ["metadata.name: Required value: name or generateName is required"]
    ok, what = _NAME_RULES[rule]
    if not ok(name):
        return [f"metadata.name: Invalid value: {name!r}: must be {what}"]
    return []


def validate_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns1123_subdomain(prefix):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


def validate_label_value(value: object) -> bool:
    return isinstance(value, str) and _label_value_ok(value)


# A workload's pods carry its few labels by the thousand and every write of an object validates
# its labels: the verdict on each key and value is kept (pure functions of a string).
@functools.lru_cache(maxsize=4096)
def _label_value_ok(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.fullmatch(value))


_label_key_ok = functools.lru_cache(maxsize=4096)(validate_label_key)  # a dict's keys: hashable


LABEL_KEY_RULE = (
    'an optional DNS subdomain prefix and "/", then at most 63 of a-z, A-Z, 0-9, "-", "_", "." '
    "beginning and ending with a letter or digit"
)
LABEL_VALUE_RULE = (
    'at most 63 of a-z, A-Z, 0-9, "-", "_", "." beginning and ending with a letter or digit, '
    "or empty"
)


def labels_causes(field: str, labels: Mapping[str, str]) -> list[str]:
    causes = []
    for key, value in labels.items():
        if not _label_key_ok(key):
            causes.append(f"{field}: Invalid value: {key!r}: not a valid label key")
        if not validate_label_value(value):
            causes.append(f"{field}: Invalid value: {value!r}: not a valid label value")
    return causes


def validate_meta(meta: ObjectMeta, namespaced: bool, name_rule: str = "subdomain") -> list[str]:
    causes = _name_causes(meta.name, name_rule)
    if namespaced and not meta.namespace:
        causes.append("metadata.namespace: Required value")
    if meta.namespace and not is_dns1123_label(meta.namespace):
        causes.append(f"metadata.namespace: Invalid value: {meta.namespace!r}")
    causes += labels_causes("metadata.labels", meta.labels)
    return causes


def same_validated_meta(meta: ObjectMeta, was: ObjectMeta) -> bool:
    """Whether what :func:`validate_meta` reads (name, namespace, labels) is ``was``'s: an
    update whose stored version ``was`` passed it finds no cause there either."""
    return meta.name == was.name and meta.namespace == was.namespace and meta.labels == was.labels


def _probe_causes(field: str, probe: Probe | None) -> list[str]:
    if probe is None:
        return []
    causes = []
    for name, minimum in (
        ("initial_delay_seconds", 0),
        ("period_seconds", 1),
        ("timeout_seconds", 1),
        ("success_threshold", 1),
        ("failure_threshold", 1),
    ):
        value = getattr(probe, name)
        if value < minimum:
            camel = _camel(name)
            causes.append(
                f"{field}.{camel}: Invalid value: {value}: must be greater than or equal to {minimum}"
            )
    return causes


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _container_causes(field: str, container: Container) -> list[str]:
    causes = []
    if not is_dns1123_label(container.name):
        causes.append(f"{field}.name: Invalid value: {container.name!r}: must be a DNS-1123 label")
    if not container.image:
        causes.append(f"{field}.image: Required value")
    for limit_name in ("cpu_millis", "memory_bytes"):
        limit = getattr(container.limits, limit_name)
        request = getattr(container.requests, limit_name)
        if limit and request > limit:
            causes.append(
                f"{field}.resources.requests: Invalid value: must be less than or equal to "
                f"{'cpu' if limit_name == 'cpu_millis' else 'memory'} limit"
            )
    causes += _probe_causes(f"{field}.livenessProbe", container.liveness_probe)
    causes += _probe_causes(f"{field}.readinessProbe", container.readiness_probe)
    causes += _probe_causes(f"{field}.startupProbe", container.startup_probe)
    if container.liveness_probe and container.liveness_probe.success_threshold != 1:
        causes.append(f"{field}.livenessProbe.successThreshold: Invalid value: must be 1")
    return causes


def validate_pod_spec(field: str, spec: PodSpec) -> list[str]:
    causes = []
    if not spec.containers:
        causes.append(f"{field}.containers: Required value")
    seen: set[str] = set()
    for i, container in enumerate(spec.containers):
        causes += _container_causes(f"{field}.containers[{i}]", container)
        grace = spec.termination_grace_period_seconds
        causes += lifecycle_causes(f"{field}.containers[{i}]", container, grace)
        if container.name in seen:
            causes.append(f"{field}.containers[{i}].name: Duplicate value: {container.name!r}")
        seen.add(container.name)
    causes += init_container_causes(field, spec, _container_causes)
    if spec.restart_policy not in ("Always", "OnFailure", "Never"):
        causes.append(
            f"{field}.restartPolicy: Unsupported value: {spec.restart_policy!r}: "
            'supported values: "Always", "OnFailure", "Never"'
        )
    if spec.termination_grace_period_seconds < 0:
        causes.append(f"{field}.terminationGracePeriodSeconds: must be non-negative")
    for i, tol in enumerate(spec.tolerations):
        if tol.operator not in ("Equal", "Exists"):
            causes.append(f"{field}.tolerations[{i}].operator: Unsupported value: {tol.operator!r}")
        if tol.operator == "Exists" and tol.value:
            causes.append(f"{field}.tolerations[{i}].value: must be empty when operator is Exists")
        if tol.effect not in ("", *TAINT_EFFECTS):
            causes.append(f"{field}.tolerations[{i}].effect: Unsupported value: {tol.effect!r}")
    affinity = f"{field}.affinity.nodeAffinity"
    causes += node_affinity_causes(
        f"{affinity}.requiredDuringSchedulingIgnoredDuringExecution", spec.node_affinity
    )
    preferred = f"{affinity}.preferredDuringSchedulingIgnoredDuringExecution"
    causes += pod_priority_causes(field, spec)
    causes += pod_placement_causes(field, spec, validate_label_key)
    return causes + preferred_affinity_causes(preferred, spec.preferred_node_affinity)


def _replicas_causes(replicas: int) -> list[str]:
    if replicas < 0:
        return [f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"]
    return []


def _selector_causes(obj: Deployment | ReplicaSet) -> list[str]:
    causes = []
    if obj.spec.selector.is_empty():
        causes.append("spec.selector: Required value")
    elif not obj.spec.selector.matches(obj.spec.template.metadata.labels):
        causes.append(
            "spec.template.metadata.labels: Invalid value: selector does not match template labels"
        )
    causes += labels_causes("spec.template.metadata.labels", obj.spec.template.metadata.labels)
    return causes


def _percent_or_int_causes(field: str, value: int | str) -> list[str]:
    if isinstance(value, int):
        return [] if value >= 0 else [f"{field}: Invalid value: {value}: must be non-negative"]
    if re.fullmatch(r"\d+%", value):
        return []
    return [f"{field}: Invalid value: {value!r}: must be an integer or percentage (e.g. '25%')"]


def pod_spec_causes(spec: PodSpec) -> list[str]:
    """The causes of a pod's own spec (fields under ``spec``)."""
    return validate_pod_spec("spec", spec)


def validate_pod(
    obj: Pod, spec_causes: Callable[[PodSpec], list[str]] = pod_spec_causes
) -> list[str]:
    """A pod's causes; ``spec_causes``: :func:`pod_spec_causes` or a memo of it (the pod
    strategy's, as a ReplicaSet's pods share one spec object)."""
    return validate_meta(obj.metadata, True) + spec_causes(obj.spec)


def validate_replicaset(obj: ReplicaSet) -> list[str]:
    return (
        validate_meta(obj.metadata, True)
        + _replicas_causes(obj.spec.replicas)
        + _selector_causes(obj)
        + validate_pod_spec("spec.template.spec", obj.spec.template.spec)
    )


def validate_deployment(obj: Deployment) -> list[str]:
    strategy = obj.spec.strategy
    causes = (
        validate_meta(obj.metadata, True)
        + _replicas_causes(obj.spec.replicas)
        + _selector_causes(obj)
        + validate_pod_spec("spec.template.spec", obj.spec.template.spec)
    )
    if strategy.type not in ("RollingUpdate", "Recreate"):
        causes.append(
            f"spec.strategy.type: Unsupported value: {strategy.type!r}: "
            'supported values: "Recreate", "RollingUpdate"'
        )
    if strategy.type == "RollingUpdate":
        causes += _percent_or_int_causes("spec.strategy.rollingUpdate.maxSurge", strategy.max_surge)
        causes += _percent_or_int_causes(
            "spec.strategy.rollingUpdate.maxUnavailable", strategy.max_unavailable
        )
        if strategy.max_surge in (0, "0%") and strategy.max_unavailable in (0, "0%"):
            causes.append(
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
                "may not be 0 when maxSurge is 0"
            )
    return causes


def validate_namespace(obj: Namespace) -> list[str]:
    return validate_meta(obj.metadata, False, "label")


def validate_node(obj: Node) -> list[str]:
    return validate_meta(obj.metadata, False)


def validate_lease(obj: Lease) -> list[str]:
    """ValidateLease (pkg/apis/coordination/validation/validation.go): metadata, then spec."""
    return validate_meta(obj.metadata, True) + validate_lease_spec(obj.spec)


def validate_lease_spec(spec: LeaseSpec) -> list[str]:
    """ValidateLeaseSpec: a leaseDurationSeconds above 0, a leaseTransitions not negative."""
    causes = []
    if spec.lease_duration_seconds is not None and spec.lease_duration_seconds <= 0:
        causes.append(
            f"spec.leaseDurationSeconds: Invalid value: {spec.lease_duration_seconds}: "
            "must be greater than 0"
        )
    if spec.lease_transitions is not None and spec.lease_transitions < 0:
        causes.append(
            f"spec.leaseTransitions: Invalid value: {spec.lease_transitions}: "
            "must be greater than or equal to 0"
        )
    return causes


# ---------------------------------------------------------------------------- config kinds
# pkg/apis/core/validation (ValidateConfigMap, ValidateSecret) and pkg/apis/scheduling/validation.

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
CONFIG_KEY_RULE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)
HIGHEST_USER_PRIORITY = 1_000_000_000  # scheduling.HighestUserDefinablePriority
SYSTEM_PRIORITY_CLASSES = {
    "system-cluster-critical": 2_000_000_000,
    "system-node-critical": 2_000_001_000,
}


def _config_key_causes(field: str, keys: Mapping[str, str]) -> list[str]:
    causes = []
    for key in keys:
        if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
            causes.append(f"{field}[{key}]: Invalid value: {key!r}: {CONFIG_KEY_RULE}")
        elif key in (".", "..") or key.startswith(".."):
            causes.append(f"{field}[{key}]: Invalid value: {key!r}: must not start with '..'")
    return causes


def validate_configmap(obj: ConfigMap) -> list[str]:
    causes = validate_meta(obj.metadata, True)
    causes += _config_key_causes("data", obj.data)
    causes += _config_key_causes("binaryData", obj.binary_data)
    causes += _base64_causes("binaryData", obj.binary_data)
    for key in obj.data:
        if key in obj.binary_data:
            causes.append(
                f"data[{key}]: Invalid value: {key!r}: duplicate of key present in binaryData"
            )
    return causes


def _base64_causes(field: str, data: Mapping[str, str]) -> list[str]:
    causes = []
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            causes.append(f"{field}[{key}]: Invalid value: illegal base64 data ({exc})")
    return causes


def validate_secret(obj: Secret) -> list[str]:
    causes = validate_meta(obj.metadata, True)
    causes += _config_key_causes("data", obj.data)
    causes += _config_key_causes("stringData", obj.string_data)
    causes += _base64_causes("data", obj.data)
    if not obj.type:
        causes.append("type: Required value")
    return causes


def validate_serviceaccount(obj: ServiceAccount) -> list[str]:
    return validate_meta(obj.metadata, True)


def validate_priorityclass(obj: PriorityClass) -> list[str]:
    causes = validate_meta(obj.metadata, False)
    name = obj.metadata.name
    if name.startswith("system-"):
        if SYSTEM_PRIORITY_CLASSES.get(name) != obj.value:
            causes.append(
                f"metadata.name: Invalid value: {name!r}: "
                "priority class names with 'system-' prefix are reserved"
            )
    elif obj.value > HIGHEST_USER_PRIORITY:
        causes.append(
            f"value: Forbidden: maximum allowed value of a user defined priority is "
            f"{HIGHEST_USER_PRIORITY}"
        )
    if obj.preemption_policy not in ("PreemptLowerPriority", "Never"):
        causes.append(
            f"preemptionPolicy: Unsupported value: {obj.preemption_policy!r}: "
            'supported values: "Never", "PreemptLowerPriority"'
        )
    return causes


def validate_pdb(obj: PodDisruptionBudget) -> list[str]:
    """pkg/apis/policy/validation ValidatePodDisruptionBudgetSpec: minAvailable and
    maxUnavailable are exclusive, each a non-negative int or a percentage of at most 100%;
    the unhealthy pod eviction policy is one of two."""
    spec = obj.spec
    causes = validate_meta(obj.metadata, True)
    if spec.min_available is not None and spec.max_unavailable is not None:
        causes.append("spec: Invalid value: minAvailable and maxUnavailable cannot be both set")
    for field, value in (
        ("minAvailable", spec.min_available),
        ("maxUnavailable", spec.max_unavailable),
    ):
        if value is None:
            continue
        found = _percent_or_int_causes(f"spec.{field}", value)
        if not found and isinstance(value, str) and int(value.rstrip("%")) > 100:
            found = [f"spec.{field}: Invalid value: {value!r}: must not be greater than 100%"]
        causes += found
    if spec.unhealthy_pod_eviction_policy not in ("IfHealthyBudget", "AlwaysAllow"):
        causes.append(
            "spec.unhealthyPodEvictionPolicy: Unsupported value: "
            f'{spec.unhealthy_pod_eviction_policy!r}: supported values: "AlwaysAllow", '
            '"IfHealthyBudget"'
        )
    return causes


def immutable_data_causes(old: Any, new: Any, fields: tuple[str, ...]) -> list[str]:
    """An immutable ConfigMap or Secret keeps its data and stays immutable."""
    if not old.immutable:
        return []
    causes = []
    if not new.immutable:
        causes.append("immutable: Forbidden: field is immutable when `immutable` is set")
    if any(getattr(old, f) != getattr(new, f) for f in fields):
        causes.append("data: Forbidden: field is immutable when `immutable` is set")
    return causes
