"""PriorityClass names a scenario's workloads use but never define.

The Priority admission plugin (plugin/pkg/admission/priority/admission.go) refuses every pod
that names a class the cluster does not have (403, "no PriorityClass with name X was found"): in
a run, a Deployment whose template names one would never get a pod, and only a FailedCreate event
would say why. The class can be known from the files: the workloads define it, or it is one of
the two built-in classes. So a name that is neither is an error at the workload entry, naming the
object and the class, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubechaos.api.objects import APIObject, PodSpec, PriorityClass
from kubechaos.api.validation import SYSTEM_PRIORITY_CLASSES
from kubechaos.scenario.check import Path


def _pod_spec(obj: APIObject) -> tuple[str, PodSpec] | None:
    """The pod spec an object makes pods from, with its field path."""
    spec = getattr(obj, "spec", None)
    if isinstance(spec, PodSpec):
        return "spec", spec
    template = getattr(spec, "template", None)
    inner = getattr(template, "spec", None)
    if isinstance(inner, PodSpec):
        return "spec.template.spec", inner
    return None


def unknown_priority_classes(
    entries: Iterable[tuple[Path, tuple[APIObject, ...]]],
) -> list[tuple[Path, str]]:
    """(workload entry path, message) for each object naming a class nobody defines."""
    entries = list(entries)
    known = set(SYSTEM_PRIORITY_CLASSES) | {
        obj.metadata.name for _, objs in entries for obj in objs if isinstance(obj, PriorityClass)
    }
    problems: list[tuple[Path, str]] = []
    for path, objs in entries:
        for obj in objs:
            found = _pod_spec(obj)
            if found is None:
                continue
            field, spec = found
            name = spec.priority_class_name
            if name and name not in known:
                problems.append(
                    (
                        path,
                        f"{type(obj).__name__} '{obj.metadata.name}': {field}.priorityClassName: "
                        f"no PriorityClass {name!r} among the workloads (nor a built-in one): the "
                        "API server would refuse its pods (403 Forbidden)",
                    )
                )
    return problems


__all__ = ["unknown_priority_classes"]
