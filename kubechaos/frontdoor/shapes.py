"""Upstream's JSON shape of the structures the model holds compressed (autoscaling, policy and
batch): an HPA metric kept as (type, resource name, target) is written as upstream nests it
(``resource: {name, target}``), milli-units as quantities, a PDB's disrupted pods as times, a
Job's uncounted pods under ``uncountedTerminatedPods``. :class:`~.encoding.Encoder` calls these
for their classes; everything else about those kinds is its generic walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.objects import (
    JobStatus,
    MetricSpec,
    MetricStatus,
    MetricTarget,
    PodDisruptionBudgetStatus,
)
from kubechaos.frontdoor.specshapes import condition

JSON = dict[str, Any]
Walk = Callable[[Any, tuple[str, ...]], JSON]  # the encoder's generic walk, skipping fields
Time = Callable[[float], str]

# metrics.k8s.io's resource metric kinds and the key their source sits under
_SOURCE_KEYS = {"Resource": "resource", "ContainerResource": "containerResource"}


def milli_quantity(milli: int) -> str:
    """Milli-units as a quantity: ``250m``, or ``2`` when whole."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def metric_target(target: MetricTarget) -> JSON:
    out: JSON = {"type": target.type}
    if target.average_utilization is not None:
        out["averageUtilization"] = target.average_utilization
    if target.average_value is not None:
        out["averageValue"] = milli_quantity(target.average_value)
    if target.value is not None:
        out["value"] = milli_quantity(target.value)
    return out


def metric_spec(metric: MetricSpec) -> JSON:
    key = _SOURCE_KEYS.get(metric.type)
    if key is None:  # a kind the model keeps by type only (Pods, Object, External)
        return {"type": metric.type}
    source: JSON = {"name": metric.resource_name}
    if metric.container:
        source["container"] = metric.container
    if metric.target is not None:
        source["target"] = metric_target(metric.target)
    return {"type": metric.type, key: source}


def metric_status(metric: MetricStatus) -> JSON:
    current: JSON = {}
    if metric.average_utilization is not None:
        current["averageUtilization"] = metric.average_utilization
    if metric.average_value is not None:
        current["averageValue"] = milli_quantity(metric.average_value)
    key = _SOURCE_KEYS.get(metric.type, "resource")
    return {"type": metric.type, key: {"name": metric.resource_name, "current": current}}


def pdb_status(status: PodDisruptionBudgetStatus, walk: Walk, time: Time) -> JSON:
    out = walk(status, ("disrupted_pods", "conditions"))
    if status.conditions:
        out["conditions"] = [condition(c, time) for c in status.conditions]
    if status.disrupted_pods:
        out["disruptedPods"] = {name: time(at) for name, at in status.disrupted_pods.items()}
    for field in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        out.setdefault(field, 0)  # required fields, written even when 0
    return out


def job_status(status: JobStatus, walk: Walk) -> JSON:
    out = walk(status, ("uncounted_succeeded", "uncounted_failed"))
    uncounted: JSON = {}
    if status.uncounted_succeeded:
        uncounted["succeeded"] = list(status.uncounted_succeeded)
    if status.uncounted_failed:
        uncounted["failed"] = list(status.uncounted_failed)
    if uncounted:
        out["uncountedTerminatedPods"] = uncounted
    return out


def shapes(walk: Walk, time: Time) -> dict[type, Callable[[Any], Any]]:
    """The encoders this module adds, by class."""
    return {
        MetricSpec: metric_spec,
        MetricStatus: metric_status,
        MetricTarget: metric_target,
        PodDisruptionBudgetStatus: lambda status: pdb_status(status, walk, time),
        JobStatus: lambda status: job_status(status, walk),
    }


__all__ = [
    "job_status",
    "metric_spec",
    "metric_status",
    "metric_target",
    "milli_quantity",
    "shapes",
]
