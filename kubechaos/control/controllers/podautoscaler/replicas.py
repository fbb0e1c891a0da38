"""The replica calculator: desired replicas from the pods' resource usage, as upstream's
pkg/controller/podautoscaler/replica_calculator.go (GetResourceReplicas, GetRawResourceReplicas,
groupPods, calculatePodRequests) and metrics/utilization.go compute them (v1.32).

``desired = ceil(current_ready_pods x usage / target)``, unless the ratio is within the
tolerance of 1 (then the current scale stays). Pods are grouped first:

- being deleted, or Failed: ignored;
- Pending: unready;
- without metrics: missing;
- for cpu, unready also when the Ready condition or start time is missing; within the cpu
  initialization period (5 min from start) when not Ready or when its metrics' window began
  before it last turned Ready; after it, when not Ready and never Ready since within the
  initial readiness delay (30 s) of start.

The ratio is computed on the pods with metrics that are neither ignored nor unready. When some
are missing, or unready pods exist and the ratio says scale up, it is computed again with missing
pods counted at 100% of their request (at the target, if above 100%) on a scale-down and 0% on a
scale-up, and unready pods at 0% on a scale-up; the new ratio may only damp the change, never
reverse its direction, and within the tolerance it keeps the current scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import attrs

from kubechaos.api.objects import Pod
from kubechaos.client.metrics import PodMetrics


class MetricError(Exception):
    """A metric could not be computed (upstream returns an error; the HPA reports it)."""


@attrs.frozen
class Timing:
    tolerance: float
    cpu_initialization_period: float
    initial_readiness_delay: float


@attrs.frozen
class Proposal:
    replicas: int
    utilization: int  # percent of request (Utilization targets), else 0
    usage: int  # average milli-units per pod
    timestamp: float


def group_pods(
    pods: list[Pod],
    metrics: Mapping[str, int],
    window_starts: Mapping[str, float],
    timing: Timing,
    t: float,
) -> tuple[int, set[str], set[str], set[str]]:
    """groupPods: (ready pod count, unready, missing, ignored) pod names (``window_starts``:
    when each pod's metrics window began)."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = pod.metadata.name
        if pod.metadata.deletion_timestamp is not None or pod.status.phase == "Failed":
            ignored.add(name)
            continue
        if pod.status.phase == "Pending":
            unready.add(name)
            continue
        if name not in metrics:
            missing.add(name)
            continue
        if _cpu_unready(pod, window_starts[name], timing, t):
            unready.add(name)
            continue
        ready += 1
    return ready, unready, missing, ignored


def _cpu_unready(pod: Pod, window_start: float, timing: Timing, t: float) -> bool:
    cond = pod.status.condition("Ready")
    start = pod.status.start_time
    if cond is None or start is None:
        return True
    if start + timing.cpu_initialization_period > t:
        # still initialising: unready, or no full metrics window since it last turned Ready
        # (upstream: metric.Timestamp before lastTransitionTime + metric.Window)
        return cond.status == "False" or window_start < cond.last_transition_time
    return (
        cond.status == "False"
        and start + timing.initial_readiness_delay > cond.last_transition_time
    )


def pod_requests(pods: list[Pod]) -> dict[str, int]:
    """calculatePodRequests: each pod's cpu request (millicores), summed over its containers;
    a container without one makes the metric uncomputable."""
    requests: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in pod.spec.containers:
            if c.requests.cpu_millis <= 0:
                raise MetricError(
                    f"missing request for cpu in container {c.name} of Pod {pod.metadata.name}"
                )
            total += c.requests.cpu_millis
        requests[pod.metadata.name] = total
    return requests


def utilization_ratio(
    metrics: Mapping[str, int], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (usage ratio, utilization %, raw average usage)."""
    metrics_total = requests_total = entities = 0
    for name, value in metrics.items():
        request = requests.get(name)
        if request is None:
            continue
        metrics_total += value
        requests_total += request
        entities += 1
    if requests_total == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = metrics_total * 100 // requests_total
    return utilization / target, utilization, metrics_total // entities


def usage_ratio(metrics: Mapping[str, int], target: int) -> tuple[float, int]:
    """GetMetricUsageRatio: (usage ratio, average usage) for an AverageValue target."""
    usage = sum(metrics.values()) // len(metrics)
    return usage / target, usage


def resource_replicas(
    current: int,
    pods: list[Pod],
    pod_metrics: Mapping[str, PodMetrics],
    target_utilization: int | None,
    target_value: int | None,
    timing: Timing,
    t: float,
) -> Proposal:
    """GetResourceReplicas (a Utilization target) or GetRawResourceReplicas (AverageValue)."""
    if not pod_metrics:
        raise MetricError(
            "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
        )
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    metrics = {
        name: sum(math.ceil(v) for v in m.containers.values()) for name, m in pod_metrics.items()
    }
    starts = {name: m.timestamp - m.window for name, m in pod_metrics.items()}
    timestamp = max(m.timestamp for m in pod_metrics.values())
    ready, unready, missing, ignored = group_pods(pods, metrics, starts, timing, t)
    names = {p.metadata.name for p in pods}
    metrics = {n: v for n, v in metrics.items() if n in names and n not in ignored | unready}
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    if target_utilization is not None:
        requests = pod_requests(pods)
        ratio, utilization, raw = utilization_ratio(metrics, requests, target_utilization)
        fallback = max(100, target_utilization)
        missing_value = {n: requests[n] * fallback // 100 for n in missing}

        def recompute(m: Mapping[str, int]) -> float:
            return utilization_ratio(m, requests, target_utilization)[0]
    else:
        assert target_value is not None
        ratio, raw = usage_ratio(metrics, target_value)
        utilization = 0
        missing_value = dict.fromkeys(missing, target_value)

        def recompute(m: Mapping[str, int]) -> float:
            return usage_ratio(m, target_value)[0]

    proposal = _adjusted(
        current, ready, ratio, metrics, unready, missing_value, recompute, timing.tolerance
    )
    return Proposal(proposal, utilization, raw, timestamp)


def _adjusted(
    current: int,
    ready: int,
    ratio: float,
    metrics: dict[str, int],
    unready: set[str],
    missing_value: dict[str, int],
    recompute: Callable[[Mapping[str, int]], float],
    tolerance: float,
) -> int:
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing_value:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    if missing_value:
        if ratio < 1.0:  # scale-down: missing pods count as using their request (or target)
            metrics.update(missing_value)
        elif ratio > 1.0:  # scale-up: missing pods count as using nothing
            metrics.update(dict.fromkeys(missing_value, 0))
    if scale_up_with_unready:
        metrics.update(dict.fromkeys(unready, 0))
    new_ratio = recompute(metrics)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current  # too small a change, or the direction would flip
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas
