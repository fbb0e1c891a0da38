"""The control-plane nodes of a cluster: what runs on each and how they share the work.

``spec.cluster.controlPlane.nodes`` (default 1) control-plane nodes, named ``control-plane-0`` ..
``control-plane-<N-1>`` (the hostname part of the leader-election identities, which was always
``control-plane-0``). Each runs, as a kubeadm stacked-etcd control plane does (kubeadm docs
"Options for Highly Available Topology"):

* one etcd member (:class:`~kubechaos.control.etcdcluster.EtcdCluster`: quorum and leader);
* one kube-apiserver replica behind the load balancer
  (:class:`~kubechaos.control.apireplicas.APIReplicas`: which clients reach which replica);
* one kube-scheduler and one kube-controller-manager candidate, each talking to its own node's
  API server; one of each leads through its Lease, the others stand by (the cluster wires them:
  :mod:`kubechaos.cluster`).

The control-plane nodes are not registered as Node objects: upstream kubeadm registers them
tainted ``node-role.kubernetes.io/control-plane:NoSchedule``, so no workload without that
toleration lands there, and the model runs no kubelet or static pods on them. A DaemonSet that
tolerates every taint would run a pod on each upstream and runs none here.
"""

from __future__ import annotations

from kubechaos.client.context import Context
from kubechaos.control.apireplicas import APIReplicas
from kubechaos.control.apiserver import APIServer
from kubechaos.control.etcd import Etcd
from kubechaos.control.etcdcluster import EtcdCluster

HOST_PREFIX = "control-plane-"


def control_plane_hosts(count: int) -> tuple[str, ...]:
    return tuple(f"{HOST_PREFIX}{i}" for i in range(count))


class ControlPlane:
    """The control-plane nodes' etcd members and API server replicas."""

    def __init__(self, count: int, etcd: Etcd, api: APIServer, ctx: Context) -> None:
        self.hosts = control_plane_hosts(count)
        self.etcd = EtcdCluster(etcd, self.hosts, ctx.settings, ctx.stream("etcd-raft"), ctx.events)
        self.apiservers = APIReplicas(api, self.hosts, ctx.events)

    @property
    def ha(self) -> bool:
        return len(self.hosts) > 1

    def client_name(self, component: str, i: int) -> str:
        """The client name of ``component``'s candidate on node ``i``: the component's own name
        with one node (as ever), ``<component>/<host>`` with several, so faults and the API
        server's routing can tell the candidates apart (``kube-scheduler`` still matches all)."""
        return f"{component}/{self.hosts[i]}" if self.ha else component

    def index(self, which: str | int) -> int:
        """A control-plane node by index or host name; ValueError naming the choices."""
        if isinstance(which, str) and which in self.hosts:
            return self.hosts.index(which)
        if isinstance(which, int) and not isinstance(which, bool) and 0 <= which < len(self.hosts):
            return which
        raise ValueError(
            f"control-plane node {which!r}: expected 0..{len(self.hosts) - 1} or one of "
            + ", ".join(self.hosts)
        )


__all__ = ["HOST_PREFIX", "ControlPlane", "control_plane_hosts"]
