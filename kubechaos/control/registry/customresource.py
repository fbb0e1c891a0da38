"""The apiextensions side of the API server: CustomResourceDefinitions and their objects.

Requests are counted (``apiserver_request_total``) and seen by request faults under the
resource's plural (``widgets``, ``widgets/status``), as upstream labels them.

Definitions and custom objects are JSON maps (:class:`~kubechaos.api.objects.custom.Unstructured`)
in the same etcd, under upstream's keys (``/registry/apiextensions.k8s.io/
customresourcedefinitions/<name>``, ``/registry/<group>/<plural>/[<namespace>/]<name>``), each
resource with its own :class:`~kubechaos.control.watchcache.WatchCache`, so resourceVersions,
watches from a version, bookmarks and 410 Gone behave as for the typed kinds. Every request goes
through the API server's own request path (``call``: its latency, request faults, statistics).

A definition is established at once when it is created: the naming controller's
``NamesAccepted`` and the establishing controller's ``Established`` are written in a second
revision right after the create (upstream queues the establishing with no delay on a single API
server; a 5 s wait applies only with several, apiextensions-apiserver customresource_handler.go).
Deleting a definition deletes its objects (upstream's finalizer
``customresourcecleanup.apiextensions.k8s.io``, pkg/controller/finalizer); the definition is
removed once the last of them is gone (objects with finalizers first wait for them).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.crd import (
    GROUP,
    KIND,
    PLURAL,
    CRDInfo,
    CRDVersion,
    crd_info,
)
from kubechaos.api.objects.custom import JSON, Unstructured
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.etcd import Etcd
from kubechaos.control.watchcache import Watch, WatchCache

Call = Callable[..., Any]  # the API server's request path: call(verb, resource, fn, reads, writes)

CRD_INFO = CRDInfo(
    name=f"{PLURAL}.{GROUP}",
    group=GROUP,
    plural=PLURAL,
    singular="customresourcedefinition",
    kind=KIND,
    list_kind=KIND + "List",
    short_names=("crd", "crds"),
    categories=("api-extensions",),
    namespaced=False,
    versions=(CRDVersion("v1", True, True, {}, True, None),),
)


@attrs.frozen
class Served:
    """One served resource at one version: what a request's path resolved to."""

    info: CRDInfo
    version: CRDVersion

    @property
    def resource_id(self) -> str:
        return f"{self.info.group}/{self.info.plural}"

    @property
    def is_crd(self) -> bool:
        return self.info.group == GROUP

    @property
    def has_status(self) -> bool:
        return self.version.status


def _decode(value: Unstructured, revision: int) -> Unstructured:
    rv = str(revision)
    meta = value.content.get("metadata") or {}
    if meta.get("resourceVersion") == rv:
        return value
    return value.with_meta(resourceVersion=rv)


class CustomStorage:
    """Definitions and custom objects: what is served, and the reads (writes: customwrites)."""

    def __init__(
        self,
        etcd: Etcd,
        call: Call,
        namespace_exists: Callable[[str], bool],
        uid_rng: Any,
        generated_name: Callable[[str], str],
        cache_size: int,
    ) -> None:
        self.etcd = etcd
        self._call = call
        self._namespace_exists = namespace_exists
        self._uid_rng = uid_rng
        self._generated_name = generated_name
        self._cache_size = cache_size
        self._caches: dict[str, WatchCache] = {}
        self._handles: dict[str, Any] = {}
        self.definitions: dict[str, CRDInfo] = {}  # established, by definition name
        self._by_group_plural: dict[tuple[str, str], CRDInfo] = {}
        self.changes = 0  # bumped whenever what is served changes (discovery, OpenAPI caches)
        # called when a definition is first served: the cluster starts what custom kinds need
        # (the garbage collector's watch of the definitions), as for a typed kind's first object
        self.on_serve: builtins.list[Callable[[], None]] = []
        self._open_cache(CRD_INFO)

    # ------------------------------------------------------------------ what is served
    def _prefix(self, info: CRDInfo) -> str:
        return f"/registry/{info.group}/{info.plural}/"

    def _key(self, info: CRDInfo, namespace: str, name: str) -> str:
        if info.namespaced:
            return f"{self._prefix(info)}{namespace}/{name}"
        return f"{self._prefix(info)}{name}"

    def _open_cache(self, info: CRDInfo) -> WatchCache:
        resource_id = f"{info.group}/{info.plural}"
        cache = self._caches.get(resource_id)
        if cache is not None:
            return cache
        store = self.etcd.store
        cache = WatchCache(info.plural, _decode, self._cache_size)  # type: ignore[arg-type]
        items = store.range(self._prefix(info))
        held: Any = [(kv.key, _decode(kv.value, kv.mod_revision)) for kv in items]
        cache.replace(held, store.revision)
        self._handles[resource_id] = store.watch(
            self._prefix(info), store.revision + 1, cache.on_etcd_events
        )
        self._caches[resource_id] = cache
        return cache

    def resolve(self, group: str, version: str, plural: str) -> Served | None:
        """The served resource a path names (None: not served, 404)."""
        info = CRD_INFO if (group, plural) == (GROUP, PLURAL) else None
        info = info or self._by_group_plural.get((group, plural))
        if info is None:
            return None
        served = info.version(version)
        return Served(info, served) if served is not None else None

    def by_kind(self, api_version: str, kind: str) -> Served | None:
        group, _, version = api_version.rpartition("/")
        for info in (CRD_INFO, *self.definitions.values()):
            if info.group == group and info.kind == kind:
                return self.resolve(group, version, info.plural)
        return None

    def served(self) -> builtins.list[CRDInfo]:
        """Every served definition (the CRD kind's own first), for discovery and OpenAPI."""
        return [CRD_INFO, *self.definitions.values()]

    def items(self, info: CRDInfo) -> builtins.list[Unstructured]:
        """Every object of a served definition, as the watch cache holds them."""
        cache = self._caches.get(f"{info.group}/{info.plural}")
        return cache.list() if cache is not None else []

    def cache(self, served: Served) -> WatchCache:
        return self._caches[served.resource_id]

    def crd_content(self, info: CRDInfo) -> JSON | None:
        obj = self._caches[CRD_INFO.group + "/" + CRD_INFO.plural].get(
            self._key(CRD_INFO, "", info.name)
        )
        return obj.content if obj is not None else None

    def _serve(self, content: JSON) -> None:
        info = crd_info(content)
        self.definitions[info.name] = info
        self._by_group_plural[(info.group, info.plural)] = info
        self._open_cache(info)
        self.changes += 1
        for hook in self.on_serve:
            hook()

    def _unserve(self, name: str) -> None:
        info = self.definitions.pop(name, None)
        if info is None:
            return
        self._by_group_plural.pop((info.group, info.plural), None)
        resource_id = f"{info.group}/{info.plural}"
        handle = self._handles.pop(resource_id, None)
        if handle is not None:
            handle.cancel()
        cache = self._caches.pop(resource_id, None)
        if cache is not None:
            for watch in cache.open_watches():
                watch.stop()
        self.changes += 1

    def expire_window_before(self, revision: int) -> None:
        """Compaction: as the typed kinds' caches."""
        for cache in self._caches.values():
            cache.expire_window_before(revision)

    # ------------------------------------------------------------------ reads
    async def get(self, served: Served, namespace: str, name: str) -> Unstructured:
        key = self._key(served.info, namespace, name)

        def from_etcd() -> Unstructured:
            kv = self.etcd.get(key)
            if kv is None:
                raise errors.NotFound(
                    f'{served.info.plural}.{served.info.group} "{name}" not found'
                )
            return _decode(kv.value, kv.mod_revision)

        return await self._call("get", served.info.plural, from_etcd, reads=1)

    async def list(
        self, served: Served, namespace: str | None, selector: LabelSelector | None
    ) -> tuple[builtins.list[Unstructured], int]:
        def from_cache() -> tuple[builtins.list[Unstructured], int]:
            self.etcd.check_leader()
            cache = self._caches[served.resource_id]
            return cache.list(namespace, selector), cache.revision

        return await self._call("list", served.info.plural, from_cache)

    async def watch(
        self,
        served: Served,
        namespace: str | None,
        selector: LabelSelector | None,
        revision: int,
        client: str,
        hooks: builtins.list[Any],
    ) -> Watch:
        def open_watch() -> Watch:
            cache = self._caches[served.resource_id]
            return cache.watch(namespace, selector, None, revision, client, hooks)

        return await self._call("watch", served.info.plural, open_watch)
