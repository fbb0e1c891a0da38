"""The ``kubechaos_*`` families: what the run itself did and saw, which no Kubernetes component
counts.

- traffic: ``kubechaos_service_requests_total`` (by source node and outcome) and
  ``kubechaos_service_request_duration_seconds``, from the traffic generator's counters
  (:class:`~kubechaos.traffic.TrafficStats`);
- faults: ``kubechaos_fault_injections_total`` and ``kubechaos_fault_active``, counted from the
  event log by :class:`FaultLedger`, so metrics need nothing from the fault machinery;
- ``kubechaos_virtual_time_seconds``, the run's clock.

Steady state, recovery and SLO families (``kubechaos_steady_state`` and the like) are not here:
their observers add them to the collector (:meth:`ClusterCollector.add_source`). Nothing in this
module has an upstream counterpart; the names follow Prometheus' conventions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from prometheus_client.metrics_core import Metric

from kubechaos.observe.metrics.builders import add, family, histogram
from kubechaos.sim.events import Event, EventLog
from kubechaos.traffic import LATENCY_BUCKETS, TrafficStats


class FaultLedger:
    """Fault injections and reverts as counted from the event log (``FaultInjected`` /
    ``FaultReverted``), so metrics need nothing from the fault machinery itself."""

    def __init__(self, events: EventLog) -> None:
        self.injections: dict[tuple[str, str], int] = defaultdict(int)
        self.reverts: dict[tuple[str, str], int] = defaultdict(int)
        self.times: list[Event] = []
        for event in events:
            self._on_event(event)
        events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind != "Fault" or event.reason not in ("FaultInjected", "FaultReverted"):
            return
        fields = event.fields or {}
        key = (event.object, str(fields.get("type", "")))
        if event.reason == "FaultInjected":
            self.injections[key] += 1
            if fields.get("lasting") is False:
                self.reverts[key] += 1  # an instantaneous fault is over as soon as it acted
        else:
            self.reverts[key] += 1
        self.times.append(event)

    def declare(self, name: str, fault_type: str) -> None:
        """A fault the run will inject: its series exist (at 0) from the start, so a rate or
        an annotation sees its first injection."""
        self.injections.setdefault((name, fault_type), 0)

    def active(self, key: tuple[str, str]) -> int:
        return self.injections[key] - self.reverts.get(key, 0)


def service_request_family(traffic: TrafficStats | None) -> Metric:
    metric = family(
        "kubechaos_service_requests",
        "Requests sent to each Service by the scenario's traffic, by source node and outcome (success, no_endpoints, connection_refused, timeout, not_ready).",
        "counter",
    )
    if traffic is not None:
        for (ns, svc, source, outcome), n in sorted(traffic.requests.items()):
            add(
                metric,
                "kubechaos_service_requests_total",
                {"namespace": ns, "service": svc, "source_node": source, "outcome": outcome},
                n,
            )
    return metric


def latency_family(traffic: TrafficStats | None) -> Metric:
    series: list[tuple[Sequence[str], Sequence[float], Sequence[int], float]] = []
    if traffic is not None:
        for sid, counts in sorted(traffic.latency_buckets.items()):
            series.append((sid, LATENCY_BUCKETS, counts, traffic.latency_sum[sid]))
    return histogram(
        "kubechaos_service_request_duration_seconds",
        "Latency of the scenario's requests to each Service as the client saw it (timeouts count their full wait).",
        "seconds",
        ("namespace", "service"),
        series,
    )


def fault_families(faults: FaultLedger) -> list[Metric]:
    injections = family(
        "kubechaos_fault_injections",
        "Fault injections so far, by fault name and type.",
        "counter",
    )
    active = family(
        "kubechaos_fault_active",
        "Injections of this fault in force now (0 when none); a state timeline of faults.",
        "gauge",
    )
    for key, n in sorted(faults.injections.items()):
        labels = {"fault": key[0], "type": key[1]}
        add(injections, "kubechaos_fault_injections_total", labels, n)
        add(active, "kubechaos_fault_active", labels, faults.active(key))
    return [injections, active]


def virtual_time_family(seconds: float) -> Metric:
    """The run's clock, ``seconds`` as the collector last read it (the end of a finished run)."""
    metric = family(
        "kubechaos_virtual_time_seconds",
        "Virtual seconds since the start of the run.",
        "gauge",
        "seconds",
    )
    add(metric, "kubechaos_virtual_time_seconds", {}, seconds)
    return metric
