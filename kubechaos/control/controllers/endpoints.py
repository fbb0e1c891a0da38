"""The Endpoints controller (pkg/controller/endpoint): a Service's pods, as addresses.

For every Service with a selector it keeps an Endpoints object of the same name listing the IPs of
the selected pods: ready pods under ``addresses``, the rest under ``not_ready_addresses`` (kube-proxy
routes only to the former). The pods come from the indexes it shares with the EndpointSlice
controller (:mod:`kubechaos.control.controllers.servicepods`), and each Service's addresses are
kept from the pods an event touched (:mod:`kubechaos.control.controllers.endpointaddresses`): a
sync reads those pods, not all of the Service's, and compares nothing when no address changed
since its last write. As upstream (``ShouldPodBeInEndpoints``), a terminating pod is dropped at
once unless the Service sets ``publishNotReadyAddresses``, which also lists every pod as ready.

Writes compare against the newest of the informer's copy and the copy the last write returned, so
a sync that runs before the informer has seen the controller's own write neither conflicts nor
rewrites an unchanged object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    Endpoints,
    EndpointSubset,
    ObjectMeta,
    Service,
    key_of,
)
from kubechaos.api.objects.copying import replace
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controllers.endpointaddresses import AddressSet, address_facts
from kubechaos.control.controllers.servicepods import ServicePodsController, selector_matches


class EndpointsController(ServicePodsController):
    name = "endpoint-controller"
    queue_name = "endpoint"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_endpoint_syncs
        self.endpoints: Informer[Endpoints] = ctx.informer("endpoints", self.name)
        self._written: dict[str, Endpoints] = {}
        self._sets: dict[str, AddressSet] = {}  # each Service's addresses, kept from pod events
        self.endpoints.add_handler(
            Handler(self._on_endpoints_seen, self._on_endpoints_update, self._on_endpoints_delete)
        )

    # ------------------------------------------------------------------ lifecycle
    async def wait_synced(self) -> None:
        for informer in (self.services, self.pods, self.endpoints):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.services, self.pods, self.endpoints):
                nursery.start_soon(informer.run)
            await self.wait_synced()
            self._check_leftover_endpoints()
            await super().run()

    def _check_leftover_endpoints(self) -> None:
        """Endpoints whose Service went while no controller ran are deleted (as upstream)."""
        for key in self.endpoints.store:
            if self.services.get(key) is None:
                self.enqueue(key)

    # ------------------------------------------------------------------ our own writes
    def _on_endpoints_seen(self, ep: Endpoints) -> None:
        key = key_of(ep)
        written = self._written.get(key)
        if written is not None and _rv(written) <= _rv(ep):
            del self._written[key]  # the informer has caught up with our write

    def _on_endpoints_update(self, old: Endpoints, new: Endpoints) -> None:
        self._on_endpoints_seen(new)

    def _on_endpoints_delete(self, ep: Endpoints) -> None:
        self._on_endpoints_seen(ep)
        self.enqueue(key_of(ep))  # recreate it if its Service still wants it

    def _current(self, key: str) -> Endpoints | None:
        seen = self.endpoints.get(key)
        written = self._written.get(key)
        if written is None:
            return seen
        if seen is None or _rv(written) > _rv(seen):
            return written
        return seen

    # ------------------------------------------------------------------ reconcile
    def enqueue_pod_services(self, keys: Iterable[str], pod_key: str) -> None:
        for key in keys:
            found = self._sets.get(key)
            if found is not None:
                found.dirty_pods[pod_key] = None
            self.enqueue(key)

    def addresses(self, svc: Service) -> AddressSet:
        """``svc``'s addresses brought up to date from the pods touched since the last sync, or
        from every selected pod when the set is new or the Service changed."""
        skey = key_of(svc)
        spec = (svc.spec.selector, svc.spec.ports, svc.spec.publish_not_ready_addresses)
        found = self._sets.get(skey)
        if found is None or found.spec != spec:
            found = self._sets[skey] = AddressSet(spec)
            for pkey, pod in self.selected_pods(svc):
                found.set(pkey, address_facts(pkey, pod))
            return found
        dirty, found.dirty_pods = found.dirty_pods, {}
        store = self.pods.store
        for pkey in dirty:
            now = store.get(pkey)
            selected = now is not None and self.selects(svc, pkey)
            found.set(pkey, address_facts(pkey, now) if now is not None and selected else None)
        return found

    def desired_subsets(self, svc: Service, found: AddressSet) -> tuple[EndpointSubset, ...]:
        """The subsets ``svc``'s Endpoints should have, from its addresses ``found`` (brought up
        to date by :meth:`addresses` at this sync)."""
        ready, not_ready = found.sorted_addresses()
        if not ready and not not_ready:
            return ()
        return (EndpointSubset(ready, not_ready, svc.spec.ports),)

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        svc = self.services.get(key)
        if svc is None or not svc.spec.selector:
            self._sets.pop(key, None)
        if svc is None:
            self._written.pop(key, None)
            with contextlib.suppress(errors.NotFound):
                await self.api.delete("endpoints", namespace, name)
            return
        if not svc.spec.selector:
            return
        labels = dict(svc.metadata.labels)
        current = self._current(key)
        found = self.addresses(svc)
        if (
            current is not None
            and not found.changed
            and found.verified == _rv(current)
            and current.metadata.labels == labels
        ):
            return  # no address changed since this very object was written or found equal
        subsets = self.desired_subsets(svc, found)
        found.changed, found.verified = False, None  # until this sync's write is done
        if current is None:
            try:
                created = await self.api.create(
                    Endpoints(ObjectMeta(name=name, namespace=namespace, labels=labels), subsets)
                )
            except errors.AlreadyExists:
                current = await self.api.get("endpoints", namespace, name)
            else:
                self._written[key] = created
                found.verified = _rv(created)
                return
        if current.subsets == subsets and current.metadata.labels == labels:
            found.verified = _rv(current)
            return
        updated = await self.api.update(
            replace(current, metadata=replace(current.metadata, labels=labels), subsets=subsets)
        )
        self._written[key] = updated
        found.verified = _rv(updated)


def _rv(obj: Endpoints) -> int:
    return int(obj.metadata.resource_version or 0)


__all__ = ["EndpointsController", "selector_matches"]
