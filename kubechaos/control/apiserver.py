"""The API server: the only door to cluster state.

Every component reads and writes through it, as upstream. A request goes through the same stages
as kube-apiserver's handler chain, compressed: defaulting, admission (namespace lifecycle here;
what is particular to a kind, such as DefaultTolerationSeconds for pods or ClusterIP allocation
for services, in that kind's strategy), validation (422 with field causes), then an
optimistic-concurrency write to etcd (compare-and-swap on the key's mod revision; 409 Conflict if
the client's resourceVersion is stale).

This module is only the generic request path, as upstream's generic store
(staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go): it looks the resource up in
:data:`~kubechaos.control.registry.resources.RESOURCES` and calls the kind's
:class:`~kubechaos.control.registry.strategy.Strategy` at each step; no kind is named here except
in ``bind``, the pods/binding subresource. Objects live in etcd under
``/registry/<resource>/<namespace>/<name>``; lists and watches are served from one
:class:`~kubechaos.control.watchcache.WatchCache` per resource.

``resourceVersion`` is not stored in the object: like upstream, it is stamped on decode from the
etcd key's ``mod_revision``.

The verbs (``get`` ... ``evict``) are plain methods returning the request's coroutine
(:meth:`APIServer._call` with the request's step): ``await api.update(obj)`` reads and behaves
as before, and each of the request's resumes (its latency sleep's wakeup) passes through one
coroutine frame fewer. Their argument checks (an unknown resource's 404) therefore raise when
the verb is called, which for ``await api.verb(...)`` is the same moment.

Fault injection enters through two plain lists (empty: one truth test per request or watch):
``request_hooks`` see each request (verb, resource, client) and may add latency or refuse it with
an API error; ``watch_hooks`` see each new watch before its first event. An etcd failure (no
leader, a proposal that timed out) reaches the client as a 500 carrying etcd's message.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kubechaos.api import errors
from kubechaos.api.discovery import resource_of
from kubechaos.api.objects import APIObject, Pod
from kubechaos.api.propagation import deletion_finalizers
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.client.identity import current_client
from kubechaos.client.retry import retry_wait
from kubechaos.control.etcd import Compare, Delete, Etcd, EtcdError, KeyValue, Put
from kubechaos.control.registry import podsubresources, preconditions, statuswrite
from kubechaos.control.registry.beforecreate import before_create
from kubechaos.control.registry.customwrites import CustomResources
from kubechaos.control.registry.deletemark import finished_by_update, mark_deleting
from kubechaos.control.registry.ipallocator import ClusterIPAllocator
from kubechaos.control.registry.resources import RESOURCES, etcd_key, etcd_prefix
from kubechaos.control.registry.stamp import decode as _decode
from kubechaos.control.registry.stamp import next_version, unchanged
from kubechaos.control.registry.strategy import Strategy, StrategyOptions, refuse
from kubechaos.control.requests import Request, RequestHook, run_hooks
from kubechaos.control.requeststats import DURATION_BUCKETS, RequestStats
from kubechaos.control.watchcache import Watch, WatchCache
from kubechaos.defaults import Settings
from kubechaos.sim import timers
from kubechaos.sim.clock import now
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng, jitter

T = TypeVar("T", bound=APIObject)


def _create_if_absent(key: str, obj: APIObject) -> tuple[list[Compare], list[Put]]:
    return [Compare(key, "create", "=", 0)], [Put(key, obj)]


class APIServer:
    def __init__(self, etcd: Etcd, settings: Settings, rng: Rng, events: EventLog) -> None:
        self.etcd = etcd
        self.settings = settings
        self.events = events
        self._latency_rng = rng.stream("apiserver-latency")
        self._uid_rng = rng.stream("apiserver-uid")
        self._ip_rng = rng.stream("apiserver-clusterip")
        self._hook_uid_rng = rng.stream("apiserver-poststarthook-uid")
        self._rng = rng
        self.stats = RequestStats()
        # Seams for fault injection: empty lists cost one truth test per request / watch.
        self.request_hooks: list[RequestHook] = []
        self.watch_hooks: list[Callable[[Watch], None]] = []
        self._caches: dict[str, WatchCache] = {}
        options = StrategyOptions(
            settings,
            ClusterIPAllocator(self._ip_rng),
            lambda resource: self._caches[resource].list(),
        )
        self._strategies: dict[str, Strategy[Any]] = {
            r.name: r.strategy(r, options) for r in RESOURCES.values()
        }
        for resource in RESOURCES.values():
            cache = WatchCache(resource.name, _decode, settings.watch_cache_size)
            items = etcd.store.range(etcd_prefix(resource.name))
            cache.replace(
                [(kv.key, _decode(kv.value, kv.mod_revision)) for kv in items],
                etcd.store.revision,
            )
            etcd.store.watch(
                etcd_prefix(resource.name), etcd.store.revision + 1, cache.on_etcd_events
            )
            self._caches[resource.name] = cache
        self.custom = CustomResources.on(self, rng)  # CRDs and custom objects

    # ------------------------------------------------------------------ plumbing
    def _strategy(self, resource: str) -> Strategy[Any]:
        """The strategy of a resource a client named (404 for one the server does not serve)."""
        try:
            return self._strategies[resource]
        except KeyError:
            raise errors.NotFound(
                f'the server could not find the requested resource "{resource}"'
            ) from None

    async def _call(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        reads: int = 0,
        writes: int = 0,
        args: tuple[Any, ...] = (),
    ) -> Any:
        """Serve one request: its whole latency (API server plus the etcd round trips it makes)
        passes first, in one sleep, then the request runs atomically against etcd.

        One sleep per request rather than one per hop keeps a wakeup's worth of cost per request
        at 5,000 nodes; what a client observes (latency, then the result) is the same.

        Every request comes through here: without request faults it is one frame (the stats
        observed directly); with them, :func:`_admitted`, which draws each retry's latency as
        this draws the first. ``fn`` is called with ``args`` (a read's
        bound method and its arguments: no closure per request).
        """
        start = now()
        latency = jitter(self._latency_rng, self.settings.apiserver_latency)
        latency += self.etcd.latency(reads, writes)
        if self.request_hooks:
            start, refused = await _admitted(self, verb, resource, reads, writes, latency, start)
        else:
            await timers.sleep(latency)
            refused = None
        try:
            if refused is not None:
                raise refused
            result = fn(*args)
        except errors.APIError as exc:
            self.stats.observe(verb, resource, exc.code, now() - start)
            raise
        except EtcdError as exc:  # no leader, a timed-out proposal: etcd's own message, as a 500
            self.stats.observe(verb, resource, 500, now() - start)
            raise errors.InternalError(str(exc)) from exc
        self.stats.observe(verb, resource, 201 if verb == "create" else 200, now() - start)
        return result

    def cache(self, resource: str) -> WatchCache:
        return self._caches[resource]

    def cached(self, resource: str, namespace: str, name: str) -> Any:
        """The watch cache's copy of one object (None if absent), with no request made: for
        the edges that describe the model (the HTTP front door's events), not for components."""
        return self._caches[resource].get(etcd_key(resource, namespace, name))

    # ------------------------------------------------------------------ reads
    def get(
        self, resource: str, namespace: str, name: str, resource_version: str = ""
    ) -> Coroutine[Any, Any, Any]:
        """Read one object: from etcd (a quorum read), or with ``resource_version="0"`` from the
        watch cache, as upstream serves "any version is fine" reads (the kubelet's node GET)."""
        cache = self._caches.get(resource)
        if cache is None:
            self._strategy(resource)  # 404: not a resource the server serves
        key = etcd_key(resource, namespace, name)
        # bound methods and their arguments, not closures: no function object made per read
        args = (cache, resource, key, name)
        if resource_version == "0":
            return self._call("get", resource, self._get_cached, 0, 0, args)
        return self._call("get", resource, self._get_quorum, 1, 0, args)

    def _get_cached(self, cache: WatchCache, resource: str, key: str, name: str) -> Any:
        obj = cache.get(key)
        if obj is None:
            raise errors.NotFound(f'{resource} "{name}" not found')
        return obj

    def _get_quorum(self, cache: WatchCache, resource: str, key: str, name: str) -> Any:
        kv = self.etcd.get(key)
        if kv is None:
            raise errors.NotFound(f'{resource} "{name}" not found')
        return cache.decoded(key, kv.value, kv.mod_revision)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> Coroutine[Any, Any, tuple[list[Any], int]]:
        """Items and the list's resourceVersion, served from the watch cache.

        A list is a consistent read: upstream (ConsistentListFromCache) the cache first asks etcd
        for its current revision, a quorum read, so without an etcd leader the list fails (500)
        though the objects are in memory. The round trip's latency is not modelled.
        """
        self._strategy(resource)

        def list_from_cache() -> tuple[list[APIObject], int]:
            if not self.etcd.has_leader:
                self.etcd.check_leader()
            cache = self._caches[resource]
            return cache.list(namespace, label_selector, field_selector), cache.revision

        return self._call("list", resource, list_from_cache)

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        resource_version: int = 0,
        client: str = "",
    ) -> Coroutine[Any, Any, Watch]:
        """Events after ``resource_version``; raises :class:`~errors.Gone` if it is too old."""
        self._strategy(resource)

        client = current_client() or client

        def open_watch() -> Watch:
            return self._caches[resource].watch(
                namespace,
                label_selector,
                field_selector,
                resource_version,
                client,
                self.watch_hooks,
            )

        return self._call("watch", resource, open_watch)

    # ------------------------------------------------------------------ writes
    def create(self, obj: T, dry_run: bool = False) -> Coroutine[Any, Any, T]:
        """Create; with ``dry_run`` (``dryRun=All``) all but the write (upstream's dry run)."""
        resource = resource_of(obj)
        strategy = self._strategies[resource]
        args = (obj, resource, strategy, dry_run)  # a bound method's, not a closure's
        return self._call("create", resource, self._create_in_etcd, 0, 1, args)

    def _create_in_etcd(
        self, obj: APIObject, resource: str, strategy: Strategy[Any], dry_run: bool
    ) -> APIObject:
        version = "" if dry_run else next_version(self.etcd)
        prepared = self._prepare_create(strategy, obj, version=version)
        meta = prepared.metadata
        key = etcd_key(resource, meta.namespace, meta.name)
        if dry_run:
            if self.etcd.get(key) is not None:
                raise errors.AlreadyExists(f'{resource} "{meta.name}" already exists')
            return prepared
        result = self.etcd.put_if_mod(key, 0, prepared)  # if absent (create = 0)
        if not result.succeeded:
            raise errors.AlreadyExists(f'{resource} "{meta.name}" already exists')
        strategy.after_create(prepared)
        return self._caches[resource].decoded(key, prepared, result.revision)

    def create_at_start(self, obj: T) -> None:
        """A post-start hook's create of a cluster-scoped object: at once, own UIDs."""
        res = resource_of(obj)
        version = next_version(self.etcd)
        ready = self._prepare_create(self._strategies[res], obj, self._hook_uid_rng, version)
        self.etcd.txn(*_create_if_absent(etcd_key(res, "", ready.metadata.name), ready))

    def _prepare_create(
        self, strategy: Strategy[Any], obj: APIObject, uid_rng: Any = None, version: str = ""
    ) -> Any:
        """Upstream's rest.BeforeCreate (:func:`~.registry.beforecreate.before_create`), with
        this server's namespaces, generated-name and UID streams."""
        namespaces = self._caches["namespaces"]
        return before_create(
            strategy, obj, namespaces.get, self._rng, uid_rng or self._uid_rng, version
        )

    def update(self, obj: T) -> Coroutine[Any, Any, T]:
        """Replace spec and metadata; status is kept for resources with a status subresource."""
        return self._update(obj, "update")

    def update_status(self, obj: T) -> Coroutine[Any, Any, T]:
        """Replace status only (the ``/status`` subresource)."""
        return self._update(obj, "update_status")

    def _update(self, obj: T, verb: str) -> Coroutine[Any, Any, T]:
        resource = resource_of(obj)
        strategy = self._strategies[resource]
        # a bound method and its arguments, not a closure: no function object per write
        return self._call(
            verb, resource, self._update_in_etcd, 1, 1, (obj, resource, strategy, verb)
        )

    def _update_in_etcd(
        self, obj: APIObject, resource: str, strategy: Strategy[Any], verb: str
    ) -> APIObject:
        meta = obj.metadata
        key = etcd_key(resource, meta.namespace, meta.name)
        kv = self.etcd.get(key)
        if kv is None:
            raise errors.NotFound(f'{resource} "{meta.name}" not found')
        old: APIObject = kv.value
        preconditions.check_update(resource, meta, old, kv.mod_revision)
        version = next_version(self.etcd)  # the one copy the strategy makes carries it
        if verb == "update_status":
            new = strategy.update_status(old, obj, version)
        else:
            new = strategy.update(old, obj, version)
        return self._commit_update(strategy, kv, new, validating=verb == "update")

    def _commit_update(
        self, strategy: Strategy[Any], kv: KeyValue, new: Any, validating: bool
    ) -> Any:
        """Write ``new`` over ``kv`` if nothing wrote it meanwhile (CAS on its mod revision).

        An object being deleted whose last finalizer goes is removed instead (unless its kind
        leaves that to someone else: pods are removed by their kubelet's final delete, or at
        once when that delete already came, with grace period 0: upstream's
        registry.ShouldDeleteDuringUpdate). An unchanged object (but for the version stamped in
        ``new``) is not written at all.
        """
        cache = self._caches[strategy.resource.name]
        if unchanged(new, kv.value):  # the watch cache's copy of that revision
            return cache.decoded(kv.key, kv.value, kv.mod_revision)
        if validating:
            causes = strategy.validate_update(kv.value, new)
            if causes:
                raise errors.Invalid(type(new).__name__, new.metadata.name, causes)
        finished = finished_by_update(new.metadata, strategy.delete_when_finalized)
        if finished:
            result = self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Delete(kv.key)])
        else:
            result = self.etcd.put_if_mod(kv.key, kv.mod_revision, new)
        if not result.succeeded:
            raise errors.Conflict(
                f'Operation cannot be fulfilled on {strategy.resource.name} "{new.metadata.name}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again"
            )
        return cache.decoded(kv.key, new, result.revision)

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        mutate: Callable[[Any], Any],
        verb: str = "patch",
        dry_run: bool = False,
        status: bool = False,  # a client's write of /status (registry.statuswrite)
    ) -> Coroutine[Any, Any, Any]:
        """Apply ``mutate`` to the current object server-side.

        This is what a merge patch of labels, annotations or finalizers does upstream: the client
        states a change, not a whole object, so it never conflicts with unrelated writers (the
        read and the write happen in one step here, so there is nothing to retry).
        """
        strategy = self._strategy(resource)

        def patch_in_etcd() -> APIObject:
            kv = self.etcd.get(etcd_key(resource, namespace, name))
            if kv is None:
                raise errors.NotFound(f'{resource} "{name}" not found')
            old = _decode(kv.value, kv.mod_revision)
            version = "" if dry_run else next_version(self.etcd)
            # the client's resourceVersion is never kept: the strategy's merge stamps ``version``
            new = statuswrite.prepared(strategy, old, mutate(old), status, version)
            if dry_run:  # validated, not written (a status write by its strategy, just now)
                refuse(new, [] if status else strategy.validate(new))
                return _decode(new, kv.mod_revision)
            return self._commit_update(strategy, kv, new, validating=not status)

        return self._call(verb, resource, patch_in_etcd, reads=1, writes=1)

    def bind(self, namespace: str, name: str, node_name: str) -> Coroutine[Any, Any, Pod]:
        """The ``pods/binding`` subresource: set ``spec.nodeName`` once (409 if already bound)."""
        args = (namespace, name, node_name)  # a bound method's, not a closure's
        return self._call("create", "pods/binding", self._bind_in_etcd, 1, 1, args)

    def _bind_in_etcd(self, namespace: str, name: str, node_name: str) -> Pod:
        bound, revision = podsubresources.bind(self.etcd, namespace, name, node_name)
        return self._caches["pods"].decoded(etcd_key("pods", namespace, name), bound, revision)

    def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
        propagation_policy: str | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Delete (pods bound to a node: gracefully, the kubelet completes it); ``uid`` and
        ``resource_version`` are preconditions (409), ``dry_run`` only checks them,
        ``propagation_policy`` leaves the garbage collector's finalizers (api/propagation).
        Returns the object after the request: with ``deletionTimestamp`` while a graceful
        deletion or finalizers are pending, else as it was when removed."""
        strategy = self._strategy(resource)

        def delete_in_etcd() -> APIObject:
            key = etcd_key(resource, namespace, name)
            kv = self.etcd.get(key)
            if kv is None:
                raise errors.NotFound(f'{resource} "{name}" not found')
            obj: APIObject = kv.value
            preconditions.check(obj, kv.mod_revision, uid, resource_version, name)
            if dry_run:
                return _decode(obj, kv.mod_revision)
            grace = strategy.deletion_grace(obj, grace_period_seconds)
            finalizers = deletion_finalizers(obj.metadata.finalizers, propagation_policy)
            if grace == 0 and not finalizers:
                result = self.etcd.txn([Compare(key, "mod", "=", kv.mod_revision)], [Delete(key)])
                if not result.succeeded:
                    raise errors.Conflict(f'{resource} "{name}" was modified during deletion')
                strategy.after_delete(obj)
                return _decode(obj, result.revision)
            return mark_deleting(self.etcd, resource, kv, grace, finalizers)

        return self._call("delete", resource, delete_in_etcd, reads=1, writes=1)

    def evict(
        self, namespace: str, name: str, grace_period_seconds: int | None = None
    ) -> Coroutine[Any, Any, Pod]:
        """The ``pods/eviction`` subresource (eviction.go): delete the pod gracefully unless
        that would violate its PodDisruptionBudget (429). The budget's ``disruptionsAllowed``
        is decremented with a CAS on its revision, the pod gets ``DisruptionTarget``, then it
        is deleted, all in this one request."""
        pods = self._strategies["pods"]

        def evict_in_etcd() -> Pod:
            return podsubresources.evict(self.etcd, pods, namespace, name, grace_period_seconds)

        return self._call("create", "pods/eviction", evict_in_etcd, reads=2, writes=3)

    # ------------------------------------------------------------------ housekeeping
    async def run_compaction(self) -> None:
        """Compact etcd every interval, keeping one interval of history (as upstream)."""
        previous = self.etcd.store.revision
        while True:
            await timers.sleep(self.settings.etcd_compaction_interval)
            current = self.etcd.store.revision
            if not self.etcd.has_leader:
                continue
            self.etcd.store.compact(previous)
            for cache in self._caches.values():
                cache.expire_window_before(previous)
            self.custom.expire_window_before(previous)
            self.events.record(
                "kube-apiserver", "etcd", "", "Compacted", f"compacted to revision {previous}"
            )
            previous = current


async def _admitted(
    api: APIServer, verb: str, resource: str, reads: int, writes: int, latency: float, start: float
) -> tuple[float, errors.APIError | None]:
    """A request's admission under the request hooks: each attempt's latency (``latency``
    drawn already for the first) plus what the hooks add, and client-go's retry of a refusal
    it is asked to repeat. Returns when the last attempt's latency has passed: its start,
    and its refusal if it is refused for good."""
    retries = 0
    while True:
        latency, refused = run_hooks(
            api.request_hooks, Request(verb, resource, current_client()), latency
        )
        await timers.sleep(latency)
        wait = retry_wait(refused, retries)
        if wait is None:
            return start, refused
        api.stats.observe(verb, resource, refused.code if refused else 0, now() - start)
        await timers.sleep(wait)  # client-go sends it again after Retry-After
        start, retries = now(), retries + 1
        latency = jitter(api._latency_rng, api.settings.apiserver_latency)
        latency += api.etcd.latency(reads, writes)


__all__ = ["DURATION_BUCKETS", "APIServer", "Request", "RequestHook", "RequestStats"]
