"""The horizontal pod autoscaler controller (pkg/controller/podautoscaler/horizontal.go, v1.32).

Every HPA is reconciled once per ``--horizontal-pod-autoscaler-sync-period`` (15 s): upstream's
queue adds each HPA with a fixed 15 s delay, on creation, on change and after each sync, and
drops an add while one is pending. A sync:

1. reads the target's scale through the API server (``GET <resource>/scale``,
   :mod:`~kubechaos.control.controllers.podautoscaler.scale`);
2. if the target has 0 replicas, scaling is disabled (ScalingActive False, ScalingDisabled);
   above ``maxReplicas`` or below ``minReplicas`` (default 1), the scale goes straight to the
   bound; otherwise each metric proposes a replica count from the metrics API (metrics-server's
   last scrape, :mod:`kubechaos.client.metrics`) and the pods the scale's selector matches
   (:mod:`~kubechaos.control.controllers.podautoscaler.metrics`,
   :mod:`~kubechaos.control.controllers.podautoscaler.replicas`), the largest wins, and
   stabilization and rate limits bound it
   (:mod:`~kubechaos.control.controllers.podautoscaler.normalize`);
3. writes the new ``spec.replicas`` through the scale subresource (event ``SuccessfulRescale``,
   "New size: N; reason: ..."), and the HPA's status: currentReplicas, desiredReplicas,
   lastScaleTime, currentMetrics, conditions AbleToScale / ScalingActive / ScalingLimited.

Recommendations and scale events live in the controller's memory, so a restarted controller
manager starts them afresh, as upstream's. Pods are indexed by namespace (one dict operation per
pod event); a sync reads the pods of its HPA's namespace only.
"""

from __future__ import annotations

import attrs
import trio

from kubechaos.api import errors, workcount
from kubechaos.api.objects import (
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition,
    MetricStatus,
    Pod,
    key_of,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import (
    Handler,
    Informer,
)
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.podautoscaler.metrics import compute_replicas_for_metrics
from kubechaos.control.controllers.podautoscaler.normalize import (
    Condition,
    History,
    normalize,
    normalize_with_behavior,
    store_scale_event,
)
from kubechaos.control.controllers.podautoscaler.replicas import Timing
from kubechaos.control.controllers.podautoscaler.scale import (
    SCALABLE,
    Scale,
    get_scale,
    update_scale,
)
from kubechaos.sim.clock import now


@attrs.define
class _Sync:
    """One reconcile's working state (upstream mutates a copy of the HPA as it goes)."""

    hpa: HorizontalPodAutoscaler
    conditions: dict[str, HorizontalPodAutoscalerCondition]
    t: float
    metrics: tuple[MetricStatus, ...] | None = None  # None: currentMetrics left as they were

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        """setCondition: the transition time moves only when the status changes."""
        old = self.conditions.get(type_)
        since = old.last_transition_time if old is not None and old.status == status else self.t
        self.conditions[type_] = HorizontalPodAutoscalerCondition(
            type_, status, reason, message, since
        )


class HorizontalController(Controller):
    name = "horizontal-pod-autoscaler"
    queue_name = "horizontalpodautoscaler"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.hpas: Informer[HorizontalPodAutoscaler] = ctx.informer(
            "horizontalpodautoscalers", self.name
        )
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.history: dict[str, History] = {}
        s = ctx.settings
        self.timing = Timing(
            s.hpa_tolerance, s.hpa_cpu_initialization_period, s.hpa_initial_readiness_delay
        )
        self.hpas.add_handler(Handler(self._hpa_event, self._hpa_update, self._hpa_delete))
        # the pods of a target's selector come from the informer's label index (added with the
        # first HPA sync, so a cluster without HPAs keeps none)

    async def wait_synced(self) -> None:
        for informer in (self.hpas, self.pods):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.hpas, self.pods):
                nursery.start_soon(informer.run)
            await super().run()

    # ------------------------------------------------------------------ handlers
    def _hpa_event(self, hpa: HorizontalPodAutoscaler) -> None:
        """enqueueHPA: always after the resync period (AddRateLimited with a fixed interval)."""
        self.queue.add_after(key_of(hpa), self.ctx.settings.hpa_sync_period)

    def _hpa_update(self, old: HorizontalPodAutoscaler, new: HorizontalPodAutoscaler) -> None:
        self._hpa_event(new)

    def _hpa_delete(self, hpa: HorizontalPodAutoscaler) -> None:
        self.history.pop(key_of(hpa), None)

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.history.pop(key, None)
            return
        try:
            await self._reconcile(hpa, key)
        finally:  # processed every resync period, whatever happened
            self.queue.add_after(key, self.ctx.settings.hpa_sync_period)

    async def _reconcile(self, hpa: HorizontalPodAutoscaler, key: str) -> None:
        """reconcileAutoscaler."""
        s = _Sync(hpa, {c.type: c for c in hpa.status.conditions}, now())
        scale = await self._scale(s, key)
        if scale is None:
            return await self._write_status(s, hpa.status.current_replicas, None, False)
        s.set(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        current = scale.spec_replicas
        spec = hpa.spec
        desired, reason, rescale = current, "", True
        if current == 0 and spec.min_replicas != 0:
            desired, rescale, s.metrics = 0, False, ()
            s.set(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > spec.max_replicas:
            desired, reason = spec.max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < spec.min_replicas:
            desired, reason = spec.min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            proposal = self._from_metrics(s, key, scale)
            if proposal is None:
                return await self._write_status(s, current, None, False)
            desired, reason = proposal
            rescale = desired != current
        if rescale and not await self._rescale(s, key, scale, desired, reason):
            return await self._write_status(s, current, None, False)
        await self._write_status(s, current, desired if rescale else current, rescale)

    async def _scale(self, s: _Sync, key: str) -> Scale | None:
        ref = s.hpa.spec.scale_target_ref
        try:
            if ref.kind not in SCALABLE:
                raise errors.NotFound(f'no matches for kind "{ref.kind}" with a scale subresource')
            return await get_scale(self.api, ref.kind, s.hpa.metadata.namespace, ref.name)
        except errors.APIError as exc:
            self.events.record(
                self.name, "HorizontalPodAutoscaler", key, "FailedGetScale", str(exc)
            )
            s.set(
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {exc}",
            )
            return None

    def _from_metrics(self, s: _Sync, key: str, scale: Scale) -> tuple[int, str] | None:
        """The metrics' proposal, normalized; None when no metric could be computed."""
        hpa, current = s.hpa, scale.spec_replicas
        if scale.selector is None or scale.selector.is_empty():
            self.events.record(
                self.name,
                "HorizontalPodAutoscaler",
                key,
                "SelectorRequired",
                "selector is required",
            )
            s.set(
                "ScalingActive",
                "False",
                "InvalidSelector",
                "the HPA target's scale is missing a selector",
            )
            return None
        pods = self._selected(hpa.metadata.namespace, scale)
        names = {p.metadata.name for p in pods}
        in_namespace = self.ctx.metrics.pod_metrics(hpa.metadata.namespace)
        pod_metrics = {n: m for n, m in in_namespace.items() if n in names}
        computed = compute_replicas_for_metrics(hpa, current, pods, pod_metrics, self.timing, s.t)
        s.metrics = computed.statuses
        if computed.failure is not None:
            reason, message = computed.failure
            self.events.record(self.name, "HorizontalPodAutoscaler", key, reason, message)
            if computed.replicas == -1:
                s.set(
                    "ScalingActive",
                    "False",
                    reason,
                    f"the HPA was unable to compute the replica count: {message}",
                )
                return None
        s.set(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {computed.metric}",
        )
        desired = computed.replicas
        reason = ""
        if desired > current:
            reason = f"{computed.metric} above target"
        elif desired < current:
            reason = "All metrics below target"
        desired = self._normalize(s, key, current, desired)
        return desired, reason

    def _normalize(self, s: _Sync, key: str, current: int, proposed: int) -> int:
        spec, settings = s.hpa.spec, self.ctx.settings
        history = self.history.setdefault(key, History())
        conds: list[Condition]
        if spec.behavior is None:
            desired, conds = normalize(
                history,
                current,
                proposed,
                spec.min_replicas,
                spec.max_replicas,
                settings.hpa_downscale_stabilization,
                s.t,
            )
        else:
            desired, conds = normalize_with_behavior(
                history,
                spec.behavior,
                current,
                proposed,
                spec.min_replicas,
                spec.max_replicas,
                settings.hpa_downscale_stabilization,
                s.t,
            )
        for cond in conds:
            s.set(*cond)
        return desired

    async def _rescale(self, s: _Sync, key: str, scale: Scale, desired: int, reason: str) -> bool:
        try:
            await update_scale(self.api, scale, desired)
        except errors.APIError as exc:
            self.events.record(
                self.name,
                "HorizontalPodAutoscaler",
                key,
                "FailedRescale",
                f"New size: {desired}; reason: {reason}; error: {exc}",
            )
            s.set(
                "AbleToScale",
                "False",
                "FailedUpdateScale",
                f"the HPA controller was unable to update the target scale: {exc}",
            )
            return False
        s.set(
            "AbleToScale",
            "True",
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
        self.events.record(
            self.name,
            "HorizontalPodAutoscaler",
            key,
            "SuccessfulRescale",
            f"New size: {desired}; reason: {reason}",
        )
        history = self.history.setdefault(key, History())
        store_scale_event(history, s.hpa.spec.behavior, scale.spec_replicas, desired, s.t)
        return True

    def _selected(self, namespace: str, scale: Scale) -> list[Pod]:
        selector = scale.selector
        assert selector is not None
        pods = self.pods.select(namespace, selector)  # only those carrying its labels
        workcount.PODS_VISITED += len(pods)
        return pods

    async def _write_status(
        self, s: _Sync, current: int, desired: int | None, rescaled: bool
    ) -> None:
        """setStatus + updateStatusIfNeeded (``desired`` None: only the current replicas and
        metrics, as setCurrentReplicasAndMetricsInStatus)."""
        hpa = s.hpa
        old = hpa.status
        status = attrs.evolve(
            old,
            observed_generation=hpa.metadata.generation,
            current_replicas=current,
            desired_replicas=old.desired_replicas if desired is None else desired,
            current_metrics=old.current_metrics if s.metrics is None else s.metrics,
            last_scale_time=s.t if rescaled else old.last_scale_time,
            conditions=tuple(s.conditions[t] for t in _ORDER if t in s.conditions),
        )
        if status == old:
            return
        try:
            await self.api.update_status(attrs.evolve(hpa, status=status))
        except errors.APIError as exc:
            key = key_of(hpa)
            self.events.record(
                self.name, "HorizontalPodAutoscaler", key, "FailedUpdateStatus", str(exc)
            )


_ORDER = ("AbleToScale", "ScalingActive", "ScalingLimited")

__all__ = ["HorizontalController"]
