"""The disruption controller (pkg/controller/disruption/disruption.go, v1.32): each
PodDisruptionBudget's status from the pods it selects.

``currentHealthy`` counts the selected pods that are Ready, not being deleted and not evicted
within the last ``DeletionTimeout`` (``disruptedPods``, written by the Eviction API and dropped
here once the pod is gone or being deleted). ``desiredHealthy`` and ``expectedPods`` follow
``getExpectedPodCount``: an integer ``minAvailable`` needs only the pod count; a percentage, or
any ``maxUnavailable``, needs the scale of the pods' controllers (a ReplicaSet's replicas, or its
Deployment's, or a StatefulSet's). ``disruptionsAllowed`` is ``currentHealthy - desiredHealthy``,
never below 0 and 0 when no pods are expected. A pod with no controller makes the expected scale unknowable: the
budget fails safe (``disruptionsAllowed`` 0, condition reason ``SyncFailed``), as upstream.

A pod event costs one dict truth test while no budget exists: a cluster without budgets pays
nothing for this controller beyond its informer's watch. With budgets, each pod event adjusts the
counts of the budgets selecting the pod (:mod:`~kubechaos.control.controllers.pdbpods`), so a sync
reads no pod: it costs the budget's distinct controllers and ``disruptedPods`` entries (issue 16).
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from kubechaos.api import workcount
from kubechaos.api.disruption import disruption_allowed_condition
from kubechaos.api.objects import (
    DeploymentCondition,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
    key_of,
)
from kubechaos.api.rollout import scaled_value
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.context import Context
from kubechaos.client.informer import (
    Handler,
    Informer,
)
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.ownership import SelectorIndex
from kubechaos.control.controllers.pdbpods import BudgetPods, BudgetTallies, Ref
from kubechaos.sim.clock import now


class _NoController(Exception):
    pass


class DisruptionController(Controller):
    name = "disruption-controller"
    queue_name = "disruption"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.budgets: Informer[PodDisruptionBudget] = ctx.informer(
            "poddisruptionbudgets", self.name
        )
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.replicasets: Informer[ReplicaSet] = ctx.informer("replicasets", self.name)
        self.deployments: Informer[Any] = ctx.informer("deployments", self.name)
        self._by_namespace: dict[str, dict[str, None]] = {}  # namespace -> budget keys
        self._selectors = SelectorIndex()  # budgets by one matchLabels pair of their selector
        self._tallies = BudgetTallies()  # each budget's pods, as counts
        self.budgets.add_handler(Handler(self._budget_add, self._budget_update, self._budget_del))
        self.pods.add_handler(Handler(self._pod_add, self._pod_update, self._pod_delete))

    async def wait_synced(self) -> None:
        for informer in (self.budgets, self.pods, self.replicasets, self.deployments):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.budgets, self.pods, self.replicasets, self.deployments):
                nursery.start_soon(informer.run)
            await super().run()

    # ------------------------------------------------------------------ handlers
    def _budget_add(self, pdb: PodDisruptionBudget) -> None:
        self._by_namespace.setdefault(pdb.metadata.namespace, {})[key_of(pdb)] = None
        self._index_selector(pdb)
        self.enqueue(key_of(pdb))

    def _budget_update(self, old: PodDisruptionBudget, new: PodDisruptionBudget) -> None:
        if old.spec.selector != new.spec.selector:
            self._tallies.forget(key_of(new))  # pod events fed it for the old selector
        self._index_selector(new)
        self.enqueue(key_of(new))

    def _index_selector(self, pdb: PodDisruptionBudget) -> None:
        """A pod event looks up only the budgets whose selector can match it (a nil or empty
        selector selects nothing, as getPodsForPdb)."""
        selector = pdb.spec.selector
        if selector is None or selector.is_empty():
            self._selectors.discard(key_of(pdb))
        else:
            self._selectors.put(key_of(pdb), pdb.metadata.namespace, selector)

    def _budget_del(self, pdb: PodDisruptionBudget) -> None:
        self._selectors.discard(key_of(pdb))
        self._tallies.forget(key_of(pdb))
        bucket = self._by_namespace.get(pdb.metadata.namespace, {})
        bucket.pop(key_of(pdb), None)
        if not bucket:
            self._by_namespace.pop(pdb.metadata.namespace, None)

    def _pod_add(self, pod: Pod) -> None:
        if self._by_namespace:
            keys = self._budgets_of(pod)
            self._tallies.put(keys, pod)
            self._enqueue(keys)

    def _pod_update(self, old: Pod, new: Pod) -> None:
        if not self._by_namespace:
            return
        keys = self._budgets_of(new)
        if old.metadata.labels != new.metadata.labels:
            keys = [*keys, *(k for k in self._budgets_of(old) if k not in keys)]
        self._tallies.put(keys, new)  # (and forgotten by the budgets that no longer select it)
        self._enqueue(keys)

    def _pod_delete(self, pod: Pod) -> None:
        if self._by_namespace:
            keys = self._budgets_of(pod)
            self._tallies.remove(keys, pod)
            self._enqueue(keys)

    def _budgets_of(self, pod: Pod) -> list[str]:
        return self._selectors.matching(pod.metadata.namespace, pod.metadata.labels)

    def _enqueue(self, keys: list[str]) -> None:
        for key in keys:
            self.enqueue(key)

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        pdb = self.budgets.get(key)
        if pdb is None:
            return
        pods = self._selected(pdb)
        try:
            expected, desired = self._expected_pod_count(pdb, pods)
        except _NoController:
            status = attrs.evolve(
                pdb.status,
                disruptions_allowed=0,
                observed_generation=pdb.metadata.generation,
                conditions=_sync_failed(pdb.status.conditions),
            )
        else:
            status = self._status(pdb, pods, expected, desired)
        if status != pdb.status:
            await self.api.update_status(attrs.evolve(pdb, status=status))

    def _selected(self, pdb: PodDisruptionBudget) -> BudgetPods:
        """getPodsForPdb: podLister.Pods(namespace).List(selector), as counts kept from pod
        events; the pods are read from the pod informer's indexes (added with the first budget:
        a cluster without budgets keeps none) only when the tally is new. A nil or empty
        selector selects nothing."""
        selector = pdb.spec.selector
        key = key_of(pdb)
        if selector is None or selector.is_empty():
            return BudgetPods(LabelSelector())
        if self._tallies.built(key, selector):
            return self._tallies.tally(key, selector, ())
        pods = self.pods.select(pdb.metadata.namespace, selector)
        workcount.PODS_VISITED += len(pods)
        return self._tallies.tally(key, selector, pods)

    def _status(
        self, pdb: PodDisruptionBudget, pods: BudgetPods, expected: int, desired: int
    ) -> Any:
        t = now()
        timeout = self.ctx.settings.pdb_deletion_timeout
        disrupted: dict[str, float] = {}
        recheck: float | None = None
        healthy = pods.alive_ready  # countHealthyPods, less the disrupted ones below
        namespace = pdb.metadata.namespace
        for name, since in pdb.status.disrupted_pods.items():  # buildDisruptedPodMap
            member = pods.members.get(f"{namespace}/{name}")
            if member is None or member[1]:  # not selected, or being deleted
                continue
            if since + timeout > t:
                disrupted[name] = since
                recheck = min(recheck or since + timeout, since + timeout)
                healthy -= member[2]
        if recheck is not None:
            self.queue.add_after(key_of(pdb), recheck - t)
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        return attrs.evolve(
            pdb.status,
            current_healthy=healthy,
            desired_healthy=desired,
            expected_pods=expected,
            disruptions_allowed=allowed,
            disrupted_pods=disrupted,
            observed_generation=pdb.metadata.generation,
            conditions=disruption_allowed_condition(pdb.status.conditions, allowed > 0, t),
        )

    def _expected_pod_count(self, pdb: PodDisruptionBudget, pods: BudgetPods) -> tuple[int, int]:
        """getExpectedPodCount: (expectedCount, desiredHealthy)."""
        spec = pdb.spec
        namespace = pdb.metadata.namespace
        if spec.max_unavailable is not None:
            expected = self._expected_scale(namespace, pods)
            unavailable = scaled_value(spec.max_unavailable, expected, True)
            return expected, max(expected - unavailable, 0)
        if isinstance(spec.min_available, int):
            return len(pods), spec.min_available
        if isinstance(spec.min_available, str):
            expected = self._expected_scale(namespace, pods)
            return expected, scaled_value(spec.min_available, expected, True)
        return len(pods), 0

    def _expected_scale(self, namespace: str, pods: BudgetPods) -> int:
        """getExpectedScale: the sum of the scale of every distinct controller of the pods
        (one lookup per controller, from the tally's per-controller counts)."""
        if pods.no_controller:
            raise _NoController(namespace)
        scales: dict[str, int] = {}
        for ref in pods.refs:
            self._scale_of(namespace, ref, scales)
        return sum(scales.values())

    def _scale_of(self, namespace: str, ref: Ref, scales: dict[str, int]) -> None:
        kind, name, uid = ref
        if uid in scales:
            return
        if kind == "StatefulSet":  # getPodStatefulSet: the set's spec.replicas
            scales[uid] = self._statefulset_scale(namespace, name, uid)
            return
        rs = self.replicasets.get(f"{namespace}/{name}")
        if kind != "ReplicaSet" or rs is None or rs.metadata.uid != uid:
            raise _NoController(name)
        owner = rs.metadata.controller_ref()
        if owner is not None and owner.kind == "Deployment":
            dep = self.deployments.get(f"{namespace}/{owner.name}")
            if dep is not None and dep.metadata.uid == owner.uid:
                scales[owner.uid] = dep.spec.replicas
                scales[uid] = 0
                return
        scales[uid] = rs.spec.replicas

    def _statefulset_scale(self, namespace: str, name: str, uid: str) -> int:
        """The replicas of the StatefulSet ``ref`` names, from the controller manager's shared
        StatefulSet informer (run by the StatefulSet controller, which runs whenever a
        StatefulSet exists): no informer of its own, so runs without StatefulSets pay nothing."""
        sts = self.ctx.informer("statefulsets", self.name).get(f"{namespace}/{name}")
        if sts is None or sts.metadata.uid != uid:
            raise _NoController(name)
        return int(sts.spec.replicas)


def _sync_failed(
    conditions: tuple[DeploymentCondition, ...],
) -> tuple[DeploymentCondition, ...]:
    """failSafe: ``DisruptionAllowed`` False with reason SyncFailed."""
    kept = tuple(c for c in conditions if c.type != "DisruptionAllowed")
    t = now()
    return (*kept, DeploymentCondition("DisruptionAllowed", "False", "SyncFailed", "", t, t))


__all__ = ["DisruptionController"]
