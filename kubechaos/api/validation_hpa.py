"""Validation of autoscaling/v2 HorizontalPodAutoscalers, as
pkg/apis/autoscaling/validation/validation.go does it (HPAScaleToZero off, as by default)."""

from __future__ import annotations

from kubechaos.api.objects import (
    HorizontalPodAutoscaler,
    HPAScalingRules,
    MetricSpec,
)
from kubechaos.api.objects.autoscaling import (
    AVERAGE_VALUE,
    PERCENT_POLICY,
    PODS_POLICY,
    SELECT_DISABLED,
    SELECT_MAX,
    SELECT_MIN,
    UTILIZATION,
    VALUE,
)
from kubechaos.api.validation import validate_meta

MAX_STABILIZATION_WINDOW_SECONDS = 3600  # validation.go MaxStabilizationWindowSeconds
MAX_PERIOD_SECONDS = 1800  # validation.go MaxPeriodSeconds


def validate_hpa(obj: HorizontalPodAutoscaler) -> list[str]:
    spec = obj.spec
    causes = validate_meta(obj.metadata, True)
    ref = spec.scale_target_ref
    if not ref.kind:
        causes.append("spec.scaleTargetRef.kind: Required value")
    if not ref.name:
        causes.append("spec.scaleTargetRef.name: Required value")
    if spec.min_replicas < 1:
        causes.append(
            f"spec.minReplicas: Invalid value: {spec.min_replicas}: must be greater than or "
            "equal to 1"
        )
    if spec.max_replicas < 1:
        causes.append(
            f"spec.maxReplicas: Invalid value: {spec.max_replicas}: must be greater than 0"
        )
    elif spec.max_replicas < spec.min_replicas:
        causes.append(
            f"spec.maxReplicas: Invalid value: {spec.max_replicas}: must be greater than or "
            "equal to `minReplicas`"
        )
    for i, metric in enumerate(spec.metrics):
        causes += _metric_causes(f"spec.metrics[{i}]", metric)
    if spec.behavior is not None:
        causes += _rules_causes("spec.behavior.scaleUp", spec.behavior.scale_up)
        causes += _rules_causes("spec.behavior.scaleDown", spec.behavior.scale_down)
    return causes


def _metric_causes(field: str, metric: MetricSpec) -> list[str]:
    target = metric.target
    if metric.type not in ("Resource", "ContainerResource") or target is None:
        return []
    key = "resource" if metric.type == "Resource" else "containerResource"
    where = f"{field}.{key}.target"
    if target.type not in (UTILIZATION, AVERAGE_VALUE):
        if target.type == VALUE:
            return [
                f"{where}.type: Invalid value: {VALUE!r}: must be either Utilization or "
                "AverageValue"
            ]
        return [
            f"{where}.type: Unsupported value: {target.type!r}: supported values: "
            '"AverageValue", "Utilization", "Value"'
        ]
    causes = []
    if target.type == UTILIZATION and (target.average_utilization or 0) <= 0:
        causes.append(f"{where}.averageUtilization: Required value: must be greater than 0")
    if target.type == AVERAGE_VALUE and (target.average_value or 0) <= 0:
        causes.append(f"{where}.averageValue: Required value: must be positive")
    if target.type == UTILIZATION and target.average_value is not None:
        causes.append(f"{where}.averageValue: Forbidden: may not be set with averageUtilization")
    return causes


def _rules_causes(field: str, rules: HPAScalingRules) -> list[str]:
    causes = []
    window = rules.stabilization_window_seconds
    if window is not None and not 0 <= window <= MAX_STABILIZATION_WINDOW_SECONDS:
        causes.append(
            f"{field}.stabilizationWindowSeconds: Invalid value: {window}: must be between 0 "
            f"and {MAX_STABILIZATION_WINDOW_SECONDS}"
        )
    if rules.select_policy not in (SELECT_MAX, SELECT_MIN, SELECT_DISABLED):
        causes.append(
            f"{field}.selectPolicy: Unsupported value: {rules.select_policy!r}: supported "
            'values: "Disabled", "Max", "Min"'
        )
    for i, policy in enumerate(rules.policies):
        where = f"{field}.policies[{i}]"
        if policy.type not in (PODS_POLICY, PERCENT_POLICY):
            causes.append(
                f"{where}.type: Unsupported value: {policy.type!r}: supported values: "
                '"Percent", "Pods"'
            )
        if policy.value <= 0:
            causes.append(f"{where}.value: Invalid value: {policy.value}: must be greater than 0")
        if not 0 < policy.period_seconds <= MAX_PERIOD_SECONDS:
            causes.append(
                f"{where}.periodSeconds: Invalid value: {policy.period_seconds}: must be "
                f"greater than zero and less than or equal to {MAX_PERIOD_SECONDS}"
            )
    return causes
