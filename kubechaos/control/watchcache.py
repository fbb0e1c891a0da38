"""The API server's watch cache: one etcd watch per resource, fanned out to every client watch.

Upstream's cacher keeps the current objects and a window of recent events per resource in memory,
so thousands of kubelets, proxies and controllers never each read etcd. Watchers are indexed by
namespace and, for pods, by ``spec.nodeName``, so an event costs work only for the watchers that
can see it. A watch from a resourceVersion older than the window gets 410 Gone and the client
relists, exactly as upstream.

Delivery is synchronous. A client that gave its watch a *sink* (:meth:`Watch.attach`: the
model's informers) has each event handed to it inside the delivery, so within the writer's etcd
transaction, and its task wakes only when the stream ends (:meth:`Watch.wait_closed`): one task
wakeup per watcher per batch was 40 % of a large run's task steps. A client without one (the HTTP
front door's watches, tests) gets a buffer and :meth:`Watch.next_batch`, woken once per batch,
so a component that falls behind drains many events in one wakeup.

Fault injection's seam is :attr:`Watch.interceptors`: each may pass, change or withhold an event
on its way to the client; one that withholds an event may hand it on later with
:meth:`Watch.resume` (through the interceptors after it, so a delay and a drop stack) or straight
to the client with :meth:`Watch.deliver`.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import trio

from kubechaos.api.errors import Gone
from kubechaos.api.objects import APIObject, Pod
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.api.watch import ADDED, DELETED, MODIFIED, ObjectEvent
from kubechaos.control.etcd import WatchEvent


@attrs.define(slots=True)
class _CachedEvent:
    revision: int
    type: str
    object: APIObject
    prev: APIObject | None
    # What watchers are handed, made once per kind they see it as (ADDED, MODIFIED or DELETED)
    # and shared: an ObjectEvent is immutable, so each watcher seeing the same kind gets the
    # same one (the event of the commit, cacher.go's watchCacheEvent, one per commit). ``event``
    # is the kind the cache gave it (what every unfiltered watcher sees), made by
    # :meth:`shared` when the first watcher is handed it: a commit of a kind nobody watches
    # (and no watch replays from the window) builds none.
    event: ObjectEvent | None = None
    seen_as: dict[str, ObjectEvent] | None = None

    def shared(self) -> ObjectEvent:
        out = self.event
        if out is None:
            out = self.event = ObjectEvent(self.type, self.object, self.revision)
        return out

    def as_kind(self, kind: str) -> ObjectEvent:
        if kind == self.type:
            return self.shared()
        seen = self.seen_as
        if seen is None:
            seen = self.seen_as = {}
        out = seen.get(kind)
        if out is None:
            out = seen[kind] = ObjectEvent(kind, self.object, self.revision)
        return out


def _node_name(obj: APIObject | None) -> str | None:
    return obj.spec.node_name if isinstance(obj, Pod) else None


class Watch:
    """A client's watch: an async stream of batches of :class:`ObjectEvent`, or, once a sink is
    attached, a synchronous feed into it."""

    def __init__(
        self,
        cache: WatchCache,
        namespace: str | None,
        label_selector: LabelSelector | None,
        node_name: str | None,
        name: str,
    ) -> None:
        self._cache = cache
        self.namespace = namespace
        self.label_selector = label_selector
        self.node_name = node_name
        self.name = name
        # Whether this watch sees only some objects; one that sees all (nearly every informer)
        # sees each event as the cache recorded it, with no visibility test (see _offer).
        self._filtered = label_selector is not None or node_name is not None
        self._pending: list[ObjectEvent] = []
        self._wakeup: trio.Event | None = None
        self.closed = False
        self._sink: Callable[[ObjectEvent], None] | None = None
        self._waiter: trio.lowlevel.Task | None = None  # the sink's client, in wait_closed
        self.error: Exception | None = None  # what the sink raised (ends the watch)
        # Fault injection's seam (watch-drop/delay): each may pass, change or withhold an event
        # (returning None); an empty list costs one truth test per event.
        self.interceptors: list[Callable[[ObjectEvent], ObjectEvent | None]] = []

    @property
    def resource(self) -> str:
        return self._cache.resource

    def _visible(self, obj: APIObject | None) -> bool:
        if obj is None:
            return False
        if self.label_selector is not None and not self.label_selector.matches(obj.metadata.labels):
            return False
        return self.node_name is None or _node_name(obj) == self.node_name

    def _offer(self, event: _CachedEvent) -> None:
        if self.closed:  # stopped during this very dispatch (a sink that raised)
            return
        out: ObjectEvent | None
        if not self._filtered:
            # everything visible: ADDED without a previous object, MODIFIED with one,
            # DELETED: the kind the cache gave the event (what the tests below would give);
            # made already when _dispatch hands it on, not yet on a replay from the window
            out = event.event or event.shared()
        else:
            node_name, prev = self.node_name, event.prev
            if node_name is not None and self.label_selector is None:
                # a node's watch (a kubelet's): what _visible answers is the pod's node alone
                obj = event.object
                now_visible = (
                    event.type != DELETED
                    and isinstance(obj, Pod)
                    and obj.spec.node_name == node_name
                )
                was_visible = isinstance(prev, Pod) and prev.spec.node_name == node_name
            else:
                now_visible = event.type != DELETED and self._visible(event.object)
                was_visible = prev is not None and self._visible(prev)
            if now_visible:
                kind = MODIFIED if was_visible else ADDED
            elif was_visible:
                kind = DELETED
            else:
                return
            out = event.as_kind(kind)
        if self.interceptors:  # a fault is armed on this watch
            for interceptor in self.interceptors:
                out = interceptor(out)
                if out is None:
                    return
        sink = self._sink
        if sink is None:
            self._pending.append(out)
            if self._wakeup is not None:
                self._wakeup.set()
            return
        try:
            sink(out)
        except Exception as exc:
            self._fail(exc)

    def resume(
        self, event: ObjectEvent, after: Callable[[ObjectEvent], ObjectEvent | None]
    ) -> None:
        """Send ``event`` on from interceptor ``after``: through the interceptors behind it, then
        to the client (straight to the client if ``after`` is no longer attached)."""
        interceptors = self.interceptors
        out: ObjectEvent | None = event
        if after in interceptors:
            for interceptor in interceptors[interceptors.index(after) + 1 :]:
                out = interceptor(out)  # type: ignore[arg-type]
                if out is None:
                    return
        self.deliver(out)  # type: ignore[arg-type]

    def deliver(self, event: ObjectEvent) -> None:
        """Hand ``event`` to the client, past the interceptors (a delayed event arriving)."""
        if self.closed:
            return
        sink = self._sink
        if sink is not None:
            try:
                sink(event)
            except Exception as exc:
                self._fail(exc)
            return
        self._pending.append(event)
        if self._wakeup is not None:
            self._wakeup.set()

    def _fail(self, exc: Exception) -> None:
        """The sink raised: the writer whose commit this is must not see its client's bug (its
        etcd transaction has committed and other watchers still have to hear of it). The watch
        ends and wait_closed raises the exception in the client's own task, where a handler's
        exception surfaced before sinks existed."""
        self.error = exc
        self.stop()

    def attach(self, sink: Callable[[ObjectEvent], None]) -> None:
        """From now on hand each event straight to ``sink``, synchronously, within the delivery
        (so within the writer's etcd transaction): first the events already buffered (a replay
        from the window while the watch opened), in order. ``sink`` must only update caches and
        enqueue work; an exception from it ends the watch and is raised by :meth:`wait_closed`.
        """
        self._sink = sink
        pending, self._pending = self._pending, []
        for event in pending:
            self.deliver(event)

    async def wait_closed(self) -> None:
        """Sleep until the stream ends (the server closed it, a fault or a replica's crash broke
        it, the sink raised: raised here). Cancelling the waiting task stops the watch at once,
        so a cancelled client's sink hears nothing more (as a cancelled reader read no more)."""
        if not self.closed:
            self._waiter = trio.lowlevel.current_task()

            def abort(_: object) -> trio.lowlevel.Abort:
                self._waiter = None
                self.stop()
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        if self.error is not None:
            raise self.error

    async def next_batch(self) -> list[ObjectEvent]:
        """Wait for events and return all that are pending (at least one)."""
        while not self._pending:
            if self.closed:
                raise trio.EndOfChannel
            self._wakeup = trio.Event()
            await self._wakeup.wait()
            self._wakeup = None
        batch, self._pending = self._pending, []
        return batch

    def stop(self) -> None:
        if not self.closed:
            self.closed = True
            self._cache._remove(self)
            if self._wakeup is not None:
                self._wakeup.set()
            waiter, self._waiter = self._waiter, None
            if waiter is not None:
                trio.lowlevel.reschedule(waiter)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WatchCache:
    """Current objects and a window of recent events for one resource."""

    def __init__(self, resource: str, decode: Callable[[Any, int], APIObject], size: int) -> None:
        self.resource = resource
        self._decode = decode
        self.revision = 0
        self._objects: dict[str, APIObject] = {}  # etcd key -> object
        self._by_namespace: dict[str, dict[str, APIObject]] = {}
        self._by_node: dict[str, dict[str, APIObject]] = {}
        self._window: deque[_CachedEvent] = deque()
        self._window_size = size
        # Every event of this resource after this revision is in the window.
        self._window_start = 0
        self._watch_all: list[Watch] = []
        self._watch_ns: dict[str, list[Watch]] = {}
        self._watch_node: dict[str, list[Watch]] = {}

    # ------------------------------------------------------------------ feed from etcd
    def replace(self, items: list[tuple[str, APIObject]], revision: int) -> None:
        """Initial fill from an etcd range at ``revision``."""
        for key, obj in items:
            self._store(key, obj)
        self.revision = revision
        self._window_start = revision

    def on_etcd_events(self, events: list[WatchEvent]) -> None:
        objects = self._objects
        for event in events:
            kv = event.kv
            key, revision = kv.key, kv.mod_revision  # a DELETE's tombstone: the delete's
            prev = objects.get(key)
            if event.type == "PUT":
                obj = self._decode(kv.value, revision)
                self._store(key, obj, prev)
                cached = _CachedEvent(revision, ADDED if prev is None else MODIFIED, obj, prev)
            else:
                if prev is None:  # pragma: no cover - etcd never deletes what it never had
                    continue
                self._unstore(key, prev)
                obj = self._decode(prev, revision)
                cached = _CachedEvent(revision, DELETED, obj, prev)
            self.revision = revision
            self._window.append(cached)
            if len(self._window) > self._window_size:
                self._window_start = self._window.popleft().revision
            self._dispatch(cached)

    def _store(self, key: str, obj: APIObject, prev: APIObject | None = None) -> None:
        self._objects[key] = obj
        namespace = obj.metadata.namespace
        in_namespace = self._by_namespace.get(namespace)
        if in_namespace is None:
            in_namespace = self._by_namespace[namespace] = {}
        in_namespace[key] = obj
        if not isinstance(obj, Pod):  # only pods are filed by node (see _node_name)
            return
        node = obj.spec.node_name
        old_node = prev.spec.node_name if isinstance(prev, Pod) else None  # _node_name(prev)
        if old_node and old_node != node:
            self._by_node.get(old_node, {}).pop(key, None)
        if node:
            self._by_node.setdefault(node, {})[key] = obj

    def _unstore(self, key: str, obj: APIObject) -> None:
        del self._objects[key]
        self._by_namespace.get(obj.metadata.namespace, {}).pop(key, None)
        node = _node_name(obj)
        if node:
            self._by_node.get(node, {}).pop(key, None)

    def _dispatch(self, event: _CachedEvent) -> None:
        # Fast path of nearly every delivery: an unfiltered watch with a sink and no fault armed
        # gets the commit's own event straight into its sink (the informer's apply), with no
        # frame of the watch's own; any other watch takes _offer, which must agree with this:
        # an unfiltered watch sees each event as the cache recorded it (event.shared()).
        # A commit no watch of the resource or of its namespace can see builds no event here.
        watch_all = self._watch_all
        in_namespace = self._watch_ns.get(event.object.metadata.namespace)
        if watch_all or in_namespace:
            # the first watcher handed the commit's event makes it (event.shared(), inline)
            out = event.event = ObjectEvent(event.type, event.object, event.revision)
            for bucket in (watch_all, in_namespace) if in_namespace else (watch_all,):
                for watch in bucket:
                    sink = watch._sink
                    if sink is None or watch._filtered or watch.interceptors or watch.closed:
                        watch._offer(event)
                        continue
                    try:
                        sink(out)
                    except Exception as exc:
                        watch._fail(exc)
        if self._watch_node:  # pods only (_node_name, inline)
            obj, prev = event.object, event.prev
            node = obj.spec.node_name if isinstance(obj, Pod) else None
            old_node = prev.spec.node_name if isinstance(prev, Pod) else None
            for watch in self._watch_node.get(node or "", ()):
                watch._offer(event)
            if old_node and old_node != node:
                for watch in self._watch_node.get(old_node, ()):
                    watch._offer(event)

    # ------------------------------------------------------------------ serve clients
    def get(self, key: str) -> Any:
        return self._objects.get(key)

    def decoded(self, key: str, value: APIObject, revision: int) -> Any:
        """``value`` as etcd holds it at ``revision`` (a write's answer, a quorum read), decoded
        once: this cache decoded that very write when etcd delivered it (synchronously, within
        the transaction), so its copy is the answer when it is of that revision; else (a
        lagging cache, a deletion) it is decoded now.

        Nearly always the cache holds ``value`` itself (the write stamped its version right,
        :mod:`~.registry.stamp`, so the cache's decode kept it): that is the answer with no
        version formatted and compared. It agrees with the comparison once the cache has seen
        ``revision``: the put at ``revision`` stored ``value`` itself only if its stamp was
        right, and a later put of the same object (at another revision) would have stored a
        copy."""
        cached = self._objects.get(key)
        if cached is value and revision <= self.revision:
            return cached
        if cached is not None and cached.metadata.resource_version == str(revision):
            return cached
        return self._decode(value, revision)

    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> list[Any]:
        source: Iterator[APIObject]
        if field_selector is not None and field_selector.node_name is not None:
            source = iter(self._by_node.get(field_selector.node_name, {}).values())
            if namespace is not None:
                source = (o for o in source if o.metadata.namespace == namespace)
        elif namespace is not None:
            source = iter(self._by_namespace.get(namespace, {}).values())
        else:
            source = iter(self._objects.values())
        if label_selector is not None and not label_selector.is_empty():
            return [o for o in source if label_selector.matches(o.metadata.labels)]
        return list(source)

    def watch(
        self,
        namespace: str | None,
        label_selector: LabelSelector | None,
        field_selector: FieldSelector | None,
        resource_version: int,
        name: str,
        hooks: Iterable[Callable[[Watch], None]] = (),
    ) -> Watch:
        """A new watch; each of ``hooks`` sees it before any event (fault injection's seam)."""
        node_name = field_selector.node_name if field_selector is not None else None
        watch = Watch(self, namespace, label_selector, node_name, name)
        for hook in hooks:
            hook(watch)
        if resource_version < self.revision:
            if resource_version < self._window_start:
                raise Gone(f"too old resource version: {resource_version} ({self._window_start})")
            for event in self._window:
                if event.revision > resource_version and (
                    namespace is None or event.object.metadata.namespace == namespace
                ):
                    watch._offer(event)
        if node_name is not None:
            self._watch_node.setdefault(node_name, []).append(watch)
        elif namespace is not None:
            self._watch_ns.setdefault(namespace, []).append(watch)
        else:
            self._watch_all.append(watch)
        return watch

    def _remove(self, watch: Watch) -> None:
        # Copy-on-write, not list.remove: a sink may stop a watch (by raising) while _dispatch
        # iterates this very bucket, and the watchers after it must still hear the event.
        if watch.node_name is not None:
            buckets, key = self._watch_node, watch.node_name
        elif watch.namespace is not None:
            buckets, key = self._watch_ns, watch.namespace
        else:
            self._watch_all = [w for w in self._watch_all if w is not watch]
            return
        if key in buckets:
            buckets[key] = [w for w in buckets[key] if w is not watch]

    def open_watches(self) -> builtins.list[Watch]:
        """Every watch currently open on this resource (a fault reaches them all)."""
        found = list(self._watch_all)
        for bucket in (*self._watch_ns.values(), *self._watch_node.values()):
            found += bucket
        return found

    def __len__(self) -> int:
        return len(self._objects)

    def deleted_since(self, revision: int) -> builtins.list[APIObject]:
        """Objects deleted after ``revision`` that the event window still holds, oldest first
        (an observer looking up what a fault just deleted: a force-deleted pod is gone at once)."""
        found: builtins.list[APIObject] = []
        for event in reversed(self._window):
            if event.revision <= revision:
                break
            if event.type == DELETED:
                found.append(event.object)
        found.reverse()
        return found

    def expire_window_before(self, revision: int) -> None:
        """Drop cached events at or before ``revision`` (after etcd compaction)."""
        while self._window and self._window[0].revision <= revision:
            self._window.popleft()
        self._window_start = max(self._window_start, revision)
