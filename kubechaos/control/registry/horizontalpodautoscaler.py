"""HorizontalPodAutoscalers: status is the HPA controller's, a spec change bumps
``metadata.generation``.

Upstream's pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go.
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus
from kubechaos.api.validation_hpa import validate_hpa
from kubechaos.control.registry.strategy import ResourceType, Strategy


class HorizontalPodAutoscalerStrategy(Strategy[HorizontalPodAutoscaler]):
    def prepare_for_create(self, obj: HorizontalPodAutoscaler) -> HorizontalPodAutoscaler:
        return attrs.evolve(obj, status=HorizontalPodAutoscalerStatus())

    def validate(self, obj: HorizontalPodAutoscaler) -> list[str]:
        return validate_hpa(obj)


HORIZONTALPODAUTOSCALERS = ResourceType(
    discovery.HORIZONTALPODAUTOSCALERS,
    HorizontalPodAutoscaler,
    True,
    True,
    HorizontalPodAutoscalerStrategy,
)
