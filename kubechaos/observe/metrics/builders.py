"""The building blocks every metric family is made of: a family, a sample, a histogram.

prometheus-client's ``Metric`` and ``Sample`` are plain records; these helpers fill them the way
every family of a run needs (kube-state-metrics, component metrics, ``kubechaos_*`` families and
the families observers add with :meth:`ClusterCollector.add_source`). They stand apart so that
those modules share one way to write a histogram's cumulative buckets, and none of them needs
the collector. Upstream's counterpart is client_golang's histogram (``le`` buckets, ``_count``,
``_sum``), which prometheus-client mirrors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample


def family(name: str, help: str, typ: str, unit: str = "") -> Metric:
    return Metric(name, help, typ, unit)


def add(metric: Metric, name: str, labels: dict[str, str], value: float) -> None:
    metric.samples.append(Sample(name, labels, value, None, None))


def histogram(
    name: str,
    help: str,
    unit: str,
    label_names: Sequence[str],
    series: Iterable[tuple[Sequence[str], Sequence[float], Sequence[int], float]],
) -> Metric:
    """A histogram family from ``(label values, bounds, non-cumulative counts, sum)`` per series;
    ``counts`` has one more entry than ``bounds`` (observations above the last bound)."""
    metric = family(name, help, "histogram", unit)
    for values, bounds, counts, total in series:
        labels = dict(zip(label_names, values, strict=True))
        cumulative = 0
        for bound, count in zip(bounds, counts, strict=False):
            cumulative += count
            add(metric, f"{name}_bucket", {**labels, "le": _le(bound)}, cumulative)
        cumulative += counts[len(bounds)] if len(counts) > len(bounds) else 0
        add(metric, f"{name}_bucket", {**labels, "le": "+Inf"}, cumulative)
        add(metric, f"{name}_count", labels, cumulative)
        add(metric, f"{name}_sum", labels, total)
    return metric


def _le(bound: float) -> str:
    return repr(float(bound))


def bucketed(values: Iterable[float], bounds: Sequence[float]) -> tuple[list[int], float]:
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for v in values:
        total += v
        for i, bound in enumerate(bounds):
            if v <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return counts, total
