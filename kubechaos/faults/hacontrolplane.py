"""Faults on one control-plane node of an HA control plane (``spec.cluster.controlPlane``): one
etcd member, one API server replica, or the whole node.

Each picks its part by index (``0`` .. ``N-1``), by host name (``control-plane-1``) or by what it
leads at injection time (``leader`` for an etcd member; ``etcd-leader``, ``scheduler-leader``,
``controller-manager-leader`` for a node). What they hit is held by a count on the part
(:class:`~kubechaos.control.etcdcluster.EtcdCluster`,
:class:`~kubechaos.control.apireplicas.APIReplicas`, the processes' holds), so overlapping faults
stack and the part returns when the last one is reverted. Without a duration the part stays down
to the end of the run.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from kubechaos.cluster import Cluster, ClusterSpec, Process
from kubechaos.control.controlplane import control_plane_hosts
from kubechaos.faults.base import FaultEnv, FaultError, fault_type, param
from kubechaos.faults.controlplane import ControlPlaneFault, hold_process, release_process

NODE_LEADERS = {
    "scheduler-leader": "schedulers",
    "controller-manager-leader": "controller_managers",
}
ETCD_LEADER = "etcd-leader"


def _index_problem(which: int | str, count: int, words: tuple[str, ...]) -> str:
    """Why ``which`` names no control-plane node of ``count`` ("" if it does)."""
    hosts = control_plane_hosts(count)
    if isinstance(which, int):
        if which < count:
            return ""
        return f"index {which}: the cluster has {count} control-plane node(s), 0..{count - 1}"
    if which in hosts or which in words:
        return ""
    return f"{which!r}: expected 0..{count - 1}, " + ", ".join((*hosts, *words))


def _host_index(cluster: Cluster, which: int | str) -> int:
    try:
        return cluster.control_plane.index(which)
    except ValueError as exc:
        raise FaultError(str(exc)) from None


def _leading(candidates: list[Process]) -> int:
    for i, process in enumerate(candidates):
        if process.acting:
            return i
    raise FaultError("no candidate leads now")


@attrs.define(kw_only=True)
class _OneNodeFault(ControlPlaneFault):
    words: ClassVar[tuple[str, ...]] = ()

    def _which(self) -> int | str:
        raise NotImplementedError

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        which = self._which()
        if isinstance(which, str) and not (which in self.words or which.startswith("control-")):
            raise ValueError(
                f"{which!r}: expected an index, a control-plane host name or "
                + ", ".join(self.words)
            )

    def cluster_problem(self, cluster: Any) -> str:
        spec: ClusterSpec = cluster
        return _index_problem(self._which(), spec.control_plane_nodes, self.words)


@fault_type(
    "etcd-member-crash",
    target="none",
    summary="one etcd member dies; the others elect a leader if a majority is left",
)
@attrs.define(kw_only=True)
class EtcdMemberCrash(_OneNodeFault):
    """One etcd member's process dies. A follower's death is invisible while a majority is up; the
    leader's death leaves the cluster leaderless until a follower's randomized election timeout
    (1-2 x ``etcdElectionTimeout``) fires, and writes arriving meanwhile wait for the new leader;
    with fewer than a majority up (2 of 3 down) there is no leader at all: writes and quorum reads
    fail (500 ``etcdserver: no leader``) while the API server's watch cache still serves what it
    holds. With a duration the member starts again and catches up from the leader."""

    words: ClassVar[tuple[str, ...]] = ("leader",)
    member: int | str = param(
        "leader", "member", "index", "which member: its index, its host name, or leader"
    )

    def _which(self) -> int | str:
        return self.member

    async def inject(self, env: FaultEnv) -> list[str]:
        etcd = env.cluster.control_plane.etcd
        if self.member == "leader":
            if etcd.leader is None:
                raise FaultError("etcd has no leader now")
            i = etcd.leader
        else:
            i = _host_index(env.cluster, self.member)
        etcd.crash(i, env.cluster.nursery)
        self._keep(env, i)
        return [f"etcd/{etcd.members[i].name}"]

    async def revert(self, env: FaultEnv) -> None:
        i = self._take(env)
        if i is not None:
            env.cluster.control_plane.etcd.restore(i, env.cluster.nursery)


@fault_type(
    "apiserver-crash",
    target="none",
    summary="one kube-apiserver replica dies; clients behind the load balancer reconnect to "
    "another, its node's scheduler and controller manager lose the API server",
)
@attrs.define(kw_only=True)
class APIServerCrash(_OneNodeFault):
    """One API server replica dies. Every client whose connection was on it (kubelets,
    kube-proxy and other clients of the load balancer) sees its watches end and reconnects
    through the load balancer to a live replica, its informers watching again from their last
    resourceVersion; the kube-scheduler and kube-controller-manager on that node talk to it only
    (their kubeconfig names the node's own API server) and get ``connection refused`` until it
    is back: a leader among them loses its Lease after renewDeadline (10 s) and a standby on
    another node takes over once the Lease has gone unrenewed for leaseDuration (15 s) as it
    observed it. With one replica every request is refused."""

    replica: int | str = param(0, "replica", "index", "which replica: its index or host name")

    def _which(self) -> int | str:
        return self.replica

    async def inject(self, env: FaultEnv) -> list[str]:
        plane = env.cluster.control_plane
        i = _host_index(env.cluster, self.replica)
        plane.apiservers.crash(i)
        self._keep(env, i)
        return [f"kube-apiserver/{plane.hosts[i]}"]

    async def revert(self, env: FaultEnv) -> None:
        i = self._take(env)
        if i is not None:
            env.cluster.control_plane.apiservers.restore(i)


@fault_type(
    "control-plane-node-crash",
    target="none",
    summary="a control-plane node dies: its etcd member, API server replica and scheduler and "
    "controller-manager candidates",
)
@attrs.define(kw_only=True)
class ControlPlaneNodeCrash(_OneNodeFault):
    """A control-plane node dies with everything on it: its etcd member (as
    ``etcd-member-crash``), its API server replica (as ``apiserver-crash``) and its kube-scheduler
    and kube-controller-manager candidates (a leader among them stops renewing its Lease; a
    standby elsewhere takes over once the Lease has gone unrenewed for leaseDuration as it
    observed it). With a duration the node boots again: etcd member, API server, then the
    candidates, which stand by."""

    words: ClassVar[tuple[str, ...]] = (ETCD_LEADER, *NODE_LEADERS)
    node: int | str = param(
        0,
        "node",
        "index",
        "which node: its index, its host name, or the node hosting etcd-leader, "
        "scheduler-leader or controller-manager-leader",
    )

    def _which(self) -> int | str:
        return self.node

    def _resolve(self, cluster: Cluster) -> int:
        if self.node == ETCD_LEADER:
            leader = cluster.control_plane.etcd.leader
            if leader is None:
                raise FaultError("etcd has no leader now")
            return leader
        if isinstance(self.node, str) and self.node in NODE_LEADERS:
            return _leading(getattr(cluster, NODE_LEADERS[self.node]))
        return _host_index(cluster, self.node)

    async def inject(self, env: FaultEnv) -> list[str]:
        cluster: Cluster = env.cluster
        plane = cluster.control_plane
        i = self._resolve(cluster)
        hold_process(cluster.schedulers[i])
        hold_process(cluster.controller_managers[i])
        plane.apiservers.crash(i)
        plane.etcd.crash(i, cluster.nursery)
        self._keep(env, i)
        return [plane.hosts[i]]

    async def revert(self, env: FaultEnv) -> None:
        i = self._take(env)
        if i is None:
            return
        cluster: Cluster = env.cluster
        cluster.control_plane.etcd.restore(i, cluster.nursery)
        cluster.control_plane.apiservers.restore(i)
        release_process(cluster.schedulers[i], cluster.nursery)
        release_process(cluster.controller_managers[i], cluster.nursery)


__all__ = ["APIServerCrash", "ControlPlaneNodeCrash", "EtcdMemberCrash"]
