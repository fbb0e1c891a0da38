"""The API server replicas of an HA control plane and the connections clients hold to them.

The model serves every request from one :class:`~kubechaos.control.apiserver.APIServer` (one
watch cache per resource): every replica reads the same etcd, so what a client sees does not depend
on the replica, only whether its replica answers. What this module adds is that *whether*:

* **through the load balancer** (kubelets, kube-proxy, kubechaos and external clients, whose
  kubeconfig names the control-plane endpoint, kubeadm's ``--control-plane-endpoint``): each client
  holds one long-lived connection (client-go multiplexes its requests and watches over one HTTP/2
  connection), pinned to one replica until it breaks. When that replica dies the connection breaks:
  the open watches end and the informers watch again from their last resourceVersion (relisting
  only if the watch cache has moved past it: a 410); the next request dials the load balancer
  again, which sends it to a live replica. A connection is never moved back when the replica
  returns (which is why upstream has ``--goaway-chance``);
* **local** (the kube-scheduler and kube-controller-manager candidates: kubeadm writes their
  kubeconfigs, ``scheduler.conf`` / ``controller-manager.conf``, with the node's own API server
  address, ``localAPIEndpoint``, while ``kubelet.conf`` and ``admin.conf`` get the
  ``controlPlaneEndpoint``: cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go
  getKubeConfigSpecsBase): they reach only their own node's replica and get ``connection
  refused`` while it is down; a leader cut off that way loses its Lease after renewDeadline.

Which replica a load-balanced client first landed on is a function of its name (a stable hash),
so nothing is recorded per client or per request until a replica dies: with every replica up this
module is never asked anything.
"""

from __future__ import annotations

import zlib

from kubechaos.api import errors
from kubechaos.api.discovery import API_RESOURCES
from kubechaos.control.apiserver import APIServer, Request
from kubechaos.sim.events import EventLog

COMPONENT = "kube-apiserver"


class ConnectionRefused(errors.APIError):
    """A request to a replica that is down: a transport error upstream (``dial tcp ...: connect:
    connection refused``), not an API status; 503 is the closest status for the metrics, and the
    model's clients treat it like any failed request and retry on their own schedule."""

    code = 503
    reason = "ServiceUnavailable"


class APIReplicas:
    """Which replicas are up, and which replica each client's connection is on."""

    def __init__(self, api: APIServer, hosts: tuple[str, ...], events: EventLog) -> None:
        self.api = api
        self.hosts = hosts
        self._events = events
        self.holds = [0] * len(hosts)
        self._moved: dict[str, int] = {}  # load-balanced clients reconnected after a break
        self._next = 0  # the load balancer's round robin over live replicas
        self.reconnects_total = 0

    def up(self, i: int) -> bool:
        return self.holds[i] == 0

    def replica_of(self, client: str) -> int | None:
        """The replica ``client`` talks to: its own node's for a local component
        (``kube-scheduler/control-plane-1``), else its connection's through the load balancer."""
        head, _, host = client.partition("/")
        if host in self.hosts and head != "kubelet":
            return self.hosts.index(host)
        moved = self._moved.get(client)
        if moved is not None:
            return moved
        return zlib.crc32(client.encode()) % len(self.hosts)

    def _local(self, client: str) -> bool:
        head, _, host = client.partition("/")
        return host in self.hosts and head != "kubelet"

    def _live(self) -> list[int]:
        return [i for i in range(len(self.hosts)) if self.holds[i] == 0]

    # ------------------------------------------------------------------ faults
    def crash(self, i: int) -> None:
        self.holds[i] += 1
        if self.holds[i] > 1:
            return
        if sum(self.holds) == 1:
            self.api.request_hooks.append(self._refuse)  # the first replica down
        broken = self._break_watches(i)
        self._events.record(
            COMPONENT,
            "Replica",
            self.hosts[i],
            "ReplicaDown",
            f"{len(self._live())} of {len(self.hosts)} replicas up; {broken} watches broken",
        )

    def restore(self, i: int) -> None:
        if self.holds[i] == 0:
            return
        self.holds[i] -= 1
        if self.holds[i]:
            return
        self._events.record(
            COMPONENT,
            "Replica",
            self.hosts[i],
            "ReplicaUp",
            f"{len(self._live())} of {len(self.hosts)} replicas up",
        )
        if not any(self.holds) and self._refuse in self.api.request_hooks:
            self.api.request_hooks.remove(self._refuse)

    def _break_watches(self, i: int) -> int:
        """End the open watches whose connection was on replica ``i``; their informers watch
        again (through :meth:`_refuse`'s routing) from their last resourceVersion."""
        broken = [
            watch
            for resource in API_RESOURCES
            for watch in self.api.cache(resource).open_watches()
            if not watch.closed and self.replica_of(watch.name) == i
        ]
        for client in dict.fromkeys(watch.name for watch in broken):
            self._reconnect(client)  # one new connection per client, for all its watches
        for watch in broken:
            watch.stop()
        return len(broken)

    def _reconnect(self, client: str) -> int | None:
        """A load-balanced client dials again: the balancer's next live replica."""
        if self._local(client):
            return self.replica_of(client)
        live = self._live()
        if not live:
            return None
        target = live[self._next % len(live)]
        self._next += 1
        self._moved[client] = target
        self.reconnects_total += 1
        return target

    def _refuse(self, request: Request) -> float:
        """The request hook while any replica is down."""
        replica = self.replica_of(request.client)
        if replica is not None and self.holds[replica] == 0:
            return 0.0
        if not self._local(request.client):
            replica = self._reconnect(request.client)
            if replica is not None:
                return 0.0
        address = self.hosts[replica] if replica is not None else "control-plane-endpoint"
        raise ConnectionRefused(
            f"{request.verb} {request.resource}: dial tcp {address}:6443: connect: "
            "connection refused"
        )


__all__ = ["COMPONENT", "APIReplicas", "ConnectionRefused"]
