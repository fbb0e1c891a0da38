"""The Priority admission plugin: a new pod's priority, resolved from its PriorityClass.

Upstream's plugin/pkg/admission/priority/admission.go (admitPod, on create): a pod naming a
``priorityClassName`` gets that class's ``value`` as ``spec.priority`` and its
``preemptionPolicy``; a pod naming none gets the global default class's (the one of lowest value
if a race left several), or priority 0 and ``PreemptLowerPriority`` when there is none. A class
that does not exist, or a ``priority`` / ``preemptionPolicy`` the pod spells differently from the
class, is refused with 403 Forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubechaos.api import errors
from kubechaos.api.objects import ObjectMeta, PodSpec, PriorityClass

DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"
NO_DEFAULT_PRIORITY = 0  # scheduling.DefaultPriorityWhenNoDefaultClassExists


def admit_priority(
    spec: PodSpec, meta: ObjectMeta, classes: Iterable[PriorityClass]
) -> dict[str, Any]:
    """The ``priorityClassName``, ``priority`` and ``preemptionPolicy`` of the pod with ``spec``
    and ``meta`` resolved: the changes to its spec (the caller makes them with the rest of its
    admission, in one copy)."""
    name = spec.priority_class_name
    if name:
        found = next((pc for pc in classes if pc.metadata.name == name), None)
        if found is None:
            _refuse(meta, f"no PriorityClass with name {name} was found")
        assert found is not None
        priority, policy = found.value, found.preemption_policy
    else:
        defaults = [pc for pc in classes if pc.global_default]
        if defaults:
            default = min(defaults, key=lambda pc: pc.value)
            name, priority, policy = default.metadata.name, default.value, default.preemption_policy
        else:
            priority, policy = NO_DEFAULT_PRIORITY, DEFAULT_PREEMPTION_POLICY
    if spec.priority is not None and spec.priority != priority:
        _refuse(
            meta,
            f"the integer value of priority ({spec.priority}) must not be provided in pod spec; "
            f"priority admission controller computed {priority} from the given PriorityClass name",
        )
    policy = policy or DEFAULT_PREEMPTION_POLICY
    if spec.preemption_policy and spec.preemption_policy != policy:
        _refuse(
            meta,
            f"the string value of PreemptionPolicy ({spec.preemption_policy}) must not be "
            f"provided in pod spec; priority admission controller computed {policy} from the "
            "given PriorityClass name",
        )
    return {"priority_class_name": name, "priority": priority, "preemption_policy": policy}


def _refuse(meta: ObjectMeta, why: str) -> None:
    """admission.NewForbidden: named by the pod's name, or its generateName before one is made."""
    raise errors.Forbidden(f'pods "{meta.generate_name or meta.name}" is forbidden: {why}')


__all__ = ["DEFAULT_PREEMPTION_POLICY", "admit_priority"]
