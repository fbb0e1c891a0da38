"""The collector of one run: every family the run exposes, and the registry it is scraped from.

:class:`ClusterCollector` is a prometheus-client custom collector: it builds every family from
the model's state when collected (a scrape, a recording tick, a steady-state check), so metrics
cost nothing between collections and every reader sees the same numbers. Each run has its own
:class:`~prometheus_client.CollectorRegistry` (:func:`new_registry`); nothing touches the global
one, so two runs in one process never mix.

The families themselves are built elsewhere, by source: :mod:`.kubestate` (API objects, as
kube-state-metrics), :mod:`.components` (each component's own counters), :mod:`.chaos` (traffic,
faults, the clock) and the observers registered with :meth:`ClusterCollector.add_source`. This
module only wires them together in exposition order (the OpenMetrics recording and a live
``/metrics`` both depend on it) and knows which builder makes which family (:data:`FAMILIES`),
so a reader asking for one family does not pay for all of them.

Collection happens on the Trio thread. A live ``/metrics`` server runs in another thread and
gets the last :meth:`~ClusterCollector.snapshot` instead, refreshed by the run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

import trio
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from kubechaos.cluster import Cluster
from kubechaos.observe.metrics import chaos, components
from kubechaos.observe.metrics.chaos import FaultLedger
from kubechaos.observe.metrics.customresourcestate import PREFIX, custom_resource_families
from kubechaos.observe.metrics.kubestate import (
    OBJECT_FAMILIES,
    OPTIONAL_RESOURCES,
    KubeStateMetrics,
    ObjectSample,
)
from kubechaos.traffic import TrafficStats

Source = Callable[[], Iterable[Metric]]

# Every family a run exposes, by the builder that makes it (the name without _total for counters).
FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "kube_pod_status_phase", "kube_pod_status_ready", "kube_pod_info", "kube_pod_owner",
            "kube_pod_container_status_restarts", "kube_pod_container_status_waiting_reason",
            "kube_pod_init_container_status_restarts",
            "kube_pod_init_container_status_waiting_reason",
        ),
        "pod_families",
    ),
    **dict.fromkeys(
        (
            "kube_deployment_spec_replicas", "kube_deployment_status_replicas_available",
            "kube_deployment_status_replicas_updated", "kube_deployment_status_observed_generation",
            "kube_deployment_metadata_generation",
        ),
        "deployment_families",
    ),
    **dict.fromkeys(("kube_node_status_condition", "kube_node_spec_taint"), "node_families"),
    "kube_endpoint_address": "endpoint_family",
    # kinds a run may not use: their families exist only while the cluster has such an object
    **{
        name: "optional_families"
        for resource in OPTIONAL_RESOURCES
        for name, _, _ in OBJECT_FAMILIES[resource]
    },
    **dict.fromkeys(
        (
            "apiserver_request", "apiserver_request_duration_seconds", "etcd_server_has_leader",
            "etcd_server_proposals_failed", "etcd_mvcc_put", "kubechaos_etcd_writes_dropped",
            "kubechaos_etcd_member_up", "etcd_server_is_leader", "etcd_server_leader_changes_seen",
            "kubechaos_apiserver_replica_up", "kubechaos_apiserver_reconnects",
            "scheduler_schedule_attempts", "scheduler_pending_pods",
            "scheduler_preemption_attempts", "scheduler_preemption_victims", "workqueue_depth",
            "workqueue_adds", "workqueue_retries", "leader_election_master_status",
            "node_collector_zone_health",
            "node_collector_zone_size", "node_collector_unhealthy_nodes_in_zone",
            "node_collector_evictions", "kubelet_running_pods",
            "kubelet_pod_start_duration_seconds", "kubeproxy_sync_proxy_rules_duration_seconds",
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        ),
        "component_families",
    ),
    "kubechaos_service_requests": "service_request_family",
    "kubechaos_service_request_duration_seconds": "latency_family",
    **dict.fromkeys(("kubechaos_fault_injections", "kubechaos_fault_active"), "fault_families"),
    "kubechaos_virtual_time_seconds": "virtual_time_family",
    **dict.fromkeys(
        (
            "kubechaos_steady_state", "kubechaos_recovery_seconds", "kubechaos_recovery_failures",
            "kubechaos_slo_ok",
        ),
        "sources",
    ),
}  # fmt: skip
# the resource of each optional kind's family
OPTIONAL_RESOURCE_OF: dict[str, str] = {
    name: resource for resource in OPTIONAL_RESOURCES for name, _, _ in OBJECT_FAMILIES[resource]
}
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def family_of(sample_name: str) -> str | None:
    """The family a sample name belongs to (``apiserver_request_total`` -> ``apiserver_request``)."""
    if sample_name in FAMILIES or sample_name.startswith(PREFIX):  # custom resource state
        return sample_name
    for suffix in _SUFFIXES:
        if sample_name.endswith(suffix) and sample_name[: -len(suffix)] in FAMILIES:
            return sample_name[: -len(suffix)]
    return None


class ClusterCollector:
    """Every metric family of one run, built on demand from the model."""

    def __init__(self, cluster: Cluster, traffic: TrafficStats | None = None) -> None:
        self.cluster = cluster
        self.traffic = traffic
        self.faults = FaultLedger(cluster.events)
        self.kube_state = KubeStateMetrics(cluster)
        self._sources: list[Source] = []
        self._owner = threading.get_ident()
        self._snapshot: list[Metric] = []
        self.last_time = 0.0

    def add_source(self, source: Source) -> None:
        """Add families computed elsewhere (steady state, recovery, SLOs)."""
        self._sources.append(source)

    # -------------------------------------------------------------- prometheus-client protocol
    def describe(self) -> list[Metric]:
        return []  # families vary with the cluster: let the registry collect to learn names

    def collect(self) -> list[Metric]:
        if threading.get_ident() != self._owner:
            return self._snapshot  # another thread (the live server) reads the last snapshot
        return self.families()

    def snapshot(self) -> None:
        """Refresh what other threads see (call on the Trio thread)."""
        self._snapshot = self.families()

    def families_named(self, sample_name: str) -> list[Metric]:
        """Only the families needed for ``sample_name`` (cheaper than collecting everything)."""
        name = family_of(sample_name)
        if name is None:
            return []
        if name.startswith(PREFIX):
            return [m for m in custom_resource_families(self.cluster) if m.name == name]
        builder = FAMILIES[name]
        if builder == "optional_families":  # one optional kind's families, not every kind's
            return self.kind_families(OPTIONAL_RESOURCE_OF[name])
        if builder == "sources":
            return [m for source in self._sources for m in source()]
        built = getattr(self, builder)()
        return built if isinstance(built, list) else [built]

    def other_families(self, exclude: Sequence[str] = ()) -> list[Metric]:
        """Every family not built from single API objects (and not in ``exclude``)."""
        metrics = self.component_families()
        if "kubechaos_service_requests" not in exclude:
            metrics.append(self.service_request_family())
        metrics += [self.latency_family(), *self.fault_families(), self.virtual_time_family()]
        for source in self._sources:
            metrics.extend(source())
        return [m for m in metrics if m.name not in exclude]

    def service_totals(self) -> dict[tuple[str, str], tuple[int, int]]:
        """``(requests, successes)`` per ``(namespace, service)``: ``kubechaos_service_requests_
        total`` summed over source nodes (and over outcomes, or for ``outcome="success"``), as the
        traffic counts it — O(services), however many series the family has."""
        stats = self.traffic
        if stats is None:
            return {}
        return {sid: (n, stats.success_count.get(sid, 0)) for sid, n in stats.latency_count.items()}

    def service_request_counts(self) -> Mapping[tuple[str, str, str, str], int]:
        """``kubechaos_service_requests_total`` as ``{(namespace, service, source_node,
        outcome): count}``, without building samples (the recorder's fast path). Counts only
        ever grow and keys are only ever added, so a key keeps its position in the mapping."""
        return self.traffic.requests if self.traffic is not None else {}

    def families(self) -> list[Metric]:
        metrics = [
            *self.pod_families(),
            *self.deployment_families(),
            *self.node_families(),
            self.endpoint_family(),
            *self.optional_families(),
            *custom_resource_families(self.cluster),
            *self.component_families(),
            *self.traffic_families(),
            *self.fault_families(),
            self.virtual_time_family(),
        ]
        for source in self._sources:
            metrics.extend(source())
        return metrics

    # -------------------------------------------------------------- kube-state-metrics
    def object_samples(self, resource: str) -> list[tuple[str, str, list[ObjectSample]]]:
        """``(uid, resourceVersion, samples)`` for every object of ``resource`` (see
        :meth:`KubeStateMetrics.object_samples`)."""
        return self.kube_state.object_samples(resource)

    def pod_families(self) -> list[Metric]:
        return self.kube_state.families("pods")

    def deployment_families(self) -> list[Metric]:
        return self.kube_state.families("deployments")

    def node_families(self) -> list[Metric]:
        return self.kube_state.families("nodes")

    def endpoint_family(self) -> Metric:
        return self.kube_state.families("endpoints")[0]

    def optional_families(self) -> list[Metric]:
        """The families of the optional kinds (:data:`OPTIONAL_RESOURCES`) the cluster has an
        object of; none of a kind while it has none, so runs that never use a kind expose and
        record exactly what they did before the kind existed."""
        out: list[Metric] = []
        for resource in OPTIONAL_RESOURCES:
            if self.cluster.api.cache(resource).list():
                out.extend(self.kube_state.families(resource))
        return out

    def kind_families(self, resource: str) -> list[Metric]:
        """The families of one optional kind alone (steady state and the report's history read
        them); empty while the cluster has no object of it."""
        if not self.cluster.api.cache(resource).list():
            return []
        return self.kube_state.families(resource)

    # -------------------------------------------------------------- components
    def component_families(self) -> list[Metric]:
        return components.component_families(self.cluster)

    # -------------------------------------------------------------- kubechaos
    def service_request_family(self) -> Metric:
        return chaos.service_request_family(self.traffic)

    def latency_family(self) -> Metric:
        return chaos.latency_family(self.traffic)

    def traffic_families(self) -> list[Metric]:
        return [self.service_request_family(), self.latency_family()]

    def fault_families(self) -> list[Metric]:
        return chaos.fault_families(self.faults)

    def virtual_time_family(self) -> Metric:
        with contextlib.suppress(RuntimeError):  # after the run: keep the time it ended
            self.last_time = trio.current_time()
        return chaos.virtual_time_family(self.last_time)


def new_registry(collector: ClusterCollector) -> CollectorRegistry:
    """A registry of the run's own: never prometheus-client's global REGISTRY."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def samples(
    registry: CollectorRegistry, name: str, **labels: str
) -> list[tuple[dict[str, str], float]]:
    """Current samples named ``name`` whose labels include ``labels``."""
    found = []
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                found.append((s.labels, s.value))
    return found


__all__ = ["FAMILIES", "ClusterCollector", "family_of", "new_registry", "samples"]
