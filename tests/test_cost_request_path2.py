"""The rest of the request path's per-request work, counted (never timed): copies per create,
closures and frames per GET, version comparisons per read, index work per informer event
(issue 16).

A create goes through upstream's rest.BeforeCreate
(staging/src/k8s.io/apiserver/pkg/registry/rest/create.go: the server's metadata, then the kind's
PrepareForCreate, then admission, then validation); a GET through the generic store's Get
(staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go) from etcd or, with
``resourceVersion=0``, from the watch cache; an informer event through client-go's
``tools/cache/shared_informer.go`` (the indexer's update, then ``OnUpdate`` to each listener).
Each test names what came back if it fails; the behaviour each keeps is checked beside it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import pytest

from kubechaos.api import errors
from kubechaos.api.objects import ObjectMeta, Pod, PodSpec, PodStatus, PriorityClass
from kubechaos.api.watch import ADDED, MODIFIED, ObjectEvent
from kubechaos.client import informer as informer_module
from kubechaos.client.informer import LABEL_INDEX, NAMESPACE_INDEX, Handler, Informer
from kubechaos.control import etcd as etcd_module
from kubechaos.control import watchcache as watchcache_module
from kubechaos.control.apiserver import APIServer
from kubechaos.control.registry import stamp
from kubechaos.defaults import TAINT_NOT_READY, TAINT_UNREACHABLE
from kubechaos.sim.events import EventLog

from .factories import pod, pod_spec
from .test_cost_request_path import _api

CREATES = 10


def _count_inits(monkeypatch: pytest.MonkeyPatch, counts: Counter[str], *classes: type) -> None:
    for cls in classes:
        original = cls.__init__

        def counting(self: Any, *args: Any, _o: Any = original, _n: str = cls.__name__) -> None:
            counts[_n] += 1
            _o(self, *args)

        monkeypatch.setattr(cls, "__init__", counting)


async def test_a_pod_create_makes_one_pod_one_metadata_one_spec_one_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pod created with ``generateName`` and no namespace, bound already (rest.BeforeCreate in
    staging/src/k8s.io/apiserver/pkg/registry/rest/create.go: the generated name, the request's
    namespace, UID, creationTimestamp; pkg/registry/core/pod/strategy.go PrepareForCreate: a
    fresh status, PodScheduled for a pod created bound; the DefaultTolerationSeconds and
    Priority admission plugins): one Pod, one ObjectMeta, one PodSpec and the PodStatus reset
    plus PodScheduled's. Before: three Pods (the metadata's copy, then PrepareForCreate's, then
    admission's) and three ObjectMetas (the generated name, the defaulted namespace, the rest)."""
    api = await _api()
    made = [
        Pod(ObjectMeta(generate_name="web-"), pod_spec(node_name="node-a")) for _ in range(CREATES)
    ]
    counts: Counter[str] = Counter()
    _count_inits(monkeypatch, counts, Pod, ObjectMeta, PodSpec, PodStatus)
    created = [await api.create(p) for p in made]
    assert {k: v / CREATES for k, v in counts.items()} == {
        "Pod": 1,
        "ObjectMeta": 1,
        "PodSpec": 1,
        "PodStatus": 2,
    }, counts
    # and it is the pod upstream stores: every rule's effect, in that one copy
    first = created[0]
    assert first.metadata.name.startswith("web-") and first.metadata.namespace == "default"
    assert first.metadata.uid and first.metadata.resource_version
    assert [c.type for c in first.status.conditions] == ["PodScheduled"]
    assert {t.key for t in first.spec.tolerations} == {TAINT_NOT_READY, TAINT_UNREACHABLE}
    assert first.spec.priority == 0 and first.spec.preemption_policy == "PreemptLowerPriority"


async def test_a_refused_priority_names_the_pod_by_its_generate_name() -> None:
    """plugin/pkg/admission/priority/admission.go: a pod naming a PriorityClass that does not
    exist is refused with 403 Forbidden (admission.NewForbidden names it by its generateName
    while it has no name); the create rules read the server's metadata, as before."""
    api = await _api()
    asking = Pod(ObjectMeta(generate_name="web-"), pod_spec(priority_class_name="missing"))
    with pytest.raises(errors.Forbidden, match='pods "web-" is forbidden: no PriorityClass'):
        await api.create(asking)
    await api.create(PriorityClass(ObjectMeta(name="high"), value=1000))
    created = await api.create(
        Pod(ObjectMeta(generate_name="web-"), pod_spec(priority_class_name="high"))
    )
    assert created.spec.priority == 1000


def _nested_code(code: CodeType) -> list[str]:
    return [c.co_name for c in code.co_consts if isinstance(c, CodeType)]


def _frames_in(path: str, seen: list[str]) -> Callable[[FrameType, str, Any], None]:
    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.endswith(path):
            seen.append(frame.f_code.co_qualname)

    return profile


@pytest.mark.parametrize("resource_version", ["", "0"])
async def test_a_get_makes_no_closure_and_serves_with_one_bound_method(
    resource_version: str,
) -> None:
    """A node GET (the kubelet's every 10 s per node, pkg/kubelet/kubelet_node_status.go, with
    ``resourceVersion=0`` from the watch cache; a quorum read from etcd without it): served by
    the verb, the request's coroutine and one bound method, no function made per request.
    Before: two closures (``from_cache`` and ``from_etcd``) made by every GET."""
    assert _nested_code(APIServer.get.__code__) == []
    api = await _api()
    created = await api.create(pod("p"))
    seen: list[str] = []
    sys.setprofile(_frames_in("control/apiserver.py", seen))
    try:
        got = await api.get("pods", "default", "p", resource_version=resource_version)
    finally:
        sys.setprofile(None)
    assert got is created
    served = "_get_cached" if resource_version == "0" else "_get_quorum"
    # _call twice: its first step and its resume after the latency sleep
    assert seen == ["APIServer.get", "APIServer._call", "APIServer._call", f"APIServer.{served}"]


async def test_a_read_of_what_the_cache_holds_compares_no_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch cache decoded each write when etcd delivered it (the cacher, staging/src/
    k8s.io/apiserver/pkg/storage/cacher/cacher.go; the stamp of etcd3/store.go's decode): a
    quorum GET, or a write's answer, of the object it holds is that object, with no
    resourceVersion formatted to compare. Before: ``str(revision)`` per read and per write."""
    api = await _api()
    await api.create(pod("p"))
    formatted: list[Any] = []

    def counting_str(value: Any = "") -> str:
        formatted.append(value)
        return str(value)

    monkeypatch.setattr(watchcache_module, "str", counting_str, raising=False)
    for _ in range(3):
        await api.get("pods", "default", "p")
    got = await api.get("pods", "default", "p")
    updated = await api.update(got)  # unchanged: answered from the cache
    labelled = Pod(ObjectMeta(**{**_meta_fields(got.metadata), "labels": {"a": "b"}}), got.spec)
    written = await api.update(labelled)
    assert formatted == []
    assert updated is got and written.metadata.labels == {"a": "b"}
    assert written.metadata.resource_version == str(int(got.metadata.resource_version) + 1)


def _meta_fields(meta: ObjectMeta) -> dict[str, Any]:
    return {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid}


def _indexed_informer(monkeypatch: pytest.MonkeyPatch, calls: Counter[str]) -> Informer[Any]:
    for name in ("namespace_index", "label_index"):
        original = getattr(informer_module, name)

        def counting(obj: Any, _o: Any = original, _n: str = name) -> Any:
            calls[_n] += 1
            return _o(obj)

        counting.__name__ = name
        monkeypatch.setattr(informer_module, name, counting)
    # the metadata indexers the informer recognises are the counting ones
    monkeypatch.setattr(
        informer_module,
        "_METADATA_INDEXERS",
        frozenset({informer_module.namespace_index, informer_module.label_index}),
        raising=False,  # (an informer without this fast path: the counts below fail instead)
    )
    informer: Informer[Any] = Informer(None, "pods", component="test", events=EventLog())  # type: ignore[arg-type]
    informer.add_indexers(
        {
            NAMESPACE_INDEX: informer_module.namespace_index,
            LABEL_INDEX: informer_module.label_index,
        }
    )
    return informer


def test_a_status_event_calls_no_index_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """client-go's indexer (tools/cache/thread_safe_store.go updateIndices) files an updated
    object under its index values again; the namespace and label index values of an object
    whose namespace and labels did not change are the ones it has (a status write: nearly every
    pod event), so the informer keeps them without calling the index functions. Before: both
    called per event (the label index builds a string per label). An event that changes the
    labels is filed anew, and the handlers hear every event as before
    (shared_informer.go OnUpdate)."""
    calls: Counter[str] = Counter()
    informer = _indexed_informer(monkeypatch, calls)
    heard: list[str] = []
    informer.add_handler(
        Handler(on_add=lambda o: heard.append("add"), on_update=lambda o, n: heard.append("upd"))
    )
    web = pod("p", labels={"app": "web"})
    informer._on_event(ObjectEvent(ADDED, web, 1))
    assert calls == {"namespace_index": 1, "label_index": 1}
    calls.clear()
    for revision in range(2, 12):
        status = PodStatus("Running", pod_ip=f"10.0.0.{revision}")
        informer._on_event(ObjectEvent(MODIFIED, Pod(web.metadata, web.spec, status), revision))
    copied_meta = ObjectMeta(name="p", namespace="default", labels={"app": "web"})
    informer._on_event(ObjectEvent(MODIFIED, Pod(copied_meta, web.spec), 12))
    assert calls == {}
    relabelled = pod("p", labels={"app": "api"})
    informer._on_event(ObjectEvent(MODIFIED, relabelled, 13))
    assert calls == {"namespace_index": 1, "label_index": 1}
    assert informer.by_index(LABEL_INDEX, "default/app=api") == [relabelled]
    assert informer.by_index(LABEL_INDEX, "default/app=web") == []
    assert heard == ["add"] + ["upd"] * 12


def test_a_lagging_cache_answers_with_the_revision_etcd_holds() -> None:
    """etcd3/store.go's decode stamps the key's mod revision on every object served: a cache
    that has not yet seen the revision etcd answers with (it holds the very object, put again
    since) hands it on restamped, never with the revision it cached it at."""
    cache = watchcache_module.WatchCache("pods", stamp.decode, 100)
    stored = pod("p")
    stored = Pod(ObjectMeta(name="p", namespace="default", resource_version="5"), stored.spec)
    cache.replace([("/registry/pods/default/p", stored)], 5)
    assert cache.decoded("/registry/pods/default/p", stored, 5) is stored
    answer = cache.decoded("/registry/pods/default/p", stored, 7)
    assert answer.metadata.resource_version == "7" and answer.spec is stored.spec


async def test_a_request_of_one_read_and_one_write_draws_its_latency_without_a_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each etcd round trip of a request takes its own jittered latency (the read's quorum
    round trip, the write's raft commit: mean x [0.5, 1.5), kubechaos/defaults.py's etcd
    latencies): nearly every request makes one read and one write or fewer, drawn without a
    range object per kind (before: two per request). Several round trips still draw once
    each, in order."""
    api = await _api()
    created = await api.create(pod("p"))
    made: list[Any] = []

    def counting_range(*args: Any) -> range:
        made.append(args)
        return range(*args)

    monkeypatch.setattr(etcd_module, "range", counting_range, raising=False)
    got = await api.get("pods", "default", "p")
    await api.update(Pod(got.metadata, got.spec, PodStatus("Pending")))
    assert made == []
    etcd = api.etcd
    state = etcd._rng.getstate()
    two_reads = etcd.latency(reads=2)
    etcd._rng.setstate(state)
    settings = etcd.settings
    draws = [etcd._rng.random() for _ in range(2)]
    assert two_reads == sum(settings.etcd_read_latency * (0.5 + x) for x in draws)
    assert created.metadata.name == "p"
