"""computeReplicasForMetrics (pkg/controller/podautoscaler/horizontal.go, v1.32): one proposal
per ``spec.metrics[]`` entry, the largest wins.

Resource metrics of ``cpu`` (Utilization or AverageValue targets) are computed from the
metrics API. Any other metric (``Pods``, ``Object``, ``External``, ``ContainerResource``, a
``memory`` resource) is one the model cannot get: it counts as an invalid metric, exactly as a
metric upstream fails to fetch (its ``FailedGet...`` reason on ScalingActive, a Warning event),
so it is never silently ignored; the manifest loader warns about it too.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kubechaos.api.objects import HorizontalPodAutoscaler, MetricSpec, MetricStatus, Pod
from kubechaos.api.objects.autoscaling import AVERAGE_VALUE, RESOURCE_METRIC, UTILIZATION
from kubechaos.client.metrics import PodMetrics
from kubechaos.control.controllers.podautoscaler.replicas import (
    MetricError,
    Timing,
    resource_replicas,
)

# metric source type -> the condition reason upstream gives a metric of it it cannot get
FAILED_GET = {
    "Resource": "FailedGetResourceMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}


@attrs.frozen
class Computed:
    """What the metrics gave: a proposal (-1: none usable), the metric that proposed it, the
    statuses, and the first failure (reason, message) if any."""

    replicas: int
    metric: str
    statuses: tuple[MetricStatus, ...]
    failure: tuple[str, str] | None
    invalid: int


def compute_replicas_for_metrics(
    hpa: HorizontalPodAutoscaler,
    spec_replicas: int,
    pods: list[Pod],
    pod_metrics: Mapping[str, PodMetrics],
    timing: Timing,
    t: float,
) -> Computed:
    replicas, metric = 0, ""
    statuses: list[MetricStatus] = []
    failure: tuple[str, str] | None = None
    invalid = 0
    for spec in hpa.spec.metrics:
        try:
            proposal, name, status = _one(spec, spec_replicas, pods, pod_metrics, timing, t)
        except MetricError as exc:
            invalid += 1
            statuses.append(MetricStatus(spec.type, spec.resource_name))
            if failure is None:
                failure = (FAILED_GET.get(spec.type, "InvalidMetricSourceType"), str(exc))
            continue
        statuses.append(status)
        if replicas == 0 or proposal > replicas:
            replicas, metric = proposal, name
    if invalid >= len(hpa.spec.metrics) or (invalid and replicas < spec_replicas):
        replicas = -1  # all invalid, or some invalid and the rest would scale down
    return Computed(replicas, metric, tuple(statuses), failure, invalid)


def _one(
    spec: MetricSpec,
    current: int,
    pods: list[Pod],
    pod_metrics: Mapping[str, PodMetrics],
    timing: Timing,
    t: float,
) -> tuple[int, str, MetricStatus]:
    if spec.type != RESOURCE_METRIC or spec.resource_name != "cpu" or spec.target is None:
        what = f"{spec.type} metrics" if spec.type != RESOURCE_METRIC else spec.resource_name
        raise MetricError(
            f"failed to get {what or 'metric'} value: not modelled by kubechaos (only cpu "
            "resource metrics are)"
        )
    target = spec.target
    if target.type == AVERAGE_VALUE and target.average_value is not None:
        try:
            p = resource_replicas(current, pods, pod_metrics, None, target.average_value, timing, t)
        except MetricError as exc:
            raise MetricError(f"failed to get cpu usage: {exc}") from exc
        return p.replicas, "cpu resource", MetricStatus(spec.type, "cpu", None, p.usage)
    if target.type != UTILIZATION or target.average_utilization is None:
        raise MetricError(
            "invalid resource metric source: neither an average utilization target nor an "
            "average value (usage) target was set"
        )
    try:
        p = resource_replicas(
            current, pods, pod_metrics, target.average_utilization, None, timing, t
        )
    except MetricError as exc:
        raise MetricError(f"failed to get cpu utilization: {exc}") from exc
    return (
        p.replicas,
        "cpu resource utilization (percentage of request)",
        MetricStatus(spec.type, "cpu", p.utilization, p.usage),
    )
