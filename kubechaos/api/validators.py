"""Validation of an object of any kind: the table of per-kind validators.

The API server's registry strategies call their kind's validator directly; this table serves
callers that hold an object of any kind (the manifest loader checks what it parsed). The shared
rules (names, labels, pod specs) are in :mod:`kubechaos.api.validation`; a new kind's validator
can live in its own module and joins here with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.objects import (
    APIObject,
    ConfigMap,
    DaemonSet,
    Deployment,
    Endpoints,
    EndpointSlice,
    HorizontalPodAutoscaler,
    Job,
    Lease,
    Namespace,
    Node,
    Pod,
    PodDisruptionBudget,
    PriorityClass,
    ReplicaSet,
    Secret,
    Service,
    ServiceAccount,
    StatefulSet,
)
from kubechaos.api.validation import (
    validate_configmap,
    validate_deployment,
    validate_lease,
    validate_namespace,
    validate_node,
    validate_pdb,
    validate_pod,
    validate_priorityclass,
    validate_replicaset,
    validate_secret,
    validate_serviceaccount,
)
from kubechaos.api.validation_daemonset import validate_daemonset
from kubechaos.api.validation_endpoints import validate_endpoints
from kubechaos.api.validation_endpointslice import validate_endpointslice
from kubechaos.api.validation_hpa import validate_hpa
from kubechaos.api.validation_job import validate_job
from kubechaos.api.validation_service import validate_service
from kubechaos.api.validation_statefulset import validate_statefulset

_VALIDATORS: dict[type, Callable[[Any], list[str]]] = {
    Pod: validate_pod,
    ReplicaSet: validate_replicaset,
    Deployment: validate_deployment,
    Service: validate_service,
    Namespace: validate_namespace,
    Node: validate_node,
    Endpoints: validate_endpoints,
    Lease: validate_lease,
    ConfigMap: validate_configmap,
    Secret: validate_secret,
    ServiceAccount: validate_serviceaccount,
    PriorityClass: validate_priorityclass,
    PodDisruptionBudget: validate_pdb,
    DaemonSet: validate_daemonset,
    HorizontalPodAutoscaler: validate_hpa,
    StatefulSet: validate_statefulset,
    Job: validate_job,
    EndpointSlice: validate_endpointslice,
}


def validate(obj: APIObject) -> list[str]:
    """Every cause that makes ``obj`` invalid."""
    validator = _VALIDATORS.get(type(obj))
    if validator is None:  # pragma: no cover
        raise TypeError(f"no validation for {type(obj).__name__}")
    return validator(obj)
