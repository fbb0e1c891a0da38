"""Validation of lifecycle hooks and probe grace periods, as upstream's
``pkg/apis/core/validation/validation.go`` (``validateLifecycle``, ``validateHandler``,
``validateSleepAction``, ``validateProbe``, ``validateContainerCommon``) in v1.32."""

from __future__ import annotations

from kubechaos.api.objects import Container, LifecycleHandler, Probe


def _handler_causes(field: str, handler: LifecycleHandler | None, grace: int) -> list[str]:
    if handler is None:
        return []
    if handler.actions == 0:
        return [f"{field}: Required value: must specify a handler type"]
    if handler.actions > 1:
        return [f"{field}: Forbidden: may not specify more than 1 handler type"]
    if handler.action == "exec" and not handler.command:
        return [f"{field}.exec.command: Required value"]
    if handler.action == "sleep" and not 0 < handler.seconds <= grace:
        # PodLifecycleSleepActionAllowZero (0 allowed) is alpha and off in v1.32
        return [
            f"{field}.sleep.seconds: Invalid value: {handler.seconds}: must be greater than 0 "
            f"and less than terminationGracePeriodSeconds ({grace})"
        ]
    return []


def _probe_grace_causes(field: str, probe: Probe | None) -> list[str]:
    if probe is None or probe.termination_grace_period_seconds is None:
        return []
    value = probe.termination_grace_period_seconds
    if value <= 0:
        return [f"{field}.terminationGracePeriodSeconds: Invalid value: {value}: must be > 0"]
    return []


def lifecycle_causes(field: str, container: Container, grace: int) -> list[str]:
    """Causes for ``container``'s hooks and probe grace periods; ``grace`` is the pod's
    terminationGracePeriodSeconds (a sleep hook may not outlast it)."""
    causes: list[str] = []
    if container.lifecycle is not None:
        lifecycle = container.lifecycle
        causes += _handler_causes(f"{field}.lifecycle.postStart", lifecycle.post_start, grace)
        causes += _handler_causes(f"{field}.lifecycle.preStop", lifecycle.pre_stop, grace)
    causes += _probe_grace_causes(f"{field}.livenessProbe", container.liveness_probe)
    causes += _probe_grace_causes(f"{field}.startupProbe", container.startup_probe)
    readiness = container.readiness_probe
    if readiness is not None and readiness.termination_grace_period_seconds is not None:
        causes.append(
            f"{field}.readinessProbe.terminationGracePeriodSeconds: Invalid value: "
            f"{readiness.termination_grace_period_seconds}: must not be set for readinessProbes"
        )
    return causes


__all__ = ["lifecycle_causes"]
