"""Deployments: status is the controller's, a spec change bumps ``metadata.generation``.

Upstream's pkg/registry/apps/deployment/strategy.go.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import Deployment, DeploymentStatus
from kubechaos.api.validation import validate_deployment
from kubechaos.control.registry.strategy import ResourceType, Strategy


class DeploymentStrategy(Strategy[Deployment]):
    def prepare_for_create(self, obj: Deployment) -> Deployment:
        return attrs.evolve(obj, status=DeploymentStatus())

    def validate(self, obj: Deployment) -> list[str]:
        return validate_deployment(obj)


DEPLOYMENTS = ResourceType(discovery.DEPLOYMENTS, Deployment, True, True, DeploymentStrategy)
