"""Scale benchmark: how fast does the model run a large cluster?

For each size: N nodes, N Deployments of 30 replicas (30 pods per node on average) each behind a
Service with 1 request/s of traffic from 3 client nodes (``--clients``; 0 sends from every node,
which makes kubechaos_service_requests_total{source_node} grow to services x nodes series). The cluster runs to convergence, then 10 more virtual minutes. Printed
per size: wall time to converge, virtual seconds per wall second over the steady 10 minutes, model
events per wall second, and peak RSS of the process (each size runs in its own process so the
peaks do not mix).

    python benchmarks/scale.py --nodes 100 1000 5000
    python benchmarks/scale.py --nodes 1000 --openmetrics   # also with --openmetrics recording
    python benchmarks/scale.py --nodes 1000 --shape mixed   # + a DaemonSet and StatefulSets

``--shape mixed`` adds what real clusters run beside their Deployments (issue 13): a node-agent
DaemonSet (one pod on every node) and one StatefulSet of 3 replicas (OrderedReady, behind a
headless Service) per 20 nodes. Its rows say ``+mixed``; the plain shape is the default, and
a run of it uses none of the newer kinds, so it measures what they cost runs that do not use
them (nothing, by design: their controllers start with their first object).

With ``--openmetrics`` each size runs twice: as above, then the same run recording every series
every 15 virtual seconds to an OpenMetrics file (an OpenMetricsRecorder task, as ``kubechaos run
--openmetrics`` adds one; the file goes to a temporary directory and is deleted). The second row
includes the recording's whole cost, the final file write too; a line under it compares its wall
time with the plain run's and shows the time spent sampling and writing, the samples written and
the file's size. (The recorder's own task shifts Trio's seeded tie-breaks, so the two runs are not
event-for-event identical; they do the same work. ``kubechaos run`` attaches the recorder to
the run's observer ticker instead, which leaves the run unchanged.)

Targets (issue 2): 1,000 nodes / 30,000 pods at >= 50x real time; 5,000 nodes / 150,000 pods
faster than real time and under 4 GiB. Issue 4: recording at 15 s costs at most 25% more wall
time at 1,000 nodes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from kubechaos.api.objects import (
    Container,
    DaemonSet,
    DaemonSetSpec,
    Deployment,
    DeploymentSpec,
    ObjectMeta,
    PodSpec,
    PodTemplate,
    Resources,
    Service,
    ServicePort,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.export.openmetrics import DEFAULT_INTERVAL, OpenMetricsRecorder
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.observe.metrics import ClusterCollector
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


NODES_PER_STATEFULSET = 20
STATEFULSET_REPLICAS = 3


def mixed_workloads(nodes: int) -> list[DaemonSet | StatefulSet | Service]:
    """A node-agent DaemonSet on every node, and a 3-replica StatefulSet (with its headless
    Service) per 20 nodes: the kinds beside the Deployments in a realistic cluster."""
    agent_labels = {"app": "node-agent"}
    agent = Container("agent", "registry.example/agent:1", requests=Resources(50, 32 * 2**20))
    objects: list[DaemonSet | StatefulSet | Service] = [
        DaemonSet(
            ObjectMeta(name="node-agent", namespace="default"),
            DaemonSetSpec(
                selector=LabelSelector(agent_labels),
                template=PodTemplate(ObjectMeta(labels=agent_labels), PodSpec(containers=(agent,))),
            ),
        )
    ]
    for i in range(max(1, nodes // NODES_PER_STATEFULSET)):
        labels = {"app": f"db-{i}"}
        db = Container("db", "registry.example/db:1", requests=Resources(100, 128 * 2**20))
        objects.append(
            Service(
                ObjectMeta(name=f"db-{i}", namespace="default"),
                ServiceSpec(selector=labels, ports=(ServicePort(5432, 5432),), cluster_ip="None"),
            )
        )
        objects.append(
            StatefulSet(
                ObjectMeta(name=f"db-{i}", namespace="default"),
                StatefulSetSpec(
                    selector=LabelSelector(labels),
                    template=PodTemplate(ObjectMeta(labels=labels), PodSpec(containers=(db,))),
                    replicas=STATEFULSET_REPLICAS,
                    service_name=f"db-{i}",
                ),
            )
        )
    return objects


class TimedRecorder(OpenMetricsRecorder):
    """An OpenMetricsRecorder that also adds up the wall time its samples take."""

    sample_wall = 0.0

    def sample(self, at: float) -> None:
        started = time.perf_counter()
        super().sample(at)
        self.sample_wall += time.perf_counter() - started


def client_nodes(index: int, nodes: int, clients: int) -> tuple[str, ...]:
    """The source nodes of Service ``index``'s traffic: ``clients`` neighbouring nodes (its
    client pods live there), or every node when ``clients`` is 0."""
    if clients <= 0:
        return ()
    return tuple(f"node-{(index * clients + j) % nodes}" for j in range(min(clients, nodes)))


def measure(
    nodes: int,
    traffic_rate: float,
    record: bool = False,
    record_dir: str | None = None,
    clients: int = 3,
    mixed: bool = False,
) -> dict[str, float]:
    spec = ClusterSpec((NodeGroupSpec("node", nodes),))
    cluster = Cluster(spec, seed=1)
    watch = ConvergenceWatch(cluster.ctx)
    objects = workloads(nodes)
    extra = mixed_workloads(nodes) if mixed else []
    traffic = TrafficGenerator(
        cluster.ctx,
        cluster.proxies,
        cluster.network,
        [
            TrafficSpec(
                service=o.metadata.name,
                rate=traffic_rate,
                source_nodes=client_nodes(i, nodes, clients),
            )
            for i, o in enumerate(o for o in objects if isinstance(o, Service))
        ],
    )
    marks: dict[str, float] = {}
    spool = tempfile.TemporaryDirectory(prefix="kubechaos-bench-", dir=record_dir)
    recorder = None
    if record:
        collector = ClusterCollector(cluster, traffic.stats)
        recorder = TimedRecorder(
            collector, Path(spool.name) / "run.om", time.time(), DEFAULT_INTERVAL
        )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            nursery.start_soon(watch.run)
            if recorder is not None:
                nursery.start_soon(recorder.run)  # where Run starts the tasks the CLI adds
            await cluster.apply([*objects, *extra])
            nursery.start_soon(traffic.run)
            while not watch.converged and trio.current_time() < CONVERGENCE_LIMIT:
                await trio.sleep(5)
            marks["converged_virtual"] = trio.current_time()
            marks["converged_wall"] = time.perf_counter()
            marks["events_at_convergence"] = len(cluster.ctx.events)
            await trio.sleep(STEADY_SECONDS)
            marks["steady_end_wall"] = time.perf_counter()
            marks["end_virtual"] = trio.current_time()
            nursery.cancel_scope.cancel()

    start = time.perf_counter()
    run_virtual(main, seed=1)
    recording: dict[str, float] = {}
    if recorder is not None:
        closing = time.perf_counter()
        recorder.close(marks["end_virtual"])  # as the CLI does after the run
        recording = {
            "record_sample_wall_s": recorder.sample_wall,
            "record_close_wall_s": time.perf_counter() - closing,
            "record_samples": recorder.samples_written,
            "record_ticks": recorder.ticks,
            "record_file_mib": recorder.path.stat().st_size / 2**20,
        }
    spool.cleanup()
    end = time.perf_counter()
    steady_wall = marks["steady_end_wall"] - marks["converged_wall"]  # teardown excluded
    extra_pods = nodes + STATEFULSET_REPLICAS * max(1, nodes // NODES_PER_STATEFULSET)
    return {
        "nodes": nodes,
        "pods": nodes * PODS_PER_DEPLOYMENT + (extra_pods if mixed else 0),
        "converged": float(watch.converged),
        "converge_virtual_s": marks["converged_virtual"],
        "converge_wall_s": marks["converged_wall"] - start,
        "steady_speed_x": STEADY_SECONDS / steady_wall,
        "overall_speed_x": (marks["converged_virtual"] + STEADY_SECONDS) / (end - start),
        "events_per_wall_s": len(cluster.ctx.events) / (end - start),
        "events": len(cluster.ctx.events),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": end - start,
        **recording,
    }


def run_one(
    nodes: int,
    rate: float,
    record: bool,
    record_dir: str | None = None,
    clients: int = 3,
    mixed: bool = False,
) -> dict[str, float] | None:
    """Measure one size in a fresh process (so the peak RSS is that size's own)."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(nodes), "--rate", str(rate)]
        + ["--clients", str(clients)]
        + (["--shape", "mixed"] if mixed else [])
        + (["--record"] if record else [])
        + (["--record-dir", record_dir] if record_dir else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"{nodes:>6} failed:\n{out.stderr}")
        return None
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def print_row(r: dict[str, float], note: str = "") -> None:
    flag = "" if r["converged"] else "  (did not converge)"
    print(
        f"{r['nodes']:>6} {r['pods']:>7} {r['converge_virtual_s']:>13.0f}s {r['converge_wall_s']:>13.1f}s"
        f" {r['steady_speed_x']:>8.1f}x {r['overall_speed_x']:>8.1f}x {r['events_per_wall_s']:>9.0f}"
        f" {r['peak_rss_mib']:>8.0f} {r['wall_s']:>7.1f}s{note}{flag}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rate", type=float, default=1.0, help="requests/s per Service")
    parser.add_argument(
        "--clients",
        type=int,
        default=3,
        help="source nodes of each Service's traffic (where its clients run); 0: every node",
    )
    parser.add_argument(
        "--shape",
        choices=("deployments", "mixed"),
        default="deployments",
        help="mixed: also a DaemonSet on every node and a 3-replica StatefulSet per 20 nodes",
    )
    parser.add_argument(
        "--openmetrics",
        action="store_true",
        help="also run each size recording every series every 15 s, and compare the wall times",
    )
    parser.add_argument(
        "--record-dir",
        help="where --openmetrics writes its (temporary) file; default: the system temp dir",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size in this process
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)  # with --one
    args = parser.parse_args()
    if args.one is not None:
        result = measure(
            args.one, args.rate, args.record, args.record_dir, args.clients, args.shape == "mixed"
        )
        print(json.dumps(result))
        return
    header = f"{'nodes':>6} {'pods':>7} {'converge(virt)':>14} {'converge(wall)':>14} {'steady x':>9} {'overall x':>9} {'events/s':>9} {'RSS MiB':>8} {'wall':>8}"
    print(header)
    for nodes in args.nodes:
        mixed = args.shape == "mixed"
        plain = run_one(nodes, args.rate, record=False, clients=args.clients, mixed=mixed)
        if plain is not None:
            print_row(plain, "  +mixed" if mixed else "")
        if not args.openmetrics:
            continue
        recorded = run_one(
            nodes, args.rate, record=True, record_dir=args.record_dir, clients=args.clients
        )
        if recorded is None:
            continue
        print_row(recorded, "  +openmetrics")
        extra = f"{recorded['wall_s'] / plain['wall_s'] - 1:+.1%} wall; " if plain else ""
        print(
            f"{'':>6} recording: {extra}sampling {recorded['record_sample_wall_s']:.1f}s"
            f" ({recorded['record_ticks']:.0f} samples), writing the file"
            f" {recorded['record_close_wall_s']:.1f}s; {recorded['record_samples']:.0f} series"
            f" samples, {recorded['record_file_mib']:.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
