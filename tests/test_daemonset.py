"""DaemonSets end to end against upstream v1.32."""

from __future__ import annotations

from kubechaos.api.objects import DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, ObjectMeta
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster

from .factories import template
from .harness import pods, running, wait_until


def daemonset(
    name: str = "agent",
    strategy: DaemonSetUpdateStrategy | None = None,
    min_ready: int = 0,
    **spec_kwargs: object,
) -> DaemonSet:
    labels = {"app": name}
    return DaemonSet(
        ObjectMeta(name=name, namespace="default"),
        DaemonSetSpec(
            LabelSelector(labels),
            template(labels, **spec_kwargs),
            strategy or DaemonSetUpdateStrategy(),
            min_ready,
        ),
    )


def get_ds(cluster: Cluster, name: str = "agent") -> DaemonSet:
    return cluster.api.cache("daemonsets").get(f"/registry/daemonsets/default/{name}")


async def test_smoke() -> None:
    async with running(nodes=3) as cluster:
        await cluster.apply([daemonset()])
        await wait_until(
            lambda: len([p for p in pods(cluster, "agent") if p.is_ready()]) == 3, 60, "3"
        )
        await wait_until(lambda: get_ds(cluster).status.number_available == 3, 30, "status")
        print(get_ds(cluster).status)
        print(sorted(p.spec.node_name for p in pods(cluster, "agent")))
        print(pods(cluster, "agent")[0].spec.tolerations)
