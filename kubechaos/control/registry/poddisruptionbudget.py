"""PodDisruptionBudgets: status is the disruption controller's (and the Eviction API's), a spec
change bumps ``metadata.generation``.

Upstream's pkg/registry/policy/poddisruptionbudget/strategy.go.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import PodDisruptionBudget, PodDisruptionBudgetStatus
from kubechaos.api.validation import validate_pdb
from kubechaos.control.registry.strategy import ResourceType, Strategy


class PodDisruptionBudgetStrategy(Strategy[PodDisruptionBudget]):
    def prepare_for_create(self, obj: PodDisruptionBudget) -> PodDisruptionBudget:
        return attrs.evolve(obj, status=PodDisruptionBudgetStatus())

    def validate(self, obj: PodDisruptionBudget) -> list[str]:
        return validate_pdb(obj)


PODDISRUPTIONBUDGETS = ResourceType(
    discovery.PODDISRUPTIONBUDGETS, PodDisruptionBudget, True, True, PodDisruptionBudgetStrategy
)
