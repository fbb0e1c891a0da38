"""kube-state-metrics' custom resource state, for the custom kinds a run serves.

kube-state-metrics turns custom objects into series from a ``CustomResourceStateMetrics``
configuration (``--custom-resource-state-config``; docs/metrics/extend/customresourcestate-
metrics.md). The model reads the same configuration, one resource entry per definition, from the
definition's annotation :data:`ANNOTATION` (YAML or JSON; its ``groupVersionKind`` is the
definition's own, at its storage version)::

    kubechaos.io/kube-state-metrics: |
      labelsFromPath:
        name: [metadata, name]
        namespace: [metadata, namespace]
      metrics:
        - name: ready_replicas
          help: Replicas ready.
          each: {type: Gauge, gauge: {path: [status, readyReplicas]}}
        - name: status_condition
          each:
            type: Gauge
            gauge:
              path: [status, conditions]
              labelsFromPath: {type: [type]}
              valueFrom: [status]

A subset of kube-state-metrics' is modelled: ``Gauge`` metrics (values converted as
kube-state-metrics converts them, :func:`number`) at a ``path``; a path
reaching a list makes one series per element (``labelsFromPath`` and ``valueFrom`` read inside
the element), a map with ``labelFromKey`` one per key. Series are named
``<metricNamePrefix>_<name>`` (prefix ``kube_customresource`` unless set) and carry
``customresource_group``, ``customresource_kind`` and ``customresource_version`` besides the
configured labels. ``StateSet`` and ``Info`` metrics are refused with a clear error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import yaml

ANNOTATION = "kubechaos.io/kube-state-metrics"
DEFAULT_PREFIX = "kube_customresource"


class ConfigError(ValueError):
    """A configuration the model cannot read (message names the field)."""


@attrs.frozen
class GaugeMetric:
    name: str  # the full series name
    help: str
    path: tuple[str, ...]
    labels_from_path: tuple[tuple[str, tuple[str, ...]], ...]
    value_from: tuple[str, ...]
    label_from_key: str


@attrs.frozen
class ResourceMetrics:
    labels_from_path: tuple[tuple[str, tuple[str, ...]], ...]
    metrics: tuple[GaugeMetric, ...]


def _path(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str | int) for p in value):
        raise ConfigError(f"{where}: must be a list of field names, like [status, replicas]")
    return tuple(str(p) for p in value)


def _labels(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must map label names to paths")
    return tuple((str(k), _path(v, f"{where}.{k}")) for k, v in value.items())


def parse_config(text: str) -> ResourceMetrics:
    """The annotation's configuration; :class:`ConfigError` naming what is wrong."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not YAML: {exc}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("metrics"), list):
        raise ConfigError("must be a kube-state-metrics resource entry with a metrics list")
    prefix = str(doc.get("metricNamePrefix") or DEFAULT_PREFIX)
    metrics = []
    for i, entry in enumerate(doc["metrics"]):
        where = f"metrics[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}.name: required")
        each = entry.get("each")
        each = each if isinstance(each, Mapping) else {}
        kind = each.get("type")
        if kind != "Gauge":
            raise ConfigError(f"{where}.each.type: only Gauge is modelled, not {kind!r}")
        gauge = each.get("gauge")
        if not isinstance(gauge, Mapping):
            raise ConfigError(f"{where}.each.gauge: required")
        metrics.append(
            GaugeMetric(
                name=f"{prefix}_{entry['name']}",
                help=str(entry.get("help", "")),
                path=_path(gauge.get("path"), f"{where}.each.gauge.path"),
                labels_from_path=_labels(
                    gauge.get("labelsFromPath"), f"{where}.each.gauge.labelsFromPath"
                ),
                value_from=_path(gauge.get("valueFrom", []), f"{where}.each.gauge.valueFrom"),
                label_from_key=str(gauge.get("labelFromKey", "")),
            )
        )
    return ResourceMetrics(_labels(doc.get("labelsFromPath"), "labelsFromPath"), tuple(metrics))


def _at(node: Any, path: Sequence[str]) -> Any:
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def number(value: Any) -> float | None:
    """A value as kube-state-metrics converts it for a Gauge: numbers; booleans and
    "true"/"yes" / "false"/"no" (any case) as 1/0; an RFC 3339 time as its Unix timestamp;
    otherwise a number's text. None (no series) for anything else, and for null (kube-state-
    metrics' ``nilIsZero`` is not modelled)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    word = value.lower()
    if word in ("true", "yes", "false", "no"):
        return 1.0 if word in ("true", "yes") else 0.0
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _label_values(node: Any, labels: Sequence[tuple[str, tuple[str, ...]]]) -> dict[str, str]:
    out = {}
    for name, path in labels:
        value = _at(node, path)
        if value is not None:
            out[name] = str(value)
    return out


def samples(
    config: ResourceMetrics, base: Mapping[str, str], content: Mapping[str, Any]
) -> Iterator[tuple[GaugeMetric, dict[str, str], float]]:
    """Every series one object gives: (metric, labels, value)."""
    common = {**base, **_label_values(content, config.labels_from_path)}
    for metric in config.metrics:
        found = _at(content, metric.path)
        if isinstance(found, list):
            for item in found:
                value = number(_at(item, metric.value_from))
                if value is not None:
                    labels = {**common, **_label_values(item, metric.labels_from_path)}
                    yield metric, labels, value
        elif isinstance(found, Mapping) and metric.label_from_key:
            for key, item in found.items():
                value = number(_at(item, metric.value_from))
                if value is not None:
                    yield metric, {**common, metric.label_from_key: str(key)}, value
        else:
            value = number(_at(found, metric.value_from))
            if value is not None:
                yield metric, common, value


__all__ = [
    "ANNOTATION",
    "ConfigError",
    "GaugeMetric",
    "ResourceMetrics",
    "number",
    "parse_config",
    "samples",
]
