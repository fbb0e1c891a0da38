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
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse

# ValidateStatefulSetUpdate (pkg/apis/apps/validation/validation.go): the spec fields an update
# may change; every other one is immutable.
_MUTABLE = (
    "replicas",
    "ordinals_start",
    "template",
    "update_strategy",
    "pvc_retention",
    "min_ready_seconds",
    "revision_history_limit",
)


class StatefulSetStrategy(Strategy[StatefulSet]):
    def prepare_for_create(self, obj: StatefulSet) -> StatefulSet:
        return attrs.evolve(obj, status=StatefulSetStatus())

    def validate(self, obj: StatefulSet) -> list[str]:
        return validate_statefulset(obj)

    def prepare_for_update(self, old: StatefulSet, new: StatefulSet) -> StatefulSet:
        kept = {field: getattr(old.spec, field) for field in _MUTABLE}
        if attrs.evolve(new.spec, **kept) != old.spec:
            refuse(
                new,
                [
                    "spec: Forbidden: updates to statefulset spec for fields other than "
                    "'replicas', 'ordinals', 'template', 'updateStrategy', "
                    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                ],
            )
        return new


STATEFULSETS = ResourceType(discovery.STATEFULSETS, StatefulSet, True, True, StatefulSetStrategy)
