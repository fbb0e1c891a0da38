"""A running cluster for end-to-end tests, and ways to wait on it in virtual time."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from kubechaos.api.objects import Deployment, Pod
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.defaults import Settings


@asynccontextmanager
async def running(
    nodes: int = 3, seed: int = 1, settings: Settings | None = None, **group: Any
) -> AsyncIterator[Cluster]:
    """A booted cluster of one node group ``worker`` (``worker-0`` ...), cancelled on exit."""
    spec = ClusterSpec((NodeGroupSpec("worker", nodes, **group),), settings or Settings())
    cluster = Cluster(spec, seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        yield cluster
        nursery.cancel_scope.cancel()


async def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.5
) -> float:
    """Poll ``predicate`` on virtual time; return the time it first held."""
    deadline = trio.current_time() + timeout
    while not predicate():
        if trio.current_time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await trio.sleep(step)
    return trio.current_time()


def pods(cluster: Cluster, app: str = "web", namespace: str = "default") -> list[Pod]:
    return [
        p for p in cluster.api.cache("pods").list(namespace) if p.metadata.labels.get("app") == app
    ]


def ready_pods(cluster: Cluster, app: str = "web") -> list[Pod]:
    return [p for p in pods(cluster, app) if p.is_ready() and p.metadata.deletion_timestamp is None]


def deployment_of(cluster: Cluster, name: str = "web", namespace: str = "default") -> Deployment:
    return cluster.api.cache("deployments").get(f"/registry/deployments/{namespace}/{name}")


def available(cluster: Cluster, name: str = "web") -> int:
    d = deployment_of(cluster, name)
    return d.status.available_replicas if d else 0


def reasons(cluster: Cluster, component: str | None = None) -> list[str]:
    return [e.reason for e in cluster.events if component is None or e.component == component]


def steps_by_task(counter: Counter[str]) -> trio.abc.Instrument:
    """A Trio instrument adding each task step to ``counter`` under the last two dotted parts of
    the task's name (``Kubelet.run``, ``NodeHeartbeat.run``): which loops of the model woke."""

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            counter[".".join(task.name.rsplit(".", 2)[-2:])] += 1

    return Steps()
