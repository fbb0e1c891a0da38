"""Each Service's desired endpoints, kept up to date from the pods that changed (issue 16).

Upstream's ``syncService`` (pkg/controller/endpointslice/endpointslice_controller.go) lists the
Service's pods from the pod lister on every sync and its reconciler
(staging/src/k8s.io/endpointslice/reconciler.go) compares every endpoint of every slice: a sync
per pod event of a Service that grows with the cluster is quadratic over a run. The result of a
sync depends on nothing but the selected pods (and the zone of their nodes), so the model keeps,
per Service, what each selected pod contributes (its port list, IP and endpoint) and, at a sync,
looks again only at the pods an event touched since the last one. The endpoints a sync computes
are exactly those a full re-read would (the same pods, the same order when two groups or two pods
compete), and the addresses whose endpoint may have changed are handed to the reconciler, which
then compares only the slices holding them (:func:`~.reconciler.plan_slices`).

A set is rebuilt from every selected pod when it is new or its Service's selector, ports or
``publishNotReadyAddresses`` changed; pods on a node whose zone label changes are looked at again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from kubechaos.api.objects import ServicePort, SliceEndpoint

Ports = tuple[ServicePort, ...]
Addr = tuple[Ports, str]  # (port list, IP): one endpoint's place among the desired ones
Contribution = tuple[Ports, str, SliceEndpoint]  # what one pod adds to its Service's endpoints
Spec = tuple[object, ...]  # what a set depends on in its Service: selector, ports, publish flag


@attrs.define(eq=False)
class EndpointSet:
    """One Service's desired endpoints, by port list then IP, and where they come from."""

    spec: Spec
    same_ports: Ports | None  # every pod's port list when it needs no pod (no named port)
    contrib: dict[str, Contribution] = attrs.Factory(dict)  # pod key -> what it adds
    holders: dict[Addr, dict[str, None]] = attrs.Factory(dict)  # pods behind an address
    wanted: dict[Ports, dict[str, SliceEndpoint]] = attrs.Factory(dict)
    dirty_pods: dict[str, None] = attrs.Factory(dict)  # pods to look at again at the next sync
    changed: dict[Ports, set[str]] = attrs.Factory(dict)  # addresses changed since ``verified``
    # slice key -> resourceVersion of the slices after the last sync that wrote all its plan:
    # while the Service's slices are still exactly these, they hold ``wanted`` but ``changed``
    verified: dict[str, int] | None = None
    _touched: dict[Addr, None] = attrs.Factory(dict)

    def take_changed(self) -> dict[Ports, set[str]]:
        """The addresses whose endpoint may have changed since the slices were verified, by port
        list; the record starts again empty."""
        changed, self.changed = self.changed, {}
        return changed

    def settle(self, order: Callable[[], Iterable[str]]) -> None:
        """Bring ``wanted`` up to date with the contributions set since the last call. ``order``
        gives the selected pods' keys in the order a full re-read visits them: where two pods
        have the same address the later one wins, and port groups come in order of their first
        pod, as a re-read would build them."""
        for addr in self._touched:
            ports, ip = addr
            holders = self.holders.get(addr)
            if holders:
                pkey = next(iter(holders)) if len(holders) == 1 else _last(order(), holders)
                self.wanted.setdefault(ports, {})[ip] = self.contrib[pkey][2]
            else:
                group = self.wanted.get(ports)
                if group is not None:
                    group.pop(ip, None)
                    if not group:
                        del self.wanted[ports]
            self.changed.setdefault(ports, set()).add(ip)
        self._touched.clear()
        if len(self.wanted) > 1:
            first: dict[Ports, None] = {}
            for pkey in order():
                got = self.contrib.get(pkey)
                if got is not None:
                    first.setdefault(got[0], None)
            self.wanted = {ports: self.wanted[ports] for ports in first}

    def _set(self, pkey: str, new: Contribution | None) -> Contribution | None:
        """Record what pod ``pkey`` adds now; returns what it added before."""
        old = self.contrib.get(pkey)
        if old == new:
            if old is not None and len(self.holders[(old[0], old[1])]) > 1:
                # a relabelled pod moves in the selection order: which one wins may change
                self._touched[(old[0], old[1])] = None
            return old
        if old is not None:
            addr = (old[0], old[1])
            holders = self.holders[addr]
            del holders[pkey]
            if not holders:
                del self.holders[addr]
            self._touched[addr] = None
            del self.contrib[pkey]
        if new is not None:
            addr = (new[0], new[1])
            self.holders.setdefault(addr, {})[pkey] = None
            self._touched[addr] = None
            self.contrib[pkey] = new
        return old


def _last(order: Iterable[str], among: dict[str, None]) -> str:
    last = ""
    for pkey in order:
        if pkey in among:
            last = pkey
    return last


class EndpointSets:
    """Every Service's :class:`EndpointSet`, and which of their pods sit on each node."""

    def __init__(self) -> None:
        self._sets: dict[str, EndpointSet] = {}
        self._on_node: dict[str, dict[tuple[str, str], None]] = {}  # node -> (service, pod)

    def get(self, skey: str) -> EndpointSet | None:
        return self._sets.get(skey)

    def pod_changed(self, skey: str, pkey: str) -> None:
        """An event touched pod ``pkey``, which Service ``skey`` selects or selected."""
        found = self._sets.get(skey)
        if found is not None:
            found.dirty_pods[pkey] = None

    def node_changed(self, node: str) -> None:
        """Node ``node``'s zone changed (or it came or went): its pods' endpoints follow."""
        for skey, pkey in self._on_node.get(node, ()):
            self._sets[skey].dirty_pods[pkey] = None

    def rebuild(self, skey: str, spec: Spec, same_ports: Ports | None) -> EndpointSet:
        """A new, empty set for ``skey`` (the caller sets every selected pod's contribution)."""
        self.forget(skey)
        found = self._sets[skey] = EndpointSet(spec, same_ports)
        return found

    def set(self, skey: str, found: EndpointSet, pkey: str, new: Contribution | None) -> None:
        """Pod ``pkey`` now adds ``new`` (None: nothing) to Service ``skey``'s set ``found``."""
        old = found._set(pkey, new)
        old_node = old[2].node_name if old is not None else ""
        new_node = new[2].node_name if new is not None else ""
        if old_node != new_node:
            if old_node:
                self._unplace(old_node, (skey, pkey))
            if new_node:
                self._on_node.setdefault(new_node, {})[(skey, pkey)] = None

    def forget(self, skey: str) -> None:
        found = self._sets.pop(skey, None)
        if found is None:
            return
        for pkey, (_, _, endpoint) in found.contrib.items():
            if endpoint.node_name:
                self._unplace(endpoint.node_name, (skey, pkey))

    def _unplace(self, node: str, entry: tuple[str, str]) -> None:
        on_node = self._on_node.get(node)
        if on_node is not None:
            on_node.pop(entry, None)
            if not on_node:
                del self._on_node[node]


__all__ = ["Contribution", "EndpointSet", "EndpointSets", "Ports"]
