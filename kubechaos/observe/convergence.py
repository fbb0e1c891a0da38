"""When did the workloads converge? Deployment availability as an operator would watch it.

The watcher is an API client like ``kubectl get deployments -w``: it records
``DeploymentAvailable`` / ``DeploymentDegraded`` when a Deployment's available replicas reach or
leave its desired count, and ``Converged`` / ``Diverged`` for all Deployments together, so the
timeline reads as convergence, not as a flood of pod events.
"""

from __future__ import annotations

from kubechaos.api.objects import Deployment, key_of
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


class ConvergenceWatch:
    component = "observer"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.informer: Informer[Deployment] = Informer(
            ctx.api, "deployments", component=self.component, events=ctx.events
        )
        self.informer.add_handler(
            Handler(
                on_add=self._changed,
                on_update=lambda _old, new: self._changed(new),
                on_delete=self._deleted,
            )
        )
        self._complete: dict[str, bool] = {}
        self._ever_complete: dict[str, None] = {}
        self.converged = False
        self.converged_at: float | None = None
        self.first_converged_at: float | None = None

    async def run(self) -> None:
        await self.informer.run()

    def _changed(self, d: Deployment) -> None:
        key = key_of(d)
        complete = is_complete(d)
        if self._complete.get(key) != complete:
            self._complete[key] = complete
            s = d.status
            counts = (
                f"{s.available_replicas}/{d.spec.replicas} available, {s.updated_replicas} updated"
            )
            reason = "DeploymentAvailable" if complete else "DeploymentDegraded"
            # a Deployment that never was available is still rolling out, not degraded
            if complete or key in self._ever_complete:
                self.ctx.events.record(self.component, "Deployment", key, reason, counts)
            if complete:
                self._ever_complete[key] = None
        self._update_total()

    def _deleted(self, d: Deployment) -> None:
        self._complete.pop(key_of(d), None)
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
                self.component,
                "Cluster",
                "",
                "Converged",
                f"all {len(self._complete)} deployments available",
            )
        else:
            self.ctx.events.record(
                self.component, "Cluster", "", "Diverged", "a deployment lost availability"
            )
