"""DaemonSets: status is the controller's, a spec change bumps ``metadata.generation``, a
template change bumps the template generation.

Upstream's pkg/registry/apps/daemonset/strategy.go: ``spec.templateGeneration`` starts at 1 and
grows by one with each change of the pod template; apps/v1 shows it as the
``deprecated.daemonset.template.generation`` annotation, which the DaemonSet controller copies
into its pods' ``pod-template-generation`` label.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import DaemonSet, DaemonSetStatus
from kubechaos.api.validation_daemonset import validate_daemonset
from kubechaos.control.registry.strategy import ResourceType, Strategy
from kubechaos.defaults import DAEMONSET_TEMPLATE_GENERATION_ANNOTATION


def template_generation(ds: DaemonSet) -> int:
    try:
        return int(ds.metadata.annotations.get(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _with_template_generation(ds: DaemonSet, generation: int) -> DaemonSet:
    annotations = {
        **ds.metadata.annotations,
        DAEMONSET_TEMPLATE_GENERATION_ANNOTATION: str(generation),
    }
    return attrs.evolve(ds, metadata=attrs.evolve(ds.metadata, annotations=annotations))


class DaemonSetStrategy(Strategy[DaemonSet]):
    def prepare_for_create(self, obj: DaemonSet) -> DaemonSet:
        return _with_template_generation(
            attrs.evolve(obj, status=DaemonSetStatus()), max(template_generation(obj), 1)
        )

    def prepare_for_update(self, old: DaemonSet, new: DaemonSet) -> DaemonSet:
        generation = template_generation(old)
        if new.spec.template != old.spec.template:
            generation += 1
        return _with_template_generation(new, generation)

    def validate(self, obj: DaemonSet) -> list[str]:
        return validate_daemonset(obj)


DAEMONSETS = ResourceType(discovery.DAEMONSETS, DaemonSet, True, True, DaemonSetStrategy)
