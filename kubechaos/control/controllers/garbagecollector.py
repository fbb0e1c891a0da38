"""The garbage collector (pkg/controller/garbagecollector), background propagation only.

An object whose every owner reference names an owner that no longer exists is deleted: deleting a
Deployment takes its ReplicaSets with it, and deleting a ReplicaSet its pods. Upstream builds a
graph of every object's owner references from informers on all resources; here the informers on
the model's workload resources (their uids tell which owners exist) and an index of dependents by
owner uid play that part, so deleting an owner costs work only for its own dependents.

An owner missing from the informers is not yet proof that it is gone: it may have been created a
moment ago and not reached its informer, while its first pod already reached the pod informer.
Before deleting, the collector looks each missing owner up through the API server, as upstream's
``attemptToDeleteItem`` does; an owner found under the same name with another uid is a new object
and counts as gone. An object with some owners present and some gone keeps existing: the dangling
references are removed from it (upstream does the same with a patch).

Foreground deletion and orphaning (``propagationPolicy``: the ``foregroundDeletion`` and
``orphan`` finalizers) are in :mod:`.gcpropagation`. Not modelled: owners of kinds the model
does not serve (their dependents are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.discovery import API_RESOURCES, RESOURCE_OF_KIND
from kubechaos.api.objects import APIObject, OwnerReference, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.gcpropagation import FINALIZE, finalize, needs_collector

# Resources whose objects the collector watches, both as owners and as dependents.
GC_RESOURCES = ("deployments", "replicasets", "pods", "endpoints", "services")


class GarbageCollector(Controller):
    """Work queue keys are ``<resource>/<namespace>/<name>`` of dependents to examine."""

    name = "garbage-collector-controller"
    queue_name = "garbage_collector_attempt_to_delete"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_gc_syncs
        self.informers: dict[str, Informer[APIObject]] = {}
        self.live: dict[str, str] = {}  # uid -> work key of every object the informers hold
        self.dependents: dict[str, dict[str, None]] = {}  # owner uid -> work keys of dependents
        self._synced = False
        self._nursery: trio.Nursery | None = None
        for resource in GC_RESOURCES:
            self.watch_owners(resource)

    def watch_owners(self, resource: str) -> None:
        """Hold the objects of ``resource`` too, as owners and dependents (idempotent): the
        controller manager calls it for a kind whose controller starts with its first object
        (DaemonSets), so deleting such an owner collects its pods as upstream's graph does."""
        if resource in self.informers:
            return
        informer: Informer[APIObject] = self.ctx.informer(resource, self.name)
        informer.add_handler(
            Handler(
                self._on_add_handler(resource),
                self._on_update_handler(resource),
                self._on_delete_handler(resource),
            )
        )
        self.informers[resource] = informer
        if self._nursery is not None:
            self._nursery.start_soon(informer.run)

    # ------------------------------------------------------------------ lifecycle
    async def wait_synced(self) -> None:
        for informer in list(self.informers.values()):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for informer in list(self.informers.values()):
                nursery.start_soon(informer.run)
            await self.wait_synced()
            self._synced = True
            # Now that every owner is known, look once for dependents whose owners went while no
            # collector ran (events during the initial lists were only indexed).
            for resource, informer in list(self.informers.items()):
                for obj in informer.store.values():
                    self._check(f"{resource}/{key_of(obj)}", obj)
            await super().run()

    # ------------------------------------------------------------------ graph upkeep
    def _on_add_handler(self, resource: str) -> Callable[[Any], None]:
        def on_add(obj: APIObject) -> None:
            work_key = f"{resource}/{key_of(obj)}"
            self._add(work_key, obj)
            self._check(work_key, obj)
            if needs_collector(obj):
                self.enqueue(FINALIZE + work_key)

        return on_add

    def _on_update_handler(self, resource: str) -> Callable[[Any, Any], None]:
        on_add, on_delete = self._on_add_handler(resource), self._on_delete_handler(resource)

        def on_update(old: APIObject, new: APIObject) -> None:
            if old.metadata.uid != new.metadata.uid:
                on_delete(old)  # a relist found a new object under the old name
                on_add(new)
                return
            if needs_collector(new) and (
                old.metadata.finalizers != new.metadata.finalizers
                or old.metadata.deletion_timestamp is None
            ):
                self.enqueue(f"{FINALIZE}{resource}/{key_of(new)}")
            if old.metadata.owner_references == new.metadata.owner_references:
                return  # the common case (status updates): nothing the graph holds changed
            work_key = f"{resource}/{key_of(new)}"
            self._remove(work_key, old)
            self._add(work_key, new)
            self._check(work_key, new)

        return on_update

    def _on_delete_handler(self, resource: str) -> Callable[[Any], None]:
        def on_delete(obj: APIObject) -> None:
            self._remove(f"{resource}/{key_of(obj)}", obj)
            for dependent in self.dependents.get(obj.metadata.uid, ()):
                self.enqueue(dependent)
            for ref in obj.metadata.owner_references:  # an owner waiting for it to go
                owner_key = self.live.get(ref.uid)
                if owner_key is not None:
                    self._finalize_if_waiting(owner_key)

        return on_delete

    def _add(self, work_key: str, obj: APIObject) -> None:
        self.live[obj.metadata.uid] = work_key
        for ref in obj.metadata.owner_references:
            self.dependents.setdefault(ref.uid, {})[work_key] = None

    def _remove(self, work_key: str, obj: APIObject) -> None:
        if self.live.get(obj.metadata.uid) == work_key:
            del self.live[obj.metadata.uid]
        for ref in obj.metadata.owner_references:
            bucket = self.dependents.get(ref.uid)
            if bucket is not None:
                bucket.pop(work_key, None)
                if not bucket:
                    del self.dependents[ref.uid]

    def _check(self, work_key: str, obj: APIObject) -> None:
        """Queue ``obj`` if some owner of it is not among the objects the informers hold."""
        if not self._synced:
            return
        if any(ref.uid not in self.live for ref in obj.metadata.owner_references):
            self.enqueue(work_key)

    def _finalize_if_waiting(self, work_key: str) -> None:
        resource, obj_key = work_key.split("/", 1)
        owner = self.informers[resource].get(obj_key)
        if owner is not None and needs_collector(owner):
            self.enqueue(FINALIZE + work_key)

    async def _finalize(self, work_key: str) -> None:
        resource, obj_key = work_key.split("/", 1)
        owner = self.informers[resource].get(obj_key)
        if owner is None or not needs_collector(owner):
            return
        dependents = []
        for dep_key in list(self.dependents.get(owner.metadata.uid, ())):
            dep_resource, dep_obj_key = dep_key.split("/", 1)
            dep = self.informers[dep_resource].get(dep_obj_key)
            if dep is not None:
                dependents.append((dep_resource, dep))
        await finalize(
            self.api, resource, owner, dependents, lambda uid: bool(self.dependents.get(uid))
        )

    # ------------------------------------------------------------------ collect
    async def sync(self, key: str) -> None:
        if key.startswith(FINALIZE):
            await self._finalize(key.removeprefix(FINALIZE))
            return
        resource, obj_key = key.split("/", 1)
        obj = self.informers[resource].get(obj_key)
        if obj is None or obj.metadata.deletion_timestamp is not None:
            return
        refs = obj.metadata.owner_references
        if not refs or all(ref.uid in self.live for ref in refs):
            return
        dangling: list[OwnerReference] = []
        for ref in refs:
            if ref.uid not in self.live and not await self._owner_exists(ref, obj):
                dangling.append(ref)
        if not dangling:
            return
        latest = self.informers[resource].get(obj_key)
        if latest is None or latest.metadata.owner_references != refs:
            self.enqueue(key)  # adopted or changed while we looked: examine it afresh
            return
        namespace, name = obj.metadata.namespace, obj.metadata.name
        if len(dangling) < len(refs):
            gone = {ref.uid for ref in dangling}
            await self.api.patch(resource, namespace, name, _without_owners(gone))
            return
        try:
            await self.api.delete(resource, namespace, name, uid=obj.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            return  # already gone, or a new object of the same name
        owners = ", ".join(f"{ref.kind} {ref.name}" for ref in refs)
        self.events.record(
            self.name,
            type(obj).__name__,
            obj_key,
            "GarbageCollected",
            f"Deleting {type(obj).__name__} {obj_key}: its owners are gone ({owners})",
        )

    async def _owner_exists(self, ref: OwnerReference, dependent: APIObject) -> bool:
        """A live lookup of an owner the informers do not (yet) hold."""
        resource = RESOURCE_OF_KIND.get(ref.kind)
        if resource is None:
            return True  # a kind the model does not serve: we cannot tell, so keep the dependent
        namespace = dependent.metadata.namespace if API_RESOURCES[resource].namespaced else ""
        try:
            owner = await self.api.get(resource, namespace, ref.name)
        except errors.NotFound:
            return False
        return owner.metadata.uid == ref.uid


def _without_owners(gone: set[str]) -> Callable[[Any], Any]:
    def mutate(obj: APIObject) -> APIObject:
        refs = tuple(r for r in obj.metadata.owner_references if r.uid not in gone)
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))

    return mutate


__all__ = ["GC_RESOURCES", "GarbageCollector"]
