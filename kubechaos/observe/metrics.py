"""Prometheus metrics of a run, named as upstream and kube-state-metrics name them.

:class:`ClusterCollector` is a prometheus-client custom collector: it builds every family from
the model's state when collected (a scrape, a recording tick, a steady-state check), so metrics
cost nothing between collections and every reader sees the same numbers. Each run has its own
:class:`~prometheus_client.CollectorRegistry` (:func:`new_registry`); nothing touches the global
one, so two runs in one process never mix.

Sources: kube-state-metrics families read the API server's watch cache (what a kube-state-metrics
informer would hold); component families read each component's own counters (a restarted process
starts its counters from zero, as upstream); ``kubechaos_*`` families read the traffic counters,
the event log (faults) and the observers registered with :meth:`ClusterCollector.add_source`.

Collection happens on the Trio thread. A live ``/metrics`` server runs in another thread and
gets the last :meth:`snapshot` instead, refreshed by the run.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import trio
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from kubechaos.api.objects import Deployment, Endpoints, Node, Pod
from kubechaos.cluster import Cluster
from kubechaos.control.apiserver import DURATION_BUCKETS
from kubechaos.node.proxy import SYNC_DURATION_BUCKETS
from kubechaos.sim.events import Event, EventLog
from kubechaos.traffic import LATENCY_BUCKETS, TrafficStats

POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
CONDITION_STATUSES = ("true", "false", "unknown")
# kubelet_pod_start_duration_seconds buckets (upstream kubelet metrics)
POD_START_BUCKETS = (
    0.5,
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    20,
    30,
    45,
    60,
    120,
    180,
    240,
    300,
    360,
    480,
    600,
)

Source = Callable[[], Iterable[Metric]]

# Every family a run exposes, by the builder that makes it (the name without _total for counters).
FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "kube_pod_status_phase", "kube_pod_status_ready", "kube_pod_info", "kube_pod_owner",
            "kube_pod_container_status_restarts", "kube_pod_container_status_waiting_reason",
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
    **dict.fromkeys(
        (
            "apiserver_request", "apiserver_request_duration_seconds", "etcd_server_has_leader",
            "etcd_server_proposals_failed", "etcd_mvcc_put", "kubechaos_etcd_writes_dropped",
            "scheduler_schedule_attempts", "scheduler_pending_pods", "workqueue_depth",
            "workqueue_adds", "workqueue_retries", "kubelet_running_pods",
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
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def family_of(sample_name: str) -> str | None:
    """The family a sample name belongs to (``apiserver_request_total`` -> ``apiserver_request``)."""
    if sample_name in FAMILIES:
        return sample_name
    for suffix in _SUFFIXES:
        if sample_name.endswith(suffix) and sample_name[: -len(suffix)] in FAMILIES:
            return sample_name[: -len(suffix)]
    return None


def family(name: str, help: str, typ: str, unit: str = "") -> Metric:
    return Metric(name, help, typ, unit)


def add(metric: Metric, name: str, labels: dict[str, str], value: float) -> None:
    metric.samples.append(Sample(name, labels, value, None, None))


def histogram(
    name: str,
    help: str,
    unit: str,
    label_names: Sequence[str],
    series: Iterable[tuple[Sequence[str], Sequence[float], Sequence[int], float]],
) -> Metric:
    """A histogram family from ``(label values, bounds, non-cumulative counts, sum)`` per series;
    ``counts`` has one more entry than ``bounds`` (observations above the last bound)."""
    metric = family(name, help, "histogram", unit)
    for values, bounds, counts, total in series:
        labels = dict(zip(label_names, values, strict=True))
        cumulative = 0
        for bound, count in zip(bounds, counts, strict=False):
            cumulative += count
            add(metric, f"{name}_bucket", {**labels, "le": _le(bound)}, cumulative)
        cumulative += counts[len(bounds)] if len(counts) > len(bounds) else 0
        add(metric, f"{name}_bucket", {**labels, "le": "+Inf"}, cumulative)
        add(metric, f"{name}_count", labels, cumulative)
        add(metric, f"{name}_sum", labels, total)
    return metric


def _le(bound: float) -> str:
    return repr(float(bound))


def bucketed(values: Iterable[float], bounds: Sequence[float]) -> tuple[list[int], float]:
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for v in values:
        total += v
        for i, bound in enumerate(bounds):
            if v <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return counts, total


ObjectSample = tuple[str, Sample]  # (family name, sample)


def _sample(name: str, labels: dict[str, str], value: float) -> Sample:
    return Sample(name, labels, value, None, None)


def pod_samples(pod: Pod) -> list[ObjectSample]:
    meta = pod.metadata
    base = {"namespace": meta.namespace, "pod": meta.name}
    out: list[ObjectSample] = []
    phase = pod.status.phase
    for name in POD_PHASES:
        out.append(("kube_pod_status_phase", _sample(
            "kube_pod_status_phase", {**base, "phase": name}, 1.0 if phase == name else 0.0
        )))  # fmt: skip
    cond = pod.status.condition("Ready")
    status = cond.status.lower() if cond is not None else "unknown"
    for name in CONDITION_STATUSES:
        out.append(("kube_pod_status_ready", _sample(
            "kube_pod_status_ready", {**base, "condition": name}, 1.0 if status == name else 0.0
        )))  # fmt: skip
    ref = meta.controller_ref()
    kind, owner = (ref.kind, ref.name) if ref else ("<none>", "<none>")
    out.append(("kube_pod_info", _sample("kube_pod_info", {
        **base, "uid": meta.uid, "node": pod.spec.node_name, "pod_ip": pod.status.pod_ip,
        "host_ip": pod.status.host_ip, "created_by_kind": kind, "created_by_name": owner,
    }, 1.0)))  # fmt: skip
    out.append(("kube_pod_owner", _sample("kube_pod_owner", {
        **base, "owner_kind": kind, "owner_name": owner,
        "owner_is_controller": "true" if ref else "<none>",
    }, 1.0)))  # fmt: skip
    for cs in pod.status.container_statuses:
        labels = {**base, "container": cs.name}
        out.append(("kube_pod_container_status_restarts", _sample(
            "kube_pod_container_status_restarts_total", labels, cs.restart_count
        )))  # fmt: skip
        if cs.state == "waiting":
            out.append(("kube_pod_container_status_waiting_reason", _sample(
                "kube_pod_container_status_waiting_reason", {**labels, "reason": cs.reason}, 1.0
            )))  # fmt: skip
    return out


def deployment_samples(d: Deployment) -> list[ObjectSample]:
    labels = {"namespace": d.metadata.namespace, "deployment": d.metadata.name}
    values = (
        ("kube_deployment_spec_replicas", d.spec.replicas),
        ("kube_deployment_status_replicas_available", d.status.available_replicas),
        ("kube_deployment_status_replicas_updated", d.status.updated_replicas),
        ("kube_deployment_status_observed_generation", d.status.observed_generation),
        ("kube_deployment_metadata_generation", d.metadata.generation),
    )
    return [(name, _sample(name, labels, value)) for name, value in values]


def node_samples(node: Node) -> list[ObjectSample]:
    name = node.metadata.name
    out: list[ObjectSample] = []
    for cond in node.status.conditions:
        status = cond.status.lower()
        for s in CONDITION_STATUSES:
            out.append(("kube_node_status_condition", _sample(
                "kube_node_status_condition",
                {"node": name, "condition": cond.type, "status": s},
                1.0 if status == s else 0.0,
            )))  # fmt: skip
    for t in node.spec.taints:
        out.append(("kube_node_spec_taint", _sample(
            "kube_node_spec_taint",
            {"node": name, "key": t.key, "value": t.value, "effect": t.effect},
            1.0,
        )))  # fmt: skip
    return out


def endpoint_samples(ep: Endpoints) -> list[ObjectSample]:
    base = {"namespace": ep.metadata.namespace, "endpoint": ep.metadata.name}
    out: list[ObjectSample] = []
    for subset in ep.subsets:
        for ready, addresses in (("true", subset.addresses), ("false", subset.not_ready_addresses)):
            for a in addresses:
                out.append(("kube_endpoint_address", _sample(
                    "kube_endpoint_address", {**base, "ip": a.ip, "ready": ready}, 1.0
                )))  # fmt: skip
    return out


OBJECT_RENDERERS: dict[str, Callable[[Any], list[ObjectSample]]] = {
    "pods": pod_samples,
    "deployments": deployment_samples,
    "nodes": node_samples,
    "endpoints": endpoint_samples,
}
# (family, HELP, type) per resource, in exposition order (kube-state-metrics' own HELP texts)
OBJECT_FAMILIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pods": (
        ("kube_pod_status_phase", "The pods current phase.", "gauge"),
        ("kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", "gauge"),
        ("kube_pod_info", "Information about pod.", "gauge"),
        ("kube_pod_owner", "Information about the Pod's owner.", "gauge"),
        ("kube_pod_container_status_restarts", "The number of container restarts per container.", "counter"),
        ("kube_pod_container_status_waiting_reason",
         "Describes the reason the container is currently in waiting state.", "gauge"),
    ),
    "deployments": (
        ("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", "gauge"),
        ("kube_deployment_status_replicas_available",
         "The number of available replicas per deployment.", "gauge"),
        ("kube_deployment_status_replicas_updated",
         "The number of updated replicas per deployment.", "gauge"),
        ("kube_deployment_status_observed_generation",
         "The generation observed by the deployment controller.", "gauge"),
        ("kube_deployment_metadata_generation",
         "Sequence number representing a specific generation of the desired state.", "gauge"),
    ),
    "nodes": (
        ("kube_node_status_condition", "The condition of a cluster node.", "gauge"),
        ("kube_node_spec_taint", "The taint of a cluster node.", "gauge"),
    ),
    "endpoints": (
        ("kube_endpoint_address",
         "Information about Endpoint available and non available addresses.", "gauge"),
    ),
}  # fmt: skip


def upstream_request_labels(verb: str, resource: str) -> tuple[str, str, str]:
    """The API server's own verb/resource/subresource labels for one of the model's request
    kinds: a status update is ``UPDATE`` on subresource ``status``, a binding is ``CREATE`` on
    ``pods`` subresource ``binding``."""
    if verb == "update_status":
        return "UPDATE", resource, "status"
    base, _, subresource = resource.partition("/")
    return verb.upper(), base, subresource


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


class ClusterCollector:
    """Every metric family of one run, built on demand from the model."""

    def __init__(self, cluster: Cluster, traffic: TrafficStats | None = None) -> None:
        self.cluster = cluster
        self.traffic = traffic
        self.faults = FaultLedger(cluster.events)
        self._sources: list[Source] = []
        self._owner = threading.get_ident()
        self._snapshot: list[Metric] = []
        self.last_time = 0.0
        self._object_cache: dict[str, dict[str, tuple[str, list[ObjectSample]]]] = {}

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
        builder = FAMILIES[name]
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
        """``(uid, resourceVersion, samples)`` for every object of ``resource``.

        An object's kube-state-metrics samples depend on the object alone, so they are built
        once per resourceVersion and reused: in a steady cluster a collection costs a lookup
        per object, not a rebuild of every series.
        """
        render = OBJECT_RENDERERS[resource]
        cache = self._object_cache.setdefault(resource, {})
        fresh: dict[str, tuple[str, list[ObjectSample]]] = {}
        out = []
        for obj in self.cluster.api.cache(resource).list():
            meta = obj.metadata
            hit = cache.get(meta.uid)
            if hit is None or hit[0] != meta.resource_version:
                hit = (meta.resource_version, render(obj))
            fresh[meta.uid] = hit
            out.append((meta.uid, hit[0], hit[1]))
        self._object_cache[resource] = fresh
        return out

    def _object_families(self, resource: str) -> list[Metric]:
        metrics = {name: family(name, help, typ) for name, help, typ in OBJECT_FAMILIES[resource]}
        for _, _, object_samples in self.object_samples(resource):
            for family_name, sample in object_samples:
                metrics[family_name].samples.append(sample)
        return list(metrics.values())

    def pod_families(self) -> list[Metric]:
        return self._object_families("pods")

    def deployment_families(self) -> list[Metric]:
        return self._object_families("deployments")

    def node_families(self) -> list[Metric]:
        return self._object_families("nodes")

    def endpoint_family(self) -> Metric:
        return self._object_families("endpoints")[0]

    # -------------------------------------------------------------- components
    def component_families(self) -> list[Metric]:
        cluster = self.cluster
        api = cluster.api
        requests = family(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, resource and HTTP response code.",
            "counter",
        )
        for (verb, resource, code), n in sorted(api.stats.total.items()):
            verb_label, resource_label, subresource = upstream_request_labels(verb, resource)
            labels = {"verb": verb_label, "resource": resource_label, "subresource": subresource}
            add(requests, "apiserver_request_total", {**labels, "code": str(code)}, n)
        durations = histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, resource and subresource.",
            "seconds",
            ("verb", "resource", "subresource"),
            (
                (
                    upstream_request_labels(verb, resource),
                    DURATION_BUCKETS,
                    counts,
                    api.stats.duration_sum[(verb, resource)],
                )
                for (verb, resource), counts in sorted(api.stats.duration_buckets.items())
            ),
        )
        etcd = cluster.etcd
        has_leader = family(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            "gauge",
        )
        add(has_leader, "etcd_server_has_leader", {}, 1.0 if etcd.has_leader else 0.0)
        failed = family(
            "etcd_server_proposals_failed", "The total number of failed proposals seen.", "counter"
        )
        add(failed, "etcd_server_proposals_failed_total", {}, etcd.proposals_failed_total)
        puts = family("etcd_mvcc_put", "Total number of puts seen by this member.", "counter")
        add(puts, "etcd_mvcc_put_total", {}, etcd.store.puts_total)
        dropped = family(
            "kubechaos_etcd_writes_dropped",
            "etcd writes dropped by an etcd-write-drop fault, by mode (error: the caller saw a failure; silent: acknowledged, then lost).",
            "counter",
        )
        for mode, n in sorted(getattr(etcd, "writes_dropped_total", {}).items()):
            add(dropped, "kubechaos_etcd_writes_dropped_total", {"mode": mode}, n)

        attempts = family(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result.",
            "counter",
        )
        pending = family(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type.",
            "gauge",
        )
        scheduler = cluster.scheduler.instance
        if scheduler is not None and cluster.scheduler.running:
            for result, n in sorted(scheduler.schedule_attempts.items()):  # type: ignore[attr-defined]
                add(attempts, "scheduler_schedule_attempts_total", {"result": result}, n)
            for queue, n in sorted(scheduler.pending_pods().items()):  # type: ignore[attr-defined]
                add(pending, "scheduler_pending_pods", {"queue": queue}, n)

        depth = family("workqueue_depth", "Current depth of workqueue", "gauge")
        adds = family("workqueue_adds", "Total number of adds handled by workqueue", "counter")
        retries = family(
            "workqueue_retries", "Total number of retries handled by workqueue", "counter"
        )
        manager = cluster.controller_manager.instance
        if manager is not None and cluster.controller_manager.running:
            for controller in manager.queues():  # type: ignore[attr-defined]
                queue = controller.queue
                labels = {"name": queue.name}
                add(depth, "workqueue_depth", labels, queue.depth)
                add(adds, "workqueue_adds_total", labels, queue.adds_total)
                add(retries, "workqueue_retries_total", labels, queue.retries_total)

        running = family(
            "kubelet_running_pods", "Number of pods that have a running pod sandbox", "gauge"
        )
        starts: list[float] = []
        for name, agent in cluster.nodes.items():
            kubelet = agent.kubelet
            if kubelet is None or not agent.process.running:
                continue
            add(running, "kubelet_running_pods", {"node": name}, kubelet.running_pods())
            starts.extend(kubelet.pod_start_durations)
        counts, total = bucketed(starts, POD_START_BUCKETS)
        pod_start = histogram(
            "kubelet_pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
            "seconds",
            (),
            [((), POD_START_BUCKETS, counts, total)],
        )

        fleet = cluster.proxies
        sync = histogram(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            "seconds",
            (),
            [((), SYNC_DURATION_BUCKETS, fleet.sync_duration_buckets, fleet.sync_duration_sum)],
        )
        last = family(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            "gauge",
            "seconds",
        )
        for name in fleet.node_names:
            proxy = fleet.proxy(name)
            if proxy.running:
                add(
                    last,
                    "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                    {"node": name},
                    proxy.last_sync_time,
                )
        return [requests, durations, has_leader, failed, puts, dropped, attempts, pending,
                depth, adds, retries, running, pod_start, sync, last]  # fmt: skip

    # -------------------------------------------------------------- kubechaos
    def service_request_family(self) -> Metric:
        metric = family(
            "kubechaos_service_requests",
            "Requests sent to each Service by the scenario's traffic, by source node and outcome (success, no_endpoints, connection_refused, timeout, not_ready).",
            "counter",
        )
        if self.traffic is not None:
            for (ns, svc, source, outcome), n in sorted(self.traffic.requests.items()):
                add(
                    metric,
                    "kubechaos_service_requests_total",
                    {"namespace": ns, "service": svc, "source_node": source, "outcome": outcome},
                    n,
                )
        return metric

    def latency_family(self) -> Metric:
        stats = self.traffic
        series: list[tuple[Sequence[str], Sequence[float], Sequence[int], float]] = []
        if stats is not None:
            for sid, counts in sorted(stats.latency_buckets.items()):
                series.append((sid, LATENCY_BUCKETS, counts, stats.latency_sum[sid]))
        latency = histogram(
            "kubechaos_service_request_duration_seconds",
            "Latency of the scenario's requests to each Service as the client saw it (timeouts count their full wait).",
            "seconds",
            ("namespace", "service"),
            series,
        )
        return latency

    def traffic_families(self) -> list[Metric]:
        return [self.service_request_family(), self.latency_family()]

    def fault_families(self) -> list[Metric]:
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
        for key, n in sorted(self.faults.injections.items()):
            labels = {"fault": key[0], "type": key[1]}
            add(injections, "kubechaos_fault_injections_total", labels, n)
            add(active, "kubechaos_fault_active", labels, self.faults.active(key))
        return [injections, active]

    def virtual_time_family(self) -> Metric:
        metric = family(
            "kubechaos_virtual_time_seconds",
            "Virtual seconds since the start of the run.",
            "gauge",
            "seconds",
        )
        with contextlib.suppress(RuntimeError):  # after the run: keep the time it ended
            self.last_time = trio.current_time()
        add(metric, "kubechaos_virtual_time_seconds", {}, self.last_time)
        return metric


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


__all__ = ["FAMILIES", "ClusterCollector", "FaultLedger", "family_of", "new_registry", "samples"]
