"""When did the workloads converge? Deployment (StatefulSet, DaemonSet) availability as an
operator would watch it.

The watcher is an API client like ``kubectl get deployments -w``: it records
``DeploymentAvailable`` / ``DeploymentDegraded`` when a Deployment's available replicas reach or
leave its desired count (``StatefulSetAvailable`` / ``StatefulSetDegraded`` for a StatefulSet,
``DaemonSetAvailable`` / ``DaemonSetDegraded`` for a DaemonSet's nodes), and ``Converged`` /
``Diverged`` for all of them together, so the timeline reads as convergence, not as a flood of
pod events. Every run watches all four kinds steady state judges (Deployments, StatefulSets,
DaemonSets, Jobs), whatever its workloads are: one a client or an operator creates during the
run counts from the moment it is stored. The kinds the workloads apply are watched by informers,
through the API; the others by :class:`~kubechaos.observe.feed.Feed`, as the API server's watch
cache is fed (no task, no request: watching for them never changes the run; an empty one costs
nothing until an object appears). Jobs are not in the convergence events: a Job finishes rather than
converges (steady state covers them, see :mod:`kubechaos.observe.steady`).

The same informers feed steady state at event resolution: every added, updated or deleted
object (Jobs included) goes to each of ``listeners`` (a
:class:`~kubechaos.observe.resolution.SteadyRecord`) the moment the informer hears of it.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from kubechaos.api.objects import DaemonSet, Deployment, StatefulSet, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.observe.feed import Feed, prefix_of
from kubechaos.sim.clock import now


def progress(obj: Any) -> str:
    """A workload's counts, as its Available/Degraded event reports them (formatted only for
    an event: most updates change neither completeness nor anything recorded)."""
    if isinstance(obj, StatefulSet):
        s = obj.status
        return f"{s.available_replicas}/{obj.spec.replicas} available, {s.ready_replicas} ready"
    if isinstance(obj, DaemonSet):
        st = obj.status
        return (
            f"{st.number_available}/{st.desired_number_scheduled} nodes available, "
            f"{st.updated_number_scheduled} updated"
        )
    s = obj.status
    return f"{s.available_replicas}/{obj.spec.replicas} available, {s.updated_replicas} updated"


class Listener(Protocol):
    def changed(self, obj: Any) -> None: ...
    def deleted(self, obj: Any) -> None: ...


def is_complete(d: Deployment) -> bool:
    """Desired replicas available, all updated, and the controller has seen the latest spec."""
    s = d.status
    return (
        s.observed_generation >= d.metadata.generation
        and s.updated_replicas == d.spec.replicas
        and s.available_replicas == d.spec.replicas
        and s.replicas == d.spec.replicas
    )


def is_daemonset_complete(ds: DaemonSet) -> bool:
    """``kubectl rollout status daemonset``'s test: the controller has seen the latest spec and
    every node that should run the pod runs an updated, available one."""
    s = ds.status
    return (
        s.observed_generation >= ds.metadata.generation
        and s.updated_number_scheduled == s.desired_number_scheduled
        and s.number_available == s.desired_number_scheduled
    )


def is_statefulset_complete(sts: StatefulSet) -> bool:
    """Every desired replica exists and is available, and the controller has seen the latest
    spec (a pod stuck Terminating counts in ``replicas`` but not as available)."""
    s = sts.status
    return (
        s.observed_generation >= sts.metadata.generation
        and s.available_replicas == sts.spec.replicas
        and s.replicas == sts.spec.replicas
    )


class ConvergenceWatch:
    component = "observer"

    def __init__(self, ctx: Context, kinds: frozenset[str] = frozenset()) -> None:
        """Watch Deployments, StatefulSets, DaemonSets and Jobs (``kinds``: those the run's
        workloads apply, watched by informers; the wording of the convergence events follows
        them until an object of another kind appears)."""
        self.ctx = ctx
        self.listeners: list[Listener] = []
        # the kinds the workloads apply are watched by informers, through the API; the others
        # by feeds (no task, no request: watching for them never changes the run)
        self.informer: Informer[Deployment] = self._watch("deployments", self._handler())
        self.others: list[Informer[Any]] = []
        self._feeds: list[tuple[str, Handler]] = []
        for kind, resource in (("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets")):
            self._add(kind in kinds, resource, self._handler())
        # steady state only: a Job finishes rather than converges
        self._add("Job" in kinds, "jobs", self._listen())
        self.feeds: list[Feed] = []
        # kinds other than Deployments the run has had: the events then count each kind
        self.mixed = bool(kinds & {"StatefulSet", "DaemonSet", "Job"})
        self._complete: dict[tuple[str, str], bool] = {}  # (kind, key) -> complete
        # how many of _complete are False: converged is "some, and none incomplete", kept as a
        # count so a workload's change costs O(1), not a pass over every workload
        self._incomplete = 0
        self._per_kind: dict[str, int] = {}  # how many of _complete are of each kind
        self._ever_complete: dict[tuple[str, str], None] = {}
        self.converged = False
        self.converged_at: float | None = None
        self.first_converged_at: float | None = None

    def _add(self, applied: bool, resource: str, handler: Handler) -> None:
        if applied:
            self.others.append(self._watch(resource, handler))
        else:
            self._feeds.append((resource, handler))

    def _watch(self, resource: str, handler: Handler) -> Informer[Any]:
        informer: Informer[Any] = Informer(
            self.ctx.api, resource, component=self.component, events=self.ctx.events
        )
        informer.add_handler(handler)
        return informer

    def _listen(self) -> Handler:
        return Handler(
            on_add=self._tell,
            on_update=lambda _old, new: self._tell(new),
            on_delete=self._tell_deleted,
        )

    def _tell(self, obj: Any) -> None:
        for listener in self.listeners:
            listener.changed(obj)

    def _tell_deleted(self, obj: Any) -> None:
        for listener in self.listeners:
            listener.deleted(obj)

    def _handler(self) -> Handler:
        return Handler(
            on_add=self._changed,
            on_update=lambda _old, new: self._changed(new),
            on_delete=self._deleted,
        )

    def _subscribe(self) -> None:
        for resource, handler in self._feeds:
            on_put, on_delete = handler.on_add, handler.on_delete
            assert on_put is not None and on_delete is not None
            self.feeds.append(Feed(self.ctx.api, prefix_of(resource), on_put, on_delete))

    async def run(self) -> None:
        self._subscribe()
        if not self.others:
            await self.informer.run()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.informer.run)
            for informer in self.others:
                nursery.start_soon(informer.run)

    def _changed(self, obj: Any) -> None:
        self._tell(obj)
        kind = type(obj).KIND
        key = (kind, key_of(obj))
        self.mixed = self.mixed or kind != Deployment.KIND
        if isinstance(obj, StatefulSet):
            complete = is_statefulset_complete(obj)
        elif isinstance(obj, DaemonSet):
            complete = is_daemonset_complete(obj)
        else:
            complete = is_complete(obj)
        was = self._complete.get(key)
        if was != complete:
            self._complete[key] = complete
            if was is None:
                self._per_kind[kind] = self._per_kind.get(kind, 0) + 1
            if was is False:
                self._incomplete -= 1
            if not complete:
                self._incomplete += 1
            reason = f"{kind}Available" if complete else f"{kind}Degraded"
            # a workload that never was available is still rolling out, not degraded
            if complete or key in self._ever_complete:
                self.ctx.events.record(self.component, kind, key[1], reason, progress(obj))
            if complete:
                self._ever_complete[key] = None
        self._update_total()

    def _deleted(self, obj: Any) -> None:
        self._tell_deleted(obj)
        kind = type(obj).KIND
        was = self._complete.pop((kind, key_of(obj)), None)
        if was is not None:
            self._per_kind[kind] -= 1
        if was is False:
            self._incomplete -= 1
        self._update_total()

    def _update_total(self) -> None:
        now_converged = bool(self._complete) and not self._incomplete
        if now_converged == self.converged:
            return
        self.converged = now_converged
        if now_converged:
            self.converged_at = now()
            if self.first_converged_at is None:
                self.first_converged_at = self.converged_at
            self.ctx.events.record(
                self.component, "Cluster", "", "Converged", f"all {self._counted()} available"
            )
        else:
            lost = "a workload" if self.mixed else "a deployment"
            self.ctx.events.record(
                self.component, "Cluster", "", "Diverged", f"{lost} lost availability"
            )

    def _counted(self) -> str:
        """``3 deployments`` (as before the other kinds existed), or each kind counted."""
        deployments = self._per_kind.get(Deployment.KIND, 0)
        if not self.mixed:
            return f"{deployments} deployments"
        counted = [
            (deployments, "deployments"),
            (self._per_kind.get(StatefulSet.KIND, 0), "statefulsets"),
            (self._per_kind.get(DaemonSet.KIND, 0), "daemonsets"),
        ]
        return " and ".join(f"{n} {what}" for n, what in counted if n)
