"""Endpoints: written whole by the endpoints controller; no status, no special rules.

Upstream's pkg/registry/core/endpoint/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Endpoints
from kubechaos.api.validation import validate_endpoints
from kubechaos.control.registry.strategy import ResourceType, Strategy


class EndpointsStrategy(Strategy[Endpoints]):
    def validate(self, obj: Endpoints) -> list[str]:
        return validate_endpoints(obj)


ENDPOINTS = ResourceType(discovery.ENDPOINTS, Endpoints, False, False, EndpointsStrategy)
