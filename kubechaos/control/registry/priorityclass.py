"""PriorityClasses (cluster-scoped): ``value`` and ``preemptionPolicy`` never change.

Upstream's pkg/registry/scheduling/priorityclass/strategy.go and ValidatePriorityClassUpdate
(pkg/apis/scheduling/validation), with the Priority admission plugin's rule that one class at
most is the global default (plugin/pkg/admission/priority/admission.go). The built-in classes are created at bootstrap
(:mod:`kubechaos.control.bootstrap`), as upstream's post-start hook does.
"""

from __future__ import annotations

from kubechaos.api import discovery, errors
from kubechaos.api.objects import PriorityClass
from kubechaos.api.validation import validate_priorityclass
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse


class PriorityClassStrategy(Strategy[PriorityClass]):
    def admit(self, obj: PriorityClass) -> PriorityClass:
        self._refuse_second_default(obj, creating=True)
        return obj

    def validate(self, obj: PriorityClass) -> list[str]:
        return validate_priorityclass(obj)

    def _refuse_second_default(self, obj: PriorityClass, creating: bool = False) -> None:
        """A class may become the global default only while no other class is one: upstream
        refuses a default on create while one exists, and on update unless it is the default
        already (with several, a race upstream allows, the default is the one of lowest value)."""
        if not obj.global_default:
            return
        defaults = [pc for pc in self.options.cached("priorityclasses") if pc.global_default]
        if not defaults:
            return
        default = min(defaults, key=lambda pc: pc.value)
        if creating or default.metadata.name != obj.metadata.name:
            raise errors.Forbidden(
                f'priorityclasses.scheduling.k8s.io "{obj.metadata.name}" is forbidden: '
                f"PriorityClass {default.metadata.name} is already marked as default. "
                "Only one default can exist"
            )

    def prepare_for_update(self, old: PriorityClass, new: PriorityClass) -> PriorityClass:
        causes = []
        if new.value != old.value:
            causes.append("value: Forbidden: may not be changed in an update.")
        if new.preemption_policy != old.preemption_policy:
            causes.append("preemptionPolicy: Invalid value: field is immutable")
        refuse(new, causes)
        self._refuse_second_default(new)
        return new


PRIORITYCLASSES = ResourceType(
    discovery.PRIORITYCLASSES, PriorityClass, False, False, PriorityClassStrategy
)
