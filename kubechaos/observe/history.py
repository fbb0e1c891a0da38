"""What a report plots: a few series of the run kept over time, read from the exposed families.

Every ``interval`` virtual seconds (default 5 s) :class:`History` keeps, from the same series
``/metrics`` exposes: each Deployment's desired and available replicas (only when they change),
each HorizontalPodAutoscaler's current and desired replicas (likewise; none while there is none),
each Service's request latency percentiles over the interval (from the
``kubechaos_service_request_duration_seconds`` buckets), and steady state. Per-second request
successes and failures come from the traffic counters. Reports read it; the model never does.
"""

from __future__ import annotations

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


def _keep(points: list[tuple[float, float, float]], point: tuple[float, float, float]) -> None:
    """Append ``point`` if its values differ from the last one's."""
    if not points or points[-1][1:] != point[1:]:
        points.append(point)


class History:
    def __init__(self, collector: ClusterCollector, interval: float = DEFAULT_INTERVAL) -> None:
        self.collector = collector
        self.interval = interval
        # "namespace/name" -> [(time, desired, available)], a point per change
        self.replicas: dict[str, list[tuple[float, float, float]]] = {}
        # "namespace/name" of each HPA -> [(time, current, desired)], a point per change
        self.autoscalers: dict[str, list[tuple[float, float, float]]] = {}
        # "namespace/service" -> [(time, p50, p95, p99)] over each interval that had requests
        self.latency: dict[str, list[tuple[float, float | None, float | None, float | None]]] = {}
        self._last_buckets: dict[tuple[str, str], list[int]] = {}

    def sample(self, at: float) -> None:
        desired: dict[str, float] = {}
        available: dict[str, float] = {}
        for metric in self.collector.deployment_families():
            into = {
                "kube_deployment_spec_replicas": desired,
                "kube_deployment_status_replicas_available": available,
            }.get(metric.name)
            if into is None:
                continue
            for s in metric.samples:
                into[f"{s.labels['namespace']}/{s.labels['deployment']}"] = s.value
        for key, want in desired.items():
            _keep(self.replicas.setdefault(key, []), (at, want, available.get(key, 0.0)))
        self._sample_autoscalers(at)
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

    def _sample_autoscalers(self, at: float) -> None:
        current: dict[str, float] = {}
        desired: dict[str, float] = {}
        for metric in self.collector.hpa_families():
            into = {
                "kube_horizontalpodautoscaler_status_current_replicas": current,
                "kube_horizontalpodautoscaler_status_desired_replicas": desired,
            }.get(metric.name)
            if into is None:
                continue
            for s in metric.samples:
                into[f"{s.labels['namespace']}/{s.labels['horizontalpodautoscaler']}"] = s.value
        for key, want in desired.items():
            _keep(self.autoscalers.setdefault(key, []), (at, current.get(key, 0.0), want))
