"""PriorityClasses (cluster-scoped): ``value`` and ``preemptionPolicy`` never change.

Upstream's pkg/registry/scheduling/priorityclass/strategy.go and ValidatePriorityClassUpdate
(pkg/apis/scheduling/validation). The built-in classes are created at bootstrap
(:mod:`kubechaos.control.bootstrap`), as upstream's post-start hook does.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import PriorityClass
from kubechaos.api.validation import validate_priorityclass
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse


class PriorityClassStrategy(Strategy[PriorityClass]):
    def validate(self, obj: PriorityClass) -> list[str]:
        return validate_priorityclass(obj)

    def prepare_for_update(self, old: PriorityClass, new: PriorityClass) -> PriorityClass:
        causes = []
        if new.value != old.value:
            causes.append("value: Forbidden: may not be changed in an update.")
        if new.preemption_policy != old.preemption_policy:
            causes.append("preemptionPolicy: Invalid value: field is immutable")
        refuse(new, causes)
        return new


PRIORITYCLASSES = ResourceType(
    discovery.PRIORITYCLASSES, PriorityClass, False, False, PriorityClassStrategy
)
