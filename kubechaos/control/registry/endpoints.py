"""Endpoints: written whole by the endpoints controller; no status, no special rules.

Upstream's pkg/registry/core/endpoint/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Endpoints
from kubechaos.api.validation_endpoints import validate_endpoints, validate_endpoints_update
from kubechaos.control.registry.strategy import ResourceType, Strategy


class EndpointsStrategy(Strategy[Endpoints]):
    def validate(self, obj: Endpoints) -> list[str]:
        return validate_endpoints(obj)

    def validate_update(self, old: Endpoints, new: Endpoints) -> list[str]:
        return validate_endpoints_update(new, old)  # checks only what differs from old


ENDPOINTS = ResourceType(discovery.ENDPOINTS, Endpoints, False, False, EndpointsStrategy)
