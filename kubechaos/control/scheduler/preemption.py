"""DefaultPreemption: the PostFilter that evicts lower-priority pods to make room, and the
nominated pods that hold that room.

Upstream's pkg/scheduler/framework/plugins/defaultpreemption (default_preemption.go:
PodEligibleToPreemptOthers, SelectVictimsOnNode, calculateNumCandidates) and
pkg/scheduler/framework/preemption/preemption.go (Preempt, findCandidates, DryRunPreemption,
pickOneNodeForPreemption, prepareCandidate), v1.32 with SchedulerAsyncPreemption off:

* A pod no node fits, whose ``preemptionPolicy`` is not ``Never``, looks for a node where
  removing pods of lower priority would let it fit. Only nodes whose rejection is resolvable
  (resources or host ports, not taints or selectors) are candidates. The dry run starts at a
  seeded random offset and stops once it has ``max(nodes * minCandidateNodesPercentage / 100,
  minCandidateNodesAbsolute)`` candidates.
* On a node (SelectVictimsOnNode) every lower-priority pod is removed; if the pod then fits, as
  many as possible are reprieved, highest priority first, the PodDisruptionBudget-violating ones
  first, so a budget is broken only when no other victim exists.
* The node is chosen by fewest PDB violations, then the lowest highest-victim priority, the
  smallest priority sum, the fewest victims, the latest start of the highest-priority victims,
  then the first found.
* Each victim gets the ``DisruptionTarget`` condition (reason ``PreemptionByScheduler``), then a
  graceful delete (its own grace period), and a ``Preempted`` event; lower-priority pods
  nominated to the node lose their nomination, and the preemptor gets ``nominatedNodeName``.
* Nominated pods (the :class:`Nominator`) count on their node for every later cycle of a pod of
  no higher priority, so the room the victims leave is not taken by a lower-priority pod
  (RunFilterPluginsWithNominatedPods); a pod with a nominated node tries that node first.

It all costs one dictionary lookup per cycle while nobody is nominated, and nothing in the dry
run while no placed pod has a lower priority than the pending one (the cache counts placed pods
by priority); the PodDisruptionBudget informer starts on the first dry run that finds a victim.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.hostports import HostPortInfo
from kubechaos.api.objects import Pod, PodCondition, PodDisruptionBudget
from kubechaos.client.context import Context
from kubechaos.client.informer import Informer
from kubechaos.control.scheduler.cache import Placement, SchedulerCache
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.plugins import (
    PREEMPTION_NO_VICTIMS,
    PREEMPTION_NOT_HELPFUL,
    Rejection,
    filter_node,
    fit_error,
)
from kubechaos.sim.clock import now

COMPONENT = "default-scheduler"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
REASON_PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"  # v1.PodReasonPreemptionByScheduler
# scheduler_preemption_victims buckets: metrics.ExponentialBuckets(1, 2, 7)
VICTIMS_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
_PRIORITY_OFFSET = 2**31  # math.MaxInt32 + 1: makes every priority >= 0 for the sum criterion


def num_candidates(potential: int, percentage: int, absolute: int) -> int:
    """calculateNumCandidates: how many candidates the dry run collects before it stops."""
    return min(max(potential * percentage // 100, absolute), potential)


class Nominator:
    """Pending pods with a ``nominatedNodeName``, by node (upstream's nominator)."""

    def __init__(self) -> None:
        self.by_node: dict[str, dict[str, PodView]] = {}
        self.node_of: dict[str, str] = {}

    def update(self, view: PodView, node: str) -> None:
        if self.node_of.get(view.key) != node:
            self.delete(view.key)
        if node:
            self.node_of[view.key] = node
            self.by_node.setdefault(node, {})[view.key] = view

    def delete(self, key: str) -> None:
        node = self.node_of.pop(key, None)
        if node is not None:
            on_node = self.by_node[node]
            del on_node[key]
            if not on_node:
                del self.by_node[node]


class Candidate:
    """A node where preemption would work, and what it would cost."""

    __slots__ = ("info", "victims", "violations")

    def __init__(self, info: NodeInfo, victims: list[Placement], violations: int) -> None:
        self.info = info
        self.victims = victims
        self.violations = violations

    def rank(self) -> tuple[int, int, int, int, float]:
        """pickOneNodeForPreemption's criteria as one key, larger is better."""
        victims = self.victims
        top = _priority(victims[0])
        earliest = min(_start(v) for v in victims if _priority(v) == top)
        total = sum(_priority(v) + _PRIORITY_OFFSET for v in victims)
        return (-self.violations, -top, -total, -len(victims), earliest)


def _priority(placed: Placement) -> int:
    return placed.pod.spec.priority or 0


def _start(placed: Placement) -> float:
    """GetPodStartTime: status.startTime, or now for a pod not started yet."""
    started = placed.pod.status.start_time
    return now() if started is None else started


def _more_important_first(placed: Placement) -> tuple[int, float]:
    """util.MoreImportantPod as a sort key: higher priority, then earlier start."""
    return (-_priority(placed), _start(placed))


def _copy(info: NodeInfo) -> NodeInfo:
    """A NodeInfo to simulate on (the filters read only its aggregates)."""
    sim = NodeInfo(info.name)
    for slot in NodeInfo.__slots__:
        setattr(sim, slot, getattr(info, slot))
    sim.scored_for = sim.fit_for = None  # its requests will move: not the original's memos
    return sim


def _charge(sim: NodeInfo, placed: Placement | PodView, sign: int) -> None:
    sim.cpu += sign * placed.cpu
    sim.memory += sign * placed.memory
    sim.nz_cpu += sign * placed.nz_cpu
    sim.nz_memory += sign * placed.nz_memory
    sim.pods += sign
    sim.scored_for = sim.fit_for = None
    if placed.host_ports:  # on a copy: the simulation shares the node's own
        ports = HostPortInfo(sim.used_ports)
        if sign > 0:
            ports.add(placed.host_ports)
        else:
            ports.remove(placed.host_ports)
        sim.used_ports = ports


def _preempted_by_scheduler(pod: Pod) -> bool:
    """podTerminatingByPreemption: being deleted, with the scheduler's DisruptionTarget."""
    if pod.metadata.deletion_timestamp is None:
        return False
    cond = pod.status.condition("DisruptionTarget")
    return cond is not None and cond.reason == REASON_PREEMPTION_BY_SCHEDULER


def _histogram(total: int, counts: dict[str, int]) -> str:
    parts = ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items() if n))
    return f"0/{total} nodes are available: {parts}."


def split_by_budget(
    pods: list[Placement], budgets: Iterable[PodDisruptionBudget]
) -> tuple[list[Placement], list[Placement]]:
    """filterPodsWithPDBViolation: (violating, not violating), order kept. Each matching budget
    (same namespace, non-empty selector matching, pod not already in ``disruptedPods``) loses one
    allowed disruption per pod; a pod that takes one below zero violates it."""
    budgets = list(budgets)
    allowed = [b.status.disruptions_allowed for b in budgets]
    violating: list[Placement] = []
    fine: list[Placement] = []
    for placed in pods:
        meta = placed.pod.metadata
        violated = False
        if meta.labels:
            for i, budget in enumerate(budgets):
                selector = budget.spec.selector
                if (
                    budget.metadata.namespace != meta.namespace
                    or selector is None
                    or selector.is_empty()
                    or not selector.matches(meta.labels)
                    or meta.name in budget.status.disrupted_pods
                ):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else fine).append(placed)
    return violating, fine


class Preemption:
    """The DefaultPreemption PostFilter of one scheduler, with its nominator and metrics."""

    def __init__(self, ctx: Context, cache: SchedulerCache, pods: Informer[Pod]) -> None:
        self.api = ctx.api
        self.events = ctx.events
        self.settings = ctx.settings
        self._ctx = ctx
        self._rng = ctx.stream("scheduler-preemption")
        self.cache = cache
        self.pods = pods
        self.nominator = Nominator()
        self.nursery: trio.Nursery | None = None  # where the budget informer runs
        self._budgets: Informer[PodDisruptionBudget] | None = None
        # scheduler_preemption_attempts_total, scheduler_preemption_victims
        self.attempts = 0
        self.victims_buckets = [0] * (len(VICTIMS_BUCKETS) + 1)
        self.victims_sum = 0

    # ------------------------------------------------------------------ nominated pods
    def filter(self, view: PodView, info: NodeInfo) -> Rejection | None:
        """filter_node with the pods nominated to the node of no lower priority counted on it."""
        nominated = self.nominator.by_node.get(info.name)
        if nominated:
            others = [
                v for v in nominated.values() if v.key != view.key and v.priority >= view.priority
            ]
            if others:
                info = _copy(info)
                for other in others:
                    _charge(info, other, 1)
        return filter_node(view, info)

    def nominated_fit(self, view: PodView) -> NodeInfo | None:
        """evaluateNominatedNode: the pod's nominated node, if it fits there now."""
        node = self.nominator.node_of.get(view.key)
        if node is None:
            return None
        info = self.cache.offered_node(node)
        if info is None or self.filter(view, info) is not None:
            return None
        return info

    # ------------------------------------------------------------------ the PostFilter
    async def post_filter(
        self,
        view: PodView,
        total: int,
        rejected: list[tuple[NodeInfo, Rejection]],
        absent: int,
    ) -> str:
        """Preempt for ``view`` if it can; the FailedScheduling message of the cycle."""
        self.attempts += 1
        rejections = [rejection for _, rejection in rejected]
        if not view.preempts:
            return fit_error(total, rejections, absent, f"preemption: {NOT_ELIGIBLE_NEVER}")
        nominated = self.nominator.node_of.get(view.key, "")
        if nominated and self._waiting_on_victims(view, nominated, rejected):
            return fit_error(total, rejections, absent, f"preemption: {NOT_ELIGIBLE_TERMINATING}")
        potential = [info for info, (_, resolvable) in rejected if resolvable]
        statuses = {PREEMPTION_NOT_HELPFUL: total - len(potential)}
        candidates: list[Candidate] = []
        if potential and min(self.cache.priorities, default=view.priority) < view.priority:
            candidates = await self._dry_run(view, potential, statuses)
        else:
            statuses[PREEMPTION_NO_VICTIMS] = len(potential)
        if not candidates:
            if nominated:
                await self._nominate(view, "")
            return fit_error(
                total, rejections, absent, f"preemption: {_histogram(total, statuses)}"
            )
        best = max(candidates, key=Candidate.rank)
        try:
            await self._prepare(view, best)
        except errors.APIError as exc:
            return fit_error(total, rejections, absent, f"preemption: {exc.message}")
        await self._nominate(view, best.info.name)
        return fit_error(total, rejections, absent, "")

    def _waiting_on_victims(
        self, view: PodView, node: str, rejected: list[tuple[NodeInfo, Rejection]]
    ) -> bool:
        """PodEligibleToPreemptOthers' second rule: not again while a lower-priority pod this
        scheduler preempted is still terminating on the nominated node (unless that node can no
        longer take the pod at all)."""
        verdict = next((rej for info, rej in rejected if info.name == node), None)
        if verdict is None or not verdict[1]:
            return False
        return any(
            _priority(placed) < view.priority and _preempted_by_scheduler(placed.pod)
            for placed in self.cache.node_pods(node).values()
        )

    async def _dry_run(
        self, view: PodView, potential: list[NodeInfo], statuses: dict[str, int]
    ) -> list[Candidate]:
        """DryRunPreemption, one node after another from a random offset."""
        count = len(potential)
        wanted = num_candidates(
            count,
            self.settings.min_candidate_nodes_percentage,
            self.settings.min_candidate_nodes_absolute,
        )
        offset = self._rng.randrange(count)
        candidates: list[Candidate] = []
        for i in range(count):
            info = potential[(offset + i) % count]
            lowest = self.cache.lowest_priority(info.name)
            lower = (
                [
                    p
                    for p in self.cache.node_pods(info.name).values()
                    if _priority(p) < view.priority
                ]
                if lowest is not None and lowest < view.priority
                else []
            )
            if not lower:
                statuses[PREEMPTION_NO_VICTIMS] = statuses.get(PREEMPTION_NO_VICTIMS, 0) + 1
                continue
            budgets = await self._budget_list()
            result = self._select_victims(view, info, lower, budgets)
            if isinstance(result, Candidate):
                candidates.append(result)
                if len(candidates) >= wanted:
                    break
            else:
                for reason in result:
                    statuses[reason] = statuses.get(reason, 0) + 1
        return candidates

    def _select_victims(
        self,
        view: PodView,
        info: NodeInfo,
        lower: list[Placement],
        budgets: list[PodDisruptionBudget],
    ) -> Candidate | tuple[str, ...]:
        """SelectVictimsOnNode: the fewest lower-priority pods whose removal lets ``view`` fit,
        or the reasons it does not fit even without any of them."""
        sim = _copy(info)
        for placed in lower:
            _charge(sim, placed, -1)
        rejection = self.filter(view, sim)
        if rejection is not None:
            return rejection[0]
        lower.sort(key=_more_important_first)
        violating, fine = split_by_budget(lower, budgets)
        victims: list[Placement] = []
        violations = 0
        for group, violates in ((violating, 1), (fine, 0)):
            for placed in group:
                _charge(sim, placed, 1)
                if self.filter(view, sim) is not None:
                    _charge(sim, placed, -1)
                    victims.append(placed)
                    violations += violates
        if not victims:
            return (f'expected at least one victim pod on node "{info.name}"',)
        victims.sort(key=_more_important_first)
        return Candidate(info, victims, violations)

    async def _budget_list(self) -> list[PodDisruptionBudget]:
        """All PodDisruptionBudgets, from an informer started the first time one is needed."""
        if self._budgets is None:
            self._budgets = Informer(
                self.api, "poddisruptionbudgets", component="kube-scheduler", events=self.events
            )
            assert self.nursery is not None
            self.nursery.start_soon(self._budgets.run)
        await self._budgets.synced.wait()
        return self._budgets.list()

    # ------------------------------------------------------------------ acting on the choice
    async def _prepare(self, view: PodView, best: Candidate) -> None:
        """prepareCandidate: condition, delete and event for each victim not already going;
        then lower-priority pods nominated to the node lose their nomination."""
        node = best.info.name
        preemptor = view.pod
        message = (
            f"{preemptor.spec.scheduler_name}: preempting to accommodate a higher priority pod"
        )
        for placed in best.victims:
            meta = placed.pod.metadata
            if meta.deletion_timestamp is not None:
                continue
            key = f"{meta.namespace}/{meta.name}"
            condition = PodCondition(
                "DisruptionTarget", "True", now(), REASON_PREEMPTION_BY_SCHEDULER, message
            )
            try:
                await self._write_status(key, functools.partial(_with_condition, condition))
                await self.api.delete("pods", meta.namespace, meta.name)
            except errors.NotFound:
                continue
            self.events.record(
                COMPONENT,
                "Pod",
                key,
                "Preempted",
                f"Preempted by pod {preemptor.metadata.uid} on node {node}",
            )
        self._observe_victims(len(best.victims))
        for other in list(self.nominator.by_node.get(node, {}).values()):
            if other.priority < view.priority:
                await self._nominate(other, "")

    async def _nominate(self, view: PodView, node: str) -> None:
        """Set (or clear) the pod's ``status.nominatedNodeName``, and the nominator's record."""
        self.nominator.update(view, node)
        with contextlib.suppress(errors.APIError):  # gone meanwhile: nothing to nominate
            await self._write_status(
                view.key,
                lambda pod: attrs.evolve(
                    pod, status=attrs.evolve(pod.status, nominated_node_name=node)
                ),
            )

    async def _write_status(self, key: str, change: Callable[[Pod], Pod]) -> None:
        """A status patch: the change applied to the latest version, retried on a conflict."""
        namespace, name = key.split("/", 1)
        pod = self.pods.get(key)
        for _ in range(3):
            if pod is None:
                pod = await self.api.get("pods", namespace, name)
            wanted = change(pod)
            if wanted == pod:
                return
            try:
                await self.api.update_status(wanted)
                return
            except errors.Conflict:
                pod = None

    def _observe_victims(self, count: int) -> None:
        self.victims_sum += count
        for i, bound in enumerate(VICTIMS_BUCKETS):
            if count <= bound:
                self.victims_buckets[i] += 1
                return
        self.victims_buckets[-1] += 1


def _with_condition(condition: PodCondition, pod: Pod) -> Pod:
    """UpdatePodCondition: the condition replaced or added; unchanged if already so."""
    current = pod.status.condition(condition.type)
    if current is not None and (current.status, current.reason, current.message) == (
        condition.status,
        condition.reason,
        condition.message,
    ):
        return pod
    conditions = tuple(c for c in pod.status.conditions if c.type != condition.type)
    return attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=(*conditions, condition)))


__all__ = ["Candidate", "Nominator", "Preemption", "num_candidates", "split_by_budget"]
