"""What a report plots: a few series of the run kept over time, read from the exposed families.

Every ``interval`` virtual seconds (default 5 s) :class:`History` keeps, from the same series
``/metrics`` exposes: each Deployment's desired and available replicas (only when they change),
each DaemonSet's desired and available nodes (likewise), each StatefulSet's desired and
available replicas (likewise), each HorizontalPodAutoscaler's current and desired replicas
(likewise; none while there is none), each Job's active, succeeded and failed pods (likewise),
each Service's request latency percentiles over the interval (from the
``kubechaos_service_request_duration_seconds`` buckets), and steady state. Per-second request
successes and failures come from the traffic counters. Reports read it; the model never does.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from kubechaos.observe.metrics import ClusterCollector
from kubechaos.traffic import LATENCY_BUCKETS

DEFAULT_INTERVAL = 5.0
PERCENTILES = (0.5, 0.95, 0.99)


def quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float | None:
    """Prometheus' histogram_quantile on non-cumulative ``counts`` (one more than ``bounds``)."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=False):
        if seen + count >= rank and count:
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        lower = bound
    return bounds[-1]  # in the +Inf bucket: the highest finite bound, as Prometheus answers


class History:
    def __init__(self, collector: ClusterCollector, interval: float = DEFAULT_INTERVAL) -> None:
        self.collector = collector
        self.interval = interval
        # "namespace/name" -> [(time, desired, available)], a point per change
        self.replicas: dict[str, list[tuple[float, float, float]]] = {}
        # "namespace/name" -> [(time, desired, available)] of each DaemonSet, a point per change
        self.daemonsets: dict[str, list[tuple[float, float, float]]] = {}
        # "namespace/name" of each HPA -> [(time, current, desired)], a point per change
        self.autoscalers: dict[str, list[tuple[float, float, float]]] = {}
        # "namespace/name" -> [(time, desired, available)] of each StatefulSet, likewise
        self.statefulsets: dict[str, list[tuple[float, float, float]]] = {}
        # Job "namespace/name" -> [(time, active, succeeded, failed)], a point per change
        self.jobs: dict[str, list[tuple[float, float, float, float]]] = {}
        # "namespace/service" -> [(time, p50, p95, p99)] over each interval that had requests
        self.latency: dict[str, list[tuple[float, float | None, float | None, float | None]]] = {}
        self._last_buckets: dict[tuple[str, str], list[int]] = {}

    def sample(self, at: float) -> None:
        _changes(
            at,
            self.collector.deployment_families(),
            ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_available"),
            "deployment",
            self.replicas,
        )
        _changes(
            at,
            self.collector.kind_families("daemonsets"),
            (
                "kube_daemonset_status_desired_number_scheduled",
                "kube_daemonset_status_number_available",
            ),
            "daemonset",
            self.daemonsets,
        )
        _changes(
            at,
            self.collector.kind_families("horizontalpodautoscalers"),
            (
                "kube_horizontalpodautoscaler_status_current_replicas",
                "kube_horizontalpodautoscaler_status_desired_replicas",
            ),
            "horizontalpodautoscaler",
            self.autoscalers,
        )
        _changes(
            at,
            self.collector.kind_families("statefulsets"),
            ("kube_statefulset_replicas", "kube_statefulset_status_replicas_available"),
            "statefulset",
            self.statefulsets,
        )
        self._sample_jobs(at)
        stats = self.collector.traffic
        if stats is None:
            return
        for sid, counts in stats.latency_buckets.items():
            before = self._last_buckets.get(sid, [0] * len(counts))
            window = [now - then for now, then in zip(counts, before, strict=True)]
            self._last_buckets[sid] = list(counts)
            if sum(window):
                self.latency.setdefault(f"{sid[0]}/{sid[1]}", []).append(
                    (at, *(quantile(q, LATENCY_BUCKETS, window) for q in PERCENTILES))  # type: ignore[arg-type]
                )

    _JOB_SERIES = {
        "kube_job_status_active": 0,
        "kube_job_status_succeeded": 1,
        "kube_job_status_failed": 2,
    }

    def _sample_jobs(self, at: float) -> None:
        """Each Job's active, succeeded and failed pods (nothing while there is no Job)."""
        counts: dict[str, list[float]] = {}
        for metric in self.collector.kind_families("jobs"):
            column = self._JOB_SERIES.get(metric.name)
            if column is None:
                continue
            for s in metric.samples:
                key = f"{s.labels['namespace']}/{s.labels['job_name']}"
                row = counts.get(key)
                if row is None:
                    last = self.jobs.get(key)
                    row = counts[key] = [0.0, 0.0, last[-1][3] if last else 0.0]
                # failed: the count is the series without a reason (or reason ""); once the Job
                # failed for a known reason kube-state-metrics shows 0/1 per reason instead,
                # and the last count seen stands
                if column != 2 or s.labels.get("reason", "") == "":
                    row[column] = s.value
        for key, (active, succeeded, failed) in counts.items():
            points = self.jobs.setdefault(key, [])
            point = (at, active, succeeded, failed)
            if not points or points[-1][1:] != point[1:]:
                points.append(point)


def _changes(
    at: float,
    families: list[Metric],
    names: tuple[str, str],
    label: str,
    into: dict[str, list[tuple[float, float, float]]],
) -> None:
    """Append ``(at, desired, available)`` for each object whose pair changed."""
    desired: dict[str, float] = {}
    available: dict[str, float] = {}
    for metric in families:
        target = (
            desired if metric.name == names[0] else available if metric.name == names[1] else None
        )
        if target is None:
            continue
        for s in metric.samples:
            target[f"{s.labels['namespace']}/{s.labels[label]}"] = s.value
    for key, want in desired.items():
        points = into.setdefault(key, [])
        point = (at, want, available.get(key, 0.0))
        if not points or points[-1][1:] != point[1:]:
            points.append(point)
