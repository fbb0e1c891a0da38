"""kube-proxy's view of EndpointSlices: per Service, the endpoint IPs new connections go to.

Upstream's EndpointSliceCache (pkg/proxy/endpointslicecache.go) merges every slice labelled
``kubernetes.io/service-name`` (whoever manages it) into one endpoint list per Service, and
``CategorizeEndpoints`` (pkg/proxy/topology.go, v1.32) picks which of them the rules send traffic
to: the ``ready`` endpoints; if there is none, the endpoints that are ``serving`` and
``terminating`` (ProxyTerminatingEndpoints, GA in v1.28: a rollout's last old pods keep answering
while they drain); with neither, the Service REJECTs. Unset conditions count as upstream reads
them: ``ready``/``serving`` true, ``terminating`` false.

The table here holds slices by Service so one slice event costs work proportional to that
slice's endpoints, never to the cluster's; and when the update keeps the slice's other endpoints
(a readiness flip rewritten in place, a pod appended: nearly every event of a running
cluster), to the endpoints it changed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from operator import is_not
from typing import NamedTuple

from kubechaos.api.objects import EndpointSlice, SliceEndpoint, key_of
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME

Ips = tuple[str, ...]


def service_key(eps: EndpointSlice) -> str | None:
    """``ns/name`` of the Service a slice belongs to (None: no service-name label, ignored)."""
    name = eps.metadata.labels.get(LABEL_SERVICE_NAME)
    return f"{eps.metadata.namespace}/{name}" if name else None


def _category(endpoint: SliceEndpoint) -> int:
    """Where an endpoint's addresses go: :data:`_READY`, :data:`_FALLBACK` or :data:`_OTHER`."""
    conditions = endpoint.conditions
    if conditions.ready:
        return _READY
    return _FALLBACK if conditions.serving and conditions.terminating else _OTHER


_READY, _FALLBACK, _OTHER = 0, 1, 2


class _Sorted(NamedTuple):
    """One slice version's endpoints by category: its ready IPs, its serving-and-terminating
    (not ready) IPs, and every address it lists when no address is listed twice (else None:
    an update of it is then categorized in full)."""

    ready: frozenset[str]
    fallback: frozenset[str]
    distinct: frozenset[str] | None


def _categorized(endpoints: Sequence[SliceEndpoint]) -> _Sorted:
    """A slice's endpoints, categorized one by one."""
    lists: tuple[list[str], list[str], list[str]] = ([], [], [])
    for endpoint in endpoints:
        lists[_category(endpoint)].extend(endpoint.addresses)
    ready, fallback, other = lists
    listed = ready + fallback + other
    distinct = frozenset(listed)
    return _Sorted(
        frozenset(ready), frozenset(fallback), distinct if len(distinct) == len(listed) else None
    )


def _recategorized(
    old: EndpointSlice, was: _Sorted, new: EndpointSlice
) -> tuple[_Sorted, int] | None:
    """``new``'s categories from ``old``'s and the endpoints categorized for it, visiting only
    the endpoints that changed (found by an identity comparison in C), when it
    shares the others with ``old`` (the same objects: the EndpointSlice controller keeps the
    endpoints it does not rewrite) and no address is listed twice; None: categorize in full.

    Two updates make nearly all of a Service's slice events (a pod's readiness or terminating
    flip rewrites one endpoint in place; a new pod is appended), so a slice event costs the
    endpoints it changed, not the slice's hundred. Exact only when every address is listed
    once: then a changed endpoint's addresses are in no other endpoint's category.
    """
    before, after = old.endpoints, new.endpoints
    if after is before:
        return was, 0
    if was.distinct is None:
        return None
    if len(after) == len(before):
        changed = list(map(is_not, before, after))
        flips = changed.count(True)
        if 4 * flips > len(after):
            return None
        moves: list[tuple[SliceEndpoint | None, SliceEndpoint]] = []
        at = -1
        for _ in range(flips):
            at = changed.index(True, at + 1)
            if before[at].addresses != after[at].addresses:
                return None  # rewritten with other addresses: not a flip
            moves.append((before[at], after[at]))
        distinct = was.distinct
    elif len(after) > len(before) and after[: len(before)] == before:
        added = after[len(before) :]
        if 4 * len(added) > len(after):
            return None
        addresses = [ip for endpoint in added for ip in endpoint.addresses]
        distinct = was.distinct.union(addresses)
        if len(distinct) != len(was.distinct) + len(addresses):
            return None
        moves = [(None, endpoint) for endpoint in added]
    else:
        return None
    # per category (ready, fallback): the addresses that left it, and those that came
    gone: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    came: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    for a, b in moves:
        if a is not None:
            gone[_category(a)].update(a.addresses)
        came[_category(b)].update(b.addresses)
    ready = (was.ready - gone[_READY]) | came[_READY]
    fallback = (was.fallback - gone[_FALLBACK]) | came[_FALLBACK]
    return _Sorted(ready, fallback, distinct), len(moves)


_EMPTY = _Sorted(frozenset(), frozenset(), frozenset())


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
        self.slices: dict[str, tuple[EndpointSlice, _Sorted]] = {}
        self.ready = _Category()
        self.fallback = _Category()
        self.routable: Ips | None = None  # the answer, until the next change

    def put(self, key: str, eps: EndpointSlice | None) -> tuple[int, int]:
        """Replace (or drop, ``eps`` None) slice ``key``; the endpoints categorized and the IPs
        moved in or out of a category."""
        old = self.slices.pop(key, None)
        was = old[1] if old is not None else _EMPTY
        now = _EMPTY
        work = 0
        if eps is not None:
            found = _recategorized(old[0], was, eps) if old is not None else None
            if found is None:
                now, work = _categorized(eps.endpoints), len(eps.endpoints)
            else:
                now, work = found
            self.slices[key] = (eps, now)
        moved = self.ready.change(was.ready, now.ready)
        moved += self.fallback.change(was.fallback, now.fallback)
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
