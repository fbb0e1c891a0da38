"""Leases: node heartbeats and leader election; no status, no special rules.

Upstream's pkg/registry/coordination/lease/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Lease
from kubechaos.api.validation import validate_lease
from kubechaos.control.registry.strategy import ResourceType, Strategy


class LeaseStrategy(Strategy[Lease]):
    def validate(self, obj: Lease) -> list[str]:
        return validate_lease(obj)


LEASES = ResourceType(discovery.LEASES, Lease, False, False, LeaseStrategy)
