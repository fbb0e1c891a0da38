"""When did the workloads converge? Deployment (and StatefulSet) availability as an operator
would watch it.

The watcher is an API client like ``kubectl get deployments -w``: it records
``DeploymentAvailable`` / ``DeploymentDegraded`` when a Deployment's available replicas reach or
leave its desired count (``StatefulSetAvailable`` / ``StatefulSetDegraded`` for a StatefulSet),
and ``Converged`` / ``Diverged`` for all of them together, so the timeline reads as convergence,
not as a flood of pod events. StatefulSets are watched only in runs that have them
(``statefulsets=True``), so other runs make the requests they always made.
"""

from __future__ import annotations

from typing import Any

import trio

from kubechaos.api.objects import Deployment, StatefulSet, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.sim.clock import now


def is_complete(d: Deployment) -> bool:
    """Desired replicas available, all updated, and the controller has seen the latest spec."""
    s = d.status
    return (
        s.observed_generation >= d.metadata.generation
        and s.updated_replicas == d.spec.replicas
        and s.available_replicas == d.spec.replicas
        and s.replicas == d.spec.replicas
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

    def __init__(self, ctx: Context, statefulsets: bool = False) -> None:
        self.ctx = ctx
        self.informer: Informer[Deployment] = Informer(
            ctx.api, "deployments", component=self.component, events=ctx.events
        )
        self.informer.add_handler(self._handler())
        self.statefulsets: Informer[StatefulSet] | None = None
        if statefulsets:
            self.statefulsets = Informer(
                ctx.api, "statefulsets", component=self.component, events=ctx.events
            )
            self.statefulsets.add_handler(self._handler())
        self._complete: dict[tuple[str, str], bool] = {}  # (kind, key) -> complete
        self._ever_complete: dict[tuple[str, str], None] = {}
        self.converged = False
        self.converged_at: float | None = None
        self.first_converged_at: float | None = None

    def _handler(self) -> Handler:
        return Handler(
            on_add=self._changed,
            on_update=lambda _old, new: self._changed(new),
            on_delete=self._deleted,
        )

    async def run(self) -> None:
        if self.statefulsets is None:
            await self.informer.run()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.informer.run)
            nursery.start_soon(self.statefulsets.run)

    def _changed(self, obj: Any) -> None:
        kind = type(obj).KIND
        key = (kind, key_of(obj))
        if isinstance(obj, StatefulSet):
            complete = is_statefulset_complete(obj)
            counts = (
                f"{obj.status.available_replicas}/{obj.spec.replicas} available, "
                f"{obj.status.ready_replicas} ready"
            )
        else:
            complete = is_complete(obj)
            s = obj.status
            counts = f"{s.available_replicas}/{obj.spec.replicas} available, {s.updated_replicas} updated"
        if self._complete.get(key) != complete:
            self._complete[key] = complete
            reason = f"{kind}Available" if complete else f"{kind}Degraded"
            # a workload that never was available is still rolling out, not degraded
            if complete or key in self._ever_complete:
                self.ctx.events.record(self.component, kind, key[1], reason, counts)
            if complete:
                self._ever_complete[key] = None
        self._update_total()

    def _deleted(self, obj: Any) -> None:
        self._complete.pop((type(obj).KIND, key_of(obj)), None)
        self._update_total()

    def _update_total(self) -> None:
        now_converged = bool(self._complete) and all(self._complete.values())
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
            lost = "a deployment" if self.statefulsets is None else "a workload"
            self.ctx.events.record(
                self.component, "Cluster", "", "Diverged", f"{lost} lost availability"
            )

    def _counted(self) -> str:
        """``3 deployments`` (as before StatefulSets existed), or each kind counted."""
        kinds = [kind for kind, _ in self._complete]
        deployments = kinds.count(Deployment.KIND)
        if self.statefulsets is None:
            return f"{deployments} deployments"
        statefulsets = kinds.count(StatefulSet.KIND)
        counted = [(deployments, "deployments"), (statefulsets, "statefulsets")]
        return " and ".join(f"{n} {what}" for n, what in counted if n)
