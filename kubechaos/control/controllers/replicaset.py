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
one label of their selector, so no event or sync scans every pod or ReplicaSet.

The ownership helpers (:mod:`kubechaos.control.controllers.ownership`) are shared with the
Deployment controller, which owns ReplicaSets the way a ReplicaSet owns pods.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import trio

from kubechaos.api import errors, workcount
from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    Pod,
    ReplicaSet,
    ReplicaSetStatus,
    key_of,
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
from kubechaos.control.controllers.rstally import TalliedIndex, Tally
from kubechaos.defaults import (
    POD_DELETION_COST_ANNOTATION,
    REPLICASET_BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH_SIZE,
)
from kubechaos.sim.clock import now

# ---------------------------------------------------------------------------- pod arithmetic


def is_pod_available(pod: Pod, min_ready_seconds: int, at: float) -> bool:
    """Ready, and for at least ``min_ready_seconds`` (upstream's IsPodAvailable).

    Upstream requires the ready time plus minReadySeconds to be strictly before now; here it may
    equal now, so a requeue scheduled for exactly that moment sees the pod available instead of
    spinning at the same virtual instant.
    """
    since = pod.ready_since()
    if since is None:
        return False
    return min_ready_seconds == 0 or since + min_ready_seconds <= at


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Pod) -> int:
    try:
        return int(pod.metadata.annotations.get(POD_DELETION_COST_ANNOTATION, "0"))
    except ValueError:
        return 0


def _max_restarts(pod: Pod) -> int:
    return max((c.restart_count for c in pod.status.container_statuses), default=0)


def _log_age(t: float, at: float) -> int:
    """floor(log2(age in nanoseconds)), -1 for no age: LogarithmicScaleDown's time buckets."""
    age_ns = (at - t) * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _earlier_deleted(a: Pod, rank_a: int, b: Pod, rank_b: int, at: float) -> bool:
    """Upstream's ActivePodsWithRanks.Less (v1.32, LogarithmicScaleDown and PodDeletionCost on)."""
    node_a, node_b = a.spec.node_name, b.spec.node_name
    if node_a != node_b and (not node_a or not node_b):
        return not node_a  # 1. unscheduled before scheduled
    phase_a = _PHASE_ORDINAL.get(a.status.phase, 0)
    phase_b = _PHASE_ORDINAL.get(b.status.phase, 0)
    if phase_a != phase_b:
        return phase_a < phase_b  # 2. Pending < Unknown < Running
    ready_a, ready_b = a.is_ready(), b.is_ready()
    if ready_a != ready_b:
        return not ready_a  # 3. not ready before ready
    cost_a, cost_b = _deletion_cost(a), _deletion_cost(b)
    if cost_a != cost_b:
        return cost_a < cost_b  # 4. lower pod-deletion-cost first
    if rank_a != rank_b:
        return rank_a > rank_b  # 5. more related pods on the same node first
    if ready_a and ready_b:  # 6. ready for less time first (in log2 buckets of age)
        since_a, since_b = a.ready_since(), b.ready_since()
        if since_a != since_b and since_a is not None and since_b is not None:
            diff = _log_age(since_a, at) - _log_age(since_b, at)
            return a.metadata.uid < b.metadata.uid if diff == 0 else diff < 0
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b  # 7. more restarts first
    created_a, created_b = a.metadata.creation_timestamp, b.metadata.creation_timestamp
    if created_a != created_b:  # 8. newer first (no timestamp counts as newest)
        if created_a is None or created_b is None:
            return created_a is None
        diff = _log_age(created_a, at) - _log_age(created_b, at)
        return a.metadata.uid < b.metadata.uid if diff == 0 else diff < 0
    return False


def pods_to_delete(pods: list[Pod], related: Iterable[Pod], count: int, at: float) -> list[Pod]:
    """The ``count`` pods whose loss hurts least, as upstream's getPodsToDelete picks them.

    ``related`` are the pods of every ReplicaSet with the same controller (the Deployment's other
    revisions): a pod sharing its node with many of them is the better one to lose.
    """
    if count >= len(pods):
        return list(pods)
    per_node: dict[str, int] = {}
    for pod in related:
        if pod.is_active():
            per_node[pod.spec.node_name] = per_node.get(pod.spec.node_name, 0) + 1
    ranked = [(pod, per_node.get(pod.spec.node_name, 0)) for pod in pods]

    def compare(x: tuple[Pod, int], y: tuple[Pod, int]) -> int:
        if _earlier_deleted(x[0], x[1], y[0], y[1], at):
            return -1
        return 1 if _earlier_deleted(y[0], y[1], x[0], x[1], at) else 0

    ranked.sort(key=functools.cmp_to_key(compare))
    return [pod for pod, _ in ranked[:count]]


async def slow_start_batch(
    count: int, initial: int, create: Callable[[], Awaitable[None]]
) -> tuple[int, errors.APIError | None]:
    """Run ``create`` ``count`` times in concurrent batches of 1, 2, 4, ... (upstream's slowStartBatch).

    A batch with a failure stops the run: if the first pod is refused (quota, admission, a
    terminating namespace) the rest would be too, and trying them all only spams the API server.
    Returns the number of successes and the first failure.
    """
    successes = 0
    remaining = count
    batch = min(remaining, initial)
    while batch > 0:
        failures: list[errors.APIError] = []
        async with trio.open_nursery() as nursery:
            for _ in range(batch):
                nursery.start_soon(_collect_failure, create, failures)
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


async def _collect_failure(
    call: Callable[[], Awaitable[None]], failures: list[errors.APIError]
) -> None:
    try:
        await call()
    except errors.APIError as exc:
        failures.append(exc)


def _tally_status(rs: ReplicaSet, tally: Tally) -> ReplicaSetStatus:
    """calculateStatus from the counts (minReadySeconds 0: every ready pod is available)."""
    return ReplicaSetStatus(
        replicas=tally.kept,
        fully_labeled_replicas=tally.fully_labeled,
        ready_replicas=tally.ready,
        available_replicas=tally.ready,
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
        self._pod_facts: dict[str, tuple[Any, ...]] = {}  # pod key -> ReplicaSetController._facts
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
        if old.metadata.resource_version == pod.metadata.resource_version:
            return
        labels_changed = old.metadata.labels != pod.metadata.labels
        if pod.metadata.deletion_timestamp is not None:
            # A graceful deletion has begun: replace the pod now, not when the kubelet is done.
            self._pod_gone(pod)
            if labels_changed:
                self._pod_gone(old)
            return
        ref, old_ref = pod.metadata.controller_ref(), old.metadata.controller_ref()
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
        self._pod_facts.pop(key_of(pod), None)
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
        tally = self._counted(rs)
        claimed: list[Pod] | None = None if tally is not None else await self._claim_pods(rs)
        # the counts as of the claim: the tally moves on while this sync awaits its writes
        counted = _tally_status(rs, tally) if tally is not None else None

        def pods() -> list[Pod]:  # what claim would return: built only when a sync needs it
            if claimed is not None:
                return claimed
            assert tally is not None
            return self._pods_by_owner.kept(rs.metadata.uid, tally)

        manage_error: errors.APIError | None = None
        if not needs_sync:
            # Come back when the wait expires, should the awaited events never arrive.
            self.queue.add_after(key, self.expectations.expires_in(key) + 1.0)
        elif rs.metadata.deletion_timestamp is None:
            count = counted.replicas if counted is not None else len(pods())
            try:
                await self._manage_replicas(key, rs, count, pods)
            except errors.APIError as exc:
                manage_error = exc
        status = counted if counted is not None else self._calculate_status(rs, pods())
        updated = await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        if updated is not None and updated.spec.min_ready_seconds > 0:
            self._requeue_for_availability(key, updated, pods())

    def _counted(self, rs: ReplicaSet) -> Tally | None:
        """The pods' counts, when they are all a sync needs: no orphan to adopt, no stray to
        release, no minReadySeconds to time (else the sync claims and counts pod by pod)."""
        if rs.spec.min_ready_seconds > 0 or self._pods_by_owner.has_orphans(rs.metadata.namespace):
            return None
        tally = self._pods_by_owner.tally(
            rs.metadata.uid, rs.spec.selector, rs.spec.template.metadata.labels
        )
        return tally if tally.strays == 0 else None

    async def _claim_pods(self, rs: ReplicaSet) -> list[Pod]:
        """The active pods ``rs`` owns and selects, then the orphans it adopts (as claim).

        An owned pod still selected is kept without a call into :func:`claim` (its selector
        match memoised per pod object); only the rest (owned pods to release, orphans to
        adopt) go through it, in the same order, so the API calls are claim's own.
        """
        owned = self._pods_by_owner.owned_by(rs.metadata.uid)
        orphans = self._pods_by_owner.orphans(rs.metadata.namespace)
        workcount.PODS_VISITED += len(owned) + len(orphans)
        kept: list[Pod] = []
        rest: list[Pod] = []
        for pod in owned:
            if pod.is_active():
                (kept if self._facts(rs, pod)[3] else rest).append(pod)
        rest.extend(pod for pod in orphans if pod.is_active())
        if not rest:
            return kept
        recheck = recheck_deletion(self.api, "replicasets", rs)
        return [*kept, *await claim(self.api, "pods", rs, rest, recheck)]

    def _facts(self, rs: ReplicaSet, pod: Pod) -> tuple[Any, ...]:
        """(pod, selector, template labels, selected, fully labelled, ready since) of ``pod``
        for ``rs``: computed once per pod object and ReplicaSet spec (objects are immutable)."""
        pkey = key_of(pod)
        selector, template_labels = rs.spec.selector, rs.spec.template.metadata.labels
        entry = self._pod_facts.get(pkey)
        if (
            entry is not None
            and entry[0] is pod
            and entry[1] == selector
            and entry[2] == template_labels
        ):
            return entry
        labels = pod.metadata.labels
        entry = self._pod_facts[pkey] = (
            pod,
            selector,
            template_labels,
            selector.matches(labels),
            all(labels.get(k) == v for k, v in template_labels.items()),
            pod.ready_since(),
        )
        return entry

    async def _manage_replicas(
        self, key: str, rs: ReplicaSet, count: int, claimed: Callable[[], list[Pod]]
    ) -> None:
        diff = count - rs.spec.replicas
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
            victims = pods_to_delete(claimed(), self._related_pods(rs), count, now())
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            failures: list[errors.APIError] = []
            async with trio.open_nursery() as nursery:
                for pod in victims:
                    nursery.start_soon(self._delete_pod, key, rs, pod, failures)
            if failures:
                raise failures[0]

    def _related_pods(self, rs: ReplicaSet) -> list[Pod]:
        """Pods of every ReplicaSet sharing this one's controller (none if it has none)."""
        ref = rs.metadata.controller_ref()
        if ref is None:
            return []
        return [
            pod
            for sibling in self._rs_by_owner.owned_by(ref.uid)
            for pod in self._pods_by_owner.owned_by(sibling.metadata.uid)
        ]

    async def _create_pod(self, rs: ReplicaSet) -> None:
        template = rs.spec.template
        meta = rs.metadata
        pod = Pod(
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
        try:
            created = await self.api.create(pod)
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
    def _calculate_status(self, rs: ReplicaSet, pods: list[Pod]) -> ReplicaSetStatus:
        """Upstream's calculateStatus over the claimed pods (facts memoised per pod object);
        available: ready since at least minReadySeconds, as :func:`is_pod_available`."""
        min_ready = rs.spec.min_ready_seconds
        at = now()
        fully_labeled = ready = available = 0
        for pod in pods:
            _, _, _, _, fully, since = self._facts(rs, pod)
            if fully:
                fully_labeled += 1
            if since is not None:
                ready += 1
                if min_ready == 0 or since + min_ready <= at:
                    available += 1
        return ReplicaSetStatus(
            replicas=len(pods),
            fully_labeled_replicas=fully_labeled,
            ready_replicas=ready,
            available_replicas=available,
            observed_generation=rs.metadata.generation,
        )

    async def _update_status(self, rs: ReplicaSet, status: ReplicaSetStatus) -> ReplicaSet | None:
        """Write ``status`` unless it is already there; one retry on a fresh read, as upstream."""
        if rs.status == status:
            return rs
        for attempt in range(2):
            try:
                return await self.api.update_status(attrs.evolve(rs, status=status))
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

    def _requeue_for_availability(self, key: str, rs: ReplicaSet, pods: list[Pod]) -> None:
        """Sync again when the next ready pod has been ready for minReadySeconds.

        No event marks that moment (the pod does not change), so without this the available count
        would wait for an unrelated event.
        """
        at = now()
        due = [
            since + rs.spec.min_ready_seconds
            for pod in pods
            if (since := pod.ready_since()) is not None
            and not is_pod_available(pod, rs.spec.min_ready_seconds, at)
        ]
        if due:
            self.queue.add_after(key, min(due) - at)


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
