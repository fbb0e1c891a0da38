"""Validation of a discovery.k8s.io/v1 EndpointSlice (pkg/apis/discovery/validation/validation.go,
v1.32): a known address type, at most 1000 endpoints of 1 to 100 addresses each, at most 100
ports; ``addressType`` is immutable."""

from __future__ import annotations

from kubechaos.api.objects import EndpointSlice
from kubechaos.api.objects.endpointslice import ADDRESS_TYPES
from kubechaos.api.validation import validate_meta

MAX_ENDPOINTS = 1000  # maxEndpoints
MAX_ADDRESSES = 100  # maxAddresses
MAX_PORTS = 100  # maxPorts


def validate_endpointslice(obj: EndpointSlice) -> list[str]:
    causes = validate_meta(obj.metadata, True)
    if obj.address_type not in ADDRESS_TYPES:
        supported = ", ".join(f'"{t}"' for t in ADDRESS_TYPES)
        causes.append(
            f"addressType: Unsupported value: {obj.address_type!r}: supported values: {supported}"
        )
    if len(obj.endpoints) > MAX_ENDPOINTS:
        causes.append(
            f"endpoints: Too many: {len(obj.endpoints)}: must have at most {MAX_ENDPOINTS} items"
        )
    counts = [len(endpoint.addresses) for endpoint in obj.endpoints]
    if counts and (min(counts) == 0 or max(counts) > MAX_ADDRESSES):  # else none to report
        causes += _address_count_causes(counts)
    if len(obj.ports) > MAX_PORTS:
        causes.append(f"ports: Too many: {len(obj.ports)}: must have at most {MAX_PORTS} items")
    return causes


def _address_count_causes(counts: list[int]) -> list[str]:
    """Each endpoint's cause if its address count is out of bounds (``counts``: per endpoint)."""
    causes = []
    for i, count in enumerate(counts):
        if count == 0:
            causes.append(f"endpoints[{i}].addresses: Required value: must contain at least 1")
        elif count > MAX_ADDRESSES:
            causes.append(
                f"endpoints[{i}].addresses: Too many: {count}: must have at most "
                f"{MAX_ADDRESSES} items"
            )
    return causes


__all__ = ["validate_endpointslice"]
