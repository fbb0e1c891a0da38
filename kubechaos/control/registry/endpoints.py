"""Endpoints: written whole by the endpoints controller; no status, no special rules.

Upstream's pkg/registry/core/endpoint/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Endpoints
from kubechaos.api.validation import same_validated_meta, validate_endpoints
from kubechaos.control.registry.strategy import ResourceType, Strategy


class EndpointsStrategy(Strategy[Endpoints]):
    def validate(self, obj: Endpoints) -> list[str]:
        return validate_endpoints(obj)

    def validate_update(self, old: Endpoints, new: Endpoints) -> list[str]:
        """ValidateEndpointsUpdate (pkg/apis/core/validation/validation.go) validates ``new``
        whole; of its rules the model holds the metadata's, so metadata that reads as the
        stored version's (which passed them) has no cause to find: the endpoints controller's
        writes, which change the subsets and keep the name and labels, check nothing again."""
        if same_validated_meta(new.metadata, old.metadata):
            return []
        return validate_endpoints(new)


ENDPOINTS = ResourceType(discovery.ENDPOINTS, Endpoints, False, False, EndpointsStrategy)
