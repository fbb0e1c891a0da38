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
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from itertools import compress
from operator import is_not

from kubechaos.api.objects import EndpointSlice, key_of
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME, SliceEndpoint

Ips = tuple[str, ...]
Endpoints = tuple[SliceEndpoint, ...]


def service_key(eps: EndpointSlice) -> str | None:
    """``ns/name`` of the Service a slice belongs to (None: no service-name label, ignored)."""
    name = eps.metadata.labels.get(LABEL_SERVICE_NAME)
    return f"{eps.metadata.namespace}/{name}" if name else None


def _listed(endpoints: Sequence[SliceEndpoint]) -> tuple[list[str], list[str]]:
    """The IPs ``endpoints`` list as (ready, serving-and-terminating-but-not-ready)."""
    ready: list[str] = []
    fallback: list[str] = []
    for endpoint in endpoints:
        conditions = endpoint.conditions
        if conditions.ready:
            ready.extend(endpoint.addresses)
        elif conditions.serving and conditions.terminating:
            fallback.extend(endpoint.addresses)
    return ready, fallback


def _categorized(endpoints: Endpoints) -> tuple[set[str], set[str], bool]:
    """A slice's (ready IPs, serving-and-terminating-but-not-ready IPs, and whether each IP is
    listed by one endpoint only in its category: what :func:`_shift` needs to be exact)."""
    ready, fallback = _listed(endpoints)
    ready_set, fallback_set = set(ready), set(fallback)
    return (
        ready_set,
        fallback_set,
        len(ready_set) == len(ready) and len(fallback_set) == len(fallback),
    )


def _changed(news: Endpoints, olds: Endpoints) -> tuple[list[SliceEndpoint], ...]:
    """The endpoints ``olds`` held and ``news`` holds that are not the same object at the same
    position (those past the shorter's end included): what replaced what. Asked only where some
    endpoint objects were kept (the first or the last): a rebuilt slice costs less categorised
    anew than scanned and then categorised."""
    # positions holding another object (a C-level scan: a Python loop over the endpoints would
    # cost what categorising them does)
    changed = list(compress(range(len(news)), map(is_not, news, olds)))
    gone = [olds[i] for i in changed]
    came = [news[i] for i in changed]
    gone += olds[len(news) :]
    came += news[len(olds) :]
    return gone, came


def _shift(ips: set[str], gone: set[str], listed: list[str]) -> tuple[set[str], set[str], bool]:
    """A category's ``ips``, exact (each listed by one endpoint), loses the endpoints that list
    ``gone`` and gains those that list ``listed``: applied in place; the IPs that left, that
    came, and whether it is still exact (an IP listed twice now makes it inexact)."""
    came = set(listed)
    exact = len(came) == len(listed) and not any(ip in ips and ip not in gone for ip in came)
    left, entered = gone - came, came - ips
    ips -= left
    ips |= entered
    return left, entered, exact


_NONE: frozenset[str] = frozenset()


class _Category:
    """IPs of one category over a Service's slices: how many slices list each, and the set
    sorted (an IP enters or leaves the sorted list only when its first or last slice does)."""

    __slots__ = ("counts", "sorted")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.sorted: list[str] = []

    def change(self, gone: AbstractSet[str], came: AbstractSet[str]) -> int:
        """A slice stopped listing the IPs ``gone`` and started listing ``came`` (disjoint):
        only that difference is applied (a readiness flip moves one IP). Returns the IPs that
        changed."""
        counts, ordered = self.counts, self.sorted
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


class _Slice:
    """One slice as kube-proxy holds it: the version, the IPs in each category, and whether
    each IP is listed by one endpoint only in its category (then the next version's changed
    endpoints alone update the categories)."""

    __slots__ = ("eps", "exact", "fallback", "ready")

    def __init__(self, eps: EndpointSlice) -> None:
        self.eps = eps
        self.ready, self.fallback, self.exact = _categorized(eps.endpoints)


class _Service:
    """One Service's slices and the categories of their endpoints."""

    __slots__ = ("fallback", "ready", "routable", "slices")

    def __init__(self) -> None:
        self.slices: dict[str, _Slice] = {}
        self.ready = _Category()
        self.fallback = _Category()
        self.routable: Ips | None = None  # the answer, until the next change

    def put(self, key: str, eps: EndpointSlice | None) -> tuple[int, int]:
        """Replace (or drop, ``eps`` None) slice ``key``; the endpoints read and the IPs moved
        in or out of a category."""
        held = self.slices.get(key)
        if eps is None:
            if held is None:
                return 0, 0
            del self.slices[key]
            moved = self.ready.change(held.ready, _NONE) + self.fallback.change(
                held.fallback, _NONE
            )
            work = 0
        elif held is None:
            held = self.slices[key] = _Slice(eps)
            moved = self.ready.change(_NONE, held.ready) + self.fallback.change(
                _NONE, held.fallback
            )
            work = len(eps.endpoints)
        else:
            work, moved = self._replace(held, eps)
        if moved:
            self.routable = None
        return work, moved

    def _replace(self, held: _Slice, eps: EndpointSlice) -> tuple[int, int]:
        """Slice ``held`` becomes ``eps``: only its changed endpoints are read where ``held``
        is exact and ``eps`` keeps some of its endpoint objects (the EndpointSlice controller
        keeps those a readiness flip does not touch); else ``eps`` is categorised anew. The
        categories come out the same either way (pkg/proxy/endpointslicecache.go keeps each
        slice's endpoints; CategorizeEndpoints reads their conditions)."""
        news, olds = eps.endpoints, held.eps.endpoints
        kept = news and olds and (news[0] is olds[0] or news[-1] is olds[-1])
        changed = _changed(news, olds) if held.exact and kept else None
        held.eps = eps
        if changed is None:
            was_ready, was_fallback = held.ready, held.fallback
            held.ready, held.fallback, held.exact = _categorized(eps.endpoints)
            moved = 0
            if was_ready != held.ready:  # (a set comparison: cheaper than two differences)
                moved += self.ready.change(was_ready - held.ready, held.ready - was_ready)
            if was_fallback != held.fallback:
                moved += self.fallback.change(
                    was_fallback - held.fallback, held.fallback - was_fallback
                )
            return len(eps.endpoints), moved
        gone, came = changed
        if not gone and not came:
            return 0, 0
        gone_ready, gone_fallback = _listed(gone)  # each listed once: ``held`` is exact
        ready_listed, fallback_listed = _listed(came)
        left, entered, ready_exact = _shift(held.ready, set(gone_ready), ready_listed)
        moved = self.ready.change(left, entered)
        left, entered, fallback_exact = _shift(held.fallback, set(gone_fallback), fallback_listed)
        moved += self.fallback.change(left, entered)
        held.exact = ready_exact and fallback_exact
        return len(gone) + len(came), moved


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
        return [held.eps for held in service.slices.values()] if service is not None else []

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
