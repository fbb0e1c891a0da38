"""ServiceAccounts: no status, no special rules (tokens are not modelled).

Upstream's pkg/registry/core/serviceaccount/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import ServiceAccount
from kubechaos.api.validation import validate_serviceaccount
from kubechaos.control.registry.strategy import ResourceType, Strategy


class ServiceAccountStrategy(Strategy[ServiceAccount]):
    def validate(self, obj: ServiceAccount) -> list[str]:
        return validate_serviceaccount(obj)


SERVICEACCOUNTS = ResourceType(
    discovery.SERVICEACCOUNTS, ServiceAccount, False, False, ServiceAccountStrategy
)
