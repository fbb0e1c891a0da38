"""``kube_customresource_*``: kube-state-metrics' custom resource state families, from the
configurations the served definitions carry (:mod:`kubechaos.api.customstate`), read from the
API server's watch caches as kube-state-metrics reads its informers. A run with no annotated
definition has none of these families (and pays one emptiness test per collection)."""

from __future__ import annotations

import functools

from prometheus_client.metrics_core import Metric

from kubechaos.api.customstate import (
    ANNOTATION,
    DEFAULT_PREFIX,
    ConfigError,
    ResourceMetrics,
    parse_config,
    samples,
)
from kubechaos.cluster import Cluster
from kubechaos.observe.metrics.builders import add, family

PREFIX = DEFAULT_PREFIX + "_"


@functools.lru_cache(maxsize=64)
def _config(text: str) -> ResourceMetrics | None:
    try:
        return parse_config(text)
    except ConfigError:  # refused when the scenario loads; a client's bad one yields nothing
        return None


def custom_resource_families(cluster: Cluster) -> list[Metric]:
    custom = cluster.api.custom
    if not custom.definitions:
        return []
    out: dict[str, Metric] = {}
    for info in list(custom.definitions.values()):
        content = custom.crd_content(info) or {}
        text = ((content.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
        config = _config(text) if isinstance(text, str) else None
        if config is None:
            continue
        storage = next(v.name for v in info.versions if v.storage)
        base = {
            "customresource_group": info.group,
            "customresource_kind": info.kind,
            "customresource_version": storage,
        }
        for obj in custom.items(info):
            for metric, labels, value in samples(config, base, obj.content):
                held = out.get(metric.name)
                if held is None:
                    held = out[metric.name] = family(metric.name, metric.help, "gauge")
                add(held, metric.name, labels, value)
    return list(out.values())


__all__ = ["PREFIX", "custom_resource_families"]
