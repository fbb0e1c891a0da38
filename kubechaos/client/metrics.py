"""The resource metrics API (``metrics.k8s.io/v1beta1`` PodMetrics), in process.

Upstream, metrics-server keeps the latest CPU and memory of every pod in its memory and serves
them as ``metrics.k8s.io`` through API aggregation: ``kubectl top`` and the HPA controller's
metrics client (pkg/controller/podautoscaler/metrics/client.go) GET them through kube-apiserver,
which proxies to metrics-server; nothing is stored in etcd. The model keeps the same data path
minus the proxy hop: metrics-server (:mod:`kubechaos.node.metricsserver`) publishes here at each
scrape and the HPA controller reads here. **Deviation:** the read does not pass through the API
server, so an API server outage or brownout does not make the HPA's metric reads fail (it does
make its scale and status writes fail, which go through the API server as upstream).

A :class:`PodMetrics` is what upstream's carries: a timestamp (the end of its window), the
window, and each container's usage (CPU in millicores).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen(slots=True)
class PodMetrics:
    namespace: str
    name: str
    timestamp: float  # the end of the window the usage was averaged over
    window: float
    containers: Mapping[str, float]  # container name -> CPU usage, millicores

    @property
    def cpu_millis(self) -> float:
        return sum(self.containers.values())


class MetricsAPI:
    """What metrics-server serves: the pod metrics of its last scrape, by namespace."""

    def __init__(self) -> None:
        self._pods: dict[str, dict[str, PodMetrics]] = {}
        self.scrapes = 0  # scrapes published so far
        self.last_scrape: float | None = None

    def publish(self, metrics: list[PodMetrics], at: float) -> None:
        """Replace everything with one scrape's results (a pod not in it has no metrics)."""
        pods: dict[str, dict[str, PodMetrics]] = {}
        for m in metrics:
            pods.setdefault(m.namespace, {})[m.name] = m
        self._pods = pods
        self.scrapes += 1
        self.last_scrape = at

    def pod_metrics(self, namespace: str) -> Mapping[str, PodMetrics]:
        """``GET /apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods``: pod name -> metrics."""
        return self._pods.get(namespace, {})

    def get(self, namespace: str, name: str) -> PodMetrics | None:
        return self._pods.get(namespace, {}).get(name)
