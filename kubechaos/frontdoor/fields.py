"""Field selectors as the API server supports them, kind by kind.

Every kind supports ``metadata.name`` and ``metadata.namespace``; each kind adds the fields its
registry's ``GetAttrs`` exposes (pods: ``spec.nodeName``, ``status.phase``, ...; events:
``involvedObject.*``, ``reason``, ``type``, ...). Any other field is refused with upstream's
``field label not supported`` (400). ``spec.nodeName=X`` on pods is handed to the model's watch
cache, which indexes pods by node; the rest are applied here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.selectors import FieldSelector
from kubechaos.frontdoor.paths import BadQuery, FieldTerm

Getter = Callable[[Any], str]


def _meta_name(obj: Any) -> str:
    return str(obj.metadata.name)


def _meta_namespace(obj: Any) -> str:
    return str(obj.metadata.namespace)


_COMMON: dict[str, Getter] = {"metadata.name": _meta_name, "metadata.namespace": _meta_namespace}

# pkg/registry/<kind>/strategy.go ToSelectableFields / GetAttrs (the fields the model holds).
_BY_RESOURCE: dict[str, dict[str, Getter]] = {
    "pods": {
        "spec.nodeName": lambda p: p.spec.node_name,
        "spec.restartPolicy": lambda p: p.spec.restart_policy,
        "spec.schedulerName": lambda p: p.spec.scheduler_name,
        "status.phase": lambda p: p.status.phase,
        "status.podIP": lambda p: p.status.pod_ip,
    },
    "nodes": {"spec.unschedulable": lambda n: "true" if n.spec.unschedulable else "false"},
    "namespaces": {"status.phase": lambda n: n.phase},
    "replicasets": {"status.replicas": lambda r: str(r.status.replicas)},
    "secrets": {"type": lambda s: s.type},
}


def getters(resource: str, extra: dict[str, Getter] | None = None) -> dict[str, Getter]:
    return {**_COMMON, **_BY_RESOURCE.get(resource, {}), **(extra or {})}


class FieldFilter:
    """The terms of one request's field selector, checked against objects."""

    def __init__(
        self, resource: str, terms: tuple[FieldTerm, ...], extra: dict[str, Getter] | None = None
    ) -> None:
        known = getters(resource, extra)
        self.checks: list[tuple[Getter, str, bool]] = []
        self.model_selector: FieldSelector | None = None
        for term in terms:
            getter = known.get(term.field)
            if getter is None:
                raise BadQuery(f"field label not supported: {term.field}")
            if resource == "pods" and term.field == "spec.nodeName" and not term.negated:
                # the watch cache's node index serves this one
                self.model_selector = FieldSelector(term.value)
            self.checks.append((getter, term.value, term.negated))

    def matches(self, obj: Any) -> bool:
        return all((getter(obj) == value) != negated for getter, value, negated in self.checks)

    def __bool__(self) -> bool:
        return bool(self.checks)


__all__ = ["FieldFilter", "getters"]
