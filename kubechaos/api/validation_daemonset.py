"""DaemonSet validation (pkg/apis/apps/validation ValidateDaemonSet / ValidateDaemonSetSpec)."""

from __future__ import annotations

from typing import Any

from kubechaos.api.objects import DaemonSet
from kubechaos.api.validation import (
    _percent_or_int_causes,
    _selector_causes,
    validate_meta,
    validate_pod_spec,
)


def validate_daemonset(obj: DaemonSet) -> list[str]:
    """The selector matches the template; the template restarts Always; the update strategy is
    RollingUpdate or OnDelete; a rolling update has exactly one of maxUnavailable and maxSurge
    non-zero (each a non-negative integer or a percentage of at most 100%), as
    ValidateRollingUpdateDaemonSet: surge needs ``maxUnavailable: 0``."""
    spec = obj.spec
    causes = (
        validate_meta(obj.metadata, True)
        + _selector_causes(obj)  # type: ignore[arg-type]
        + validate_pod_spec("spec.template.spec", spec.template.spec)
    )
    if spec.template.spec.restart_policy != "Always":
        causes.append(
            "spec.template.spec.restartPolicy: Unsupported value: "
            f'{spec.template.spec.restart_policy!r}: supported values: "Always"'
        )
    if spec.min_ready_seconds < 0:
        causes.append(
            f"spec.minReadySeconds: Invalid value: {spec.min_ready_seconds}: "
            "must be greater than or equal to 0"
        )
    strategy = spec.update_strategy
    if strategy.type not in ("RollingUpdate", "OnDelete"):
        causes.append(
            f"spec.updateStrategy.type: Unsupported value: {strategy.type!r}: "
            'supported values: "OnDelete", "RollingUpdate"'
        )
    if strategy.type == "RollingUpdate":
        causes += _bound_causes("maxUnavailable", strategy.max_unavailable)
        causes += _bound_causes("maxSurge", strategy.max_surge)
        field = "spec.updateStrategy.rollingUpdate"
        has_unavailable = not _is_zero(strategy.max_unavailable)
        has_surge = not _is_zero(strategy.max_surge)
        if has_unavailable and has_surge:
            causes.append(
                f"{field}.maxSurge: Invalid value: {strategy.max_surge!r}: "
                "may not be set when maxUnavailable is non-zero"
            )
        elif not has_unavailable and not has_surge:
            causes.append(f"{field}.maxUnavailable: Required value: cannot be 0 when maxSurge is 0")
    return causes


def _bound_causes(name: str, value: int | str) -> list[str]:
    field = f"spec.updateStrategy.rollingUpdate.{name}"
    found = _percent_or_int_causes(field, value)
    if not found and isinstance(value, str) and int(value.rstrip("%")) > 100:
        found = [f"{field}: Invalid value: {value!r}: must not be greater than 100%"]
    return found


def _is_zero(value: Any) -> bool:
    return value in (0, "0%")
