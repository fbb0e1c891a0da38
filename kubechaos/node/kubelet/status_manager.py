"""The pod status manager: writes ``Pod.status`` to the API server for the kubelet's pods.

Mirrors upstream's ``pkg/kubelet/status/status_manager.go``. The pod workers only mark a pod
dirty (:meth:`PodStatusManager.mark_dirty`); this manager's own task posts its status, one write
per pod however many changes piled up, re-reading the pod on Conflict. It deletes pods whose
graceful termination is complete (grace 0, UID precondition), as upstream's status manager does,
and reconciles: a status another writer changed, or a write etcd acknowledged and then lost, is
posted again a sync period later.

It is separate from the pod workers because it is a separate task upstream and here: API
latency and errors on status writes never hold up the node loop that runs containers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import attrgetter

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import ObjectMeta, Pod
from kubechaos.api.objects.copying import replace
from kubechaos.client.interface import APIClient
from kubechaos.defaults import POD_STATUS_CONFLICT_RETRIES, POD_STATUS_SYNC_PERIOD
from kubechaos.node.kubelet.wakeup import Wakeup
from kubechaos.node.podstate import PodState, build_status
from kubechaos.node.readinessgates import same_by_kubelet
from kubechaos.sim.clock import now

# ObjectMeta's fields but resourceVersion, read in one call: what a status write's metadata is
# copied from besides the version it drops
_META_BUT_VERSION = attrgetter(
    *(f.name for f in attrs.fields(ObjectMeta) if f.name != "resource_version")
)


class PodStatusManager:
    """Posts the statuses of the pods the pod workers mark dirty."""

    def __init__(self, api: APIClient, pods: Mapping[str, PodState], node_address: str) -> None:
        """``pods`` is the pod workers' table, by UID: read here, never written."""
        self.api = api
        self.pods = pods
        self.node_address = node_address
        self.writes = 0  # status writes the API server accepted (read by tests)
        self._dirty: dict[str, None] = {}  # UIDs whose status must be posted
        # UIDs whose status another writer changed -> when seen; re-asserted at the next reconcile
        self._reconcile: dict[str, float] = {}
        self._wake = Wakeup()
        # the oldest entry _recheck may find due (never a later one: an older one only costs a
        # call that finds nothing); the loop skips the call until it is, with _recheck's own
        # comparison (so the same float rounding decides)
        self._recheck_from = math.inf

    def mark_dirty(self, ps: PodState) -> None:
        """``ps``'s status may have changed: post it."""
        self._dirty[ps.uid] = None
        self._wake.set()

    def note_update(self, ps: PodState, new: Pod) -> None:
        """The informer brought a newer copy of ``ps``'s pod: did someone else write its status?

        If so (e.g. the node lifecycle controller marking it not ready), the kubelet's view is
        re-asserted at the next reconcile, as upstream's syncBatch does every syncPeriod. Not at
        once: a writer that answers the kubelet's write (the node lifecycle controller while the
        node is not Ready) would otherwise fight it in a tight loop.
        """
        uid = ps.uid
        if (
            ps.last_posted is not None
            and int(new.metadata.resource_version or 0) > ps.last_posted_rv
            and not same_by_kubelet(new.status, ps.last_posted)
            and uid not in self._reconcile
        ):
            self._reconcile[uid] = now()
            self._recheck_from = min(self._recheck_from, now())
            self._wake.set()

    def forget(self, uid: str) -> None:
        """The pod is gone from the node: nothing of it is to be posted."""
        self._dirty.pop(uid, None)
        self._reconcile.pop(uid, None)

    async def run(self) -> None:
        """Post the statuses of dirty pods; retry failed posts a syncPeriod later.

        Upstream also reconciles every syncPeriod: a pod whose status in the API differs from the
        one last posted is posted again. Two things leave such a difference. Another writer's
        change (:meth:`note_update`): re-posted half to one syncPeriod later, if it still
        differs. A write etcd acknowledged and then lost: each post is re-checked once, half to
        one syncPeriod later, and posted again if the informer's copy is still older than the
        acknowledged resourceVersion. A node whose pods' statuses do not change sets no timer.
        """
        retry: dict[str, None] = {}
        posted: dict[str, float] = {}  # UID -> when its status was posted, oldest first
        while True:
            if self._recheck_from <= now() - POD_STATUS_SYNC_PERIOD / 2:
                self._recheck(posted)
            if not self._dirty:
                self._wake.clear()
                if retry:
                    await self._wake.wait_until(trio.current_time() + POD_STATUS_SYNC_PERIOD)
                    self._dirty.update(retry)
                    retry.clear()
                else:
                    check_at = (
                        min(
                            next(iter(posted.values()), math.inf),
                            next(iter(self._reconcile.values()), math.inf),
                        )
                        + POD_STATUS_SYNC_PERIOD
                    )
                    await self._wake.wait_until(check_at)
                continue
            batch = list(self._dirty)
            self._dirty.clear()
            for uid in batch:
                ps = self.pods.get(uid)
                if ps is None:
                    continue
                writes = self.writes
                if not await self._sync(ps):
                    retry[uid] = None
                if self.writes != writes:
                    posted.pop(uid, None)
                    posted[uid] = now()
                    self._recheck_from = min(self._recheck_from, now())

    def _recheck(self, posted: dict[str, float]) -> None:
        """Mark dirty the pods whose reconcile is due: lost writes and other writers' statuses."""
        settled = now() - POD_STATUS_SYNC_PERIOD / 2
        while posted:
            uid, at = next(iter(posted.items()))
            if at > settled:
                break
            del posted[uid]
            ps = self.pods.get(uid)
            if ps is not None and int(ps.pod.metadata.resource_version or 0) < ps.last_posted_rv:
                ps.force_sync = True  # acknowledged, never seen: lost
                self._dirty[uid] = None
        while self._reconcile:
            uid, at = next(iter(self._reconcile.items()))
            if at > settled:
                break
            del self._reconcile[uid]
            ps = self.pods.get(uid)
            if ps is not None and (
                ps.last_posted is None or not same_by_kubelet(ps.pod.status, ps.last_posted)
            ):
                ps.force_sync = True  # another writer's status: re-assert the kubelet's
                self._dirty[uid] = None
        self._recheck_from = min(
            next(iter(posted.values()), math.inf), next(iter(self._reconcile.values()), math.inf)
        )

    async def _sync(self, ps: PodState) -> bool:
        """Post ``ps``'s status if it changed; delete it once terminated. False: retry later."""
        meta = ps.pod.metadata
        for _ in range(POD_STATUS_CONFLICT_RETRIES):
            if ps.uid not in self.pods:
                return True
            status = build_status(ps, self.node_address)
            posted = ps.last_posted
            if posted is not None and same_by_kubelet(status, posted) and not ps.force_sync:
                break
            try:
                # the pod with its new status and no resourceVersion precondition (``replace``:
                # attrs.evolve's result, without its per-call field lookups)
                updated = await self.api.update_status(
                    replace(ps.pod, metadata=self._unconditioned(ps), status=status)
                )
            except errors.NotFound:
                return True  # deleted: the informer will say so
            except errors.Conflict:
                if not await self._reread(ps):
                    return True
                continue
            except errors.APIError:
                return False
            self.writes += 1
            ps.last_posted = status
            ps.last_posted_rv = int(updated.metadata.resource_version)
            ps.force_sync = False
            break
        else:
            return False
        if ps.finished and not ps.delete_sent and ps.uid in self.pods:
            try:
                await self.api.delete(
                    "pods", meta.namespace, meta.name, grace_period_seconds=0, uid=ps.uid
                )
            except (errors.NotFound, errors.Conflict):
                pass  # already gone, or the name now belongs to another pod
            except errors.APIError:
                return False
            ps.delete_sent = True
        return True

    @staticmethod
    def _unconditioned(ps: PodState) -> ObjectMeta:
        """``ps``'s pod's metadata without its resourceVersion: the write asks for no version.

        A status write changes nothing of its pod's metadata but the resourceVersion, so the
        copy made for a pod's previous write is sent again while the rest is equal: one copy
        per pod and metadata change (its deletion), not one per write."""
        meta = ps.pod.metadata
        rest = _META_BUT_VERSION(meta)
        if ps.request_meta is None or rest != ps.request_meta_from:
            ps.request_meta = replace(meta, resource_version="")
            ps.request_meta_from = rest
        return ps.request_meta

    async def _reread(self, ps: PodState) -> bool:
        """After a Conflict: fetch the pod again. False if it is gone or was replaced."""
        meta = ps.pod.metadata
        try:
            fresh = await self.api.get("pods", meta.namespace, meta.name)
        except errors.APIError:
            return False
        if fresh.metadata.uid != ps.uid:
            return False
        if int(fresh.metadata.resource_version) > int(ps.pod.metadata.resource_version or 0):
            ps.pod = fresh
        return True
