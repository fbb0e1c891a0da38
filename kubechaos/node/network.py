"""The pod network's data plane: which IP is held by which container, and can it answer.

The kubelet (through its container runtime) is the only writer: it assigns an IP when a pod's
sandbox starts, attaches what answers there (the pod's processes, :mod:`kubechaos.node.serving`),
tells the endpoint when its containers change, and releases the IP when the sandbox goes.
Traffic reads it to decide what a request that kube-proxy routed to an IP meets: one dict lookup
and, while the endpoint's answer holds, one comparison. This is
not API state: it is what the packets see, which is exactly what can disagree with the API
(stale routes, dead nodes whose pods still look Running).

The path between nodes is a seam for faults (partitions, delay, loss): ``PodNetwork.path_hooks``
is a list of :data:`PathHook`. Traffic consults them, for each request that crosses the network,
only while the list is not empty, so a healthy network costs one truth test per request. Hooks
stack: their extra latencies add up, and any hook returning :data:`DROP` drops the request.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from typing import Protocol

import attrs

from kubechaos.sim.invariants import InvariantViolation

PathHook = Callable[[str, "str | None"], float]
"""Called with a request's source node and the node of the pod it reached (None when no pod holds
the IP it was routed to); returns extra seconds the request takes, :data:`DROP` to lose it (the
client times out). A request refused by its own node's kube-proxy (no endpoints) never reaches
the network and is not shown to hooks."""

DROP = math.inf

# What a request that reaches a pod's IP meets (the traffic model's outcomes of the same name).
ANSWERED, REFUSED, HUNG_UP, ERRORED = "success", "connection_refused", "timeout", "not_ready"


class Answerer(Protocol):
    """What answers at an IP, as a function of time: the pod's processes (see
    :mod:`kubechaos.node.serving`)."""

    def answer(self, t: float) -> tuple[str, float]:
        """``(what a request meets at time t, the time until which that holds)``."""
        ...


@attrs.define
class Endpoint:
    """What answers at one pod IP.

    ``answer_at(t)`` is the honest outcome of a request reaching it (ignoring the node being
    down, which traffic checks first): asked of the ``answerer`` the kubelet attached, then
    cached until the time the answerer said it holds, or until :meth:`changed` (the kubelet
    calls it on every container change), so a request costs one comparison.
    """

    ip: str
    node: str
    pod: str  # namespace/name
    running: bool = False  # every container of the pod is running
    ready: bool = False  # the kubelet's own readiness verdict (probes), not the API's
    # requests this pod has served (the load model: metrics-server turns the count into CPU)
    served: int = 0
    answerer: Answerer | None = None
    answer: str = REFUSED
    answer_until: float = -math.inf

    def answer_at(self, t: float) -> str:
        if t < self.answer_until:
            return self.answer
        if self.answerer is None:  # no processes modelled (a hand-wired endpoint): the flags
            if not self.running:
                return REFUSED
            return ANSWERED if self.ready else ERRORED
        self.answer, self.answer_until = self.answerer.answer(t)
        return self.answer

    def changed(self) -> None:
        """What runs behind the IP changed: ask the answerer again at the next request."""
        self.answer_until = -math.inf


class PodNetwork:
    def __init__(self) -> None:
        self._by_ip: dict[str, Endpoint] = {}
        self._node_up: dict[str, bool] = {}
        # The traffic clients' per-request lookups, as bound dict lookups (C calls, no Python
        # frame): ``lookup(ip)`` is the endpoint at ``ip`` or None, ``is_up(node)`` is truthy
        # exactly when :meth:`node_up` is True (None for a node never seen).
        self.lookup = self._by_ip.get
        self.is_up = self._node_up.get
        # Fault injection's seam on the path between nodes (see the module docstring).
        self.path_hooks: list[PathHook] = []

    def set_node_up(self, node: str, up: bool) -> None:
        self._node_up[node] = up

    def node_up(self, node: str) -> bool:
        return self._node_up.get(node, False)

    def attach(self, ip: str, node: str, pod: str) -> Endpoint:
        if ip in self._by_ip:
            raise InvariantViolation(
                "pod-ip-unique", f"IP {ip} given to {pod} is already held by {self._by_ip[ip].pod}"
            )
        endpoint = Endpoint(ip, node, pod)
        self._by_ip[ip] = endpoint
        return endpoint

    def detach(self, ip: str) -> None:
        self._by_ip.pop(ip, None)

    def endpoints(self) -> list[Endpoint]:
        """Every IP held, in the order they were given (what a metrics scrape walks)."""
        return list(self._by_ip.values())

    def serving(self, ip: str) -> bool:
        """Does the kubelet hold ``ip``'s pod running and ready on an up node (its verdict, which
        lags the processes by its probes; what a request meets is :meth:`Endpoint.answer_at`)?"""
        endpoint = self._by_ip.get(ip)
        return (
            endpoint is not None
            and endpoint.running
            and endpoint.ready
            and self._node_up.get(endpoint.node, False)
        )

    def __len__(self) -> int:
        return len(self._by_ip)


class NodeIPAM:
    """host-local IPAM for one node's pod CIDR (IPv4): hands out the next free address after the
    last one given, so a replacement pod gets a new IP (as upstream's host-local plugin does).

    Addresses are read and written as dotted quads by :func:`_ipv4_int` and :func:`dotted_quad`,
    not through :mod:`ipaddress` objects: a pod's sandbox allocates one and its teardown
    releases it, and the two objects that cost were most of the pod's IPAM work."""

    def __init__(self, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr)
        self._first = int(net.network_address) + 2  # .1 is the node's bridge/gateway
        self._size = net.num_addresses - 3
        self._cursor = 0
        self._used: set[int] = set()

    def allocate(self) -> str:
        for _ in range(self._size):
            offset = self._cursor
            self._cursor = (self._cursor + 1) % self._size
            if offset not in self._used:
                self._used.add(offset)
                return dotted_quad(self._first + offset)
        raise RuntimeError("pod CIDR exhausted")

    def reserve(self, ip: str) -> None:
        """Mark ``ip`` as taken: a restarted kubelet adopting a sandbox that kept its address."""
        offset = _ipv4_int(ip) - self._first
        if 0 <= offset < self._size:
            self._used.add(offset)

    def release(self, ip: str) -> None:
        self._used.discard(_ipv4_int(ip) - self._first)


def dotted_quad(address: int) -> str:
    """``str(ipaddress.IPv4Address(address))``, without making the object."""
    return f"{address >> 24}.{address >> 16 & 255}.{address >> 8 & 255}.{address & 255}"


def _ipv4_int(ip: str) -> int:
    """``int(ipaddress.IPv4Address(ip))`` for the dotted quads :meth:`NodeIPAM.allocate` gives
    (and a pod status carries): a string that is not four numbers of 0..255 is a ValueError
    (``ipaddress`` is also strict about signs and spaces, which those never have)."""
    a, b, c, d = map(int, ip.split("."))
    if not (0 <= a <= 255 and 0 <= b <= 255 and 0 <= c <= 255 and 0 <= d <= 255):
        raise ValueError(f"{ip!r} does not appear to be an IPv4 address")
    return a << 24 | b << 16 | c << 8 | d


def node_pod_cidr(cluster_cidr: str, index: int) -> str:
    """The ``index``-th /24 of the cluster CIDR, as the node IPAM controller assigns them."""
    net = ipaddress.ip_network(cluster_cidr)
    subnets = 2 ** (24 - net.prefixlen)
    if index >= subnets:
        raise ValueError(f"cluster CIDR {cluster_cidr} has room for {subnets} nodes")
    return str(ipaddress.ip_network((int(net.network_address) + index * 256, 24)))
