"""The kinds the API serves, as discovery describes them to a client (``metav1.APIResource``).

A client that only needs a kind's facts (its plural, whether it is namespaced, its group and
version) reads them here, as client-go reads them from discovery through a RESTMapper; it does not
depend on the API server's storage to learn them. The API server's registry
(:mod:`kubechaos.control.registry`) pairs each of these with the class that holds it and the
strategy that handles it.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import APIObject


@attrs.frozen
class APIResource:
    name: str  # plural, as in URLs and etcd keys
    kind: str
    group_version: str  # "v1", "apps/v1", "coordination.k8s.io/v1"
    namespaced: bool


NAMESPACES = APIResource("namespaces", "Namespace", "v1", False)
NODES = APIResource("nodes", "Node", "v1", False)
PODS = APIResource("pods", "Pod", "v1", True)
REPLICASETS = APIResource("replicasets", "ReplicaSet", "apps/v1", True)
DEPLOYMENTS = APIResource("deployments", "Deployment", "apps/v1", True)
SERVICES = APIResource("services", "Service", "v1", True)
ENDPOINTS = APIResource("endpoints", "Endpoints", "v1", True)
LEASES = APIResource("leases", "Lease", "coordination.k8s.io/v1", True)
CONFIGMAPS = APIResource("configmaps", "ConfigMap", "v1", True)
SECRETS = APIResource("secrets", "Secret", "v1", True)
SERVICEACCOUNTS = APIResource("serviceaccounts", "ServiceAccount", "v1", True)
PRIORITYCLASSES = APIResource("priorityclasses", "PriorityClass", "scheduling.k8s.io/v1", False)
CONFIG = (CONFIGMAPS, SECRETS, SERVICEACCOUNTS, PRIORITYCLASSES)
PODDISRUPTIONBUDGETS = APIResource("poddisruptionbudgets", "PodDisruptionBudget", "policy/v1", True)
DAEMONSETS = APIResource("daemonsets", "DaemonSet", "apps/v1", True)
HORIZONTALPODAUTOSCALERS = APIResource(
    "horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling/v2", True
)
STATEFULSETS = APIResource("statefulsets", "StatefulSet", "apps/v1", True)
JOBS = APIResource("jobs", "Job", "batch/v1", True)
ENDPOINTSLICES = APIResource("endpointslices", "EndpointSlice", "discovery.k8s.io/v1", True)

# In the order the API server sets them up (its watch caches subscribe to etcd in this order).
API_RESOURCES: dict[str, APIResource] = {
    r.name: r
    for r in (
        NAMESPACES,
        NODES,
        PODS,
        REPLICASETS,
        DEPLOYMENTS,
        SERVICES,
        ENDPOINTS,
        LEASES,
        *CONFIG,
        PODDISRUPTIONBUDGETS,
        DAEMONSETS,
        HORIZONTALPODAUTOSCALERS,
        STATEFULSETS,
        JOBS,
        ENDPOINTSLICES,
    )
}
RESOURCE_OF_KIND: dict[str, str] = {r.kind: r.name for r in API_RESOURCES.values()}


def resource_of(obj: APIObject) -> str:
    """The plural resource ``obj`` is stored and served as (``Pod`` -> ``pods``)."""
    return RESOURCE_OF_KIND[type(obj).__name__]
