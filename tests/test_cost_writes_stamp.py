"""One copy per write: the resourceVersion is stamped in the copy a write makes anyway.

Upstream's etcd3 store never stores ``resourceVersion`` in the object: it clears it before
encoding and sets it from the key's ``mod_revision`` on each decode
(staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go ``decode``, ``APIObjectVersioner``),
so every object a client reads or watches carries the revision of its last write. The model
keeps that promise without the decode's copy: the write's own copy (the strategy's merge, the
server's metadata on create, the binding, the deletion mark) carries the revision its
transaction commits at (kubechaos/control/registry/stamp.py), and the watch cache hands on the
stored object. These tests count the copies, decodes and validations per write (deterministic,
never timed) and pin the semantics the stamp must keep: resourceVersion, generation and the
unchanged-update rule of the generic store
(staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from kubechaos.api import errors
from kubechaos.api import objects as objects_module
from kubechaos.api.objects import (
    Lease,
    LeaseSpec,
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
)
from kubechaos.api.objects.copying import replace
from kubechaos.api.selectors import selector_from_labels
from kubechaos.api.watch import ObjectEvent
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.etcd import Etcd
from kubechaos.control.registry import stamp, statuswrite
from kubechaos.control.registry.strategy import Strategy
from kubechaos.control.watchcache import Watch
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import jitter

from .factories import deployment, pod

WRITES = 10
COPIED = (Pod, PodSpec, PodStatus, Lease, ObjectMeta)


class _Work:
    """Counts constructions of the counted classes, the decodes that copy (``with_meta`` is
    the only way a decode copies), and validations, while :attr:`on`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False
        self._monkeypatch = monkeypatch
        for cls in COPIED:
            self._count(cls, "__init__", cls.__name__)
        self._count(statuswrite, "validate_status", "validate status")
        with_meta = stamp.with_meta

        def counting_with_meta(obj: Any, **changes: Any) -> Any:
            if self.on:
                self.counts["decode copy"] += 1
            return with_meta(obj, **changes)

        monkeypatch.setattr(stamp, "with_meta", counting_with_meta)

    def _count(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            if self.on:
                self.counts[label] += 1
            return original(*args, **kwargs)

        self._monkeypatch.setattr(owner, name, counting)

    def count_validations(self, api: APIServer) -> None:
        for resource in ("pods", "leases", "deployments"):
            strategy = api._strategies[resource]
            self._count(strategy, "validate", "validate")
            if type(strategy).validate_update is not Strategy.validate_update:
                # a kind's own update validation (the Lease's) is its validation of an update
                self._count(strategy, "validate_update", "validate")

    def per_write(self, writes: int = WRITES) -> dict[str, float]:
        self.on = False
        counts = {label: count / writes for label, count in sorted(self.counts.items())}
        self.counts.clear()
        return counts


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Work]:
    yield _Work(monkeypatch)


async def _server(work: _Work | None = None) -> tuple[Etcd, APIServer]:
    etcd, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    if work is not None:
        work.count_validations(api)
    return etcd, api


async def _bound_pods(api: APIServer, n: int = WRITES) -> list[Pod]:
    pods = []
    for i in range(n):
        created = await api.create(pod(f"p-{i}"))
        pods.append(await api.bind("default", created.metadata.name, "node-a"))
    return pods


# ---------------------------------------------------------------------------- copies per write


async def test_a_pod_status_update_is_one_pod_copy_no_decode_copy_no_validation(
    work: _Work,
) -> None:
    """The kubelet's status write: podStatusStrategy (pkg/registry/core/pod/strategy.go)
    PrepareForUpdate keeps the stored spec, so its ValidateUpdate is ValidatePodStatusUpdate,
    never the spec's validation; the model's own writers' statuses are whole, so nothing is
    validated again. One Pod and one ObjectMeta (the new resourceVersion) per write; the watch
    cache's decode copies nothing. Before: a second Pod and ObjectMeta for the decode's stamp."""
    _, api = await _server(work)
    pods = await _bound_pods(api)
    ready = PodStatus("Running", (PodCondition("Ready", "True", 5.0),), pod_ip="10.1.0.1")
    written = [Pod(p.metadata, p.spec, ready) for p in pods]
    work.on = True
    for p in written:
        await api.update_status(p)
    assert work.per_write() == {"ObjectMeta": 1, "Pod": 1, "PodStatus": 1}


async def test_a_lease_renewal_and_a_create_copy_once_for_the_stamp(work: _Work) -> None:
    """A Lease renewal (the strategy's merge, rest.BeforeUpdate) is one Lease and one
    ObjectMeta, validated once (ValidateLeaseUpdate); a pod create stamps the version in the
    server's metadata (rest.BeforeCreate), so no decode copy. Before: one more of each."""
    _, api = await _server(work)
    leases = []
    for i in range(WRITES):
        meta = ObjectMeta(name=f"node-{i}", namespace=NODE_LEASE_NAMESPACE)
        leases.append(await api.create(Lease(meta, LeaseSpec(renew_time=0.0))))
    renewed = [Lease(lease.metadata, LeaseSpec(renew_time=10.0)) for lease in leases]
    work.on = True
    for lease in renewed:
        await api.update(lease)
    assert work.per_write() == {"Lease": 1, "ObjectMeta": 1, "validate": 1}
    made = [pod(f"c-{i}") for i in range(WRITES)]
    work.on = True
    for p in made:
        await api.create(p)
    counts = work.per_write()
    assert counts["ObjectMeta"] == 1 and "decode copy" not in counts


async def test_a_binding_is_one_pod_copy(work: _Work) -> None:
    """The pods/binding subresource (pkg/registry/core/pod/storage/storage.go, BindingREST:
    ``spec.nodeName`` and the PodScheduled condition in one update): one Pod carrying the node,
    the condition and the new resourceVersion. Before: three (the node, the condition, the
    decode's stamp)."""
    _, api = await _server(work)
    for i in range(WRITES):
        await api.create(pod(f"p-{i}"))
    work.on = True
    for i in range(WRITES):
        await api.bind("default", f"p-{i}", "node-a")
    assert work.per_write() == {"ObjectMeta": 1, "Pod": 1, "PodSpec": 1, "PodStatus": 1}


async def test_a_label_patch_copies_the_object_once(work: _Work) -> None:
    """A merge patch of labels (the generic store's Update through the kind's strategy): one
    Pod and one ObjectMeta, the full validation (ValidatePodUpdate), no decode copy. Before:
    the patched object was copied to clear its resourceVersion, and stamped again after."""
    _, api = await _server(work)
    await _bound_pods(api)

    def relabel(p: Pod) -> Pod:
        return Pod(replace(p.metadata, labels={"patched": "yes"}), p.spec, p.status)

    work.on = True
    for i in range(WRITES):
        await api.patch("pods", "default", f"p-{i}", relabel)
    # the request's own object (relabel's) is one Pod and one ObjectMeta of those counted; the
    # PodSpec is PrepareForUpdate's check that only images and tolerations changed
    assert work.per_write() == {"ObjectMeta": 2, "Pod": 2, "PodSpec": 1, "validate": 1}


async def test_a_clients_status_write_validates_the_status_only(work: _Work) -> None:
    """A client's PUT of pods/status: podStatusStrategy's ValidateUpdate (the status and the
    metadata, ValidatePodStatusUpdate) and not the spec's: one status validation, no
    ``validate`` of the whole pod."""
    _, api = await _server(work)
    await _bound_pods(api)

    def failed(p: Pod) -> Pod:
        return Pod(p.metadata, p.spec, replace(p.status, phase="Failed"))

    work.on = True
    for i in range(WRITES):
        await api.patch("pods", "default", f"p-{i}", failed, status=True)
    counts = work.per_write()
    assert counts["validate status"] == 1 and "validate" not in counts
    assert "decode copy" not in counts


async def test_only_a_deletion_event_is_decoded_with_a_copy(work: _Work) -> None:
    """Each event the watch cache decodes carries its revision: a write's object is stamped
    already (no copy); a deleted object is stamped with the deletion's revision, which no
    write made (store.go Delete: the object as last stored, at the delete's revision)."""
    _, api = await _server(work)
    for i in range(WRITES):
        await api.create(pod(f"p-{i}"))
    work.on = True
    for i in range(WRITES):
        await api.delete("pods", "default", f"p-{i}")  # unbound: removed at once
    counts = work.per_write()
    # one in the watch cache's DELETED event, one in the answer (decoded from etcd's result)
    assert counts["decode copy"] == 2


# ---------------------------------------------------------------------------- semantics kept


async def test_every_object_served_carries_its_keys_mod_revision() -> None:
    """resourceVersion is the key's mod revision (etcd3 store ``decode``): in a write's answer,
    in the watch cache, in a quorum read, and in each watch event, and it grows with each
    write of the key."""
    etcd, api = await _server()
    cache = api.cache("pods")
    watch = cache.watch(None, None, None, cache.revision, "test")
    created = await api.create(pod("p"))
    bound = await api.bind("default", "p", "node-a")
    running = await api.update_status(replace(bound, status=PodStatus("Running")))
    relabelled = await api.update(
        replace(running, metadata=replace(running.metadata, labels={"x": "y"}))
    )
    patched = await api.patch(
        "pods",
        "default",
        "p",
        lambda p: replace(p, metadata=replace(p.metadata, labels={"a": "b"})),
    )
    deleting = await api.delete("pods", "default", "p", grace_period_seconds=30)
    answers = [created, bound, running, relabelled, patched, deleting]
    versions = [int(a.metadata.resource_version) for a in answers]
    assert versions == sorted(set(versions))
    kv = etcd.store.get("/registry/pods/default/p")
    assert kv is not None and str(kv.mod_revision) == deleting.metadata.resource_version
    assert await api.get("pods", "default", "p") is deleting
    assert api.cached("pods", "default", "p") is deleting
    events = await watch.next_batch()
    assert [e.object.metadata.resource_version for e in events] == [str(v) for v in versions]
    assert [e.resource_version for e in events] == versions


async def test_a_missed_prediction_is_restamped_not_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a write's predicted revision be wrong (another commit came between, a write
    hook), the decode restamps it: what is served still carries the key's mod revision."""
    etcd, api = await _server()
    created = await api.create(pod("p"))
    monkeypatch.setattr("kubechaos.control.apiserver.next_version", lambda etcd: "1")
    updated = await api.update_status(replace(created, status=PodStatus("Running")))
    kv = etcd.store.get("/registry/pods/default/p")
    assert kv is not None and kv.value.metadata.resource_version == "1"  # the bad stamp
    assert updated.metadata.resource_version == str(kv.mod_revision) != "1"
    assert api.cached("pods", "default", "p") is updated


async def test_an_update_that_changes_nothing_is_not_written() -> None:
    """GuaranteedUpdate (etcd3 store.go) skips a write whose new bytes equal the stored ones:
    the same resourceVersion, the stored object, no revision consumed, whatever version the
    client sent (none, or the current one); any real change is written."""
    etcd, api = await _server()
    created = await api.create(pod("p"))
    revision = etcd.store.revision
    unversioned = replace(created, metadata=replace(created.metadata, resource_version=""))
    assert await api.update(unversioned) is created
    assert await api.update_status(created) is created
    assert await api.patch("pods", "default", "p", lambda p: p) is created
    assert etcd.store.revision == revision
    relabelled = await api.update(
        replace(created, metadata=replace(created.metadata, labels={"x": "y"}))
    )
    assert etcd.store.revision == revision + 1
    assert relabelled.metadata.resource_version == str(revision + 1)


async def test_a_stale_resource_version_is_still_a_conflict() -> None:
    """Optimistic concurrency (store.go Update, GuaranteedUpdate's precondition): an update
    naming an older resourceVersion than the stored one is 409, even when it changes nothing."""
    _, api = await _server()
    created = await api.create(pod("p"))
    await api.update_status(replace(created, status=PodStatus("Running")))
    with pytest.raises(errors.Conflict):
        await api.update(created)


async def test_generation_moves_with_the_spec_only() -> None:
    """metadata.generation (rest.BeforeCreate sets 1; the Deployment strategy's
    PrepareForUpdate bumps it when the spec changes, pkg/registry/apps/deployment/strategy.go;
    a status write never does): stamping the version leaves it as upstream has it."""
    _, api = await _server()
    created = await api.create(deployment("web", replicas=2))
    assert created.metadata.generation == 1
    scaled = await api.update(replace(created, spec=replace(created.spec, replicas=3)))
    assert scaled.metadata.generation == 2
    labelled = await api.update(replace(scaled, metadata=replace(scaled.metadata, labels={})))
    assert labelled.metadata.generation == 2
    status = replace(labelled.status, observed_generation=2)
    written = await api.update_status(replace(labelled, status=status))
    assert written.metadata.generation == 2
    assert int(written.metadata.resource_version) > int(labelled.metadata.resource_version)


def test_unchanged_is_equality_but_for_the_resource_version() -> None:
    """The unchanged test agrees with ``==`` on everything but ``metadata.resourceVersion``."""
    p = pod("p", labels={"a": "b"})
    stamped = objects_module.with_meta(p, resource_version="7")
    assert stamp.unchanged(stamped, p) and stamp.unchanged(p, p)
    assert not stamp.unchanged(objects_module.with_meta(stamped, labels={}), p)
    assert not stamp.unchanged(replace(stamped, status=PodStatus("Running")), p)
    assert not stamp.unchanged(stamped, attrs.evolve(p, spec=replace(p.spec, node_name="n")))
    assert not stamp.unchanged(Lease(p.metadata), p)


# ---------------------------------------------------------------------------- per-event bookkeeping


async def test_one_event_object_per_commit_and_no_visibility_test_for_watchers_of_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cacher dispatches one watchCacheEvent per commit to every interested watcher
    (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go dispatchEvent): ten watchers
    of every pod share one ObjectEvent per write, and none of them runs a visibility test (a
    watcher without label or field selector sees each event as the cache recorded it). A
    watcher with a label selector still sees only what it selects, with the kinds a selector
    implies (an object leaving the selection is DELETED for it: cacher.go's watcher filter)."""
    _, api = await _server()
    cache = api.cache("pods")
    built: list[str] = []
    visible_tests: list[str] = []
    original_init = ObjectEvent.__init__
    original_visible = Watch._visible

    def counting_init(self: Any, *args: Any) -> None:
        built.append(args[0])
        original_init(self, *args)

    def counting_visible(self: Any, obj: Any) -> bool:
        visible_tests.append(self.name)
        return original_visible(self, obj)

    monkeypatch.setattr(ObjectEvent, "__init__", counting_init)
    monkeypatch.setattr(Watch, "_visible", counting_visible)
    everything = [cache.watch(None, None, None, cache.revision, f"all-{i}") for i in range(10)]
    selected = cache.watch(None, selector_from_labels({"app": "web"}), None, cache.revision, "web")
    created = await api.create(pod("p", labels={"app": "web"}))
    relabelled = await api.update(
        replace(created, metadata=replace(created.metadata, labels={"app": "db"}))
    )
    await api.delete("pods", "default", "p")
    assert built == ["ADDED", "MODIFIED", "DELETED", "DELETED"]  # the last: the selector's
    assert set(visible_tests) == {"web"}
    kinds = [[e.type for e in await w.next_batch()] for w in everything]
    assert kinds == [["ADDED", "MODIFIED", "DELETED"]] * 10
    web = await selected.next_batch()
    assert [(e.type, e.object.metadata.labels["app"]) for e in web] == [
        ("ADDED", "web"),
        ("DELETED", "db"),
    ]
    assert relabelled.metadata.labels == {"app": "db"}


async def test_an_informer_calls_only_the_handlers_of_the_kind_of_change() -> None:
    """client-go's processorListener hands each notification to the handler functions that
    are set (ResourceEventHandlerFuncs: a nil OnUpdate does nothing): an informer whose handlers
    wants adds, one deletes, one updates: each change reaches only its own."""
    _, api = await _server()
    calls: list[str] = []
    informer: Any = Informer(api, "pods", component="test", events=EventLog())  # type: ignore[arg-type]
    informer.add_handler(Handler(on_add=lambda obj: calls.append("add")))
    informer.add_handler(Handler(on_delete=lambda obj: calls.append("delete")))
    informer.add_handler(
        Handler(on_update=lambda old, new: calls.append(f"update {new.status.phase}"))
    )
    p = await api.create(pod("p"))
    informer._apply("ADDED", p)
    running = replace(p, status=PodStatus("Running"))
    informer._apply("MODIFIED", running)
    informer._apply("DELETED", running)
    assert calls == ["add", "update Running", "delete"]
    assert informer.get("default/p") is None


@pytest.mark.parametrize(
    ("read", "write"), [(0.001, 0.004), (0.0, 0.004), (0.003, 0.0), (2.5, 7.0)]
)
def test_etcd_round_trips_draw_exactly_as_jitter_does(read: float, write: float) -> None:
    """etcd's per-request latency computes each round trip's jitter in place: the same floats
    from the same draws as :func:`kubechaos.sim.rand.jitter` (and no draw for a mean of 0), so
    every seeded run keeps its latencies."""
    settings = attrs.evolve(Settings(), etcd_read_latency=read, etcd_write_latency=write)
    etcd = Etcd(settings, random.Random(7))
    reference = random.Random(7)
    for reads, writes in [(1, 1), (0, 1), (1, 0), (2, 3), (0, 0)] * 50:
        expected = 0.0
        for _ in range(reads):
            expected += jitter(reference, read)
        for _ in range(writes):
            expected += jitter(reference, write)
        assert etcd.latency(reads, writes) == expected
