"""StatefulSets: status is the controller's, a spec change bumps ``metadata.generation``.

Upstream's pkg/registry/apps/statefulset/strategy.go. With the MaxUnavailableStatefulSet feature
gate off (its default in v1.32) ``updateStrategy.rollingUpdate.maxUnavailable`` is dropped on
create; the reader never keeps it.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import StatefulSet, StatefulSetStatus
from kubechaos.api.validation_statefulset import validate_statefulset
from kubechaos.control.registry.strategy import ResourceType, Strategy


class StatefulSetStrategy(Strategy[StatefulSet]):
    def prepare_for_create(self, obj: StatefulSet) -> StatefulSet:
        return attrs.evolve(obj, status=StatefulSetStatus())

    def validate(self, obj: StatefulSet) -> list[str]:
        return validate_statefulset(obj)


STATEFULSETS = ResourceType(discovery.STATEFULSETS, StatefulSet, True, True, StatefulSetStrategy)
