"""metrics-server and the load model: each pod's CPU follows the traffic it serves.

**Load model.** Every Service request a pod serves (kube-proxy picked it, it answered:
:mod:`kubechaos.traffic` bumps its :attr:`~kubechaos.node.network.Endpoint.served` counter)
costs CPU: ``kubechaos.io/cpu-per-request`` (a CPU quantity read as core-seconds, ``"20m"`` =
20 ms of one core; default ``Settings.cpu_per_request_millis``) on the pod's first container, or
``kubechaos.io/cpu-per-request.<container>`` on the container named. Every running container
also uses an idle baseline (``kubechaos.io/cpu-idle``, default ``Settings.cpu_idle_millis``).
A container's usage over a window is ``served x cost / window + idle``, capped at its CPU limit
when it has one (CFS throttling). So a pod's utilization (usage / requests.cpu) follows the
traffic kube-proxy sends it, and a pod with no traffic shows only its baseline. Memory is not
modelled.

**metrics-server** (kubernetes-sigs/metrics-server, v0.7): every ``--metric-resolution``
(15 s) it scrapes every kubelet's resource metrics (``/metrics/resource``: each container's
cumulative CPU) and publishes each pod's average usage between its last two scrapes, so a pod
has metrics from its second scrape on, and a change in load shows only at the next scrape. A
node whose kubelet does not answer (crashed machine, stopped kubelet) gives no metrics for its
pods; a container that is not running gives none for its pod. The results go to the in-process
metrics API (:mod:`kubechaos.client.metrics`, where the deviation from API aggregation is
described). The cluster starts this component with the first HorizontalPodAutoscaler, so runs
without one pay nothing for it; a scrape walks the pod IPs (one visit per pod per 15 s).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from kubechaos.api.objects import Pod
from kubechaos.api.quantity import QuantityError, parse_quantity
from kubechaos.client.context import Context
from kubechaos.client.informer import Informer
from kubechaos.client.metrics import PodMetrics
from kubechaos.defaults import CPU_IDLE_ANNOTATION, CPU_PER_REQUEST_ANNOTATION
from kubechaos.node.network import PodNetwork
from kubechaos.sim import timers
from kubechaos.sim.clock import now


@attrs.frozen
class _Costs:
    """One pod's load model: (container, millicore-seconds per request, idle millicores,
    limit millicores or 0) for each container."""

    containers: tuple[tuple[str, float, float, int], ...]


class MetricsServer:
    name = "metrics-server"

    def __init__(
        self, ctx: Context, network: PodNetwork, scrapeable: Callable[[str], bool]
    ) -> None:
        self.ctx = ctx
        self.network = network
        self.scrapeable = scrapeable  # node name -> does its kubelet answer a scrape?
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        # pod IP -> (pod key, scrape time, requests served by then): the previous scrape
        self._points: dict[str, tuple[str, float, int]] = {}
        self._costs: dict[str, _Costs] = {}  # pod uid -> its load model
        self._warned: set[str] = set()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.pods.run)
            await self.pods.synced.wait()
            resolution = self.ctx.settings.metrics_resolution
            while True:
                self.scrape()
                await timers.sleep(resolution)

    def scrape(self) -> None:
        """One scrape of every kubelet: each pod's usage since the previous scrape."""
        t = now()
        points: dict[str, tuple[str, float, int]] = {}
        costs: dict[str, _Costs] = {}
        out: list[PodMetrics] = []
        for ep in self.network.endpoints():
            if not ep.running or not self.scrapeable(ep.node):
                continue
            points[ep.ip] = (ep.pod, t, ep.served)
            pod = self.pods.get(ep.pod)
            if pod is None:
                continue
            uid = pod.metadata.uid
            cost = costs[uid] = self._costs.get(uid) or self._cost_of(pod)
            prev = self._points.get(ep.ip)
            if prev is None or prev[0] != ep.pod or t <= prev[1]:
                continue  # a first point: a rate needs two
            window = t - prev[1]
            served = ep.served - prev[2]
            out.append(
                PodMetrics(
                    pod.metadata.namespace,
                    pod.metadata.name,
                    t,
                    window,
                    {
                        name: _capped(per_request * served / window + idle, limit)
                        for name, per_request, idle, limit in cost.containers
                    },
                )
            )
        self._points = points
        self._costs = costs
        self.ctx.metrics.publish(out, t)

    def _cost_of(self, pod: Pod) -> _Costs:
        annotations = pod.metadata.annotations
        settings = self.ctx.settings
        default = self._millis(pod, CPU_PER_REQUEST_ANNOTATION, settings.cpu_per_request_millis)
        idle = self._millis(pod, CPU_IDLE_ANNOTATION, settings.cpu_idle_millis)
        rows = []
        for i, c in enumerate(pod.spec.containers):
            own = f"{CPU_PER_REQUEST_ANNOTATION}.{c.name}"
            per_request = (
                self._millis(pod, own, 0.0) if own in annotations else (default if i == 0 else 0.0)
            )
            rows.append((c.name, per_request, idle, c.limits.cpu_millis))
        return _Costs(tuple(rows))

    def _millis(self, pod: Pod, annotation: str, default: float) -> float:
        raw = pod.metadata.annotations.get(annotation)
        if raw is None:
            return default
        try:
            value = float(parse_quantity(raw) * 1000)
        except QuantityError as exc:
            value = -1.0
            reason = str(exc)
        else:
            reason = "must not be negative"
        if value >= 0:
            return value
        key = f"{pod.metadata.uid}/{annotation}"
        if key not in self._warned:
            self._warned.add(key)
            self.ctx.events.record(
                self.name,
                "Pod",
                f"{pod.metadata.namespace}/{pod.metadata.name}",
                "InvalidLoadAnnotation",
                f"{annotation}: {raw!r}: {reason}; using {default:g}m",
            )
        return default


def _capped(millis: float, limit: int) -> float:
    return min(millis, float(limit)) if limit > 0 else millis


__all__ = ["MetricsServer"]
