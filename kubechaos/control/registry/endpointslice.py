"""EndpointSlices: written whole by the EndpointSlice controller; no status subresource;
``addressType`` is immutable (pkg/registry/discovery/endpointslice/strategy.go and
ValidateEndpointSliceUpdate)."""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import EndpointSlice
from kubechaos.api.validation_endpointslice import (
    validate_endpointslice,
    validate_endpointslice_update,
)
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse


class EndpointSliceStrategy(Strategy[EndpointSlice]):
    def validate(self, obj: EndpointSlice) -> list[str]:
        return validate_endpointslice(obj)

    def validate_update(self, old: EndpointSlice, new: EndpointSlice) -> list[str]:
        return validate_endpointslice_update(new, old)  # checks only what differs from old

    def prepare_for_update(self, old: EndpointSlice, new: EndpointSlice) -> EndpointSlice:
        if new.address_type != old.address_type:
            refuse(new, ["addressType: Invalid value: field is immutable"])
        return new


ENDPOINTSLICES = ResourceType(
    discovery.ENDPOINTSLICES, EndpointSlice, False, False, EndpointSliceStrategy
)
