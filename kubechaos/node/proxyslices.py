"""kube-proxy's view of EndpointSlices: per Service, the endpoint IPs new connections go to.

Upstream's EndpointSliceCache (pkg/proxy/endpointslicecache.go) merges every slice labelled
``kubernetes.io/service-name`` (whoever manages it) into one endpoint list per Service, and
``CategorizeEndpoints`` (pkg/proxy/topology.go, v1.32) picks which of them the rules send traffic
to: the ``ready`` endpoints; if there is none, the endpoints that are ``serving`` and
``terminating`` (ProxyTerminatingEndpoints, GA in v1.28: a rollout's last old pods keep answering
while they drain); with neither, the Service REJECTs. Unset conditions count as upstream reads
them: ``ready``/``serving`` true, ``terminating`` false.

The table here holds slices by Service so one slice event costs work proportional to that
Service's endpoints, never to the cluster's.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from kubechaos.api.objects import EndpointSlice, key_of
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME

Ips = tuple[str, ...]


def service_key(eps: EndpointSlice) -> str | None:
    """``ns/name`` of the Service a slice belongs to (None: no service-name label, ignored)."""
    name = eps.metadata.labels.get(LABEL_SERVICE_NAME)
    return f"{eps.metadata.namespace}/{name}" if name else None


def _categorized(eps: EndpointSlice) -> tuple[frozenset[str], frozenset[str]]:
    """One slice's (ready IPs, serving-and-terminating-but-not-ready IPs)."""
    ready: list[str] = []
    fallback: list[str] = []
    for endpoint in eps.endpoints:
        conditions = endpoint.conditions
        if conditions.ready:
            ready.extend(endpoint.addresses)
        elif conditions.serving and conditions.terminating:
            fallback.extend(endpoint.addresses)
    return frozenset(ready), frozenset(fallback)


_NONE: frozenset[str] = frozenset()


class _Category:
    """IPs of one category over a Service's slices: how many slices list each, and the set
    sorted (an IP enters or leaves the sorted list only when its first or last slice does)."""

    __slots__ = ("counts", "sorted")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.sorted: list[str] = []

    def change(self, old: frozenset[str], new: frozenset[str]) -> int:
        """A slice listed ``old``, now ``new``: only the difference is applied (a readiness
        flip moves one IP). Returns the IPs that changed."""
        if old == new:
            return 0
        counts, ordered = self.counts, self.sorted
        gone, came = old - new, new - old
        for ip in gone:
            n = counts[ip] - 1
            if n:
                counts[ip] = n
            else:
                del counts[ip]
                del ordered[bisect_left(ordered, ip)]
        for ip in came:
            n = counts.get(ip, 0) + 1
            counts[ip] = n
            if n == 1:
                insort(ordered, ip)
        return len(gone) + len(came)


class _Service:
    """One Service's slices and the categories of their endpoints."""

    __slots__ = ("fallback", "ready", "routable", "slices")

    def __init__(self) -> None:
        self.slices: dict[str, tuple[EndpointSlice, frozenset[str], frozenset[str]]] = {}
        self.ready = _Category()
        self.fallback = _Category()
        self.routable: Ips | None = None  # the answer, until the next change

    def put(self, key: str, eps: EndpointSlice | None) -> tuple[int, int]:
        """Replace (or drop, ``eps`` None) slice ``key``; the endpoints read and the IPs moved
        in or out of a category."""
        old = self.slices.pop(key, None)
        old_ready, old_fallback = (old[1], old[2]) if old is not None else (_NONE, _NONE)
        new_ready, new_fallback = _NONE, _NONE
        work = 0
        if eps is not None:
            new_ready, new_fallback = _categorized(eps)
            self.slices[key] = (eps, new_ready, new_fallback)
            work += len(eps.endpoints)
        moved = self.ready.change(old_ready, new_ready)
        moved += self.fallback.change(old_fallback, new_fallback)
        if moved:
            self.routable = None
        return work, moved


class SliceTable:
    """Every Service's EndpointSlices, as kube-proxy's informer last delivered them.

    As upstream's EndpointSliceCache with its endpointsChangeTracker
    (pkg/proxy/endpointschangetracker.go), a slice event updates only that slice's share of its
    Service's endpoints: the work is O(the slice's endpoints), never a re-merge of every slice.
    """

    __slots__ = ("_by_service", "visited")

    def __init__(self) -> None:
        self._by_service: dict[str, _Service] = {}
        self.visited = 0  # endpoints visited by slice events (the work counter tests read)

    def put(self, eps: EndpointSlice) -> str | None:
        """Hold ``eps``; the key of the Service it changed (None if it names none)."""
        return self.replace(eps, service_key(eps))[0]

    def replace(self, eps: EndpointSlice, skey: str | None) -> tuple[str | None, bool]:
        """Hold ``eps`` of Service ``skey`` (its :func:`service_key`); that key, and whether
        the Service's routable IPs may have changed (False: the update moved no IP in or out
        of a category, so what kube-proxy routes to is as it was)."""
        moved = 0
        if skey is not None:
            service = self._by_service.get(skey)
            if service is None:
                service = self._by_service[skey] = _Service()
            work, moved = service.put(key_of(eps), eps)
            self.visited += work + moved
        return skey, moved > 0

    def remove(self, eps: EndpointSlice) -> str | None:
        skey = service_key(eps)
        service = self._by_service.get(skey or "")
        if service is not None:
            self.visited += sum(service.put(key_of(eps), None))
            if not service.slices:
                del self._by_service[skey or ""]
        return skey

    def slices(self, skey: str) -> list[EndpointSlice]:
        """Service ``skey``'s slices (its endpoints' nodes, for internalTrafficPolicy)."""
        service = self._by_service.get(skey)
        return [entry[0] for entry in service.slices.values()] if service is not None else []

    def has(self, skey: str) -> bool:
        return skey in self._by_service

    def routable_ips(self, skey: str) -> Ips:
        """The IPs Service ``skey``'s rules balance across, sorted (empty: REJECT)."""
        service = self._by_service.get(skey)
        if service is None:
            return ()
        if service.routable is None:
            service.routable = tuple(service.ready.sorted or service.fallback.sorted)
        return service.routable


__all__ = ["SliceTable", "service_key"]
