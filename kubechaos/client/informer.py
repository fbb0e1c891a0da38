"""Informers: list, then watch, keep a local cache, tell handlers what changed.

This is client-go's reflector + indexer + shared informer in one: the informer lists a resource,
watches from the list's resourceVersion, and on 410 Gone (the watch cache or etcd compacted past
it) lists again and reports the difference, so handlers never miss a final state. On other API
errors it backs off like the reflector (800 ms doubling to 30 s) and retries.

Indexers are client-go's ``cache.Indexer``: :meth:`Informer.add_indexers` names functions from
an object to the values it is filed under, :meth:`Informer.by_index` returns the objects filed
under one value, so a controller asks "the pods of this namespace / with this label" in time
proportional to the answer. The index is updated before handlers hear of a change; an informer
without indexers pays one truth test per event. :meth:`Informer.select` is a lister's
``List(selector)`` in a namespace on top of the namespace and label indexers.

Delivery. On the model's in-process watches (:class:`~kubechaos.api.watch.SinkStream`) the
informer attaches a sink: the store, the indexes and the handlers are updated *inside* the watch
cache's delivery of each event, that is inside the writer's request (its etcd transaction has
committed; other watchers may not have heard of it yet), and the informer's task sleeps until the
stream ends (closed by the server, broken by a replica's crash or a partition, 410 Gone) to watch
again from its last resourceVersion, or list again, exactly as before. One task wakeup per
watcher per batch was 40 % of a large run's task steps. A stream without a sink (an HTTP watch)
is read batch by batch in the informer's task as before; handlers see the same events in the
same order either way.

The handler contract, which inline delivery makes binding: a handler **only updates caches and
enqueues** (a work queue's ``add``/``add_after``, setting a ``trio.Event``, ``start_soon`` into a
nursery it holds): it never awaits (it cannot), never calls the API (a coroutine it cannot run),
never writes etcd, never stops a watch, and reads no task identity. It runs in the context the
informer's task had when it attached (:func:`contextvars.copy_context`), so a task it starts
carries its own process's client name, not the writer's. A handler that raises ends the watch:
the writer's request is untouched (its transaction committed, every other watcher still hears
the event), and the exception is raised in the informer's task, where it surfaced before.
"""

from __future__ import annotations

import builtins
import contextvars
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import APIObject, key_of
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.api.watch import ADDED, DELETED, ObjectEvent, SinkStream, WatchStream
from kubechaos.client.interface import APIClient
from kubechaos.sim import timers
from kubechaos.sim.events import EventLog

T = TypeVar("T", bound=APIObject)

RELIST_BACKOFF_INITIAL = 0.8  # client-go reflector backoff
RELIST_BACKOFF_MAX = 30.0

IndexFunc = Callable[[Any], Iterable[str]]
NAMESPACE_INDEX = "namespace"  # client-go cache.NamespaceIndex
LABEL_INDEX = "namespace-label"  # "<namespace>/<key>=<value>" of every label an object carries


def namespace_index(obj: APIObject) -> tuple[str, ...]:
    """client-go's MetaNamespaceIndexFunc."""
    return (obj.metadata.namespace,)


def label_index(obj: APIObject) -> tuple[str, ...]:
    """Every ``namespace/key=value`` label pair of ``obj``: a selector's matchLabels pair then
    names a superset of what it selects in that namespace."""
    namespace = obj.metadata.namespace
    return tuple(f"{namespace}/{k}={v}" for k, v in obj.metadata.labels.items())


def label_index_value(namespace: str, key: str, value: str) -> str:
    return f"{namespace}/{key}={value}"


# The index functions above read nothing of an object but its namespace and labels: an update
# that leaves both as they were (a status write: nearly every pod event) files the object where
# it was filed, so :meth:`Informer._reindex` does not call them again (each builds a string per
# label). It must agree with calling them: their values depend on those two fields alone.
_METADATA_INDEXERS: frozenset[IndexFunc] = frozenset({namespace_index, label_index})


@attrs.define
class Handler:
    on_add: Callable[[Any], None] | None = None
    on_update: Callable[[Any, Any], None] | None = None
    on_delete: Callable[[Any], None] | None = None


class Informer(Generic[T]):
    def __init__(
        self,
        api: APIClient,
        resource: str,
        *,
        component: str,
        events: EventLog,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> None:
        self.api = api
        self.resource = resource
        self.component = component
        self._events = events
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store: dict[str, T] = {}
        self._handlers: list[Handler] = []
        # Each kind of notification's callbacks, in registration order, listed once at
        # add_handler (each event would otherwise test every handler for it): an event no
        # handler wants costs the store and index update only.
        self._on_add: list[Callable[[Any], None]] = []
        self._on_update: list[Callable[[Any, Any], None]] = []
        self._on_delete: list[Callable[[Any], None]] = []
        self.synced = trio.Event()
        self.watch: WatchStream | None = None
        self.relists = 0
        self._revision = 0  # of the last event applied: where a new watch starts
        self._running = False
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, dict[str, None]]] = {}  # name -> value -> keys
        self._filed: dict[str, dict[str, tuple[str, ...]]] = {}  # name -> key -> its values

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add named index functions (client-go AddIndexers); objects already held are indexed
        at once. Adding the same function under its name again is a no-op (a shared informer's
        users may each ask); another function under a taken name is a programming error."""
        for name, func in indexers.items():
            known = self._indexers.get(name)
            if known is func:
                continue
            if known is not None:
                raise ValueError(f"informer {self.resource}: indexer {name!r} already exists")
            self._indexers[name] = func
            self._indices[name] = {}
            self._filed[name] = {}
            for key, obj in self.store.items():
                self._file(name, func, key, obj)

    def by_index(self, name: str, value: str) -> builtins.list[T]:
        """The objects filed under ``value`` by indexer ``name`` (client-go ByIndex)."""
        store = self.store
        return [store[key] for key in self._indices[name].get(value, ())]

    def select(self, namespace: str, selector: LabelSelector) -> builtins.list[T]:
        """The objects of ``namespace`` that ``selector`` selects (a lister's
        ``Pods(namespace).List(selector)``), through the namespace and label indexers, added
        on first use: only the objects carrying one matchLabels pair of the selector are
        looked at (all of the namespace's for a selector without matchLabels), and a selector
        that is that one pair takes the bucket as it is."""
        self.add_indexers({NAMESPACE_INDEX: namespace_index, LABEL_INDEX: label_index})
        pair = selector.index_key()
        if pair is None:
            candidates = self.by_index(NAMESPACE_INDEX, namespace)
        else:
            candidates = self.by_index(LABEL_INDEX, label_index_value(namespace, *pair))
        if selector.sole_pair() is not None:
            return candidates
        return [obj for obj in candidates if selector.matches(obj.metadata.labels)]

    def index_size(self, name: str, value: str) -> int:
        return len(self._indices[name].get(value, ()))

    def _file(self, name: str, func: IndexFunc, key: str, obj: T) -> None:
        values = tuple(func(obj))
        filed = self._filed[name]
        old = filed.get(key, ())
        if values == old:
            return
        index = self._indices[name]
        for value in old:
            if value not in values:
                bucket = index[value]
                del bucket[key]
                if not bucket:
                    del index[value]
        for value in values:
            if value not in old:
                index.setdefault(value, {})[key] = None
        filed[key] = values

    def _unfile(self, key: str) -> None:
        for name in self._indexers:
            index = self._indices[name]
            for value in self._filed[name].pop(key, ()):
                bucket = index[value]
                del bucket[key]
                if not bucket:
                    del index[value]

    def _reindex(self, key: str, obj: T, old: T | None = None) -> None:
        """File ``obj`` under ``key`` in every index; ``old``: the object it replaces (filed
        already), whose namespace and labels, if ``obj`` keeps them, keep its metadata indexes."""
        same = False
        if old is not None:
            meta, old_meta = obj.metadata, old.metadata
            same = meta is old_meta or (
                meta.namespace == old_meta.namespace and meta.labels == old_meta.labels
            )
        for name, func in self._indexers.items():
            if same and func in _METADATA_INDEXERS:
                continue
            self._file(name, func, key, obj)

    def add_handler(self, handler: Handler) -> None:
        """Register ``handler``; if the informer already holds objects, it hears of each as added
        (client-go replays the store to a handler that joins late)."""
        self._handlers.append(handler)
        for callback, listed in (
            (handler.on_add, self._on_add),
            (handler.on_update, self._on_update),
            (handler.on_delete, self._on_delete),
        ):
            if callback is not None:
                listed.append(callback)  # type: ignore[arg-type]
        if handler.on_add is not None:
            for obj in list(self.store.values()):
                handler.on_add(obj)

    def get(self, key: str) -> T | None:
        return self.store.get(key)

    def list(self) -> builtins.list[T]:
        return list(self.store.values())

    async def run(self) -> None:
        """List and watch until cancelled. A shared informer is run by whoever asks first; later
        callers just wait with it (one watch, many handlers)."""
        if self._running:
            await trio.sleep_forever()
        self._running = True
        backoff = RELIST_BACKOFF_INITIAL
        while True:
            try:
                await self._list_and_watch()
            except errors.Gone as exc:
                self.relists += 1
                self._events.record(
                    self.component,
                    "Informer",
                    self.resource,
                    "Relist",
                    f"watch expired: {exc.message}",
                )
                backoff = RELIST_BACKOFF_INITIAL
            except errors.APIError as exc:
                self._events.record(
                    self.component, "Informer", self.resource, "ListWatchFailed", str(exc)
                )
                await timers.sleep(backoff)
                backoff = min(backoff * 2, RELIST_BACKOFF_MAX)

    async def _list_and_watch(self) -> None:
        items, revision = await self.api.list(
            self.resource, self.namespace, self.label_selector, self.field_selector
        )
        self._replace(items)
        self.synced.set()
        self._revision = revision
        while True:
            watch = await self.api.watch(
                self.resource,
                self.namespace,
                self.label_selector,
                self.field_selector,
                self._revision,
                client=self.component,
            )
            self.watch = watch
            with watch:
                if isinstance(watch, SinkStream):
                    # handlers run in this task's context whoever's write delivers the event
                    # (a partial of Context.run: no Python frame of its own per event)
                    run_here = contextvars.copy_context().run
                    watch.attach(functools.partial(run_here, self._on_event))  # type: ignore[call-arg]
                    await watch.wait_closed()  # then watch again from where we were
                    continue
                try:
                    while True:
                        for event in await watch.next_batch():
                            self._on_event(event)
                except trio.EndOfChannel:
                    pass  # the server closed the watch: watch again from where we were

    def _on_event(self, event: ObjectEvent) -> None:
        """Apply one watch event: the store, the indexes, then the handlers.

        The hot path of every delivery (a sink's callback, so it runs inside the writer's etcd
        transaction): the store update and the handler loops are inline, one Python frame from
        the watch cache to each handler. It must agree with :meth:`_replace` on what a handler
        hears: DELETED -> on_delete; ADDED, or MODIFIED of an object the store lacked -> on_add;
        else on_update(old, new)."""
        self._revision = event.resource_version
        obj = event.object
        meta = obj.metadata  # key_of(obj), inline
        key = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        store = self.store
        if event.type == DELETED:
            store.pop(key, None)
            if self._indexers:
                self._unfile(key)
            for on_delete in self._on_delete:
                on_delete(obj)
            return
        old = store.get(key)
        store[key] = obj
        if self._indexers:
            self._reindex(key, obj, old)
        if old is None or event.type == ADDED:
            for on_add in self._on_add:
                on_add(obj)
        else:
            for on_update in self._on_update:
                on_update(old, obj)

    def _apply(self, type_: str, obj: T) -> None:
        """Apply an event of ``type_`` for ``obj`` at the revision already reached (tests)."""
        self._on_event(ObjectEvent(type_, obj, self._revision))

    def _replace(self, items: builtins.list[T]) -> None:
        fresh = {key_of(obj): obj for obj in items}
        for key, old in list(self.store.items()):
            if key not in fresh:
                del self.store[key]
                if self._indexers:
                    self._unfile(key)
                self._notify_delete(old)
        for key, obj in fresh.items():
            old_obj = self.store.get(key)
            self.store[key] = obj
            if self._indexers:
                self._reindex(key, obj, old_obj)
            if old_obj is None:
                self._notify_add(obj)
            elif old_obj.metadata.resource_version != obj.metadata.resource_version:
                self._notify_update(old_obj, obj)

    def _notify_add(self, obj: T) -> None:
        for on_add in self._on_add:
            on_add(obj)

    def _notify_update(self, old: T, new: T) -> None:
        for on_update in self._on_update:
            on_update(old, new)

    def _notify_delete(self, obj: T) -> None:
        for on_delete in self._on_delete:
            on_delete(obj)


class InformerFactory:
    """client-go's SharedInformerFactory: one informer, so one watch, per resource and namespace
    in a process, however many of the process's controllers use it.

    The controller manager shares one: a pod event then wakes one informer task that calls the
    handlers of the ReplicaSet, Deployment, Endpoints, node lifecycle and GC controllers, instead
    of waking five. A new process (after a crash) gets a new factory and lists afresh.
    """

    def __init__(self, api: APIClient, events: EventLog, component: str) -> None:
        self.api = api
        self.events = events
        self.component = component
        self._informers: dict[tuple[str, str | None], Informer[Any]] = {}

    def informer(self, resource: str, namespace: str | None = None) -> Informer[Any]:
        key = (resource, namespace)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.api,
                resource,
                component=self.component,
                events=self.events,
                namespace=namespace,
            )
            self._informers[key] = informer
        return informer
