"""The API server's write path: one decode per write, watch fan-out only to who can see it.

Upstream's apiserver decodes what etcd returns once per request (the generic store's
staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go GuaranteedUpdate decodes the response
into the out object), and its cacher decodes each watch event once and hands the same object to
every watcher (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go dispatchEvent, with
watchers indexed by namespace and by the pods' spec.nodeName: cacher.go's indexedTriggerFunc /
watcher index). In the model the write's answer and the watch cache's copy are the same decode:
a write costs one stamp of its resourceVersion, not two. Work is counted, never timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from kubechaos.api.objects import APIObject, Namespace, ObjectMeta, PodStatus
from kubechaos.api.selectors import FieldSelector
from kubechaos.control import apiserver as apiserver_module
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.watchcache import Watch
from kubechaos.defaults import Settings

from .factories import pod


class _Decodes:
    """Counts the decodes that stamp a resourceVersion (those that copy the object)."""

    def __init__(self) -> None:
        self.stamped = 0
        self._decode = apiserver_module._decode

    def __call__(self, value: APIObject, revision: int) -> APIObject:
        if value.metadata.resource_version != str(revision):
            self.stamped += 1
        return self._decode(value, revision)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Decodes]:
    counter = _Decodes()
    monkeypatch.setattr(apiserver_module, "_decode", counter)
    yield counter


async def test_each_write_is_decoded_once_and_its_answer_is_the_cached_object(
    decodes: _Decodes,
) -> None:
    """Creates, updates, status updates, bindings and quorum reads of 20 pods: no decode that
    copies (each write's own copy carries the resourceVersion it commits at,
    control/registry/stamp.py), none per read; a write's answer is the very object the watch
    cache holds and delivers."""
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    before = decodes.stamped
    writes = 0
    for i in range(20):
        created = await api.create(pod(f"p-{i}"))
        bound = await api.bind("default", f"p-{i}", "node-a")
        status = attrs.evolve(bound, status=PodStatus(phase="Running"))
        updated = await api.update_status(status)
        relabelled = await api.update(
            attrs.evolve(updated, metadata=attrs.evolve(updated.metadata, labels={"x": "y"}))
        )
        writes += 4
        read = await api.get("pods", "default", f"p-{i}")
        assert read is relabelled is api.cached("pods", "default", f"p-{i}")
        assert int(created.metadata.resource_version) + 3 == int(
            relabelled.metadata.resource_version
        )
    assert writes == 80 and decodes.stamped - before == 0


async def test_a_lagging_watch_cache_still_gets_a_correct_answer(decodes: _Decodes) -> None:
    """When the cache does not hold the write's revision (it lags), the answer is decoded from
    what etcd returned: the resourceVersion is the write's, whatever the cache holds."""
    etcd, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    created = await api.create(pod("p"))
    cache: Any = api.cache("pods")
    key = "/registry/pods/default/p"
    stale_meta = attrs.evolve(created.metadata, resource_version="1")
    cache._objects[key] = attrs.evolve(created, metadata=stale_meta, status=PodStatus("Stale"))
    kv = etcd.store.get(key)
    assert kv is not None
    answer = cache.decoded(key, kv.value, kv.mod_revision)
    assert answer == created


async def test_watch_events_are_offered_only_to_watchers_that_can_see_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 namespaces with a watch each, and 40 per-node pod watches (kubelets): a pod written in
    one namespace and bound to one node is offered to that namespace's watch and that node's
    watch (and the cluster-wide ones), never to the other 78 (cacher.go's watcher index)."""
    offers: list[str] = []
    original = Watch._offer

    def counting(self: Watch, event: Any) -> None:
        offers.append(self.name)
        original(self, event)

    monkeypatch.setattr(Watch, "_offer", counting)
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    for i in range(40):
        await api.create(Namespace(ObjectMeta(name=f"ns-{i}")))
    cache = api.cache("pods")
    rv = cache.revision
    for i in range(40):
        cache.watch(f"ns-{i}", None, None, rv, f"ns-{i}")
        node_watch = FieldSelector(node_name=f"node-{i}")
        cache.watch(None, None, node_watch, rv, f"node-{i}")
    cache.watch(None, None, None, rv, "everything")
    offers.clear()
    await api.create(pod("p", namespace="ns-7"))
    await api.bind("ns-7", "p", "node-3")
    assert sorted(offers) == sorted(["ns-7", "everything"] * 2 + ["node-3"])
