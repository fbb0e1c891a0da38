"""The components' client of custom objects (:class:`~kubechaos.client.customapi.CustomAPI`):
resources named ``<plural>.<group>`` resolved to what the apiextensions side serves, each verb
one request through :class:`~kubechaos.control.registry.customwrites.CustomResources` (so the
API server's latency, request faults and statistics apply, as to the dynamic client upstream).
A resource that is not served (its definition gone) is 404, as upstream answers it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubechaos.api import errors
from kubechaos.api.objects.custom import JSON, Unstructured
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.control.registry.customresource import Served
from kubechaos.control.registry.customwrites import CustomResources
from kubechaos.control.watchcache import Watch


class CustomClient:
    def __init__(self, store: CustomResources, watch_hooks: list[Any]) -> None:
        self.store = store
        self._watch_hooks = watch_hooks

    def _served(self, resource: str) -> Served:
        plural, _, group = resource.partition(".")
        for info in self.store.served():
            if info.plural == plural and info.group == group:
                storage = next(v for v in info.versions if v.storage)
                served = self.store.resolve(group, storage.name, plural)
                if served is not None:
                    return served
        raise errors.NotFound(f'the server could not find the requested resource "{resource}"')

    async def get(
        self, resource: str, namespace: str, name: str, resource_version: str = ""
    ) -> Unstructured:
        return await self.store.get(self._served(resource), namespace, name)

    async def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> tuple[list[Unstructured], int]:
        return await self.store.list(self._served(resource), namespace, label_selector)

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        resource_version: int = 0,
        client: str = "",
    ) -> Watch:
        served = self._served(resource)
        return await self.store.watch(
            served, namespace, label_selector, resource_version, client, self._watch_hooks
        )

    async def patch(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Any], Any]
    ) -> Unstructured:
        """``mutate`` gets the current object and returns the wanted one (its JSON is
        written as a merge of the whole object would)."""

        def apply(content: JSON) -> JSON:
            wanted = mutate(Unstructured(copy.deepcopy(content)))
            return wanted.content if isinstance(wanted, Unstructured) else wanted

        obj, _ = await self.store.patch(self._served(resource), namespace, name, apply)
        return obj

    async def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
        propagation_policy: str | None = None,
    ) -> Unstructured:
        obj, _ = await self.store.delete(
            self._served(resource),
            namespace,
            name,
            uid,
            dry_run,
            resource_version,
            propagation_policy,
        )
        return obj


__all__ = ["CustomClient"]
