"""etcd: a multi-version key-value store with revisions, watches, compaction and leases.

:class:`EtcdStore` is the pure state machine (what one committed raft log applies), with etcd's
semantics: one global revision that every write transaction bumps once; per key a
``create_revision``, ``mod_revision`` and ``version``; transactions that compare a key's revisions
and then apply puts and deletes atomically; watches that replay history from a revision and then
follow live writes in revision order; compaction that forgets history, after which watching from
an older revision fails with :class:`Compacted`; leases whose expiry deletes their keys.

:class:`Etcd` is the server in front of it: every request costs a modelled latency (reads and
writes differ, writes pay for the raft commit), and it has a leader or it does not.

Fault injection enters the server, never the state machine, through plain attributes (an empty list
or a zero count costs one truth test per request):

- :attr:`Etcd.write_hooks` sees every key a transaction is about to write and may fail the whole
  proposal (the client gets ``etcdserver: request timed out``) or acknowledge the write and lose
  it; see :meth:`Etcd.txn` for how a lost write still consumes a revision;
- :attr:`Etcd.latency_hooks` add latency to every request;
- :meth:`Etcd.lose_leader` / :meth:`Etcd.regain_leader` count holders, so overlapping outages end
  only when the last one does (``has_leader`` stays a plain readable flag).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import trio

from kubechaos.control.etcdtypes import (
    Compacted,
    Compare,
    Delete,
    EtcdError,
    KeyValue,
    LeaseNotFound,
    NoLeader,
    Put,
    RequestTimedOut,
    TxnResult,
    WatchCallback,
    WatchEvent,
    WatchHandle,
    WriteHook,
    resource_dir,
)
from kubechaos.defaults import Settings
from kubechaos.sim import timers
from kubechaos.sim.clock import now

_NO_ENTRIES: dict[str, KeyValue] = {}  # the directory of a key with none: never written


@attrs.define
class _Lease:
    id: int
    ttl: float
    expires_at: float
    keys: dict[str, None] = attrs.field(factory=dict)


class EtcdStore:
    """The replicated state machine of etcd: deterministic, synchronous, no time of its own."""

    def __init__(self) -> None:
        self.revision = 1  # etcd starts at revision 1 with an empty keyspace
        self.compact_revision = 0
        # key -> kv, grouped by parent "directory" so a prefix range touches only its dirs
        self._dirs: dict[str, dict[str, KeyValue]] = {}
        self._history: list[WatchEvent] = []
        self._watchers: list[WatchHandle] = []
        # Watchers by the resource directory they watch ("" for wider prefixes), so a commit
        # looks at the watchers of its keys' resources only, not at one per served kind.
        self._watchers_by_top: dict[str, list[WatchHandle]] = {}
        # watchers_of a one-event commit by its key's directory (so by resource directory),
        # made on first use, cleared when a watcher comes or goes
        self._notified: dict[str, tuple[WatchHandle, ...]] = {}
        self._watch_seq = 0
        self._leases: dict[int, _Lease] = {}
        self._next_lease_id = 1
        self.puts_total = 0

    # ------------------------------------------------------------------ reads
    def get(self, key: str) -> KeyValue | None:
        # a key's directory is everything up to its last "/"
        return self._dirs.get(key[: key.rfind("/") + 1], _NO_ENTRIES).get(key)

    def range(self, prefix: str) -> list[KeyValue]:
        """Every live key starting with ``prefix``, in key order."""
        found: list[KeyValue] = []
        for parent, entries in self._dirs.items():
            if parent.startswith(prefix):
                found.extend(entries.values())
            elif prefix.startswith(parent):
                found.extend(kv for k, kv in entries.items() if k.startswith(prefix))
        found.sort(key=lambda kv: kv.key)
        return found

    def skip_revision(self) -> int:
        """Consume a revision that no key and no event will ever carry, and return it.

        What an acknowledged-then-lost write leaves behind: the client holds a resourceVersion
        that matches nothing, so a compare-and-swap on it conflicts and nothing stored can ever
        be mistaken for the lost object; revisions still only go forward.
        """
        self.revision += 1
        return self.revision

    def promote_leases(self, at: float) -> None:
        """A new leader renews every lease (etcd's lessor Promote): keys do not die for an
        outage their owners could not renew through."""
        for lease in self._leases.values():
            lease.expires_at = max(lease.expires_at, at + lease.ttl)

    def count(self, prefix: str) -> int:
        return sum(len(e) for p, e in self._dirs.items() if p.startswith(prefix))

    # ------------------------------------------------------------------ writes
    def put(self, key: str, value: Any, lease: int = 0) -> KeyValue:
        result = self.txn((), (Put(key, value, lease),), ())
        kv = result.results[0]
        assert kv is not None
        return kv

    def delete(self, key: str) -> KeyValue | None:
        """Delete ``key``; returns its last value, or None if it did not exist (no revision)."""
        if self.get(key) is None:
            return None
        return self.txn((), (Delete(key),), ()).results[0]

    def txn(
        self,
        compares: Iterable[Compare],
        success: Iterable[Put | Delete],
        failure: Iterable[Put | Delete],
    ) -> TxnResult:
        """If every compare holds apply ``success`` else ``failure``, atomically, at one revision.

        Each key is looked up once: ``known_key``'s directory and entry, kept true as ops apply."""
        dirs = self._dirs
        known_key = ""  # no key has this name: every key starts with "/"
        known_dir: dict[str, KeyValue] | None = None
        known: KeyValue | None = None
        succeeded = True
        for compare in compares:
            key = compare.key
            if key != known_key:
                known_key, known_dir = key, dirs.get(key[: key.rfind("/") + 1])
                known = known_dir.get(key) if known_dir is not None else None
            if not compare.holds(known):
                succeeded = False
                break
        ops = list(success if succeeded else failure)
        for op in ops:  # is anything written? (a delete of a missing key writes nothing)
            if isinstance(op, Put):
                break
            key = op.key
            if key != known_key:
                known_key, known_dir = key, dirs.get(key[: key.rfind("/") + 1])
                known = known_dir.get(key) if known_dir is not None else None
            if known is not None:
                break
        else:
            return TxnResult(succeeded, self.revision, tuple(self.get(op.key) for op in ops))
        self.revision += 1
        rev = self.revision
        events: list[WatchEvent] = []
        results: list[KeyValue | None] = []
        for op in ops:
            key = op.key
            if key != known_key:
                known_key, known_dir = key, dirs.get(key[: key.rfind("/") + 1])
                known = known_dir.get(key) if known_dir is not None else None
            prev = known
            if isinstance(op, Put):
                if op.lease and op.lease not in self._leases:
                    raise LeaseNotFound(f"lease {op.lease} not found")
                kv = KeyValue(
                    key,
                    op.value,
                    prev.create_revision if prev else rev,
                    rev,
                    prev.version + 1 if prev else 1,
                    op.lease,
                )
                if known_dir is None:
                    known_dir = dirs[key[: key.rfind("/") + 1]] = {}
                known_dir[key] = known = kv
                if prev is not None and prev.lease and prev.lease != op.lease:
                    self._detach(prev)
                if op.lease:
                    self._leases[op.lease].keys[key] = None
                self.puts_total += 1
                events.append(WatchEvent("PUT", kv, prev))
                results.append(kv)
            elif prev is not None:
                del known_dir[key]  # type: ignore[union-attr]  # prev is in it
                known = None
                self._detach(prev)
                tombstone = KeyValue(key, None, 0, rev, 0, 0)
                events.append(WatchEvent("DELETE", tombstone, prev))
                results.append(prev)
            else:
                results.append(None)
        self._history.extend(events)
        if len(events) == 1:  # nearly every write: straight to its watchers
            self._notify_one(events[0])
        else:
            self._notify(events)
        return TxnResult(succeeded, rev, tuple(results))

    def put_if_mod(self, key: str, mod_revision: int, value: Any) -> TxnResult:
        """``txn([Compare(key, "mod", "=", mod_revision)], [Put(key, value)], ())``: the
        compare-and-swap of nearly every write (``mod_revision`` 0: the key must be absent, as
        ``create = 0`` tests), without the compare and put objects, the op lists and their
        type tests. Must agree with :meth:`txn` on the result, the state, the history and the
        watchers' events (tests/test_cost_request_path.py holds them equal)."""
        directory = key[: key.rfind("/") + 1]
        entries = self._dirs.get(directory)
        prev = entries.get(key) if entries is not None else None
        if (prev.mod_revision if prev is not None else 0) != mod_revision:
            return TxnResult(False, self.revision, ())  # the empty failure branch
        self.revision += 1
        rev = self.revision
        if entries is None:  # the first key of its directory
            entries = self._dirs[directory] = {}
        if prev is None:
            kv = KeyValue(key, value, rev, rev, 1, 0)
        else:
            kv = KeyValue(key, value, prev.create_revision, rev, prev.version + 1, 0)
            if prev.lease:
                self._detach(prev)
        entries[key] = kv
        self.puts_total += 1
        event = WatchEvent("PUT", kv, prev)
        self._history.append(event)
        # _notify_one(event), inline: the watch cache is one frame below the commit
        watchers = self._notified.get(directory)
        if watchers is None:
            watchers = self._notified[directory] = tuple(self.watchers_of([event]))
        for watcher in watchers:
            if key.startswith(watcher.prefix):
                watcher.callback([event])
        return TxnResult(True, rev, (kv,))

    def _detach(self, kv: KeyValue) -> None:
        lease = self._leases.get(kv.lease)
        if lease is not None:
            lease.keys.pop(kv.key, None)

    # ------------------------------------------------------------------ watch
    def watch(self, prefix: str, start_revision: int, callback: WatchCallback) -> WatchHandle:
        """Deliver every event on keys under ``prefix`` from ``start_revision`` on.

        History since ``start_revision`` is delivered at once (synchronously, before this returns),
        then each later commit as it happens. Raises :class:`Compacted` if that history is gone.
        """
        if start_revision <= self.compact_revision:
            raise Compacted(
                f"required revision {start_revision} has been compacted "
                f"(compacted to {self.compact_revision})"
            )
        self._watch_seq += 1
        handle = WatchHandle(self, prefix, callback, self._watch_seq)
        backlog = [
            e
            for e in self._history[self._history_index(start_revision) :]
            if e.kv.key.startswith(prefix)
        ]
        if backlog:
            callback(backlog)
        self._watchers.append(handle)
        self._watchers_by_top.setdefault(resource_dir(prefix), []).append(handle)
        self._notified.clear()
        return handle

    def _unwatch(self, handle: WatchHandle) -> None:
        self._notified.clear()
        self._watchers = [w for w in self._watchers if w is not handle]
        top = resource_dir(handle.prefix)
        kept = [w for w in self._watchers_by_top.get(top, ()) if w is not handle]
        if kept:
            self._watchers_by_top[top] = kept
        else:
            self._watchers_by_top.pop(top, None)

    def _history_index(self, revision: int) -> int:
        lo, hi = 0, len(self._history)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._history[mid].revision < revision:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _notify(self, events: list[WatchEvent]) -> None:
        for watcher in self.watchers_of(events):
            matching = [e for e in events if e.kv.key.startswith(watcher.prefix)]
            if matching:
                watcher.callback(matching)

    def _notify_one(self, event: WatchEvent) -> None:
        """:meth:`_notify` of a one-event commit (nearly every write): its :meth:`watchers_of`
        are looked up once per resource directory (until a watcher comes or goes), not made
        per commit; each whose prefix matches hears the event, in registration order."""
        key = event.kv.key
        parent = key[: key.rfind("/") + 1]  # its directory: within one resource directory
        watchers = self._notified.get(parent)
        if watchers is None:
            watchers = self._notified[parent] = tuple(self.watchers_of([event]))
        # (a tuple: a callback cancelling a watch does not change who hears this commit)
        for watcher in watchers:
            if key.startswith(watcher.prefix):
                watcher.callback([event])

    def watchers_of(self, events: list[WatchEvent]) -> list[WatchHandle]:
        """The watchers a commit of ``events`` must look at, in registration order: those of
        the events' resource directories and those of wider prefixes, not one per served kind
        (each then gets the events its prefix matches, if any)."""
        by_top = self._watchers_by_top
        tops = {resource_dir(e.kv.key) for e in events}
        tops.add("")
        candidates = [w for top in tops for w in by_top.get(top, ())]
        if len(tops) > 2 or "" in by_top:
            candidates.sort(key=lambda w: w.seq)
        return candidates

    def compact(self, revision: int) -> None:
        """Forget history up to and including ``revision``."""
        revision = min(revision, self.revision)
        if revision <= self.compact_revision:
            return
        self.compact_revision = revision
        del self._history[: self._history_index(revision + 1)]

    # ------------------------------------------------------------------ leases
    def lease_grant(self, ttl: float, at: float) -> int:
        lease_id = self._next_lease_id
        self._next_lease_id += 1
        self._leases[lease_id] = _Lease(lease_id, ttl, at + ttl)
        return lease_id

    def lease_keepalive(self, lease_id: int, at: float) -> None:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise LeaseNotFound(f"lease {lease_id} not found")
        lease.expires_at = at + lease.ttl

    def lease_revoke(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            raise LeaseNotFound(f"lease {lease_id} not found")
        keys = list(lease.keys)
        if keys:
            self.txn((), [Delete(k) for k in keys], ())

    def expire_leases(self, at: float) -> list[int]:
        """Revoke every lease whose TTL ran out by ``at``; returns their ids."""
        expired = [lid for lid, lease in self._leases.items() if lease.expires_at <= at]
        for lease_id in expired:
            self.lease_revoke(lease_id)
        return expired

    def next_lease_expiry(self) -> float | None:
        return min((lease.expires_at for lease in self._leases.values()), default=None)


class Etcd:
    """The etcd server: :class:`EtcdStore` behind a latency model and a leader."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.store = EtcdStore()
        self.settings = settings
        self._rng = rng
        self.has_leader = True
        self.proposals_failed_total = 0
        self._lease_wakeup = trio.Event()
        # Seams for fault injection (see the module docstring).
        self.write_hooks: list[WriteHook] = []
        self.latency_hooks: list[Callable[[], float]] = []
        self._leaderless_holders = 0
        # kubechaos_etcd_writes_dropped_total{mode}: writes lost to write_hooks, by verdict
        self.writes_dropped_total: dict[str, int] = {"error": 0, "silent": 0}
        # (key, revision) of every write acknowledged but silently lost, for the invariant
        # checker: such a write may be missing; any other acknowledged write may not.
        self.silent_drops: set[tuple[str, int]] = set()
        # Observers of every committed transaction (the invariant checker): called with the
        # result and the operations of the branch that ran; an empty list costs a truth test.
        self.txn_observers: list[Callable[[TxnResult, tuple[Put | Delete, ...]], None]] = []

    def latency(self, reads: int = 0, writes: int = 0) -> float:
        """How long ``reads`` reads and ``writes`` writes (each a raft commit) take to answer.

        Each round trip is :func:`~kubechaos.sim.rand.jitter` of its mean, computed here (one
        call per request, not one per round trip): ``mean * (0.5 + x)`` is the very float
        jitter's default spread of 0.5 gives, and a mean of 0 draws nothing, as there
        (tests/test_cost_writes_stamp.py holds them equal)."""
        # (the first round trip of each kind outside a loop: nearly every request makes one read
        # and one write or fewer, and a range object per kind was most of this function's cost;
        # the same draws, added in the same order)
        total = 0.0
        draw = self._rng.random
        if reads:
            mean = self.settings.etcd_read_latency
            if mean > 0:
                total += mean * (0.5 + draw())
                if reads > 1:
                    for _ in range(reads - 1):
                        total += mean * (0.5 + draw())
        if writes:
            mean = self.settings.etcd_write_latency
            if mean > 0:
                total += mean * (0.5 + draw())
                if writes > 1:
                    for _ in range(writes - 1):
                        total += mean * (0.5 + draw())
        if self.latency_hooks:
            for _ in range(reads + writes):
                for hook in list(self.latency_hooks):
                    total += hook()
        return total

    def lose_leader(self) -> None:
        """One more reason for the cluster to have no leader (an outage that overlaps others)."""
        self._leaderless_holders += 1
        self.has_leader = False

    def regain_leader(self) -> None:
        """One reason fewer; the leader is back when none is left, and renews every lease."""
        self._leaderless_holders = max(0, self._leaderless_holders - 1)
        if self._leaderless_holders == 0 and not self.has_leader:
            self.has_leader = True
            self.store.promote_leases(now())
            self._lease_wakeup.set()

    def check_leader(self) -> None:
        """Raise :class:`NoLeader` unless there is a leader (what a quorum read needs)."""
        if not self.has_leader:
            raise NoLeader("etcdserver: no leader")

    def get(self, key: str) -> KeyValue | None:
        """A linearizable read (its latency is paid by the caller, see :meth:`latency`): the
        store's :meth:`EtcdStore.get`, inline (every update, patch and delete reads once)."""
        if not self.has_leader:
            self.check_leader()
        return self.store._dirs.get(key[: key.rfind("/") + 1], _NO_ENTRIES).get(key)

    def txn(
        self,
        compares: Iterable[Compare],
        success: Iterable[Put | Delete],
        failure: Iterable[Put | Delete] = (),
    ) -> TxnResult:
        """A write transaction: fails without a leader (counted as a failed proposal).

        With :attr:`write_hooks` attached, each key the chosen branch writes is put to them. An
        ``"error"`` verdict fails the whole transaction with :class:`RequestTimedOut` (nothing is
        applied: a transaction is atomic). ``"silent"`` drops that write and acknowledges it: the
        other writes of the transaction apply as usual, and the result reports the lost key at the
        transaction's revision as if written. When every write is lost a revision is consumed
        anyway (:meth:`EtcdStore.skip_revision`), so the acknowledged resourceVersion is never
        reused for another object and never goes backwards; no watch ever sees it.
        """
        if not self.has_leader:
            self.proposals_failed_total += 1
            raise NoLeader("etcdserver: no leader")
        if self.txn_observers:
            compares, success, failure = tuple(compares), tuple(success), tuple(failure)
        if self.write_hooks:
            result = self._txn_through_hooks(tuple(compares), tuple(success), tuple(failure))
        else:
            result = self.store.txn(compares, success, failure)
        if self.txn_observers:
            ops = tuple(success if result.succeeded else failure)
            for observe in self.txn_observers:
                observe(result, ops)
        return result

    def put_if_mod(self, key: str, mod_revision: int, value: Any) -> TxnResult:
        """The compare-and-swap of nearly every write: ``value`` at ``key`` if the key's mod
        revision is ``mod_revision`` (0: if the key is absent, ``create = 0``), as :meth:`txn`
        does it. With fault hooks or observers attached, or no leader, it is that very
        transaction (they see the same compare and put); else :meth:`EtcdStore.put_if_mod`."""
        if self.write_hooks or self.txn_observers or not self.has_leader:
            if mod_revision:
                compare = Compare(key, "mod", "=", mod_revision)
            else:
                compare = Compare(key, "create", "=", 0)
            return self.txn([compare], [Put(key, value)])
        return self.store.put_if_mod(key, mod_revision, value)

    def _txn_through_hooks(
        self,
        compares: tuple[Compare, ...],
        success: tuple[Put | Delete, ...],
        failure: tuple[Put | Delete, ...],
    ) -> TxnResult:
        store = self.store
        succeeded = all(c.holds(store.get(c.key)) for c in compares)
        ops = success if succeeded else failure
        verdicts: list[str | None] = []
        for op in ops:
            verdict = None
            # a delete of a missing key writes nothing, so there is nothing to lose
            if isinstance(op, Put) or store.get(op.key) is not None:
                for hook in list(self.write_hooks):
                    verdict = hook(op.key)
                    if verdict is not None:
                        break
            verdicts.append(verdict)
        if "error" in verdicts:
            self.writes_dropped_total["error"] += verdicts.count("error")
            self.proposals_failed_total += 1
            raise RequestTimedOut("etcdserver: request timed out")
        if "silent" not in verdicts:
            return store.txn(compares, success, failure)
        self.writes_dropped_total["silent"] += verdicts.count("silent")
        kept = [op for op, verdict in zip(ops, verdicts, strict=True) if verdict is None]
        prevs = [store.get(op.key) for op in ops]
        before = store.revision
        applied = store.txn((), kept, ()) if kept else None  # the compares held a moment ago
        revision = store.revision if store.revision > before else store.skip_revision()
        results: list[KeyValue | None] = []
        applied_results = iter(applied.results if applied is not None else ())
        for op, verdict, prev in zip(ops, verdicts, prevs, strict=True):
            if verdict is None:
                results.append(next(applied_results))
            elif isinstance(op, Put):
                self.silent_drops.add((op.key, revision))
                results.append(
                    KeyValue(
                        op.key,
                        op.value,
                        prev.create_revision if prev else revision,
                        revision,
                        prev.version + 1 if prev else 1,
                        op.lease,
                    )
                )
            else:
                results.append(prev)
        return TxnResult(succeeded, revision, tuple(results))

    def lease_grant(self, ttl: float) -> int:
        self.check_leader()
        lease_id = self.store.lease_grant(ttl, now())
        self._lease_wakeup.set()
        return lease_id

    def lease_keepalive(self, lease_id: int) -> None:
        self.check_leader()
        self.store.lease_keepalive(lease_id, now())

    async def run_lease_expiry(self) -> None:
        """Revoke leases as their TTLs run out (the leader's lessor loop)."""
        while True:
            next_expiry = self.store.next_lease_expiry()
            self._lease_wakeup = trio.Event()
            if next_expiry is None:
                await self._lease_wakeup.wait()
                continue
            await timers.wait_until(self._lease_wakeup.wait, next_expiry)
            if self.has_leader:
                self.store.expire_leases(now())


__all__ = [
    "Compacted",
    "Compare",
    "Delete",
    "Etcd",
    "EtcdError",
    "EtcdStore",
    "KeyValue",
    "LeaseNotFound",
    "NoLeader",
    "Put",
    "RequestTimedOut",
    "TxnResult",
    "WatchCallback",
    "WatchEvent",
    "WatchHandle",
    "WriteHook",
]
