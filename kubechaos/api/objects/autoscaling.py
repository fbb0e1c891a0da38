"""autoscaling/v2 HorizontalPodAutoscaler: the autoscaler the HPA controller keeps.

Field names are the snake_case of upstream's (k8s.io/api/autoscaling/v2/types.go). Quantities
are held in milli-units (``average_value`` of a cpu target in millicores), as upstream's
controller reads them (``MilliValue()``).
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.meta import ObjectMeta

# MetricSourceType
RESOURCE_METRIC = "Resource"
# MetricTargetType
UTILIZATION = "Utilization"
AVERAGE_VALUE = "AverageValue"
VALUE = "Value"
# ScalingPolicySelect / HPAScalingPolicyType
SELECT_MAX = "Max"
SELECT_MIN = "Min"
SELECT_DISABLED = "Disabled"
PODS_POLICY = "Pods"
PERCENT_POLICY = "Percent"
# autoscaling.DefaultCPUUtilization: the metric an HPA without metrics gets (v2 defaults.go)
DEFAULT_CPU_UTILIZATION = 80


@attrs.frozen(slots=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@attrs.frozen(slots=True)
class MetricTarget:
    type: str  # Utilization | AverageValue | Value
    average_utilization: int | None = None  # percent of the pods' requests
    average_value: int | None = None  # milli-units (millicores for cpu)
    value: int | None = None  # milli-units


@attrs.frozen(slots=True)
class MetricSpec:
    """One ``spec.metrics[]`` entry. Only ``Resource`` metrics of ``cpu`` are computed; any other
    (``Pods``, ``Object``, ``External``, ``ContainerResource``, a ``memory`` resource) is kept so
    the controller reports it as a metric it cannot get (and the manifest loader warns)."""

    type: str
    resource_name: str = ""  # for Resource (and ContainerResource) metrics
    target: MetricTarget | None = None
    container: str = ""  # ContainerResource only


@attrs.frozen(slots=True)
class HPAScalingPolicy:
    type: str  # Pods | Percent
    value: int
    period_seconds: int


@attrs.frozen(slots=True)
class HPAScalingRules:
    stabilization_window_seconds: int | None = None
    select_policy: str = SELECT_MAX
    policies: tuple[HPAScalingPolicy, ...] = ()


def default_scale_up() -> HPAScalingRules:
    """GenerateHPAScaleUpRules (pkg/apis/autoscaling/v2/defaults.go): no stabilization, the
    larger of 100% and 4 pods per 15 s."""
    return HPAScalingRules(
        0,
        SELECT_MAX,
        (HPAScalingPolicy(PODS_POLICY, 4, 15), HPAScalingPolicy(PERCENT_POLICY, 100, 15)),
    )


def default_scale_down() -> HPAScalingRules:
    """GenerateHPAScaleDownRules: 100% per 15 s; the stabilization window stays unset (the
    controller fills it from --horizontal-pod-autoscaler-downscale-stabilization)."""
    return HPAScalingRules(None, SELECT_MAX, (HPAScalingPolicy(PERCENT_POLICY, 100, 15),))


@attrs.frozen(slots=True)
class HorizontalPodAutoscalerBehavior:
    scale_up: HPAScalingRules = attrs.field(factory=default_scale_up)
    scale_down: HPAScalingRules = attrs.field(factory=default_scale_down)


@attrs.frozen(slots=True)
class HorizontalPodAutoscalerSpec:
    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int = 1
    metrics: tuple[MetricSpec, ...] = (
        MetricSpec(RESOURCE_METRIC, "cpu", MetricTarget(UTILIZATION, DEFAULT_CPU_UTILIZATION)),
    )
    behavior: HorizontalPodAutoscalerBehavior | None = None


@attrs.frozen(slots=True)
class HorizontalPodAutoscalerCondition:
    type: str  # AbleToScale | ScalingActive | ScalingLimited
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: float = 0.0


@attrs.frozen(slots=True)
class MetricStatus:
    """``status.currentMetrics[]`` for a Resource metric: what the controller last computed."""

    type: str
    resource_name: str = ""
    average_utilization: int | None = None
    average_value: int | None = None  # milli-units


@attrs.frozen(slots=True)
class HorizontalPodAutoscalerStatus:
    observed_generation: int = 0
    last_scale_time: float | None = None
    current_replicas: int = 0
    desired_replicas: int = 0
    current_metrics: tuple[MetricStatus, ...] = ()
    conditions: tuple[HorizontalPodAutoscalerCondition, ...] = ()

    def condition(self, type_: str) -> HorizontalPodAutoscalerCondition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@attrs.frozen(slots=True)
class HorizontalPodAutoscaler:
    KIND: ClassVar[str] = "HorizontalPodAutoscaler"
    metadata: ObjectMeta
    spec: HorizontalPodAutoscalerSpec
    status: HorizontalPodAutoscalerStatus = HorizontalPodAutoscalerStatus()
