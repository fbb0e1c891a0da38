"""The Endpoints controller (pkg/controller/endpoint): a Service's pods, as addresses.

For every Service with a selector it keeps an Endpoints object of the same name listing the IPs of
the selected pods: ready pods under ``addresses``, the rest under ``not_ready_addresses`` (kube-proxy
routes only to the former). The pods come
from the indexes it shares with the EndpointSlice controller
(:mod:`kubechaos.control.controllers.servicepods`). As upstream (``ShouldPodBeInEndpoints``), a
terminating pod is dropped at once unless the Service sets ``publishNotReadyAddresses``, which
also lists every pod as ready.

Writes compare against the newest of the informer's copy and the copy the last write returned, so
a sync that runs before the informer has seen the controller's own write neither conflicts nor
rewrites an unchanged object.
"""

from __future__ import annotations

import contextlib

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    EndpointAddress,
    Endpoints,
    EndpointSubset,
    ObjectMeta,
    Pod,
    Service,
    key_of,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controllers.servicepods import ServicePodsController, selector_matches


def _sort_key(address: EndpointAddress) -> tuple[str, str]:
    # Upstream sorts addresses by the bytes of the IP string (then UID); so do we, by IP then pod.
    return address.ip, address.target_pod


class EndpointsController(ServicePodsController):
    name = "endpoint-controller"
    queue_name = "endpoint"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_endpoint_syncs
        self.endpoints: Informer[Endpoints] = ctx.informer("endpoints", self.name)
        self._written: dict[str, Endpoints] = {}
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
    def desired_subsets(self, svc: Service) -> tuple[EndpointSubset, ...]:
        """The subsets ``svc``'s Endpoints should have, from the pod informer's view."""
        include_terminating = svc.spec.publish_not_ready_addresses
        ready: list[EndpointAddress] = []
        not_ready: list[EndpointAddress] = []
        memo = self.pod_memo
        for pkey, pod in self.selected_pods(svc):
            entry = memo.get(pkey)
            if entry is None or entry[0] is not pod:
                entry = memo[pkey] = _address_facts(pkey, pod)
            _, address, terminating, is_ready = entry
            if address is None or (terminating and not include_terminating):
                continue
            if include_terminating or is_ready:
                ready.append(address)
            else:
                not_ready.append(address)
        if not ready and not not_ready:
            return ()
        ready.sort(key=_sort_key)
        not_ready.sort(key=_sort_key)
        return (EndpointSubset(tuple(ready), tuple(not_ready), svc.spec.ports),)

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        svc = self.services.get(key)
        if svc is None:
            self._written.pop(key, None)
            with contextlib.suppress(errors.NotFound):
                await self.api.delete("endpoints", namespace, name)
            return
        if not svc.spec.selector:
            return
        subsets = self.desired_subsets(svc)
        labels = dict(svc.metadata.labels)
        current = self._current(key)
        if current is None:
            try:
                created = await self.api.create(
                    Endpoints(ObjectMeta(name=name, namespace=namespace, labels=labels), subsets)
                )
            except errors.AlreadyExists:
                current = await self.api.get("endpoints", namespace, name)
            else:
                self._written[key] = created
                return
        if current.subsets == subsets and current.metadata.labels == labels:
            return
        updated = await self.api.update(
            attrs.evolve(
                current, metadata=attrs.evolve(current.metadata, labels=labels), subsets=subsets
            )
        )
        self._written[key] = updated


def _address_facts(pkey: str, pod: Pod) -> tuple[Pod, EndpointAddress | None, bool, bool]:
    """(pod, its address unless it has no IP or is Succeeded/Failed, terminating, Ready)."""
    address = None
    if pod.status.pod_ip and not pod.is_terminal():
        address = EndpointAddress(pod.status.pod_ip, pod.spec.node_name, pkey)
    return pod, address, pod.metadata.deletion_timestamp is not None, pod.is_ready()


def _rv(obj: Endpoints) -> int:
    return int(obj.metadata.resource_version or 0)


__all__ = ["EndpointsController", "selector_matches"]
