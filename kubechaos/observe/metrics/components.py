"""Component metrics: what each control-plane and node component counts about itself.

One function per component, each returning that component's families in exposition order, as
upstream registers them:

- API server: ``apiserver_request_total``, ``apiserver_request_duration_seconds``
  (``staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go``);
- etcd: ``etcd_server_has_leader``, ``etcd_server_proposals_failed_total``,
  ``etcd_mvcc_put_total`` (etcd's ``server/etcdserver/metrics.go``, ``server/storage/mvcc/
  metrics.go``), and ``kubechaos_etcd_writes_dropped_total`` for the etcd-write-drop fault;
- scheduler: ``scheduler_schedule_attempts_total``, ``scheduler_pending_pods``,
  ``scheduler_preemption_attempts_total``, ``scheduler_preemption_victims``
  (``pkg/scheduler/metrics/metrics.go``);
- controller manager: ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``
  (``staging/src/k8s.io/component-base/metrics/prometheus/workqueue``); the node lifecycle
  controller's ``node_collector_zone_health``, ``node_collector_zone_size``,
  ``node_collector_unhealthy_nodes_in_zone`` and ``node_collector_evictions_total``, by zone
  (``pkg/controller/nodelifecycle/metrics.go``);
- leader election (scheduler, controller manager): ``leader_election_master_status{name}``
  (``staging/src/k8s.io/component-base/metrics/prometheus/clientgo/leaderelection``);
- kubelet: ``kubelet_running_pods``, ``kubelet_pod_start_duration_seconds``
  (``pkg/kubelet/metrics/metrics.go``);
- kube-proxy: ``kubeproxy_sync_proxy_rules_duration_seconds``,
  ``kubeproxy_sync_proxy_rules_last_timestamp_seconds`` (``pkg/proxy/metrics/metrics.go``).

They read each component's own counters, so a restarted process starts its counters from zero.
A scheduler, controller manager, kubelet or kube-proxy that is down exposes no series (its
families stay, empty), as a real one would not be scraped; so does a scheduler or controller
manager that runs but does not lead (its component has not started); the API server's and etcd's families
are always there (etcd tells its outage by ``etcd_server_has_leader``). They are apart from
kube-state-metrics because their sources differ: kube-state-metrics reads only API objects.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from kubechaos.cluster import Cluster
from kubechaos.control.apiserver import DURATION_BUCKETS
from kubechaos.control.controllers.nodezones import zone_label
from kubechaos.control.scheduler.preemption import VICTIMS_BUCKETS
from kubechaos.node.proxy import SYNC_DURATION_BUCKETS
from kubechaos.observe.metrics.builders import add, bucketed, family, histogram
from kubechaos.observe.metrics.controlplane import add_has_leader, control_plane_families

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


def upstream_request_labels(verb: str, resource: str) -> tuple[str, str, str]:
    """The API server's own verb/resource/subresource labels for one of the model's request
    kinds: a status update is ``UPDATE`` on subresource ``status``, a binding is ``CREATE`` on
    ``pods`` subresource ``binding``."""
    if verb == "update_status":
        return "UPDATE", resource, "status"
    base, _, subresource = resource.partition("/")
    return verb.upper(), base, subresource


def apiserver_families(cluster: Cluster) -> list[Metric]:
    """Requests by verb, resource, subresource and code, and their latency, from the API
    server's request stats."""
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
    return [requests, durations]


def etcd_families(cluster: Cluster) -> list[Metric]:
    """Leadership, failed proposals and puts; the writes an etcd-write-drop fault dropped."""
    etcd = cluster.etcd
    has_leader = family(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        "gauge",
    )
    add_has_leader(has_leader, cluster)
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
    return [has_leader, failed, puts, dropped]


def scheduler_families(cluster: Cluster) -> list[Metric]:
    """Scheduling attempts by result, pending pods by queue, and preemption, while a scheduler
    runs (the families are empty, but present, while it is down)."""
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
    if scheduler is not None and cluster.scheduler.acting:
        for result, n in sorted(scheduler.schedule_attempts.items()):  # type: ignore[attr-defined]
            add(attempts, "scheduler_schedule_attempts_total", {"result": result}, n)
        for queue, n in sorted(scheduler.pending_pods().items()):  # type: ignore[attr-defined]
            add(pending, "scheduler_pending_pods", {"queue": queue}, n)
    return [attempts, pending, *preemption_families(cluster)]


def preemption_families(cluster: Cluster) -> list[Metric]:
    """DefaultPreemption's PostFilter runs and the victims of each preemption."""
    attempts = family(
        "scheduler_preemption_attempts",
        "Total preemption attempts in the cluster till now",
        "counter",
    )
    scheduler = cluster.scheduler.instance
    series = []
    if scheduler is not None and cluster.scheduler.running:
        preemption = scheduler.preemption  # type: ignore[attr-defined]
        add(attempts, "scheduler_preemption_attempts_total", {}, preemption.attempts)
        series.append(((), VICTIMS_BUCKETS, preemption.victims_buckets, preemption.victims_sum))
    victims = histogram(
        "scheduler_preemption_victims", "Number of selected preemption victims", "", (), series
    )
    return [attempts, victims]


def workqueue_families(cluster: Cluster) -> list[Metric]:
    """The controller manager's work queues, one series per controller."""
    depth = family("workqueue_depth", "Current depth of workqueue", "gauge")
    adds = family("workqueue_adds", "Total number of adds handled by workqueue", "counter")
    retries = family("workqueue_retries", "Total number of retries handled by workqueue", "counter")
    manager = cluster.controller_manager.instance
    if manager is not None and cluster.controller_manager.acting:
        for controller in manager.queues():  # type: ignore[attr-defined]
            queue = controller.queue
            labels = {"name": queue.name}
            add(depth, "workqueue_depth", labels, queue.depth)
            add(adds, "workqueue_adds_total", labels, queue.adds_total)
            add(retries, "workqueue_retries_total", labels, queue.retries_total)
    return [depth, adds, retries]


def node_collector_families(cluster: Cluster) -> list[Metric]:
    """The node lifecycle controller's zone gauges (set at each monitor pass) and its count of
    NoExecute taintings, by zone as upstream labels it (``region::zone``, "" for no zone)."""
    health = family(
        "node_collector_zone_health",
        "Gauge measuring percentage of healthy nodes per zone.",
        "gauge",
    )
    size = family(
        "node_collector_zone_size", "Gauge measuring number of registered Nodes per zones.", "gauge"
    )
    unhealthy = family(
        "node_collector_unhealthy_nodes_in_zone",
        "Gauge measuring number of not Ready Nodes per zones.",
        "gauge",
    )
    evictions = family(
        "node_collector_evictions",
        "Number of Node evictions that happened since current instance of NodeController started.",
        "counter",
    )
    manager = cluster.controller_manager.instance
    if manager is not None and cluster.controller_manager.acting:
        zones = manager.node_lifecycle.zones  # type: ignore[attr-defined]
        for zone, value in sorted(zones.zone_health.items()):
            label = {"zone": zone_label(zone)}
            add(health, "node_collector_zone_health", label, value)
            add(size, "node_collector_zone_size", label, zones.zone_size[zone])
            add(
                unhealthy,
                "node_collector_unhealthy_nodes_in_zone",
                label,
                zones.unhealthy_nodes[zone],
            )
        for zone, n in sorted(zones.evictions_total.items()):
            add(evictions, "node_collector_evictions_total", {"zone": zone_label(zone)}, n)
    return [health, size, unhealthy, evictions]


def leader_election_families(cluster: Cluster) -> list[Metric]:
    """``leader_election_master_status{name}`` of each running leader-elected process: 1 while it
    leads, 0 while it waits for the Lease; no series while it is down (exited or crashed)."""
    status = family(
        "leader_election_master_status",
        "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
        "1 indicates master. 'name' is the string used to identify the lease. Please make sure "
        "to group by name.",
        "gauge",
    )
    ha = cluster.control_plane.ha
    for process in (*cluster.schedulers, *cluster.controller_managers):
        election = process.election
        if election is not None and process.running:
            leading = 1 if election.leading else 0
            labels = {"name": election.name}
            if ha:  # one process per control-plane node; upstream Prometheus tells them apart by
                # its scrape target's `instance`, which it would rename here: `host` instead
                labels["host"] = election.host
            add(status, "leader_election_master_status", labels, leading)
    return [status]


def kubelet_families(cluster: Cluster) -> list[Metric]:
    """Every running kubelet's pods; pod start durations pooled over the nodes."""
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
    return [running, pod_start]


def kubeproxy_families(cluster: Cluster) -> list[Metric]:
    """The fleet's sync durations pooled; the last sync time of every running kube-proxy."""
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
    return [sync, last]


def component_families(cluster: Cluster) -> list[Metric]:
    """Every component's families, in exposition order."""
    return [
        *apiserver_families(cluster),
        *etcd_families(cluster),
        *control_plane_families(cluster),
        *scheduler_families(cluster),
        *workqueue_families(cluster),
        *leader_election_families(cluster),
        *node_collector_families(cluster),
        *kubelet_families(cluster),
        *kubeproxy_families(cluster),
    ]
