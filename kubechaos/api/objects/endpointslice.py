"""discovery.k8s.io/v1 EndpointSlice: a Service's endpoints, at most ``maxEndpointsPerSlice``
(100 by default) per object (k8s.io/api/discovery/v1/types.go).

The EndpointSlice controller writes them for every Service with a selector, labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``; kube-proxy reads
them. Conditions follow the API's nil rules: ``ready`` and ``serving`` unset mean true,
``terminating`` unset means false (the controller always sets all three).
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.core import ServicePort
from kubechaos.api.objects.meta import ObjectMeta

LABEL_SERVICE_NAME = "kubernetes.io/service-name"  # discovery.LabelServiceName
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"  # discovery.LabelManagedBy
CONTROLLER_NAME = "endpointslice-controller.k8s.io"  # the controller's managed-by value
ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")


@attrs.frozen(slots=True)
class EndpointConditions:
    ready: bool = True
    serving: bool = True
    terminating: bool = False


@attrs.frozen(slots=True)
class EndpointTargetRef:
    kind: str = "Pod"
    namespace: str = ""
    name: str = ""
    uid: str = ""


@attrs.frozen(slots=True)
class SliceEndpoint:
    """One endpoint of a slice (``discovery.Endpoint``): a pod's addresses and conditions."""

    addresses: tuple[str, ...]
    conditions: EndpointConditions = EndpointConditions()
    node_name: str = ""
    zone: str = ""
    target_ref: EndpointTargetRef | None = None


@attrs.frozen(slots=True)
class EndpointSlice:
    KIND: ClassVar[str] = "EndpointSlice"
    metadata: ObjectMeta
    address_type: str = "IPv4"
    endpoints: tuple[SliceEndpoint, ...] = ()
    ports: tuple[ServicePort, ...] = ()

    @property
    def service_name(self) -> str:
        return self.metadata.labels.get(LABEL_SERVICE_NAME, "")


__all__ = [
    "ADDRESS_TYPES",
    "CONTROLLER_NAME",
    "LABEL_MANAGED_BY",
    "LABEL_SERVICE_NAME",
    "EndpointConditions",
    "EndpointSlice",
    "EndpointTargetRef",
    "SliceEndpoint",
]
