"""The Endpoints controller (pkg/controller/endpoint): a Service's pods, as addresses.

For every Service with a selector it keeps an Endpoints object of the same name listing the IPs of
the selected pods: ready pods under ``addresses``, the rest under ``not_ready_addresses`` (kube-proxy
routes only to the former). This is how readiness reaches traffic, so it must follow every pod
readiness flip, IP assignment, deletion and label change, and do so cheaply at 5,000 services and
150,000 pods.

Two indexes keep each event's cost independent of cluster size:

- services by one ``(namespace, label key, value)`` pair of their selector: a pod can only be
  selected by a service whose index pair is among the pod's labels, so a pod event looks in as
  many buckets as the pod has labels and fully matches only the services found there;
- pods by every ``(namespace, label key, value)`` they carry: a sync takes the smallest bucket among
  the selector's pairs instead of scanning the namespace.

Writes compare against the newest of the informer's copy and the copy the last write returned, so
a sync that runs before the informer has seen the controller's own write neither conflicts nor
rewrites an unchanged object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

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
from kubechaos.api.selectors import selector_from_labels
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller

IndexKey = tuple[str, str, str]  # (namespace, label key, label value)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector (plain equality on every pair) against an object's labels."""
    return all(labels.get(key) == value for key, value in selector.items())


def _endpoint_view(pod: Pod) -> tuple[object, ...]:
    """The fields of a pod an Endpoints object depends on; other updates are skipped."""
    return (
        pod.status.pod_ip,
        pod.is_ready(),
        pod.metadata.deletion_timestamp is None,
        pod.is_terminal(),
        pod.spec.node_name,
    )


def _sort_key(address: EndpointAddress) -> tuple[str, str]:
    # Upstream sorts addresses by the bytes of the IP string (then UID); so do we, by IP then pod.
    return address.ip, address.target_pod


class EndpointsController(Controller):
    name = "endpoint-controller"
    queue_name = "endpoint"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_endpoint_syncs
        self.services: Informer[Service] = ctx.informer("services", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.endpoints: Informer[Endpoints] = ctx.informer("endpoints", self.name)
        self._services_by_label: dict[IndexKey, dict[str, None]] = {}
        self._service_index_key: dict[str, IndexKey] = {}
        self._pods_by_label: dict[IndexKey, dict[str, None]] = {}
        self._written: dict[str, Endpoints] = {}
        self.services.add_handler(
            Handler(self._on_service_add, self._on_service_update, self._on_service_delete)
        )
        self.pods.add_handler(Handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete))
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

    # ------------------------------------------------------------------ service index
    def _index_service(self, svc: Service) -> None:
        skey = key_of(svc)
        pair = selector_from_labels(svc.spec.selector).index_key()
        if pair is None:
            return  # no selector: this controller leaves its Endpoints alone
        index_key = (svc.metadata.namespace, *pair)
        self._services_by_label.setdefault(index_key, {})[skey] = None
        self._service_index_key[skey] = index_key

    def _unindex_service(self, skey: str) -> None:
        index_key = self._service_index_key.pop(skey, None)
        if index_key is None:
            return
        bucket = self._services_by_label[index_key]
        del bucket[skey]
        if not bucket:
            del self._services_by_label[index_key]

    def services_for(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """Keys of the services in ``namespace`` whose selector matches ``labels``."""
        found: dict[str, None] = {}
        for key, value in labels.items():
            for skey in self._services_by_label.get((namespace, key, value), ()):
                svc = self.services.get(skey)
                if svc is not None and selector_matches(svc.spec.selector, labels):
                    found[skey] = None
        return list(found)

    def _on_service_add(self, svc: Service) -> None:
        self._index_service(svc)
        self.enqueue(key_of(svc))

    def _on_service_update(self, old: Service, new: Service) -> None:
        if old.spec.selector != new.spec.selector:
            self._unindex_service(key_of(old))
            self._index_service(new)
        self.enqueue(key_of(new))

    def _on_service_delete(self, svc: Service) -> None:
        self._unindex_service(key_of(svc))
        self.enqueue(key_of(svc))

    # ------------------------------------------------------------------ pod index
    def _index_pod(self, pod: Pod) -> None:
        pkey = key_of(pod)
        namespace = pod.metadata.namespace
        for key, value in pod.metadata.labels.items():
            self._pods_by_label.setdefault((namespace, key, value), {})[pkey] = None

    def _unindex_pod(self, pod: Pod) -> None:
        pkey = key_of(pod)
        namespace = pod.metadata.namespace
        for key, value in pod.metadata.labels.items():
            index_key = (namespace, key, value)
            bucket = self._pods_by_label.get(index_key)
            if bucket is None:
                continue
            bucket.pop(pkey, None)
            if not bucket:
                del self._pods_by_label[index_key]

    def _enqueue_all(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.enqueue(key)

    def _on_pod_add(self, pod: Pod) -> None:
        self._index_pod(pod)
        self._enqueue_all(self.services_for(pod.metadata.namespace, pod.metadata.labels))

    def _on_pod_update(self, old: Pod, new: Pod) -> None:
        namespace = new.metadata.namespace
        if old.metadata.labels != new.metadata.labels:
            self._unindex_pod(old)
            self._index_pod(new)
            # Services that selected the old labels lose the pod; those of the new gain it.
            self._enqueue_all(self.services_for(namespace, old.metadata.labels))
            self._enqueue_all(self.services_for(namespace, new.metadata.labels))
        elif _endpoint_view(old) != _endpoint_view(new):
            self._enqueue_all(self.services_for(namespace, new.metadata.labels))

    def _on_pod_delete(self, pod: Pod) -> None:
        self._unindex_pod(pod)
        self._enqueue_all(self.services_for(pod.metadata.namespace, pod.metadata.labels))

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
        namespace = svc.metadata.namespace
        selector = svc.spec.selector
        buckets = [self._pods_by_label.get((namespace, k, v), {}) for k, v in selector.items()]
        candidates = min(buckets, key=len)
        ready: list[EndpointAddress] = []
        not_ready: list[EndpointAddress] = []
        for pkey in candidates:
            pod = self.pods.get(pkey)
            if pod is None or not selector_matches(selector, pod.metadata.labels):
                continue
            if (
                not pod.status.pod_ip
                or pod.metadata.deletion_timestamp is not None
                or pod.is_terminal()
            ):
                continue
            address = EndpointAddress(pod.status.pod_ip, pod.spec.node_name, pkey)
            if svc.spec.publish_not_ready_addresses or pod.is_ready():
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


def _rv(obj: Endpoints) -> int:
    return int(obj.metadata.resource_version or 0)


__all__ = ["EndpointsController", "selector_matches"]
