"""The benchmark's cluster shapes are the ones issue 16 specifies (benchmarks/shapes.py).

The figures in README's benchmark table are only comparable across sizes if every shape keeps
30 pods per node as it scales: these check the shapes at the sizes the issue names, without
running them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kubechaos.api.objects import DaemonSet, Deployment, Service, StatefulSet

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _shapes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_shapes", BENCHMARKS / "shapes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_shapes"] = module
    spec.loader.exec_module(module)
    return module


shapes = _shapes()


def _deployments(objects: list[object]) -> list[Deployment]:
    return [o for o in objects if isinstance(o, Deployment)]


@pytest.mark.parametrize("shape", shapes.SHAPES)
@pytest.mark.parametrize("nodes", [250, 1000, 5000])
def test_every_shape_keeps_30_pods_per_node(shape: str, nodes: int) -> None:
    """Nodes and pods scale together (30 per node, within one small Deployment)."""
    workload = shapes.build(shape, nodes)
    assert sum(g.count for g in workload.node_groups) == nodes
    assert nodes * 30 - 3 < workload.pods <= nodes * 30


def test_few_large_is_100_deployments_of_300_with_readiness_probes_at_1000_nodes() -> None:
    """Issue 16's realistic measurement: 100 Deployments x 300 replicas, a readiness probe
    on every pod."""
    workload = shapes.build("few-large", 1000)
    deployments = _deployments(workload.objects)
    assert [d.spec.replicas for d in deployments] == [300] * 100
    for d in deployments:
        (container,) = d.spec.template.spec.containers
        assert container.readiness_probe is not None
    assert not workload.rollout and not workload.kill_fraction and not workload.crash_fraction


def test_mixed_has_every_kind_probes_spread_traffic_and_faults() -> None:
    """Deployments of 3..500 replicas, readiness and liveness on every container, zone spread
    on the large ones, a DaemonSet and StatefulSets, 10 Services at 100 requests/s from every
    node, a pod kill and a node crash."""
    workload = shapes.build("mixed", 1000)
    deployments = _deployments(workload.objects)
    sizes = {d.spec.replicas for d in deployments}
    assert min(sizes) == 3 and max(sizes) == 500
    for d in deployments:
        spec = d.spec.template.spec
        for c in spec.containers:
            assert c.readiness_probe is not None and c.liveness_probe is not None
        assert bool(spec.topology_spread) == (d.spec.replicas >= 100)
    assert sum(isinstance(o, DaemonSet) for o in workload.objects) == 1
    assert sum(isinstance(o, StatefulSet) for o in workload.objects) == 1000 // 20
    assert len({g.labels[shapes.ZONE_KEY] for g in workload.node_groups}) == 3
    assert len(workload.traffic) == 10
    assert all(rate == 100.0 and sources == () for _, rate, sources in workload.traffic)
    served = {name for name, _, _ in workload.traffic}
    assert served <= {o.metadata.name for o in workload.objects if isinstance(o, Service)}
    assert workload.kill_fraction > 0 and workload.crash_fraction > 0


def test_churn_rolls_out_every_deployment_of_the_few_large_shape() -> None:
    churn, few = shapes.build("churn", 500), shapes.build("few-large", 500)
    assert churn.rollout and not few.rollout
    assert churn.pods == few.pods


def test_an_unknown_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown shape 'huge'"):
        shapes.build("huge", 10)
