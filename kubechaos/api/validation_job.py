"""Validation of a batch/v1 Job (pkg/apis/batch/validation/validation.go, v1.32), the rules the
model relies on: non-negative counts, a pod template that does not restart for ever, a
completion mode the controller knows, and a selector that matches the template."""

from __future__ import annotations

from kubechaos.api.objects import Job
from kubechaos.api.validation import validate_meta, validate_pod_spec


def _non_negative(field: str, value: int | None) -> list[str]:
    if value is not None and value < 0:
        return [f"{field}: Invalid value: {value}: must be greater than or equal to 0"]
    return []


def validate_job(obj: Job) -> list[str]:
    spec = obj.spec
    causes = validate_meta(obj.metadata, True)
    causes += _non_negative("spec.parallelism", spec.parallelism)
    causes += _non_negative("spec.completions", spec.completions)
    causes += _non_negative("spec.backoffLimit", spec.backoff_limit)
    causes += _non_negative("spec.ttlSecondsAfterFinished", spec.ttl_seconds_after_finished)
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        causes.append(
            f"spec.activeDeadlineSeconds: Invalid value: {spec.active_deadline_seconds}: "
            "must be greater than 0"
        )
    if spec.completion_mode not in ("NonIndexed", "Indexed"):
        causes.append(
            f"spec.completionMode: Unsupported value: {spec.completion_mode!r}: "
            'supported values: "Indexed", "NonIndexed"'
        )
    elif spec.completion_mode == "Indexed" and spec.completions is None:
        causes.append("spec.completions: Required value: when completion mode is Indexed")
    template = spec.template
    if template.spec.restart_policy not in ("OnFailure", "Never"):
        causes.append(
            'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'
        )
    if spec.selector is None:
        if spec.manual_selector:
            causes.append("spec.selector: Required value")
    elif spec.selector.is_empty():
        causes.append("spec.selector: Required value")
    elif not spec.selector.matches(template.metadata.labels):
        causes.append(
            "spec.template.metadata.labels: Invalid value: selector does not match template labels"
        )
    return causes + validate_pod_spec("spec.template.spec", template.spec)


__all__ = ["validate_job"]
