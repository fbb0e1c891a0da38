from __future__ import annotations

import pytest

from kubechaos.control.etcd import Compacted, Compare, Delete, EtcdStore, Put


def test_revisions_and_versions() -> None:
    store = EtcdStore()
    a1 = store.put("/a", 1)
    a2 = store.put("/a", 2)
    b1 = store.put("/b", 3)
    assert (a1.create_revision, a1.mod_revision, a1.version) == (2, 2, 1)
    assert (a2.create_revision, a2.mod_revision, a2.version) == (2, 3, 2)
    assert b1.mod_revision == 4 and store.revision == 4
    assert store.delete("/a") is not None
    assert store.get("/a") is None and store.revision == 5
    assert store.delete("/missing") is None and store.revision == 5  # no-op writes no revision


def test_range_by_prefix_in_key_order() -> None:
    store = EtcdStore()
    for key in (
        "/registry/pods/ns2/b",
        "/registry/pods/ns1/z",
        "/registry/pods/ns1/a",
        "/registry/nodes/n",
    ):
        store.put(key, key)
    assert [kv.key for kv in store.range("/registry/pods/")] == [
        "/registry/pods/ns1/a",
        "/registry/pods/ns1/z",
        "/registry/pods/ns2/b",
    ]
    assert [kv.key for kv in store.range("/registry/pods/ns1/")] == [
        "/registry/pods/ns1/a",
        "/registry/pods/ns1/z",
    ]
    assert [kv.key for kv in store.range("/registry/pods/ns1/a")] == ["/registry/pods/ns1/a"]


def test_txn_compare_and_swap_on_mod_revision() -> None:
    store = EtcdStore()
    kv = store.put("/k", "v1")
    ok = store.txn([Compare("/k", "mod", "=", kv.mod_revision)], [Put("/k", "v2")], [])
    assert ok.succeeded and store.get("/k").value == "v2"  # type: ignore[union-attr]
    stale = store.txn([Compare("/k", "mod", "=", kv.mod_revision)], [Put("/k", "v3")], [])
    assert not stale.succeeded and store.get("/k").value == "v2"  # type: ignore[union-attr]
    create_only = store.txn([Compare("/new", "create", "=", 0)], [Put("/new", 1), Delete("/k")], [])
    assert create_only.succeeded and create_only.revision == store.revision
    assert store.get("/k") is None
    # both writes of one transaction share one revision
    assert store.get("/new").mod_revision == create_only.revision  # type: ignore[union-attr]


def test_watch_replays_history_then_follows_live_writes_in_order() -> None:
    store = EtcdStore()
    store.put("/p/a", 1)
    start = store.revision
    store.put("/p/b", 2)
    store.put("/q/x", 0)
    seen: list[tuple[str, str, int]] = []
    store.watch(
        "/p/", start + 1, lambda evs: seen.extend((e.type, e.kv.key, e.revision) for e in evs)
    )
    assert seen == [("PUT", "/p/b", start + 1)]
    store.delete("/p/a")
    store.put("/q/y", 0)
    assert seen[-1] == ("DELETE", "/p/a", store.revision - 1)
    assert [r for _, _, r in seen] == sorted(r for _, _, r in seen)


def test_watch_from_compacted_revision_fails() -> None:
    store = EtcdStore()
    for i in range(5):
        store.put("/k", i)
    store.compact(4)
    with pytest.raises(Compacted):
        store.watch("/", 3, lambda evs: None)
    seen: list[int] = []
    store.watch("/", 5, lambda evs: seen.extend(e.revision for e in evs))
    assert seen == [5, 6]


def test_lease_expiry_deletes_attached_keys() -> None:
    store = EtcdStore()
    lease = store.lease_grant(10, at=0)
    store.put("/leased", 1, lease=lease)
    store.put("/plain", 2)
    assert store.expire_leases(5) == []
    store.lease_keepalive(lease, at=5)
    assert store.expire_leases(14) == []
    assert store.expire_leases(15) == [lease]
    assert store.get("/leased") is None and store.get("/plain") is not None


async def test_server_without_leader_fails_every_request_and_counts_failed_proposals() -> None:
    from kubechaos.control.etcd import Etcd, NoLeader
    from kubechaos.defaults import Settings
    from kubechaos.sim.rand import Rng

    etcd = Etcd(Settings(), Rng(1).stream("etcd"))
    etcd.txn([], [Put("/k", 1)])
    assert etcd.latency(reads=1, writes=1) > 0
    etcd.has_leader = False
    with pytest.raises(NoLeader):
        etcd.get("/k")
    with pytest.raises(NoLeader):
        etcd.txn([], [Put("/k", 2)])
    assert etcd.proposals_failed_total == 1
    etcd.has_leader = True
    assert etcd.get("/k").value == 1  # type: ignore[union-attr]


async def test_server_expires_leases_on_virtual_time() -> None:
    import trio

    from kubechaos.control.etcd import Etcd
    from kubechaos.defaults import Settings
    from kubechaos.sim.rand import Rng

    etcd = Etcd(Settings(), Rng(1).stream("etcd"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(etcd.run_lease_expiry)
        lease = etcd.lease_grant(40)
        etcd.txn([], [Put("/registry/leased", "x", lease=lease)])
        await trio.sleep(30)
        etcd.lease_keepalive(lease)
        await trio.sleep(39)
        assert etcd.get("/registry/leased") is not None
        await trio.sleep(2)
        assert etcd.get("/registry/leased") is None
        nursery.cancel_scope.cancel()


def test_a_commit_looks_only_at_the_watchers_of_its_resources() -> None:
    """Work counted: with a watch cache per served kind (17 and growing), a pod write used to
    test its key against every watcher's prefix; now only the pods watchers, and any watcher of a
    wider prefix, are looked at, and each matching watcher still gets its events in the order
    the watchers were registered."""
    store = EtcdStore()
    seen: list[tuple[str, list[str]]] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        return lambda events: seen.append((name, [e.kv.key for e in events]))

    kinds = [f"kind{i}" for i in range(16)]
    for kind in kinds:
        store.watch(f"/registry/{kind}/", 1, recorder(kind))
    pods = store.watch("/registry/pods/", 1, recorder("pods"))
    default_pods = store.watch("/registry/pods/default/", 1, recorder("default-pods"))
    store.txn([], [Put("/registry/pods/default/a", "a")], [])
    (event,) = store._history[-1:]
    assert store.watchers_of([event]) == [pods, default_pods]
    assert seen == [
        ("pods", ["/registry/pods/default/a"]),
        ("default-pods", ["/registry/pods/default/a"]),
    ]
    everything = store.watch("/registry/", 1, recorder("all"))
    seen.clear()
    store.txn([], [Put("/registry/kind3/x", "x"), Put("/registry/pods/other/b", "b")], [])
    events = store._history[-2:]
    assert [w.seq for w in store.watchers_of(events)] == sorted(
        w.seq for w in store.watchers_of(events)
    )
    assert seen == [
        ("kind3", ["/registry/kind3/x"]),
        ("pods", ["/registry/pods/other/b"]),
        ("all", ["/registry/kind3/x", "/registry/pods/other/b"]),
    ]
    everything.cancel()
    assert store.watchers_of(events) == [store._watchers[3], pods, default_pods]
