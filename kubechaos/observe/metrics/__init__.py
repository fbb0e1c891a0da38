"""Prometheus metrics of a run, named as upstream and kube-state-metrics name them.

The package is split by where a family's numbers come from, as upstream splits its exporters:

- :mod:`.kubestate`: kube-state-metrics families, one renderer per kind, read from the API
  server's watch cache;
- :mod:`.components`: each component's own metrics (``apiserver_*``, ``etcd_*``,
  ``scheduler_*``, ``workqueue_*``, ``kubelet_*``, ``kubeproxy_*``), one function per component;
- :mod:`.chaos`: the ``kubechaos_*`` families of traffic, faults and the virtual clock;
- :mod:`.builders`: the family, sample and histogram helpers all of them (and observers adding
  their own families) build with;
- :mod:`.collector`: :class:`ClusterCollector`, which wires them together in exposition order,
  and :func:`new_registry`, the run's own registry.

What other rooms use is exposed here: the collector and its registry, the catalogue of family
names (:data:`FAMILIES`, :func:`family_of`), :func:`samples` for tests and tools, the fault
ledger, and the builders an observer needs for the families it adds with
:meth:`ClusterCollector.add_source`.
"""

from kubechaos.observe.metrics.builders import add, bucketed, family, histogram
from kubechaos.observe.metrics.chaos import FaultLedger
from kubechaos.observe.metrics.collector import (
    FAMILIES,
    ClusterCollector,
    family_of,
    new_registry,
    samples,
)

__all__ = [
    "FAMILIES",
    "ClusterCollector",
    "FaultLedger",
    "add",
    "bucketed",
    "family",
    "family_of",
    "histogram",
    "new_registry",
    "samples",
]
