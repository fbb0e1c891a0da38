"""Scale benchmark: how fast does the model run a large cluster?

For each size: N nodes, N Deployments of 30 replicas (30 pods per node on average) each behind a
Service with traffic on. The cluster runs to convergence, then 10 more virtual minutes. Printed
per size: wall time to converge, virtual seconds per wall second over the steady 10 minutes, model
events per wall second, and peak RSS of the process (each size runs in its own process so the
peaks do not mix).

    python benchmarks/scale.py --nodes 100 1000 5000

Targets (issue 2): 1,000 nodes / 30,000 pods at >= 50x real time; 5,000 nodes / 150,000 pods
faster than real time and under 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import trio

from kubechaos.api.objects import (
    Container,
    Deployment,
    DeploymentSpec,
    ObjectMeta,
    PodSpec,
    PodTemplate,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.sim.clock import run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec

PODS_PER_DEPLOYMENT = 30
STEADY_SECONDS = 600.0
CONVERGENCE_LIMIT = 3600.0


def workloads(count: int) -> list[Deployment | Service]:
    objects: list[Deployment | Service] = []
    for i in range(count):
        labels = {"app": f"app-{i}"}
        container = Container("app", "registry.example/app:1", requests=Resources(100, 64 * 2**20))
        objects.append(
            Deployment(
                ObjectMeta(name=f"app-{i}", namespace="default"),
                DeploymentSpec(
                    selector=LabelSelector(labels),
                    template=PodTemplate(
                        ObjectMeta(labels=labels), PodSpec(containers=(container,))
                    ),
                    replicas=PODS_PER_DEPLOYMENT,
                ),
            )
        )
        objects.append(
            Service(
                ObjectMeta(name=f"app-{i}", namespace="default"),
                ServiceSpec(selector=labels, ports=(ServicePort(80, 8080),)),
            )
        )
    return objects


def measure(nodes: int, traffic_rate: float) -> dict[str, float]:
    spec = ClusterSpec((NodeGroupSpec("node", nodes),))
    cluster = Cluster(spec, seed=1)
    watch = ConvergenceWatch(cluster.ctx)
    objects = workloads(nodes)
    traffic = TrafficGenerator(
        cluster.ctx,
        cluster.proxies,
        cluster.network,
        [
            TrafficSpec(service=o.metadata.name, rate=traffic_rate)
            for o in objects
            if isinstance(o, Service)
        ],
    )
    marks: dict[str, float] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            nursery.start_soon(watch.run)
            await cluster.apply(objects)
            nursery.start_soon(traffic.run)
            while not watch.converged and trio.current_time() < CONVERGENCE_LIMIT:
                await trio.sleep(5)
            marks["converged_virtual"] = trio.current_time()
            marks["converged_wall"] = time.perf_counter()
            marks["events_at_convergence"] = len(cluster.ctx.events)
            await trio.sleep(STEADY_SECONDS)
            marks["steady_end_wall"] = time.perf_counter()
            nursery.cancel_scope.cancel()

    start = time.perf_counter()
    run_virtual(main, seed=1)
    end = time.perf_counter()
    steady_wall = marks["steady_end_wall"] - marks["converged_wall"]  # teardown excluded
    return {
        "nodes": nodes,
        "pods": nodes * PODS_PER_DEPLOYMENT // 1,
        "converged": float(watch.converged),
        "converge_virtual_s": marks["converged_virtual"],
        "converge_wall_s": marks["converged_wall"] - start,
        "steady_speed_x": STEADY_SECONDS / steady_wall,
        "overall_speed_x": (marks["converged_virtual"] + STEADY_SECONDS) / (end - start),
        "events_per_wall_s": len(cluster.ctx.events) / (end - start),
        "events": len(cluster.ctx.events),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rate", type=float, default=1.0, help="requests/s per Service")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size in this process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.rate)))
        return
    header = f"{'nodes':>6} {'pods':>7} {'converge(virt)':>14} {'converge(wall)':>14} {'steady x':>9} {'overall x':>9} {'events/s':>9} {'RSS MiB':>8}"
    print(header)
    for nodes in args.nodes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(nodes), "--rate", str(args.rate)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{nodes:>6} failed:\n{out.stderr}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        flag = "" if r["converged"] else "  (did not converge)"
        print(
            f"{r['nodes']:>6} {r['pods']:>7} {r['converge_virtual_s']:>13.0f}s {r['converge_wall_s']:>13.1f}s"
            f" {r['steady_speed_x']:>8.1f}x {r['overall_speed_x']:>8.1f}x {r['events_per_wall_s']:>9.0f}"
            f" {r['peak_rss_mib']:>8.0f}{flag}",
            flush=True,
        )


if __name__ == "__main__":
    main()
