"""The ReplicaSet controller: keep ``spec.replicas`` live pods of a template, no more, no fewer.

A model of kube-controller-manager's pkg/controller/replicaset (v1.32). One sync of a ReplicaSet:

1. **Claim** its pods (upstream's ControllerRefManager): pods whose controller owner reference
   names this ReplicaSet are its own; an orphan pod its selector matches is adopted (owner
   reference patched in); an owned pod whose labels no longer match is released.
2. **Manage replicas**, unless expectations say an earlier sync's creates or deletes have not
   been seen yet: create missing pods in slow-start batches (1, 2, 4, ...), or delete the surplus
   in upstream's order of cheapest-to-lose first.
3. **Write status** (replicas, fullyLabeled, ready, available, observedGeneration) and, when
   ``minReadySeconds`` is set, come back when the next ready pod turns available.

Why expectations: the informer's cache lags the API server. A sync that created three pods and
runs again before the informer has seen them would count zero pods and create three more.
Upstream's ControllerExpectations record "I am waiting for N creates / these M deletes"; the pod
handlers tick them off as the informer observes them, and the ReplicaSet is not managed again until
they are all seen (or five minutes have passed, in case an event was lost).

Everything the controller knows lives in this object and its informers, so a fresh controller after
a crash rebuilds it all by listing. Pods are indexed by their controller's UID and ReplicaSets by
one label of their selector, so no event or sync scans every pod or ReplicaSet. A sync costs what
changed, not the ReplicaSet's size (issue 16): the counts calculateStatus needs, the Ready times
for ``minReadySeconds`` and each node's related pods are kept from pod events
(:mod:`~kubechaos.control.controllers.rstally`); claim sees only the strays and the orphans the
selector matches (an orphan label index); scale-down reads each pod object's ranking facts once
(:mod:`~kubechaos.control.controllers.rspods`). The answers are those of counting afresh.

The ownership helpers (:mod:`kubechaos.control.controllers.ownership`) are shared with the
Deployment controller, which owns ReplicaSets the way a ReplicaSet owns pods.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable

import attrs
import trio

from kubechaos.api import errors, workcount
from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    Pod,
    PodTemplate,
    ReplicaSet,
    ReplicaSetStatus,
    key_of,
    replace,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.expectations import Expectations
from kubechaos.control.controllers.ownership import (
    OwnedIndex,
    SelectorIndex,
    claim,
    recheck_deletion,
)
from kubechaos.control.controllers.rspods import (
    is_pod_available,
    pods_to_delete,
    rank_victims,
    slow_start_batch,
)
from kubechaos.control.controllers.rstally import TalliedIndex, available_count, next_available
from kubechaos.defaults import REPLICASET_BURST_REPLICAS, SLOW_START_INITIAL_BATCH_SIZE
from kubechaos.sim.clock import now


@attrs.define
class _Claimed:
    """What one sync's claim found: the counts calculateStatus needs, the sorted Ready times of
    the kept pods (with minReadySeconds only) and, when asked, the kept pods with their keys."""

    replicas: int
    fully_labeled: int
    ready: int
    ready_times: list[float]
    items: Callable[[], list[tuple[str, Pod]]]

    def status(self, rs: ReplicaSet, at: float) -> ReplicaSetStatus:
        """calculateStatus (replica_set_utils.go); available: Ready for minReadySeconds at
        ``at`` (:func:`is_pod_available`). When that is what ``rs`` says already (most syncs),
        ``rs.status`` itself: the numbers are compared before a status is built."""
        min_ready = rs.spec.min_ready_seconds
        available = self.ready
        if min_ready > 0:
            available = available_count(self.ready_times, min_ready, at)
        current = rs.status
        if (
            current.replicas == self.replicas
            and current.fully_labeled_replicas == self.fully_labeled
            and current.ready_replicas == self.ready
            and current.available_replicas == available
            and current.observed_generation == rs.metadata.generation
        ):
            return current
        return ReplicaSetStatus(
            replicas=self.replicas,
            fully_labeled_replicas=self.fully_labeled,
            ready_replicas=self.ready,
            available_replicas=available,
            observed_generation=rs.metadata.generation,
        )


# ---------------------------------------------------------------------------- the controller


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    queue_name = "replicaset"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_replicaset_syncs
        self.expectations = Expectations()
        self.replicasets: Informer[ReplicaSet] = ctx.informer("replicasets", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self._pods_by_owner = TalliedIndex()
        self._rs_by_owner: OwnedIndex[ReplicaSet] = OwnedIndex()
        self._rs_selectors = SelectorIndex()
        # ReplicaSet UID -> (its template, the pod it creates from it): see _pod_prototype
        self._prototypes: dict[str, tuple[PodTemplate, Pod]] = {}
        self.replicasets.add_handler(
            Handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        )
        self.pods.add_handler(Handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete))

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.replicasets.run)
            nursery.start_soon(self.pods.run)
            await super().run()

    async def wait_synced(self) -> None:
        await self.replicasets.synced.wait()
        await self.pods.synced.wait()

    # ------------------------------------------------------------------ event handlers
    def _on_rs_add(self, rs: ReplicaSet) -> None:
        self._index_rs(rs)
        self.enqueue(key_of(rs))

    def _on_rs_update(self, old: ReplicaSet, rs: ReplicaSet) -> None:
        if old.metadata.uid != rs.metadata.uid:
            # Deleted and re-created while a relist was pending: two objects, not one.
            self._on_rs_delete(old)
            self._on_rs_add(rs)
            return
        self._index_rs(rs)
        self.enqueue(key_of(rs))

    def _on_rs_delete(self, rs: ReplicaSet) -> None:
        key = key_of(rs)
        self._pods_by_owner.forget(rs.metadata.uid)
        self._rs_by_owner.discard(rs)
        self._rs_selectors.discard(key)
        self._prototypes.pop(rs.metadata.uid, None)
        self.expectations.forget(key)
        self.enqueue(key)

    def _index_rs(self, rs: ReplicaSet) -> None:
        self._rs_by_owner.put(rs)
        self._rs_selectors.put(key_of(rs), rs.metadata.namespace, rs.spec.selector)

    def _owner_of(self, pod: Pod, ref: OwnerReference | None) -> ReplicaSet | None:
        """The cached ReplicaSet ``ref`` names, if it is still the same object (UID)."""
        if ref is None or ref.kind != ReplicaSet.KIND:
            return None
        rs = self.replicasets.get(f"{pod.metadata.namespace}/{ref.name}")
        return rs if rs is not None and rs.metadata.uid == ref.uid else None

    def _enqueue_adopters(self, pod: Pod) -> None:
        for key in self._rs_selectors.matching(pod.metadata.namespace, pod.metadata.labels):
            self.enqueue(key)

    def _on_pod_add(self, pod: Pod) -> None:
        self._pods_by_owner.put(pod)
        if pod.metadata.deletion_timestamp is not None:
            # Seen for the first time already terminating (e.g. after a relist): that is no
            # creation anyone waits for.
            self._pod_gone(pod)
            return
        ref = pod.metadata.controller_ref()
        if ref is None:
            self._enqueue_adopters(pod)
            return
        rs = self._owner_of(pod, ref)
        if rs is not None:
            key = key_of(rs)
            self.expectations.creation_observed(key)
            self.enqueue(key)

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        if old.metadata.uid != pod.metadata.uid:  # re-created behind a relist
            self._on_pod_delete(old)
            self._on_pod_add(pod)
            return
        self._pods_by_owner.put(pod)
        meta, old_meta = pod.metadata, old.metadata
        if old_meta.resource_version == meta.resource_version:
            return
        refs = meta.owner_references
        if refs is old_meta.owner_references and meta.deletion_timestamp is None:
            # Fast path of the common update (a status write of an owned pod): the same
            # controller reference as before (the API server keeps the tuple through writes
            # that leave it alone), so only its owner, if any, is woken; what follows agrees.
            ref = meta.controller_ref()
            if ref is not None:
                if ref.kind == ReplicaSet.KIND:
                    key = f"{meta.namespace}/{ref.name}"
                    rs = self.replicasets.store.get(key)  # (Informer.get, without the call)
                    if rs is not None and rs.metadata.uid == ref.uid:
                        self.enqueue(key)
                return
            if old_meta.labels is not meta.labels and old_meta.labels != meta.labels:
                self._enqueue_adopters(pod)
            return
        labels_changed = old.metadata.labels != pod.metadata.labels
        if pod.metadata.deletion_timestamp is not None:
            # A graceful deletion has begun: replace the pod now, not when the kubelet is done.
            self._pod_gone(pod)
            if labels_changed:
                self._pod_gone(old)
            return
        ref = pod.metadata.controller_ref()
        # (the API server keeps the owner references tuple through writes that leave it alone)
        same_refs = old.metadata.owner_references is pod.metadata.owner_references
        old_ref = ref if same_refs else old.metadata.controller_ref()
        if ref != old_ref and old_ref is not None:
            previous = self._owner_of(old, old_ref)
            if previous is not None:
                self.enqueue(key_of(previous))
        if ref is not None:
            rs = self._owner_of(pod, ref)
            if rs is not None:
                self.enqueue(key_of(rs))
        elif labels_changed or ref != old_ref:
            self._enqueue_adopters(pod)

    def _on_pod_delete(self, pod: Pod) -> None:
        self._pods_by_owner.discard(pod)
        self._pod_gone(pod)

    def _pod_gone(self, pod: Pod) -> None:
        rs = self._owner_of(pod, pod.metadata.controller_ref())
        if rs is not None:
            key = key_of(rs)
            self.expectations.deletion_observed(key, key_of(pod))
            self.enqueue(key)

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        claimed = await self._claim(rs)
        manage_error: errors.APIError | None = None
        if not needs_sync:
            # Come back when the wait expires, should the awaited events never arrive.
            self.queue.add_after(key, self.expectations.expires_in(key) + 1.0)
        elif rs.metadata.deletion_timestamp is None:
            try:
                await self._manage_replicas(key, rs, claimed)
            except errors.APIError as exc:
                manage_error = exc
        updated = await self._update_status(rs, claimed.status(rs, now()))
        if manage_error is not None:
            raise manage_error
        if updated is not None and updated.spec.min_ready_seconds > 0:
            # No event marks the moment the next ready pod turns available (the pod does not
            # change): sync again then, or the count would wait for an unrelated event.
            at = now()
            due = next_available(claimed.ready_times, updated.spec.min_ready_seconds, at)
            if due is not None:
                self.queue.add_after(key, due - at)

    async def _claim(self, rs: ReplicaSet) -> _Claimed:
        """ClaimPods (controller_ref_manager.go), from the tally: the pods ``rs`` owns and still
        selects are counted already; only its strays (owned pods it no longer selects, to
        release) and the orphans it selects (to adopt) are offered to :func:`claim`, never the
        namespace's pods. The counts and the kept pods are those at the claim."""
        uid, spec = rs.metadata.uid, rs.spec
        timed = spec.min_ready_seconds > 0
        index = self._pods_by_owner
        tally = index.tally(uid, spec.selector, spec.template.metadata.labels, timed)
        claimed = _Claimed(
            tally.kept,
            tally.fully_labeled,
            tally.ready,
            list(tally.ready_times) if timed else [],
            functools.partial(index.kept_items, uid, tally),
        )
        if rs.metadata.deletion_timestamp is not None:
            return claimed  # claim neither adopts nor releases for an owner being deleted
        rest = index.strays(uid, tally)
        if index.has_orphans(rs.metadata.namespace):
            orphans = index.matching_orphans(rs.metadata.namespace, spec.selector)
            rest.extend(pod for pod in orphans if pod.is_active())
        if not rest:
            return claimed
        workcount.PODS_VISITED += len(rest)
        kept = index.kept_items(uid, tally)
        recheck = recheck_deletion(self.api, "replicasets", rs)
        adopted = await claim(self.api, "pods", rs, rest, recheck)
        labels = spec.template.metadata.labels
        for pod in adopted:
            claimed.replicas += 1
            claimed.fully_labeled += all(pod.metadata.labels.get(k) == v for k, v in labels.items())
            since = pod.ready_since()
            if since is not None:
                claimed.ready += 1
                if timed:
                    bisect.insort(claimed.ready_times, since)
        listed = [*kept, *((key_of(pod), pod) for pod in adopted)]
        claimed.items = lambda: listed
        return claimed

    async def _manage_replicas(self, key: str, rs: ReplicaSet, claimed: _Claimed) -> None:
        diff = claimed.replicas - rs.spec.replicas
        if diff < 0:
            count = min(-diff, REPLICASET_BURST_REPLICAS)
            self.expectations.expect_creations(key, count)
            created, failure = await slow_start_batch(
                count, SLOW_START_INITIAL_BATCH_SIZE, functools.partial(self._create_pod, rs)
            )
            for _ in range(count - created):
                # never attempted or refused: the informer will not see these
                self.expectations.creation_observed(key)
            if failure is not None:
                raise failure
        elif diff > 0:
            count = min(diff, REPLICASET_BURST_REPLICAS)
            victims = self._pods_to_delete(rs, claimed.items(), count)
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            failures: list[errors.APIError] = []
            async with trio.open_nursery() as nursery:
                for pod in victims:
                    nursery.start_soon(self._delete_pod, key, rs, pod, failures)
            if failures:
                raise failures[0]

    def _pods_to_delete(
        self, rs: ReplicaSet, items: list[tuple[str, Pod]], count: int
    ) -> list[Pod]:
        """getPodsToDelete: ranked by what each pod object's facts say (read once per object),
        and by the active pods on its node of every ReplicaSet sharing this one's controller
        (counted as pods come and go), instead of reading every pod per comparison."""
        if count >= len(items):
            return [pod for _, pod in items]
        index = self._pods_by_owner
        candidates = [(pod, index.rank_facts(pkey, pod)) for pkey, pod in items]
        ref = rs.metadata.controller_ref()
        siblings = self._rs_by_owner.owned_by(ref.uid) if ref is not None else []
        related_on = index.related_on(sibling.metadata.uid for sibling in siblings)
        return rank_victims(candidates, related_on, count, now())

    def _pod_prototype(self, rs: ReplicaSet) -> Pod:
        """The pod ``rs`` creates (GetPodFromTemplate: the template's labels, annotations,
        finalizers and spec, ``generateName`` and the controller reference), built once per
        template object and sent as is for each pod: the API server copies it as it names it,
        so the request itself costs no copy (the objects are immutable; the labels and
        annotations are copied off the template once, as GetPodFromTemplate does)."""
        template, meta = rs.spec.template, rs.metadata
        hit = self._prototypes.get(meta.uid)
        if hit is not None and hit[0] is template:
            return hit[1]
        prototype = Pod(
            ObjectMeta(
                generate_name=f"{meta.name}-",
                namespace=meta.namespace,
                labels=dict(template.metadata.labels),
                annotations=dict(template.metadata.annotations),
                finalizers=template.metadata.finalizers,
                owner_references=(OwnerReference(ReplicaSet.KIND, meta.name, meta.uid, True),),
            ),
            template.spec,
        )
        self._prototypes[meta.uid] = (template, prototype)
        return prototype

    async def _create_pod(self, rs: ReplicaSet) -> None:
        try:
            created = await self.api.create(self._pod_prototype(rs))
        except errors.APIError as exc:
            self.events.record(
                self.name, ReplicaSet.KIND, key_of(rs), "FailedCreate", f"Error creating: {exc}"
            )
            raise
        self.events.record(
            self.name,
            ReplicaSet.KIND,
            key_of(rs),
            "SuccessfulCreate",
            f"Created pod: {created.metadata.name}",
        )

    async def _delete_pod(
        self, key: str, rs: ReplicaSet, pod: Pod, failures: list[errors.APIError]
    ) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("pods", meta.namespace, meta.name)
        except errors.APIError as exc:
            # The informer will not see a deletion that did not happen.
            self.expectations.deletion_observed(key, key_of(pod))
            if not isinstance(exc, errors.NotFound):
                self.events.record(
                    self.name, ReplicaSet.KIND, key, "FailedDelete", f"Error deleting: {exc}"
                )
                failures.append(exc)
            return
        self.events.record(
            self.name, ReplicaSet.KIND, key, "SuccessfulDelete", f"Deleted pod: {meta.name}"
        )

    # ------------------------------------------------------------------ status
    async def _update_status(self, rs: ReplicaSet, status: ReplicaSetStatus) -> ReplicaSet | None:
        """Write ``status`` unless it is already there; one retry on a fresh read, as upstream."""
        if rs.status is status or rs.status == status:
            return rs
        for attempt in range(2):
            try:
                return await self.api.update_status(replace(rs, status=status))
            except errors.NotFound:
                return None
            except errors.APIError:
                if attempt == 1:
                    raise
                try:
                    rs = await self.api.get("replicasets", rs.metadata.namespace, rs.metadata.name)
                except errors.NotFound:
                    return None
        return None  # pragma: no cover - the loop returns or raises


__all__ = [
    "OwnedIndex",
    "ReplicaSetController",
    "SelectorIndex",
    "claim",
    "is_pod_available",
    "pods_to_delete",
    "recheck_deletion",
    "slow_start_batch",
]
