"""Which resources the garbage collector watches, and where an owner reference points.

Upstream the graph builder monitors every resource discovery lists that supports list, watch
and delete, custom resources included, and re-reads discovery every 30 s
(pkg/controller/garbagecollector/graph_builder.go ``syncMonitors``; the controller manager's
``garbageCollector.Sync``); ``events`` are ignored. Here a typed resource is watched from the
first object of its kind (as the model's on-demand controllers start), a custom resource from
the moment its definition is ``Established`` (the collector watches the definitions once the
first one exists) until the definition is gone; the 30 s discovery period is not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.crd import GROUP, KIND, crd_info
from kubechaos.api.discovery import API_RESOURCES, RESOURCE_OF_KIND
from kubechaos.api.objects import OwnerReference
from kubechaos.api.objects.custom import Unstructured

# Typed resources watched from the start: what the model's own controllers make and own.
GC_RESOURCES = ("deployments", "replicasets", "pods", "endpoints", "services")
IGNORED = frozenset({"events"})  # upstream's ignoredResources


@attrs.frozen
class Target:
    """Where an owner reference points: its resource, and whether that is namespaced."""

    resource: str
    namespaced: bool
    custom: bool


def typed_resource(kind: str) -> str | None:
    """The typed resource the collector watches for objects of ``kind`` (None: not one)."""
    if kind == KIND:
        return None
    resource = RESOURCE_OF_KIND.get(kind)
    return resource if resource is not None and resource not in IGNORED else None


def established(crd: Unstructured) -> Target | None:
    """The custom resource a definition serves, if it is Established (and valid)."""
    conditions = (crd.content.get("status") or {}).get("conditions") or ()
    if not any(
        isinstance(c, Mapping) and c.get("type") == "Established" and c.get("status") == "True"
        for c in conditions
    ):
        return None
    try:
        info = crd_info(crd.content)
    except (KeyError, TypeError):
        return None
    return Target(f"{info.plural}.{info.group}", info.namespaced, True)


class CustomKinds:
    """The custom kinds served now: (group, kind) -> target, and each definition's kind."""

    def __init__(self) -> None:
        self._targets: dict[tuple[str, str], Target] = {}
        self._kind_of: dict[str, tuple[str, str]] = {}  # definition name -> (group, kind)

    def add(self, crd: Unstructured, target: Target) -> None:
        spec: Any = crd.content.get("spec") or {}
        key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")))
        self._targets[key] = target
        self._kind_of[crd.metadata.name] = key

    def remove(self, crd: Unstructured) -> Target | None:
        key = self._kind_of.pop(crd.metadata.name, None)
        return self._targets.pop(key, None) if key is not None else None

    def target(self, ref: OwnerReference) -> Target | None:
        """Where ``ref`` points, custom kinds first (by its apiVersion's group), then typed
        ones (None: a kind the model does not serve)."""
        group = ref.api_version.rpartition("/")[0]
        custom = self._targets.get((group, ref.kind))
        if custom is not None:
            return custom
        if group == GROUP:
            return None
        resource = RESOURCE_OF_KIND.get(ref.kind)
        if resource is None:
            return None
        return Target(resource, API_RESOURCES[resource].namespaced, False)


__all__ = ["GC_RESOURCES", "CustomKinds", "Target", "established", "typed_resource"]
