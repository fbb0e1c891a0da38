"""Namespaces: cluster-scoped, named as DNS labels; nothing else special.

Upstream's pkg/registry/core/namespace/strategy.go (its finalization is not modelled).
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Namespace
from kubechaos.api.validation import validate_namespace
from kubechaos.control.registry.strategy import ResourceType, Strategy


class NamespaceStrategy(Strategy[Namespace]):
    def validate(self, obj: Namespace) -> list[str]:
        return validate_namespace(obj)


NAMESPACES = ResourceType(discovery.NAMESPACES, Namespace, True, False, NamespaceStrategy)
