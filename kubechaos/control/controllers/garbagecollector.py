"""The garbage collector (pkg/controller/garbagecollector), over typed and custom objects.

An object whose every owner reference names an owner that no longer exists is deleted: deleting a
Deployment takes its ReplicaSets with it, deleting a ReplicaSet its pods, deleting a custom
object the Deployment its operator made for it. Upstream builds a graph of every object's owner
references from informers on all resources; here informers on the resources in use (see
:mod:`.gcresources`: the workload resources from the start, any other kind from its first
object, a custom resource while its definition is Established) and an index of dependents by
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

import trio

from kubechaos.api import errors
from kubechaos.api.crd import KIND as CRD_KIND
from kubechaos.api.objects import APIObject, OwnerReference, key_of
from kubechaos.client.context import Context
from kubechaos.client.customapi import CRD_RESOURCE
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.gcpropagation import (
    FINALIZE,
    finalize,
    kind_of,
    needs_collector,
    without_owners,
)
from kubechaos.control.controllers.gcresources import (
    GC_RESOURCES,
    CustomKinds,
    established,
    typed_resource,
)


class GarbageCollector(Controller):
    """Work queue keys are ``<resource>/<namespace>/<name>`` of dependents to examine."""

    name = "garbage-collector-controller"
    queue_name = "garbage_collector_attempt_to_delete"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_gc_syncs
        self.informers: dict[str, Informer[Any]] = {}
        self.live: dict[str, str] = {}  # uid -> work key of every object the informers hold
        self.dependents: dict[str, dict[str, None]] = {}  # owner uid -> work keys of dependents
        self.kinds = CustomKinds()
        self._scopes: dict[str, trio.CancelScope] = {}  # custom resource -> its informer's
        self._synced = False
        self._nursery: trio.Nursery | None = None
        for resource in GC_RESOURCES:
            self.watch_owners(resource)

    def watch_kind(self, kind: str) -> None:
        """A first object of ``kind`` exists: hold that kind's objects from now on (the
        definitions, for ``CustomResourceDefinition``: then every Established custom kind)."""
        if kind == CRD_KIND:
            self.watch_definitions()
            return
        resource = typed_resource(kind)
        if resource is not None:
            self.watch_owners(resource)

    def watch_owners(self, resource: str) -> None:
        """Hold the objects of typed ``resource`` too, as owners and dependents (idempotent)."""
        if resource in self.informers:
            return
        self._hold(resource, self.ctx.informer(resource, self.name))

    def watch_definitions(self) -> None:
        """Watch the CustomResourceDefinitions, to hold each served custom resource's objects
        (idempotent; nothing without a custom-object client)."""
        custom = self.ctx.custom
        if custom is None or CRD_RESOURCE in self.informers:
            return
        informer: Informer[Any] = Informer(
            custom,  # type: ignore[arg-type]  # list and watch: all an informer asks
            CRD_RESOURCE,
            component=self.name,
            events=self.events,
        )
        informer.add_handler(Handler(self._on_definition, self._on_definition_update, self._gone))
        self.informers[CRD_RESOURCE] = informer
        if self._nursery is not None:
            self._nursery.start_soon(informer.run)

    def _hold(self, resource: str, informer: Informer[Any]) -> None:
        informer.add_handler(
            Handler(
                self._on_add_handler(resource),
                self._on_update_handler(resource),
                self._on_delete_handler(resource),
            )
        )
        self.informers[resource] = informer
        if resource in self._scopes and self._nursery is not None:
            self._nursery.start_soon(self._run_custom, informer, self._scopes[resource])
        elif self._nursery is not None:
            self._nursery.start_soon(informer.run)

    # ------------------------------------------------------------------ custom resources
    def _on_definition(self, crd: Any) -> None:
        target = established(crd)
        if target is None or target.resource in self.informers:
            return
        self.kinds.add(crd, target)
        self._scopes[target.resource] = trio.CancelScope()
        informer: Informer[Any] = Informer(
            self.ctx.custom,  # type: ignore[arg-type]
            target.resource,
            component=self.name,
            events=self.events,
        )
        self._hold(target.resource, informer)

    def _on_definition_update(self, old: Any, new: Any) -> None:
        self._on_definition(new)

    def _gone(self, crd: Any) -> None:
        """A definition is gone: its resource is not served any more; what its informer held
        is gone too (upstream: the monitor removed at the next discovery sync)."""
        target = self.kinds.remove(crd)
        if target is None:
            return
        scope = self._scopes.pop(target.resource, None)
        if scope is not None:
            scope.cancel()
        informer = self.informers.pop(target.resource, None)
        if informer is not None:
            on_delete = self._on_delete_handler(target.resource)
            for obj in list(informer.store.values()):
                on_delete(obj)

    async def _run_custom(self, informer: Informer[Any], scope: trio.CancelScope) -> None:
        with scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(informer.run)
                await informer.synced.wait()
                if self._synced:  # owners of this kind were unknown until now: look again
                    for owner_uid, keys in list(self.dependents.items()):
                        if owner_uid not in self.live:
                            for key in keys:
                                self.enqueue(key)

    # ------------------------------------------------------------------ lifecycle
    async def wait_synced(self) -> None:
        for informer in list(self.informers.values()):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for resource, informer in list(self.informers.items()):
                if resource in self._scopes:
                    nursery.start_soon(self._run_custom, informer, self._scopes[resource])
                else:
                    nursery.start_soon(informer.run)
            await self.wait_synced()
            self._synced = True
            # Now that every owner is known, look once for dependents whose owners went while no
            # collector ran (events during the initial lists were only indexed).
            for resource, informer in list(self.informers.items()):
                if resource == CRD_RESOURCE:
                    continue
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
            old_meta, meta = old.metadata, new.metadata
            if old_meta.uid != meta.uid:
                on_delete(old)  # a relist found a new object under the old name
                on_add(new)
                return
            # (needs_collector asks for a deletion first: not asked for the rest, nearly all)
            if (
                meta.deletion_timestamp is not None
                and needs_collector(new)
                and (old_meta.finalizers != meta.finalizers or old_meta.deletion_timestamp is None)
            ):
                self.enqueue(f"{FINALIZE}{resource}/{key_of(new)}")
            refs = meta.owner_references
            if old_meta.owner_references is refs or old_meta.owner_references == refs:
                # the common case (status updates, which keep the very tuple): nothing the
                # graph holds changed
                return
            work_key = f"{resource}/{key_of(new)}"
            self._remove(work_key, old)
            self._add(work_key, new)
            self._check(work_key, new)
            for ref in old.metadata.owner_references:  # an owner waiting for it to let go
                owner_key = self.live.get(ref.uid)
                if owner_key is not None:
                    self._finalize_if_waiting(owner_key)

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

    def _object(self, work_key: str) -> Any:
        resource, obj_key = work_key.split("/", 1)
        informer = self.informers.get(resource)
        return informer.get(obj_key) if informer is not None else None

    def _client(self, resource: str) -> Any:
        """Custom resources are named ``<plural>.<group>``; typed ones have no dot."""
        return self.ctx.custom if "." in resource else self.api

    def _finalize_if_waiting(self, work_key: str) -> None:
        owner = self._object(work_key)
        if owner is not None and needs_collector(owner):
            self.enqueue(FINALIZE + work_key)

    def _solid(self, dependent: Any, owner_uid: str) -> bool:
        """Whether ``dependent`` has another owner that exists and is not being deleted."""
        for ref in dependent.metadata.owner_references:
            if ref.uid == owner_uid or ref.uid not in self.live:
                continue
            other = self._object(self.live[ref.uid])
            if other is not None and other.metadata.deletion_timestamp is None:
                return True
        return False

    async def _finalize(self, work_key: str) -> None:
        owner = self._object(work_key)
        if owner is None or not needs_collector(owner):
            return
        dependents = []
        for dep_key in list(self.dependents.get(owner.metadata.uid, ())):
            dep = self._object(dep_key)
            if dep is not None:
                dependents.append((dep_key.split("/", 1)[0], dep))
        await finalize(
            self._client,
            work_key.split("/", 1)[0],
            owner,
            dependents,
            lambda uid: bool(self.dependents.get(uid)),
            self._solid,
        )

    # ------------------------------------------------------------------ collect
    async def sync(self, key: str) -> None:
        if key.startswith(FINALIZE):
            await self._finalize(key.removeprefix(FINALIZE))
            return
        resource, obj_key = key.split("/", 1)
        obj = self._object(key)
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
        latest = self._object(key)
        if latest is None or latest.metadata.owner_references != refs:
            self.enqueue(key)  # adopted or changed while we looked: examine it afresh
            return
        namespace, name = obj.metadata.namespace, obj.metadata.name
        client = self._client(resource)
        if len(dangling) < len(refs):
            gone = {ref.uid for ref in dangling}
            await client.patch(resource, namespace, name, without_owners(gone))
            return
        try:
            await client.delete(resource, namespace, name, uid=obj.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            return  # already gone, or a new object of the same name
        owners = ", ".join(f"{ref.kind} {ref.name}" for ref in refs)
        kind = kind_of(obj)
        self.events.record(
            self.name,
            kind,
            obj_key,
            "GarbageCollected",
            f"Deleting {kind} {obj_key}: its owners are gone ({owners})",
        )

    async def _owner_exists(self, ref: OwnerReference, dependent: APIObject) -> bool:
        """A live lookup of an owner the informers do not (yet) hold."""
        target = self.kinds.target(ref)
        if target is None:
            return True  # a kind the model does not serve: we cannot tell, so keep the dependent
        namespace = dependent.metadata.namespace if target.namespaced else ""
        try:
            owner = await self._client(target.resource).get(target.resource, namespace, ref.name)
        except errors.NotFound:
            return False
        return bool(owner.metadata.uid == ref.uid)


__all__ = ["GC_RESOURCES", "GarbageCollector"]
