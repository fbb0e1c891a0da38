"""Controller expectations: what a controller is waiting to see in its informer after its own
writes, so it does not act twice on a cache that has not caught up.

Upstream's pkg/controller/controller_utils.go: ``ControllerExpectations`` counts the creates and
deletes a controller awaits per object (the DaemonSet controller's), and
``UIDTrackingControllerExpectations`` also tracks which pods' deletions it awaits, because a
graceful deletion is observed twice (deletionTimestamp set, then the object removed) and must
count once (the ReplicaSet and Job controllers'). One class serves both here: deletions awaited
with :meth:`Expectations.expect_deletions` are tracked by pod key, those counted with
:meth:`Expectations.expect` are not. Expectations not met within five minutes are forgotten, as
upstream's ``ExpectationsTimeout``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from kubechaos.defaults import CONTROLLER_EXPECTATIONS_TIMEOUT
from kubechaos.sim.clock import now


@attrs.define
class _Expectation:
    add: int
    delete: int
    timestamp: float
    # pod keys whose deletion is awaited, each counted once; None: deletions only counted
    deleting: dict[str, None] | None = None


class Expectations:
    """The creates and deletes awaited per controller key (``namespace/name``)."""

    def __init__(self, timeout: float = CONTROLLER_EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._records: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is awaited, everything was observed, or the wait has expired."""
        record = self._records.get(key)
        if record is None or (record.add <= 0 and record.delete <= 0):
            return True
        return now() - record.timestamp > self.timeout

    def expires_in(self, key: str) -> float:
        record = self._records.get(key)
        return 0.0 if record is None else max(0.0, record.timestamp + self.timeout - now())

    def expect(self, key: str, add: int, delete: int) -> None:
        """Await ``add`` creates and ``delete`` deletes, counted (SetExpectations)."""
        self._records[key] = _Expectation(add, delete, now())

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Expectation(count, 0, now(), {})

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Await the deletion of these pods, each observed once (ExpectDeletions with UIDs)."""
        awaited = dict.fromkeys(pod_keys)
        self._records[key] = _Expectation(0, len(awaited), now(), awaited)

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add -= 1

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        """A deletion was seen: counted, or, when deletions are tracked, only the first sight
        of an awaited pod's (``pod_key``)."""
        record = self._records.get(key)
        if record is None:
            return
        if record.deleting is None:
            record.delete -= 1
        elif pod_key is not None and pod_key in record.deleting:
            del record.deleting[pod_key]
            record.delete -= 1

    def forget(self, key: str) -> None:
        self._records.pop(key, None)


__all__ = ["Expectations"]
