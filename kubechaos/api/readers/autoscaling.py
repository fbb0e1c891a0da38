"""autoscaling/v2 HorizontalPodAutoscaler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ObjectMeta,
)
from kubechaos.api.objects.autoscaling import default_scale_down, default_scale_up
from kubechaos.api.quantity import QuantityError, parse_cpu_millis

# spec.metrics[].type -> the key holding that source (pods/object/external are kept by type only)
_SOURCES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def read_hpa(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> HorizontalPodAutoscaler:
    spec = r.map(doc.get("spec"), ("spec",))
    path: Path = ("spec",)
    ref = r.map(spec.get("scaleTargetRef"), (*path, "scaleTargetRef"))
    ref_path = (*path, "scaleTargetRef")
    target = CrossVersionObjectReference(
        r.str_(ref, "kind", ref_path, required=True),
        r.str_(ref, "name", ref_path, required=True),
        r.str_(ref, "apiVersion", ref_path),
    )
    metrics = tuple(
        _metric(r, m, (*path, "metrics", i))
        for i, m in enumerate(r.seq(spec.get("metrics"), (*path, "metrics")))
    )
    fields: dict[str, Any] = {}
    if metrics:  # none: upstream's default, cpu at 80% (SetDefaults_HorizontalPodAutoscaler)
        fields["metrics"] = metrics
    if spec.get("behavior") is not None:
        fields["behavior"] = _behavior(r, spec["behavior"], (*path, "behavior"))
    if "maxReplicas" not in spec:
        r.error((*path, "maxReplicas"), "Required value")
    return HorizontalPodAutoscaler(
        meta,
        HorizontalPodAutoscalerSpec(
            target,
            r.int_(spec, "maxReplicas", path, 1),
            r.int_(spec, "minReplicas", path, 1),
            **fields,
        ),
    )


def _metric(r: FieldReader, data: Any, path: Path) -> MetricSpec:
    m = r.map(data, path)
    type_ = r.str_(m, "type", path, required=True)
    key = _SOURCES.get(type_)
    if key is None:
        if type_:
            supported = ", ".join(f'"{t}"' for t in _SOURCES)
            r.error((*path, "type"), f'Unsupported value: "{type_}": supported values: {supported}')
        return MetricSpec(type_)
    if key not in ("resource", "containerResource"):
        return MetricSpec(type_)  # kept by type: the controller reports it cannot get it
    source = r.map(m.get(key), (*path, key))
    if not source:
        r.error((*path, key), "must populate information for the given metric source")
    name = r.str_(source, "name", (*path, key), required=True)
    target = _target(r, source.get("target"), (*path, key, "target"))
    container = r.str_(source, "container", (*path, key)) if key == "containerResource" else ""
    return MetricSpec(type_, name, target, container)


def _target(r: FieldReader, data: Any, path: Path) -> MetricTarget:
    t = r.map(data, path)
    values: dict[str, int | None] = {}
    for key in ("averageValue", "value"):
        raw = t.get(key)
        if raw is None:
            values[key] = None
            continue
        try:
            values[key] = parse_cpu_millis(raw)  # MilliValue(), rounded up
        except QuantityError as exc:
            r.error((*path, key), str(exc))
            values[key] = None
    utilization = t.get("averageUtilization")
    return MetricTarget(
        r.str_(t, "type", path, required=True),
        r.int_(t, "averageUtilization", path, 0) if utilization is not None else None,
        values["averageValue"],
        values["value"],
    )


def _behavior(r: FieldReader, data: Any, path: Path) -> HorizontalPodAutoscalerBehavior:
    """SetDefaults_HorizontalPodAutoscalerBehavior: a given behavior has every rule it leaves
    out filled with upstream's default (GenerateHPAScaleUpRules / GenerateHPAScaleDownRules)."""
    b = r.map(data, path)
    return HorizontalPodAutoscalerBehavior(
        _rules(r, b.get("scaleUp"), (*path, "scaleUp"), default_scale_up()),
        _rules(r, b.get("scaleDown"), (*path, "scaleDown"), default_scale_down()),
    )


def _rules(r: FieldReader, data: Any, path: Path, default: HPAScalingRules) -> HPAScalingRules:
    if data is None:
        return default
    rules = r.map(data, path)
    policies = tuple(
        HPAScalingPolicy(
            r.str_(p, "type", (*path, "policies", i), required=True),
            r.int_(p, "value", (*path, "policies", i), 0),
            r.int_(p, "periodSeconds", (*path, "policies", i), 0),
        )
        for i, raw in enumerate(r.seq(rules.get("policies"), (*path, "policies")))
        for p in (r.map(raw, (*path, "policies", i)),)
    )
    window = rules.get("stabilizationWindowSeconds")
    return HPAScalingRules(
        r.int_(rules, "stabilizationWindowSeconds", path, 0)
        if window is not None
        else default.stabilization_window_seconds,
        r.str_(rules, "selectPolicy", path, default.select_policy),
        policies or default.policies,
    )
