"""etcd's vocabulary: its errors, the key-value records, watch events, and the operations of a
transaction (compares, puts, deletes) with their result.

Kept apart from :mod:`kubechaos.control.etcd` (the store and the server, which re-exports every
name here) so that module stays within its size limit; nothing here has behaviour beyond a
compare's test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import attrs


class EtcdError(Exception):
    """Base of etcd's own errors (the API server maps them to HTTP codes)."""


class Compacted(EtcdError):
    """The requested revision has been compacted (etcd's ErrCompacted; the API server's 410)."""


class NoLeader(EtcdError):
    """The cluster has no leader: every request fails (etcd's ErrNoLeader)."""


class LeaseNotFound(EtcdError):
    pass


class RequestTimedOut(EtcdError):
    """A proposal that never committed (etcd's ErrTimeout): the client cannot tell whether the
    write happened, and here it did not."""


# The records of a commit (its KeyValue, WatchEvent and TxnResult: three per write, hundreds of
# thousands per virtual minute) are named tuples: as immutable as frozen attrs classes, and made
# by one tuple allocation rather than one checked attribute store per field.
class KeyValue(NamedTuple):
    key: str
    value: Any
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


class WatchEvent(NamedTuple):
    type: str  # "PUT" | "DELETE"
    kv: KeyValue  # for DELETE: the tombstone (value None, mod_revision = the delete's revision)
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@attrs.frozen(slots=True)
class Compare:
    """``target`` of ``key`` compared with ``value``: ``mod`` / ``create`` / ``version``.

    A missing key has all three equal to 0, as in etcd.
    """

    key: str
    target: str
    op: str  # "=" | "!=" | "<" | ">"
    value: int

    def holds(self, kv: KeyValue | None) -> bool:
        actual = 0
        if kv is not None:  # one branch per target: no dict built per compare (every write)
            target = self.target
            if target == "mod":
                actual = kv.mod_revision
            elif target == "create":
                actual = kv.create_revision
            elif target == "version":
                actual = kv.version
            else:
                raise KeyError(target)
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        if self.op == "<":
            return actual < self.value
        return actual > self.value


@attrs.frozen(slots=True)
class Put:
    key: str
    value: Any
    lease: int = 0


@attrs.frozen(slots=True)
class Delete:
    key: str


class TxnResult(NamedTuple):
    succeeded: bool
    revision: int
    results: tuple[KeyValue | None, ...]  # per op: the new kv for Put, the previous kv for Delete


WatchCallback = Callable[[list[WatchEvent]], None]

WriteHook = Callable[[str], "str | None"]
"""Fault injection's seam on the write path: called with each key a transaction writes; returns
None to let the write through, ``"error"`` to fail the transaction, ``"silent"`` to lose the
write but acknowledge it (see :meth:`Etcd.txn`)."""


class WatchHandle:
    def __init__(self, store: Any, prefix: str, callback: WatchCallback, seq: int) -> None:
        self._store = store  # the EtcdStore that made it
        self.prefix = prefix
        self.callback = callback
        self.seq = seq  # registration order: watchers are notified in it

    def cancel(self) -> None:
        self._store._unwatch(self)


_REGISTRY = "/registry/"


def resource_dir(key: str) -> str:
    """The resource directory of a key or watch prefix (``/registry/pods/``), or ``""`` for a
    prefix above it (a watcher of those sees every key)."""
    if not key.startswith(_REGISTRY):
        return ""
    end = key.find("/", len(_REGISTRY))
    return "" if end < 0 else key[: end + 1]


__all__ = [
    "Compacted",
    "Compare",
    "Delete",
    "EtcdError",
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
    "resource_dir",
]
