"""Each Service's Endpoints addresses, kept up to date from the pods that changed (issue 16).

Upstream's Endpoints controller (pkg/controller/endpoint/endpoints_controller.go ``syncService``)
lists the Service's pods on every sync and rebuilds the subsets from all of them: a sync per pod
event of a Service that grows with the cluster is quadratic over a run. The subsets depend on
nothing but the selected pods, so the model keeps, per Service, each selected pod's address and
whether it is listed as ready or not ready, and at a sync looks again only at the pods an event
touched. The subsets built are exactly those of a full re-read (addresses sorted by IP, then pod).

A set is rebuilt from every selected pod when it is new or its Service's selector, ports or
``publishNotReadyAddresses`` changed.
"""

from __future__ import annotations

import bisect

import attrs

from kubechaos.api.objects import EndpointAddress, Pod

Facts = tuple[EndpointAddress | None, bool, bool]  # address (None: none), terminating, Ready
SortKey = tuple[str, str]  # upstream sorts addresses by IP (then UID): by IP, then pod


def address_facts(pkey: str, pod: Pod) -> Facts:
    """A pod's address unless it has no IP or is Succeeded/Failed, whether it is terminating,
    whether it is Ready (what ShouldPodBeInEndpoints and the ready/not-ready split read)."""
    address = None
    if pod.status.pod_ip and not pod.is_terminal():
        address = EndpointAddress(pod.status.pod_ip, pod.spec.node_name, pkey)
    return address, pod.metadata.deletion_timestamp is not None, pod.is_ready()


@attrs.define(eq=False)
class AddressSet:
    """One Service's addresses, split into ready and not ready, and the pods they come from."""

    spec: tuple[object, ...]  # selector, ports, publishNotReadyAddresses it was built for
    facts: dict[str, Facts] = attrs.Factory(dict)  # selected pod key -> its facts
    ready: Sorted = attrs.Factory(lambda: Sorted())
    not_ready: Sorted = attrs.Factory(lambda: Sorted())
    dirty_pods: dict[str, None] = attrs.Factory(dict)  # pods to look at again at the next sync
    changed: bool = True  # the addresses changed since ``verified``
    verified: int | None = None  # resourceVersion of the Endpoints written or found equal

    def set(self, pkey: str, facts: Facts | None) -> None:
        """Pod ``pkey`` is selected with ``facts`` (None: not selected)."""
        old = self.facts.get(pkey)
        if old == facts:
            return
        if old is not None:
            self._place(pkey, old, remove=True)
            del self.facts[pkey]
        if facts is not None:
            self.facts[pkey] = facts
            self._place(pkey, facts, remove=False)

    def _place(self, pkey: str, facts: Facts, remove: bool) -> None:
        address, terminating, is_ready = facts
        include_terminating = bool(self.spec[2])
        if address is None or (terminating and not include_terminating):
            return
        listed = self.ready if include_terminating or is_ready else self.not_ready
        if remove:
            listed.remove((address.ip, pkey))
        else:
            listed.add((address.ip, pkey), address)
        self.changed = True

    def sorted_addresses(self) -> tuple[tuple[EndpointAddress, ...], tuple[EndpointAddress, ...]]:
        """(ready, not ready), each sorted by IP then pod."""
        return tuple(self.ready.values), tuple(self.not_ready.values)


class Sorted:
    """Addresses kept in their sort order as they come and go (a binary search and a move of
    the tail per change, instead of a sort of every address per sync)."""

    __slots__ = ("keys", "values")

    def __init__(self) -> None:
        self.keys: list[SortKey] = []
        self.values: list[EndpointAddress] = []

    def add(self, key: SortKey, value: EndpointAddress) -> None:
        i = bisect.bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.values.insert(i, value)

    def remove(self, key: SortKey) -> None:
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i]
        del self.values[i]


__all__ = ["AddressSet", "address_facts"]
