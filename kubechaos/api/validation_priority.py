"""A pod spec's priority fields, as upstream's ValidatePodSpec checks them.

pkg/apis/core/validation/validation.go: ``priorityClassName`` must be a DNS-1123 subdomain
(ValidatePriorityClassName) and ``preemptionPolicy`` one of the two policies
(validatePreemptionPolicy). ``priority`` itself is an int32 the schema checks; whether it agrees
with the class is the Priority admission plugin's business.
"""

from __future__ import annotations

import re

from kubechaos.api.objects import PodSpec

PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")
# validation.py's DNS-1123 subdomain (not imported: that module calls this one)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def pod_priority_causes(field: str, spec: PodSpec) -> list[str]:
    causes = []
    name = spec.priority_class_name
    if name and (len(name) > 253 or not _SUBDOMAIN.fullmatch(name)):
        causes.append(
            f"{field}.priorityClassName: Invalid value: {name!r}: must be a lowercase RFC 1123 "
            "subdomain"
        )
    policy = spec.preemption_policy
    if policy and policy not in PREEMPTION_POLICIES:
        causes.append(
            f"{field}.preemptionPolicy: Unsupported value: {policy!r}: "
            'supported values: "Never", "PreemptLowerPriority"'
        )
    return causes


__all__ = ["PREEMPTION_POLICIES", "pod_priority_causes"]
