"""ReplicaSets: status is the controller's, a spec change bumps ``metadata.generation``.

Upstream's pkg/registry/apps/replicaset/strategy.go.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import ReplicaSet, ReplicaSetStatus
from kubechaos.api.validation import validate_replicaset
from kubechaos.control.registry.strategy import ResourceType, Strategy


class ReplicaSetStrategy(Strategy[ReplicaSet]):
    def prepare_for_create(self, obj: ReplicaSet) -> ReplicaSet:
        return attrs.evolve(obj, status=ReplicaSetStatus())

    def validate(self, obj: ReplicaSet) -> list[str]:
        return validate_replicaset(obj)


REPLICASETS = ResourceType(discovery.REPLICASETS, ReplicaSet, True, True, ReplicaSetStrategy)
