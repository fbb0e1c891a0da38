"""The cost of the generic request path, counted (never timed): frames per request, etcd lookups
per commit, copies per generation bump, watch events built per commit (issue 16).

Every component's request goes through the API server's generic path (upstream's generic store,
staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go: Create, and Update through
GuaranteedUpdate in staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go), each write commits
one etcd transaction, and the commit reaches the watchers through the watch cache
(staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go). Each test below names what came
back if it fails.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import objects as objects_module
from kubechaos.api.objects import (
    Deployment,
    Job,
    JobSpec,
    Lease,
    LeaseSpec,
    ObjectMeta,
)
from kubechaos.client.workqueue import WorkQueue
from kubechaos.control import apiserver as apiserver_module
from kubechaos.control import watchcache as watchcache_module
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.etcd import Compare, EtcdStore, Put, WatchEvent
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.sim import park

from . import factories
from .factories import deployment


async def _api() -> APIServer:
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    api = ctx.api
    assert isinstance(api, APIServer)
    return api


async def _lease(api: APIServer, name: str = "node-1") -> Lease:
    meta = ObjectMeta(name=name, namespace=NODE_LEASE_NAMESPACE)
    lease: Lease = await api.create(Lease(meta, LeaseSpec(renew_time=0.0)))
    return lease


def _renewed(lease: Lease, at: float) -> Lease:
    return attrs.evolve(lease, spec=attrs.evolve(lease.spec, renew_time=at))


def _calls_in(module_file: str, calls: Counter[str]) -> Callable[[FrameType, str, Any], None]:
    """A profile function counting the Python calls of functions defined in ``module_file``."""

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.endswith(module_file):
            calls[frame.f_code.co_name] += 1

    return profile


# ---------------------------------------------------------------------------------- frames


async def test_a_request_without_faults_takes_no_admission_finish_or_retry_frame() -> None:
    """A Lease renewal (the kubelet's nodelease, every 10 s per node) through the API server's
    own code: the verb, the step it runs (_update_in_etcd), the CAS write (_commit_update) and
    _call, entered and resumed once after its latency sleep. No request fault is armed, so the
    request draws its latency and is counted in apiserver_request_total inline: no _admit,
    _finish, or retry check (client-go's retry, rest/with_retry.go, only concerns a refused
    request). Before: 10 calls (update and _update each a coroutine entered twice, _admit,
    _finish)."""
    api = await _api()
    lease = await _lease(api)
    calls: Counter[str] = Counter()
    for at in (1.0, 2.0, 3.0):
        sys.setprofile(_calls_in("control/apiserver.py", calls))
        try:
            lease = await api.update(_renewed(lease, at))
        finally:
            sys.setprofile(None)
    assert calls == {
        "update": 3,
        "_update": 3,
        "_call": 6,
        "_update_in_etcd": 3,
        "_commit_update": 3,
    }, calls
    retries: Counter[str] = Counter()
    sys.setprofile(_calls_in("client/retry.py", retries))
    try:
        await api.update(_renewed(lease, 4.0))
    finally:
        sys.setprofile(None)
    assert not retries, retries


async def test_every_verb_awaits_its_latency_one_coroutine_below_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The verbs return the request's coroutine (_call) rather than awaiting it in one of their
    own, so each resume of a sleeping request (Trio sends into the whole coroutine chain) passes
    one frame of the API server. Before: three for update and update_status (update, _update,
    _call), two for the others."""
    api = await _api()
    stacks: dict[str, list[str]] = {}
    verb = [""]
    real = apiserver_module.timers

    class _Timers:
        @staticmethod
        async def sleep(seconds: float) -> None:
            frame = sys._getframe(1)
            names: list[str] = []
            while frame is not None and frame.f_code is not run.__code__:
                names.append(frame.f_code.co_name)
                frame = frame.f_back  # type: ignore[assignment]
            stacks[verb[0]] = names
            await real.sleep(seconds)

    monkeypatch.setattr(apiserver_module, "timers", _Timers)

    async def run() -> None:
        verb[0] = "create"
        meta = ObjectMeta(name="node-1", namespace=NODE_LEASE_NAMESPACE)
        lease = await api.create(Lease(meta, LeaseSpec(renew_time=0.0)))
        verb[0] = "get"
        await api.get("leases", NODE_LEASE_NAMESPACE, "node-1")
        verb[0] = "list"
        await api.list("leases")
        verb[0] = "update"
        lease = await api.update(_renewed(lease, 1.0))
        verb[0] = "patch"
        await api.patch("leases", NODE_LEASE_NAMESPACE, "node-1", lambda obj: obj)
        verb[0] = "delete"
        await api.delete("leases", NODE_LEASE_NAMESPACE, "node-1")

    await run()
    assert stacks == {v: ["_call"] for v in ("create", "get", "list", "update", "patch", "delete")}


# ---------------------------------------------------------------------------------- etcd


class _CountingDirs(dict):  # type: ignore[type-arg]
    """The store's key directories, counting each lookup of one."""

    lookups = 0

    def get(self, *args: Any) -> Any:
        _CountingDirs.lookups += 1
        return super().get(*args)

    def __getitem__(self, key: Any) -> Any:
        _CountingDirs.lookups += 1
        return super().__getitem__(key)

    def setdefault(self, *args: Any) -> Any:
        _CountingDirs.lookups += 1
        return super().setdefault(*args)


def _counted(store: EtcdStore) -> None:
    store._dirs = _CountingDirs(store._dirs)
    _CountingDirs.lookups = 0


async def test_an_update_looks_its_key_up_once_to_read_and_once_to_commit() -> None:
    """GuaranteedUpdate reads the key, then commits with a compare of its mod revision
    (etcd3/store.go: ``clientv3.Compare(clientv3.ModRevision(key), "=", origState.rev)``).
    The read is one lookup of the key's directory, the commit another: the compare's lookup
    serves the write. Before: four (the read; the compare, the write's previous value, and
    the write's setdefault)."""
    api = await _api()
    lease = await _lease(api)
    _counted(api.etcd.store)
    for at in (1.0, 2.0, 3.0):
        lease = await api.update(_renewed(lease, at))
    assert _CountingDirs.lookups == 2 * 3


def test_a_transaction_looks_each_key_up_once() -> None:
    """The general transaction (a compare of a key, then a put of it) looks the key up once, as
    etcd's txn reads each key's index once per transaction. Before: three lookups."""
    store = EtcdStore()
    store.put("/registry/leases/ns/a", "v1")
    kv = store.get("/registry/leases/ns/a")
    assert kv is not None
    _counted(store)
    result = store.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Put(kv.key, "v2")], ())
    assert result.succeeded and _CountingDirs.lookups == 1


def _same_commit(
    how: Callable[[EtcdStore], Any], setup: Callable[[EtcdStore], None]
) -> tuple[Any, ...]:
    store = EtcdStore()
    setup(store)
    heard: list[WatchEvent] = []
    store.watch("/registry/", store.revision + 1, heard.extend)
    result = how(store)
    state = {kv.key: kv for kv in store.range("/")}
    leases = {lid: dict(lease.keys) for lid, lease in store._leases.items()}
    return result, heard, list(store._history), state, leases, store.puts_total


@pytest.mark.parametrize(
    "mod_revision",
    [0, 2, 3, 5],  # 0: absent (create = 0); 3: the key's own; 2: stale; 5: not yet reached
)
@pytest.mark.parametrize("present", [False, True, "leased"])
def test_the_compare_and_swap_commits_exactly_what_the_transaction_would(
    mod_revision: int, present: bool | str
) -> None:
    """EtcdStore.put_if_mod (nearly every write's commit: Create's ``If(notFound(key))``, where
    notFound compares ModRevision with 0, and GuaranteedUpdate's compare of the mod revision,
    etcd3/store.go) is the transaction ``txn([Compare(key, "mod"|"create", "=", rev)],
    [Put(key, value)])`` without its objects: same result, state, history, watch events, and
    a key leaving its lease is detached from it."""
    key = "/registry/leases/ns/k"

    def setup(store: EtcdStore) -> None:
        store.put("/registry/leases/ns/other", "x")
        if present == "leased":
            lease = store.lease_grant(10.0, 0.0)
            store.put(key, "old", lease)
        elif present:
            store.put(key, "old")

    def by_txn(store: EtcdStore) -> Any:
        compare = (
            Compare(key, "mod", "=", mod_revision)
            if mod_revision
            else Compare(key, "create", "=", 0)
        )
        return store.txn([compare], [Put(key, "new")], ())

    def by_cas(store: EtcdStore) -> Any:
        return store.put_if_mod(key, mod_revision, "new")

    expected, got = _same_commit(by_txn, setup), _same_commit(by_cas, setup)
    assert got == expected


# ---------------------------------------------------------------------------------- copies


def _count_inits(monkeypatch: pytest.MonkeyPatch, classes: tuple[type, ...]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for cls in classes:
        original = cls.__init__

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            counts[type(self).__name__] += 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return counts


async def test_a_generation_bump_is_stamped_in_the_updates_one_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An update of a Deployment's spec bumps metadata.generation (PrepareForUpdate in
    pkg/registry/apps/deployment/strategy.go: a spec that is not semantically equal to the
    stored one makes ``Generation = old.Generation + 1``) in the merge's one copy of the object
    and of its metadata; a change of labels only bumps nothing. Before: two of each for a bump
    (the merge, then a copy to bump the generation)."""
    api = await _api()
    created: Deployment = await api.create(deployment("web", replicas=3))
    scaled = attrs.evolve(created, spec=attrs.evolve(created.spec, replicas=5))
    counts = _count_inits(monkeypatch, (Deployment, objects_module.ObjectMeta))
    updated = await api.update(scaled)
    assert counts == {"Deployment": 1, "ObjectMeta": 1}, counts
    assert updated.metadata.generation == created.metadata.generation + 1
    relabelled = attrs.evolve(
        updated, metadata=attrs.evolve(updated.metadata, labels={"team": "a"})
    )
    counts.clear()
    again = await api.update(relabelled)
    assert counts == {"Deployment": 1, "ObjectMeta": 1}, counts
    assert again.metadata.generation == updated.metadata.generation  # metadata only: no bump


async def test_a_spec_change_the_kinds_rules_undo_bumps_no_generation() -> None:
    """The generation follows the spec the kind's rules leave, not the one the client sent: a
    Job manifest applied again without the labels and selector the server generated (the job
    strategy keeps them, pkg/registry/batch/job/strategy.go PrepareForUpdate and
    generateSelector) changes nothing, so its generation stays (store.go's update compares the
    object it is about to write)."""
    api = await _api()
    template = factories.template({"app": "batch"}, restart_policy="Never")
    manifest = Job(ObjectMeta(name="batch", namespace="default"), JobSpec(template))
    created: Job = await api.create(manifest)
    assert created.spec != manifest.spec  # the server generated the selector and labels
    again = attrs.evolve(manifest, metadata=created.metadata)
    updated: Job = await api.update(again)
    assert updated.spec == created.spec
    assert updated.metadata.generation == created.metadata.generation
    bigger = attrs.evolve(
        manifest, metadata=updated.metadata, spec=attrs.evolve(manifest.spec, parallelism=3)
    )
    bumped: Job = await api.update(bigger)
    assert bumped.metadata.generation == created.metadata.generation + 1


# ---------------------------------------------------------------------------------- watch events


async def test_a_commit_nobody_watches_builds_no_watch_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch cache keeps every commit in its window (cacher.go's watchCache), and makes the
    event watchers are handed (watchCacheEvent's ObjectEvent) only when a watch is handed it: a
    commit of a kind no watch sees builds none; the first watch of it builds one, shared by
    every watcher; a watch opened later from an older revision replays it from the window.
    Before: one ObjectEvent per commit, watched or not."""
    api = await _api()
    made: list[str] = []
    real = watchcache_module.ObjectEvent

    def counting(*args: Any) -> Any:
        made.append(args[0])
        return real(*args)

    monkeypatch.setattr(watchcache_module, "ObjectEvent", counting)
    lease = await _lease(api)
    for at in (1.0, 2.0):
        lease = await api.update(_renewed(lease, at))
    assert made == []
    watches = [
        await api.watch("leases", resource_version=api.cache("leases").revision) for _ in "ab"
    ]
    lease = await api.update(_renewed(lease, 3.0))
    assert made == ["MODIFIED"]
    first, second = (w._pending for w in watches)
    assert len(first) == len(second) == 1 and first[0] is second[0]  # one event, shared
    replay = await api.watch("leases", resource_version=int(lease.metadata.resource_version) - 3)
    assert [e.type for e in replay._pending] == ["MODIFIED", "MODIFIED", "MODIFIED"]
    assert made == ["MODIFIED", "MODIFIED", "MODIFIED"]  # the two unwatched ones, on replay


# ---------------------------------------------------------------------------------- client side


async def test_a_work_queue_add_wakes_a_worker_only_when_one_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Handlers enqueue on nearly every event (a work queue's add, client-go
    util/workqueue/queue.go ``Add``: ``q.cond.Signal()``, a no-op without a waiter); the model's
    queue unparks its waiting workers (kubechaos.sim.park.Waiters) only when a worker is
    parked. Before: once per add and per done of a dirty key, waiter or not."""
    unparks = [0]
    real = park.Waiters.unpark

    def counting(self: Any) -> Any:
        unparks[0] += 1
        return real(self)

    monkeypatch.setattr(park.Waiters, "unpark", counting)
    queue = WorkQueue("q", Settings())
    for key in ("a", "b", "c"):
        queue.add(key)
    assert unparks[0] == 0
    assert await queue.get() == "a"
    queue.add("a")  # dirty while processed
    queue.done("a")  # queued again: still nobody waits
    assert unparks[0] == 0
    got: list[str] = []

    async def worker() -> None:
        got.append(await queue.get())

    async with trio.open_nursery() as nursery:
        for key in ("b", "c", "a"):
            assert await queue.get() == key
        nursery.start_soon(worker)
        await trio.sleep(1)  # the worker parks
        queue.add("d")
    assert got == ["d"] and unparks[0] == 1
