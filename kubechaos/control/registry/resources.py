"""The resource table: every kind the API server serves, in the order it sets them up.

Upstream assembles the same table from each API group's REST storage providers
(pkg/controlplane/apis/*/rest); here it is one tuple. Components that only need a kind's facts (is it
namespaced? what is its plural?) read them from :mod:`kubechaos.api.discovery` instead.
"""

from __future__ import annotations

from kubechaos.api.discovery import API_RESOURCES
from kubechaos.control.registry.config import CONFIG
from kubechaos.control.registry.daemonset import DAEMONSETS
from kubechaos.control.registry.deployment import DEPLOYMENTS
from kubechaos.control.registry.endpoints import ENDPOINTS
from kubechaos.control.registry.endpointslice import ENDPOINTSLICES
from kubechaos.control.registry.horizontalpodautoscaler import HORIZONTALPODAUTOSCALERS
from kubechaos.control.registry.job import JOBS
from kubechaos.control.registry.lease import LEASES
from kubechaos.control.registry.namespace import NAMESPACES
from kubechaos.control.registry.node import NODES
from kubechaos.control.registry.pod import PODS
from kubechaos.control.registry.poddisruptionbudget import PODDISRUPTIONBUDGETS
from kubechaos.control.registry.replicaset import REPLICASETS
from kubechaos.control.registry.service import SERVICES
from kubechaos.control.registry.statefulset import STATEFULSETS
from kubechaos.control.registry.strategy import ResourceType

_HANDLED: dict[str, ResourceType] = {
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
assert set(_HANDLED) == set(API_RESOURCES), "the registry serves exactly what discovery lists"

# In discovery's order: the order the API server builds its watch caches and subscribes them to
# etcd (one list of kinds, kept in api/discovery.py).
RESOURCES: dict[str, ResourceType] = {name: _HANDLED[name] for name in API_RESOURCES}


def etcd_prefix(resource: str) -> str:
    return f"/registry/{resource}/"


# resource -> whether it is namespaced, read by every request's etcd_key
_NAMESPACED: dict[str, bool] = {name: r.namespaced for name, r in RESOURCES.items()}


def etcd_key(resource: str, namespace: str, name: str) -> str:
    """Where an object lives in etcd (upstream's generic store keys them the same way)."""
    if _NAMESPACED[resource]:
        return f"/registry/{resource}/{namespace}/{name}"
    return f"/registry/{resource}/{name}"
