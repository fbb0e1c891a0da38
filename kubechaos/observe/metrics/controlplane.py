"""Metrics of the control-plane nodes: etcd members and quorum, API server replicas.

etcd's own gauges, as ``server/etcdserver/metrics.go`` registers them in every member process:
``etcd_server_has_leader`` (1 while the member sees a leader), ``etcd_server_is_leader`` (1 on the
leader) and ``etcd_server_leader_changes_seen_total`` (leader changes this process has seen,
counting the first leader it found). Prometheus scrapes each member separately; here each sample
carries a ``member`` label (the member's control-plane node) instead of the scrape's
``instance``. A member that is down is not scraped: no sample. With one control-plane node
``etcd_server_has_leader`` keeps its one unlabelled sample (:func:`add_has_leader`).

Up-ness, which upstream is Prometheus's own ``up`` of each scrape target, is
``kubechaos_etcd_member_up{member}`` and ``kubechaos_apiserver_replica_up{replica}``.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from kubechaos.cluster import Cluster
from kubechaos.observe.metrics.builders import add, family


def add_has_leader(has_leader: Metric, cluster: Cluster) -> None:
    """``etcd_server_has_leader``: one sample per running member (unlabelled with one)."""
    plane = cluster.control_plane
    if not plane.ha:
        add(has_leader, "etcd_server_has_leader", {}, 1.0 if cluster.etcd.has_leader else 0.0)
        return
    etcd = plane.etcd
    for i, member in enumerate(etcd.members):
        if member.up:
            leads = etcd.member_has_leader(i) and cluster.etcd.has_leader
            add(has_leader, "etcd_server_has_leader", {"member": member.name}, float(leads))


def etcd_member_families(cluster: Cluster) -> list[Metric]:
    """Per member: up, is leader, leader changes seen."""
    etcd = cluster.control_plane.etcd
    up = family(
        "kubechaos_etcd_member_up",
        "Whether the etcd member's process runs (Prometheus's up of its scrape target).",
        "gauge",
    )
    is_leader = family(
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        "gauge",
    )
    changes = family(
        "etcd_server_leader_changes_seen",
        "The number of leader changes seen.",
        "counter",
    )
    for i, member in enumerate(etcd.members):
        labels = {"member": member.name}
        add(up, "kubechaos_etcd_member_up", labels, float(member.up))
        if not member.up:
            continue
        leads = etcd.leader == i and cluster.etcd.has_leader
        add(is_leader, "etcd_server_is_leader", labels, float(leads))
        add(changes, "etcd_server_leader_changes_seen_total", labels, member.leader_changes_seen)
    return [up, is_leader, changes]


def apiserver_replica_families(cluster: Cluster) -> list[Metric]:
    """``kubechaos_apiserver_replica_up{replica}`` and the reconnections through the load
    balancer after a replica died."""
    replicas = cluster.control_plane.apiservers
    up = family(
        "kubechaos_apiserver_replica_up",
        "Whether the kube-apiserver replica runs (Prometheus's up of its scrape target).",
        "gauge",
    )
    for i, host in enumerate(replicas.hosts):
        add(up, "kubechaos_apiserver_replica_up", {"replica": host}, float(replicas.up(i)))
    reconnects = family(
        "kubechaos_apiserver_reconnects",
        "Clients that dialled the load balancer again after their API server replica died.",
        "counter",
    )
    add(reconnects, "kubechaos_apiserver_reconnects_total", {}, replicas.reconnects_total)
    return [up, reconnects]


def control_plane_families(cluster: Cluster) -> list[Metric]:
    return [*etcd_member_families(cluster), *apiserver_replica_families(cluster)]


__all__ = [
    "add_has_leader",
    "apiserver_replica_families",
    "control_plane_families",
    "etcd_member_families",
]
