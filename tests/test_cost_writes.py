"""The cost of one write through the API server, counted (never timed): object copies, stamps,
validations and etcd transactions per write of each kind a big cluster writes all the time.

Upstream's generic store (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go,
Update → GuaranteedUpdate in staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go) decodes
the stored object once, applies the strategy (rest.BeforeUpdate: PrepareForUpdate, then
ValidateUpdate), and writes once with a compare-and-swap on the mod revision; the cacher decodes
each watch event once. The model keeps each of those steps and copies the object only where a
step changes it: the strategy's merge of the request over the stored object (one copy of the
object and of its metadata), which carries the ``resourceVersion`` the write commits at, so the
watch cache's decode copies nothing (control/registry/stamp.py; tests/test_cost_writes_stamp.py).
The counts below are what one write costs; each test names what came back if it fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from kubechaos.api import objects as objects_module
from kubechaos.api.objects import (
    EndpointSlice,
    Lease,
    LeaseSpec,
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
)
from kubechaos.api.objects.copying import replace
from kubechaos.api.objects.endpointslice import EndpointConditions, SliceEndpoint
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.etcd import EtcdStore, Put
from kubechaos.control.registry.strategy import Strategy
from kubechaos.control.requeststats import DURATION_BUCKETS, RequestStats
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings

from .factories import pod

WRITES = 20
COUNTED = (Pod, PodSpec, PodStatus, Lease, ObjectMeta, EndpointSlice)


class _Work:
    """Counts constructions of the counted classes, ``attrs.evolve`` calls, validations and
    etcd transactions, from :meth:`start` on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        self._on = False
        for cls in COUNTED:
            self._count_calls(monkeypatch, cls, "__init__", cls.__name__)
        self._count_calls(monkeypatch, EtcdStore, "txn", "etcd txn")
        # the store's compare-and-swap of one key (the same transaction, see EtcdStore.put_if_mod)
        self._count_calls(monkeypatch, EtcdStore, "put_if_mod", "etcd txn")
        evolve = attrs.evolve

        def counting_evolve(*args: Any, **kwargs: Any) -> Any:
            if self._on:
                self.counts["attrs.evolve"] += 1
            return evolve(*args, **kwargs)

        monkeypatch.setattr(attrs, "evolve", counting_evolve)

    def _count_calls(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, label: str):
        original = getattr(owner, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            if self._on:
                self.counts[label] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)

    def count_validations(self, monkeypatch: pytest.MonkeyPatch, api: APIServer) -> None:
        for resource in ("pods", "leases", "endpointslices"):
            strategy = api._strategies[resource]
            self._count_calls(monkeypatch, strategy, "validate", "validate")
            if type(strategy).validate_update is not Strategy.validate_update:
                # a kind's own update validation (it does not call ``validate``)
                self._count_calls(monkeypatch, strategy, "validate_update", "validate")

    def start(self) -> None:
        self.counts.clear()
        self._on = True

    def per_write(self) -> dict[str, float]:
        self._on = False
        return {label: count / WRITES for label, count in sorted(self.counts.items())}


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Work]:
    yield _Work(monkeypatch)


async def _server(work: _Work, monkeypatch: pytest.MonkeyPatch) -> APIServer:
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    work.count_validations(monkeypatch, api)
    return api


async def test_a_lease_renewal_copies_the_lease_once_and_never_through_attrs_evolve(
    work: _Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node Lease renewal (``update`` of ``spec.renewTime``, the kubelet's every 10 s,
    pkg/kubelet/nodelease): the strategy's merge (rest.BeforeUpdate resets the server's
    metadata: one Lease, one ObjectMeta, with the new resourceVersion in it); one validation
    (ValidateLeaseUpdate), one etcd transaction. Before: a second copy of each for the watch
    cache's stamp, and earlier all four through ``attrs.evolve``, which re-reads the class's
    fields on every call."""
    api = await _server(work, monkeypatch)
    leases = []
    for i in range(WRITES):
        meta = ObjectMeta(name=f"node-{i}", namespace=NODE_LEASE_NAMESPACE)
        leases.append(await api.create(Lease(meta, LeaseSpec(renew_time=0.0))))
    renewed = [Lease(lease.metadata, LeaseSpec(renew_time=10.0)) for lease in leases]
    work.start()
    for lease in renewed:
        await api.update(lease)
    assert work.per_write() == {
        "Lease": 1,
        "ObjectMeta": 1,
        "etcd txn": 1,
        "validate": 1,
    }


async def test_a_pod_status_update_copies_the_pod_once_and_validates_nothing_twice(
    work: _Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet's pod status write (``update_status``; pkg/registry/core/pod/strategy.go's
    podStatusStrategy keeps the stored spec and metadata): one Pod copy carrying the new status
    (the status merge with a client's conditions is part of it) and its ObjectMeta with the
    new resourceVersion; no spec validation, one etcd transaction. Before: a second Pod copy for
    the stamp, and earlier the base strategy's copy, then the merged-status copy."""
    api = await _server(work, monkeypatch)
    pods = []
    for i in range(WRITES):
        created = await api.create(pod(f"p-{i}"))
        pods.append(await api.bind("default", created.metadata.name, "node-a"))
    ready = PodStatus("Running", (PodCondition("Ready", "True", 5.0),), pod_ip="10.1.0.1")
    written = [Pod(p.metadata, p.spec, ready) for p in pods]
    work.start()
    for p in written:
        await api.update_status(p)
    # the one PodStatus: the written status with the PodScheduled condition it left out kept
    # (statuswrite.merge_foreign_pod_conditions), inside the one Pod copy
    assert work.per_write() == {"ObjectMeta": 1, "Pod": 1, "PodStatus": 1, "etcd txn": 1}


async def test_a_pod_create_copies_the_pod_once(
    work: _Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod create (rest.BeforeCreate, staging/src/k8s.io/apiserver/pkg/registry/rest/create.go:
    the server's metadata; PrepareForCreate resets the status; the DefaultTolerationSeconds and
    Priority admission plugins; ValidatePodCreate; the write): one Pod copy, carrying the
    server's metadata with the resourceVersion the write commits at, the reset status with
    PodScheduled for a pod created bound, and both admission plugins' spec changes in one
    PodSpec copy (the pod strategy's create_changes). Before: three (metadata, then
    PrepareForCreate's and admission's own copies), a fourth for the watch cache's stamp;
    earlier six Pods and two PodSpecs."""
    api = await _server(work, monkeypatch)
    made = [pod(f"p-{i}", node_name="node-a") for i in range(WRITES)]
    work.start()
    for p in made:
        await api.create(p)
    counts = work.per_write()
    assert counts.pop("PodStatus") == 2  # the client-set status reset, then PodScheduled added
    assert counts == {"ObjectMeta": 1, "Pod": 1, "PodSpec": 1, "etcd txn": 1, "validate": 1}


async def test_an_endpointslice_update_copies_the_slice_once(
    work: _Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The EndpointSlice controller's update of a 100-endpoint slice, one endpoint's readiness
    flipped (pkg/registry/discovery/endpointslice/strategy.go; ValidateEndpointSliceUpdate): the
    merge, stamped; one validation, one etcd transaction."""
    api = await _server(work, monkeypatch)

    def endpoints(unready: int) -> tuple[SliceEndpoint, ...]:
        return tuple(
            SliceEndpoint((f"10.0.0.{i}",), EndpointConditions(ready=i != unready))
            for i in range(100)
        )

    meta = ObjectMeta(name="web-abcde", namespace="default", labels={"app": "web"})
    created = await api.create(EndpointSlice(meta, "IPv4", endpoints(-1)))
    unconditional = replace(created.metadata, resource_version="")  # no precondition
    flips = [EndpointSlice(unconditional, "IPv4", endpoints(i)) for i in range(WRITES)]
    work.start()
    for flipped in flips:
        await api.update(flipped)
    assert work.per_write() == {"EndpointSlice": 1, "ObjectMeta": 1, "etcd txn": 1, "validate": 1}


async def test_an_unchanged_update_writes_nothing_and_copies_only_in_the_merge(
    work: _Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update that changes nothing is answered with the stored object, unwritten (the
    generic store's GuaranteedUpdate skips a write whose bytes equal the stored ones): no etcd
    transaction, no validation, no stamp."""
    api = await _server(work, monkeypatch)
    leases = []
    for i in range(WRITES):
        meta = ObjectMeta(name=f"node-{i}", namespace=NODE_LEASE_NAMESPACE)
        leases.append(await api.create(Lease(meta, LeaseSpec(renew_time=0.0))))
    work.start()
    for lease in leases:
        assert await api.update(lease) is lease
    assert work.per_write() == {"Lease": 1, "ObjectMeta": 1}


# ---------------------------------------------------------------------------- what must agree


def _samples() -> list[tuple[Any, dict[str, Any]]]:
    p = pod("p", labels={"a": "b"}, node_name="n")
    return [
        (p, {"status": PodStatus("Running")}),
        (p.metadata, {"resource_version": "7", "labels": {"x": "y"}}),
        (p.spec, {"node_name": "other", "tolerations": ()}),
        (Lease(ObjectMeta(name="l"), LeaseSpec(renew_time=1.0)), {"spec": LeaseSpec()}),
        (LeaseSpec(holder_identity="h"), {"renew_time": 3.0}),
        (PodCondition("Ready", "True"), {"status": "False"}),
    ]


@pytest.mark.parametrize(("obj", "changes"), _samples())
def test_replace_is_attrs_evolve(obj: Any, changes: dict[str, Any]) -> None:
    """The cheaper copy gives the very object ``attrs.evolve`` gives: same class, every field
    equal (its ``__init__`` runs the same), the original untouched; no change, an equal copy."""
    expected = attrs.evolve(obj, **changes)
    got = replace(obj, **changes)
    assert type(got) is type(expected) and got == expected and got is not obj
    assert attrs.astuple(got, recurse=False) == attrs.astuple(expected, recurse=False)
    assert replace(obj) == obj


def test_replace_of_an_unknown_field_fails_as_attrs_evolve_does() -> None:
    with pytest.raises(TypeError):
        attrs.evolve(LeaseSpec(), nope=1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        replace(LeaseSpec(), nope=1)


def test_with_meta_changes_only_the_named_metadata() -> None:
    p = pod("p", labels={"a": "b"})
    changed = objects_module.with_meta(p, resource_version="9", finalizers=("f",))
    assert changed.metadata == attrs.evolve(p.metadata, resource_version="9", finalizers=("f",))
    assert changed.spec is p.spec and changed.status is p.status


def test_a_one_event_commit_notifies_watchers_in_registration_order() -> None:
    """etcd delivers each commit to every watcher whose key range holds the key, a wider
    prefix's watcher among them (server/storage/mvcc/watchable_store.go notify: the synced
    watchers of the key). etcd promises no order across watchers; the model's is registration
    order, so runs are reproducible, and the one-event fast path must keep it."""
    store = EtcdStore()
    seen: list[tuple[str, int]] = []

    def watcher(name: str) -> Any:
        return lambda events: seen.extend((name, e.revision) for e in events)

    store.watch("/registry/pods/", 1, watcher("pods-1"))
    store.watch("/registry/", 1, watcher("everything"))
    store.watch("/registry/pods/ns-b/", 1, watcher("ns-b"))
    store.watch("/registry/pods/", 1, watcher("pods-2"))
    store.watch("/registry/leases/", 1, watcher("leases"))
    store.watch("/", 1, watcher("root"))
    store.txn((), [Put("/registry/pods/ns-a/x", 1)], ())
    assert [name for name, _ in seen] == ["pods-1", "everything", "pods-2", "root"]
    seen.clear()
    store.txn((), [Put("/registry/pods/ns-b/y", 1)], ())
    assert [name for name, _ in seen] == ["pods-1", "everything", "ns-b", "pods-2", "root"]
    seen.clear()
    store.txn((), [Put("/other", 1)], ())
    assert seen == [("root", store.revision)]


def test_request_durations_fall_in_the_first_bucket_whose_bound_holds_them() -> None:
    """``apiserver_request_duration_seconds`` is a Prometheus histogram: an observation counts
    in the first bucket whose upper bound ``le`` is >= it (a value equal to a bound is in that
    bucket), and in +Inf beyond the last (prometheus/client_golang histogram.go findBucket)."""
    stats = RequestStats()
    for seconds in (0.0, 0.005, 0.0051, 1.0, 60.0, 60.5):
        stats.observe("get", "pods", 200, seconds)
    buckets = stats.duration_buckets[("get", "pods")]
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    for index in (0, 0, 1, DURATION_BUCKETS.index(1.0), len(DURATION_BUCKETS) - 1, -1):
        expected[index] += 1
    assert buckets == expected
    assert stats.total[("get", "pods", 200)] == 6
