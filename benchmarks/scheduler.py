"""Scheduler micro-benchmark: the CPU cost of one scheduling attempt at 1,000 and 5,000 nodes.

The real :class:`~kubechaos.control.scheduler.Scheduler` (its informers, cache, queue and
plugins, not a copy) on an API server holding N nodes of the ``mixed`` shape (3 zones, 4 CPU /
16 GiB / 110 pods each), its ReplicaSets, Services and DaemonSet. Pods of the shape's templates
are created through the API (so admission adds the default tolerations), reach the scheduler's
queue through its pod informer, and each attempt is then run synchronously as the scheduling
loop does: PreFilter, ``find_nodes_that_fit``, ``select_host`` and the assume
(``cache.place``); the binding (API work, not the scheduler's) is left out. Only the attempts
are timed, in process CPU time.

Printed per node count and per kind of pod (``plain``: a Deployment's pod without constraints
of its own, ``spread``: a Deployment's pod with the zone DoNotSchedule spread, ``daemon``: the
DaemonSet's pod pinned to its node): attempts, microseconds per attempt, nodes filtered and
nodes scored per attempt; then how many times PreFilter parsed a pod's constraints and terms
(once per pod template, :mod:`kubechaos.control.scheduler.templates`).

    python benchmarks/scheduler.py                    # 1,000 and 5,000 nodes, 3,000 pods
    python benchmarks/scheduler.py --nodes 1000 --pods 6000
    python benchmarks/scheduler.py --nodes 1000 --profile /tmp/sched.prof
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path

import attrs
import trio

from kubechaos.api.objects import (
    DaemonSet,
    Deployment,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    ReplicaSet,
    ReplicaSetSpec,
    Resources,
    Service,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.daemon.util import daemon_tolerations, new_daemon_pod
from kubechaos.control.scheduler import Scheduler
from kubechaos.sim.clock import run_virtual

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes import MIXED_SIZES, SPREAD_FROM, ZONE_KEY, ZONES, build

HASH = "5d8f7c9b6"  # one pod-template-hash for every ReplicaSet: one revision each


def _node(name: str, zone: str) -> Node:
    capacity = Resources(4000, 16 * 2**30, 110)
    return Node(
        ObjectMeta(
            name=name,
            labels={"kubernetes.io/hostname": name, "kubechaos.io/node-group": zone}
            | {ZONE_KEY: zone},
        ),
        NodeSpec(),
        NodeStatus(
            capacity=capacity,
            allocatable=capacity,
            conditions=(NodeCondition("Ready", "True"),),
        ),
    )


async def _objects(ctx: Context, nodes: int) -> tuple[list[tuple[str, Pod]], list[Node]]:
    """Create the nodes, Services, ReplicaSets and DaemonSet; return the pod templates in the
    order the shape's Deployments come (kind, pod without name) and the nodes."""
    node_objs = [_node(f"node-{ZONES[i % 3]}-{i // 3}", ZONES[i % 3]) for i in range(nodes)]
    for node in node_objs:
        await ctx.api.create(node)
    templates: list[tuple[str, Pod]] = []
    daemon: DaemonSet | None = None
    for obj in build("mixed", nodes).objects:
        if isinstance(obj, Service):
            await ctx.api.create(obj)
        elif isinstance(obj, DaemonSet):
            daemon = await ctx.api.create(obj)
        elif isinstance(obj, Deployment):
            labels = {**obj.spec.template.metadata.labels, "pod-template-hash": HASH}
            rs = await ctx.api.create(
                ReplicaSet(
                    ObjectMeta(name=f"{obj.metadata.name}-{HASH}", namespace="default"),
                    ReplicaSetSpec(
                        selector=LabelSelector(labels),
                        template=attrs.evolve(
                            obj.spec.template,
                            metadata=attrs.evolve(obj.spec.template.metadata, labels=labels),
                        ),
                        replicas=obj.spec.replicas,
                    ),
                )
            )
            ref = OwnerReference("ReplicaSet", rs.metadata.name, rs.metadata.uid, True)
            kind = "spread" if obj.spec.replicas >= SPREAD_FROM else "plain"
            meta = ObjectMeta(namespace="default", labels=labels, owner_references=(ref,))
            templates.append((kind, Pod(meta, obj.spec.template.spec)))
    assert daemon is not None
    tolerations = daemon_tolerations(daemon.spec.template.spec.tolerations)
    for node in node_objs:
        templates.append(("daemon", new_daemon_pod(daemon, node.metadata.name, "1", tolerations)))
    return templates, node_objs


def _pods(templates: list[tuple[str, Pod]], count: int) -> list[tuple[str, Pod]]:
    """``count`` pods: the Deployments' templates round-robin (each of the MIXED_SIZES pattern
    in turn), a daemon pod after every 9 of them, as a converging cluster interleaves them."""
    deployments = [t for t in templates if t[0] != "daemon"][: len(MIXED_SIZES)]
    daemons = [t for t in templates if t[0] == "daemon"]
    out: list[tuple[str, Pod]] = []
    i = 0
    while len(out) < count:
        if i % 10 == 9 and daemons:
            out.append(daemons.pop(0))
        else:
            out.append(deployments[i % len(deployments)])
        i += 1
    return out


async def _run(
    nodes: int, count: int, profile: cProfile.Profile | None
) -> tuple[dict[str, list[int]], int]:
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    templates, _ = await _objects(ctx, nodes)
    scheduler = Scheduler(ctx)
    stats: dict[str, list[int]] = {}  # kind -> [attempts, cpu ns, filtered, scored]
    async with trio.open_nursery() as nursery:
        for informer in (scheduler.nodes, scheduler.pods, *scheduler.placement.informers):
            nursery.start_soon(informer.run)
        scheduler.placement.start = lambda informer: nursery.start_soon(informer.run)
        for informer in (scheduler.nodes, scheduler.pods, *scheduler.placement.informers):
            await informer.synced.wait()
        for n, (kind, template) in enumerate(_pods(templates, count)):
            meta = template.metadata
            pod = Pod(
                ObjectMeta(
                    name=f"{kind}-{n}",
                    namespace=meta.namespace,
                    labels=meta.labels,
                    owner_references=meta.owner_references,
                ),
                template.spec,
            )
            await ctx.api.create(pod)
            while (qp := scheduler.queue.pop()) is None:
                await trio.sleep(0.001)
            filtered, scored = scheduler.nodes_filtered, scheduler.nodes_scored
            if profile is not None:
                profile.enable()
            start = time.process_time_ns()
            view = qp.view
            view.cycle = scheduler.placement.prefilter(view)
            feasible, _, _ = scheduler.find_nodes_that_fit(view, scheduler.cache.offered_nodes())
            if feasible:
                info = scheduler.select_host(view, feasible)
                scheduler.cache.place(view.key, view.pod, info.name, True, view.pod_requests())
            elapsed = time.process_time_ns() - start
            if profile is not None:
                profile.disable()
            scheduler.queue.done(qp)
            row = stats.setdefault(kind, [0, 0, 0, 0])
            row[0] += 1
            row[1] += elapsed
            row[2] += scheduler.nodes_filtered - filtered
            row[3] += scheduler.nodes_scored - scored
        nursery.cancel_scope.cancel()
    return stats, scheduler.placement.placement_of.built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--profile", help="write a cProfile of the attempts (last size) here")
    args = parser.parse_args()
    print(
        f"{'nodes':>6} {'kind':>7} {'attempts':>8} {'us/attempt':>10} {'filtered':>9} {'scored':>7}"
    )
    for nodes in args.nodes:
        profile = cProfile.Profile() if args.profile else None
        stats, parsed = run_virtual(_run, nodes, args.pods, profile, seed=1)
        total = [sum(row[i] for row in stats.values()) for i in range(4)]
        for kind, row in [*sorted(stats.items()), ("all", total)]:
            attempts, ns, filtered, scored = row
            print(
                f"{nodes:>6} {kind:>7} {attempts:>8} {ns / attempts / 1000:>10.1f} "
                f"{filtered / attempts:>9.1f} {scored / attempts:>7.1f}"
            )
        print(f"{nodes:>6} pod templates parsed by PreFilter: {parsed} for {total[0]} attempts")
        if profile is not None:
            profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
