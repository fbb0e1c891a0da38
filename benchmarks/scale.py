"""Scale benchmark: how fast does the model run a large cluster, of which shape?

Shapes (``--shape``, see :mod:`shapes` for each in full; all keep ~30 pods per node):
``many-small`` (a Deployment of 30 per node, 1 request/s per Service from 3 client nodes),
``few-large`` (a Deployment of 300 per 10 nodes, readiness probes), ``mixed`` (Deployments of
3..500 with readiness and liveness probes, zone spread, a DaemonSet, StatefulSets, 10 Services at
100 requests/s from every node, a 10 % pod kill and a 1 % node crash) and ``churn`` (few-large
plus a rolling update of every Deployment). Each size runs in its own process (so the peak RSS is
its own): the cluster converges, then runs ``--steady`` more virtual seconds (600 by default).

Printed per row, and written as JSON to ``benchmarks/results/<shape>-<nodes>.json``:
converge time (virtual and wall); whole-run speed (virtual seconds over wall seconds, converge
plus the steady window); steady speed (the window after convergence alone); model events per wall
second; the wall cost per model step (a Trio task step: one wakeup of one of the model's tasks,
counted by an instrument) beside the floor, the cost of one bare Trio task wakeup measured in the
same process (two tasks ping-ponging through memory channels under the same virtual clock, with
the same instrument); peak RSS. The cost per step, the floor and the ``cpu`` speeds in the JSON
are process CPU time: on a machine shared with other work the wall clock also counts the
neighbours, CPU time far less so. Event-log events are far coarser than steps (a Ready pod is
one event, its probes and its traffic none), so events/s is printed for comparison only.

    python benchmarks/scale.py --shape mixed --nodes 250 500 1000
    python benchmarks/scale.py --nodes 1000 --openmetrics   # also with --openmetrics recording
    python benchmarks/scale.py --shape few-large --nodes 250 --no-save
    python benchmarks/scale.py --shape mixed --nodes 100 --profile /tmp/steady.prof --no-save
    python benchmarks/scale.py --table   # README's table from benchmarks/results/*.json

With ``--openmetrics`` each size runs twice: as above, then the same run recording every series
every 15 virtual seconds to an OpenMetrics file (an OpenMetricsRecorder task, as ``kubechaos run
--openmetrics`` adds one; the file goes to a temporary directory and is deleted). The second row
includes the recording's whole cost, the final file write too; a line under it shows the time
spent sampling and writing, the samples written and the file's size.

Targets (issue 16): 1,000 nodes / 30,000 pods of the realistic shapes >= 100x real time over the
whole run, >= 200x steady; 5,000 nodes >= 10x and < 4 GiB; doubling nodes and pods at most
2.2x the wall time; the cost per model event at most 3x the floor.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import trio

from kubechaos.api.objects import Deployment
from kubechaos.cluster import Cluster, ClusterSpec
from kubechaos.export.openmetrics import DEFAULT_INTERVAL, OpenMetricsRecorder
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.observe.metrics import ClusterCollector
from kubechaos.sim.clock import RUN_CONTEXT, run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec

sys.path.insert(0, str(Path(__file__).parent))
from shapes import SHAPES, Workload, build

STEADY_SECONDS = 600.0
CONVERGENCE_LIMIT = 3600.0
RESULTS = Path(__file__).parent / "results"
FLOOR_ROUNDS = 20_000


class StepCounter(trio.abc.Instrument):
    """Counts Trio task steps: each is one wakeup of one task, the model's unit of work.

    Without a hook per step (``before_task_step`` was a Python call on each of a run's million
    steps, a few percent of what it measured): Trio counts every step of a task but its last in
    ``Task._schedule_points`` (``_core/_run.py`` ``unrolled_run``). The counter adds up the
    tasks that exited, last step included, as they exit (``task_exited``, once per task), and
    the live tasks' when read. :meth:`install` (inside the run) starts the count: the same
    steps as ``before_task_step`` would have counted from then on.
    """

    def __init__(self) -> None:
        self._runner: Any = None
        self._exited = 0
        self._base = 0

    def install(self) -> None:
        """Add the counter to the current run; steps count from the next one."""
        self._runner = RUN_CONTEXT.runner
        # the step running now (this task's) ends with its _schedule_points counted: not a step
        # since install, as before_task_step would not have seen it
        self._base = sum(task._schedule_points for task in self._runner.tasks) + 1
        trio.lowlevel.add_instrument(self)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self._exited += task._schedule_points + 1

    @property
    def steps(self) -> int:
        live = sum(task._schedule_points for task in self._runner.tasks) if self._runner else 0
        # read from a task's step (a benchmark's mark), that step counts as started
        current = 1 if getattr(RUN_CONTEXT, "task", None) is not None else 0
        return live + self._exited - self._base + current


def trio_wakeup_floor(rounds: int = FLOOR_ROUNDS) -> float:
    """Microseconds per bare Trio task wakeup under the model's clock: two tasks hand a token
    back and forth through two unbuffered memory channels; each hand-over wakes one task. The
    step counter the model run carries is installed here too, so both pay for it."""

    async def main() -> None:
        StepCounter().install()
        ping_send, ping_recv = trio.open_memory_channel[int](0)
        pong_send, pong_recv = trio.open_memory_channel[int](0)

        async def echo() -> None:
            async for token in ping_recv:
                await pong_send.send(token)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            for i in range(rounds):
                await ping_send.send(i)
                await pong_recv.receive()
            nursery.cancel_scope.cancel()

    start = time.process_time()
    run_virtual(main, seed=1)
    # CPU time, not wall: on a shared machine the wall clock measures the neighbours too
    # each round trip: the echo task woken by the ping, the main task by the pong
    return (time.process_time() - start) / (2 * rounds) * 1e6


class TimedRecorder(OpenMetricsRecorder):
    """An OpenMetricsRecorder that also adds up the wall time its samples take."""

    sample_wall = 0.0

    def sample(self, at: float) -> None:
        started = time.perf_counter()
        super().sample(at)
        self.sample_wall += time.perf_counter() - started


def _new_image(deployment: Deployment) -> Deployment:
    spec = deployment.spec
    containers = tuple(
        attrs.evolve(c, image=c.image.rsplit(":", 1)[0] + ":2")
        for c in spec.template.spec.containers
    )
    template = attrs.evolve(
        spec.template, spec=attrs.evolve(spec.template.spec, containers=containers)
    )
    return attrs.evolve(deployment, spec=attrs.evolve(spec, template=template))


async def disturb(cluster: Cluster, workload: Workload) -> None:
    """The shape's changes after convergence: a rollout at +30 s, a pod kill at +60 s, a node
    crash at +120 s (those the shape has), targets picked by a seeded generator."""
    rng = random.Random(1)
    api = cluster.api
    if workload.rollout:
        await trio.sleep(30)
        for obj in workload.objects:
            if isinstance(obj, Deployment):
                await api.patch("deployments", "default", obj.metadata.name, _new_image)
    if workload.kill_fraction:
        await trio.sleep(60)
        pods, _ = await api.list("pods", "default")
        owned = sorted(p.metadata.name for p in pods if p.metadata.name.startswith("app-"))
        for name in rng.sample(owned, int(len(owned) * workload.kill_fraction)):
            await api.delete("pods", "default", name)
    if workload.crash_fraction:
        await trio.sleep(60)
        names = sorted(cluster.nodes)
        for name in rng.sample(names, max(1, int(len(names) * workload.crash_fraction))):
            cluster.nodes[name].crash()


def measure(
    shape: str,
    nodes: int,
    traffic_rate: float,
    steady: float = STEADY_SECONDS,
    record: bool = False,
    record_dir: str | None = None,
    clients: int = 3,
    profile: str | None = None,
) -> dict[str, Any]:
    floor_us = trio_wakeup_floor()
    workload = build(shape, nodes, traffic_rate, clients)
    cluster = Cluster(ClusterSpec(workload.node_groups), seed=1)
    watch = ConvergenceWatch(cluster.ctx)
    traffic = TrafficGenerator(
        cluster.ctx,
        cluster.proxies,
        cluster.network,
        [TrafficSpec(service=s, rate=r, source_nodes=src) for s, r, src in workload.traffic],
    )
    marks: dict[str, float] = {}
    spool = tempfile.TemporaryDirectory(prefix="kubechaos-bench-", dir=record_dir)
    recorder = None
    if record:
        collector = ClusterCollector(cluster, traffic.stats)
        recorder = TimedRecorder(
            collector, Path(spool.name) / "run.om", time.time(), DEFAULT_INTERVAL
        )

    steps = StepCounter()
    profiler = cProfile.Profile() if profile else None

    async def main() -> None:
        steps.install()
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            nursery.start_soon(watch.run)
            if recorder is not None:
                nursery.start_soon(recorder.run)  # where Run starts the tasks the CLI adds
            await cluster.apply(workload.objects)
            nursery.start_soon(traffic.run)
            while not watch.converged and trio.current_time() < CONVERGENCE_LIMIT:
                await trio.sleep(5)
            marks["converged_virtual"] = trio.current_time()
            marks["converged"] = watch.converged  # not at the end: the shape may disturb it
            marks["converged_wall"] = time.perf_counter()
            marks["converged_cpu"] = time.process_time()
            marks["events_at_convergence"] = len(cluster.ctx.events)
            marks["steps_at_convergence"] = steps.steps
            nursery.start_soon(disturb, cluster, workload)
            if profiler is not None:
                profiler.enable()
            await trio.sleep(steady)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            marks["steady_end_wall"] = time.perf_counter()
            marks["steady_end_cpu"] = time.process_time()
            marks["steps_at_steady_end"] = steps.steps
            marks["end_virtual"] = trio.current_time()
            nursery.cancel_scope.cancel()

    start, start_cpu = time.perf_counter(), time.process_time()
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
    end, end_cpu = time.perf_counter(), time.process_time()
    wall, cpu = end - start, end_cpu - start_cpu
    steady_cpu = marks["steady_end_cpu"] - marks["converged_cpu"]
    steady_wall = marks["steady_end_wall"] - marks["converged_wall"]  # teardown excluded
    events = len(cluster.ctx.events)
    steady_steps = marks["steps_at_steady_end"] - marks["steps_at_convergence"]
    return {
        "shape": shape,
        "nodes": nodes,
        "pods": workload.pods,
        "converged": bool(marks["converged"]),
        "converge_virtual_s": marks["converged_virtual"],
        "converge_wall_s": marks["converged_wall"] - start,
        "steady_virtual_s": steady,
        "steady_speed_x": steady / steady_wall,
        "overall_speed_x": (marks["converged_virtual"] + steady) / wall,
        "events": events,
        "events_per_wall_s": events / wall,
        "task_steps": steps.steps,
        "task_steps_per_event": steps.steps / events,
        "cpu_s": cpu,
        "converge_cpu_s": marks["converged_cpu"] - start_cpu,
        "steady_speed_cpu_x": steady / steady_cpu,
        "overall_speed_cpu_x": (marks["converged_virtual"] + steady) / cpu,
        "us_per_step": cpu / steps.steps * 1e6,
        "steady_us_per_step": steady_cpu / max(1, steady_steps) * 1e6,
        "floor_us_per_wakeup": floor_us,
        "step_cost_x_floor": cpu / steps.steps * 1e6 / floor_us,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": wall,
        **recording,
    }


def run_one(args: argparse.Namespace, nodes: int, record: bool) -> dict[str, Any] | None:
    """Measure one size in a fresh process (so the peak RSS is that size's own)."""
    command = [sys.executable, __file__, "--one", str(nodes), "--shape", args.shape]
    command += ["--rate", str(args.rate), "--clients", str(args.clients)]
    command += ["--steady", str(args.steady)]
    command += ["--profile", args.profile] if args.profile else []
    command += ["--record"] if record else []
    command += ["--record-dir", args.record_dir] if args.record_dir else []
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"{nodes:>6} failed:\n{out.stderr}")
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


HEADER = (
    f"{'shape':<10} {'nodes':>6} {'pods':>7} {'conv virt':>9} {'conv wall':>9} {'whole x':>8}"
    f" {'steady x':>8} {'events/s':>9} {'us/step':>7} {'floor us':>8} {'x floor':>7}"
    f" {'RSS MiB':>7} {'wall':>7} {'cpu x':>7}"
)


def print_row(r: dict[str, Any], note: str = "") -> None:
    flag = "" if r["converged"] else "  (did not converge)"
    print(
        f"{r['shape']:<10} {r['nodes']:>6} {r['pods']:>7} {r['converge_virtual_s']:>8.0f}s"
        f" {r['converge_wall_s']:>8.1f}s {r['overall_speed_x']:>7.1f}x {r['steady_speed_x']:>7.1f}x"
        f" {r['events_per_wall_s']:>9.0f} {r['us_per_step']:>7.1f} {r['floor_us_per_wakeup']:>8.2f}"
        f" {r['step_cost_x_floor']:>6.1f}x {r['peak_rss_mib']:>7.0f} {r['wall_s']:>6.1f}s"
        f" {r['overall_speed_cpu_x']:>6.1f}x"
        f"{note}{flag}",
        flush=True,
    )


def markdown_table() -> str:
    """README's table, from every JSON in benchmarks/results/ (shape order, then size)."""
    rows = [json.loads(path.read_text()) for path in RESULTS.glob("*.json")]
    rows.sort(key=lambda r: (SHAPES.index(r["shape"]), r["nodes"]))
    lines = [
        "| shape | nodes | pods | converged (virtual) | converge (wall) | whole run | steady"
        " | whole run (CPU) | µs/step (CPU) | floor µs | x floor | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['nodes']:,} | {r['pods']:,} | {r['converge_virtual_s']:.0f} s"
            f" | {r['converge_wall_s']:.0f} s | {r['overall_speed_x']:.1f}x"
            f" | {r['steady_speed_x']:.1f}x | {r['overall_speed_cpu_x']:.1f}x"
            f" | {r['us_per_step']:.0f} | {r['floor_us_per_wakeup']:.1f}"
            f" | {r['step_cost_x_floor']:.1f}x | {r['peak_rss_mib']:.0f} MiB |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=SHAPES, default="many-small")
    parser.add_argument("--nodes", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument(
        "--steady",
        type=float,
        default=STEADY_SECONDS,
        help="virtual seconds run after convergence (default 600)",
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="requests/s per Service (many-small, few-large)"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=3,
        help="source nodes of each Service's traffic (where its clients run); 0: every node",
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
    parser.add_argument(
        "--no-save",
        action="store_true",
        help="do not write benchmarks/results/<shape>-<nodes>.json",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="with one size: cProfile the window after convergence into FILE (pstats format)",
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print README's table from benchmarks/results/*.json and exit",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size in this process
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)  # with --one
    args = parser.parse_args()
    for nodes in args.nodes if args.one is None else [args.one]:
        if nodes < 1:
            parser.error(f"--nodes: {nodes} is not a positive number of nodes")
    if args.profile and len(args.nodes) > 1 and args.one is None:
        parser.error("--profile: give one size (--nodes N)")
    if args.steady <= 0:
        parser.error(f"--steady: {args.steady} is not a positive number of seconds")
    return args


def main() -> None:
    args = parse_args()
    if args.table:
        print(markdown_table())
        return
    if args.one is not None:
        result = measure(
            args.shape,
            args.one,
            args.rate,
            args.steady,
            args.record,
            args.record_dir,
            args.clients,
            args.profile,
        )
        print(json.dumps(result))
        return
    print(HEADER)
    for nodes in args.nodes:
        plain = run_one(args, nodes, record=False)
        if plain is not None:
            print_row(plain)
            if not args.no_save:
                RESULTS.mkdir(exist_ok=True)
                path = RESULTS / f"{args.shape}-{nodes}.json"
                path.write_text(json.dumps(plain, indent=2, sort_keys=True) + "\n")
        if not args.openmetrics:
            continue
        recorded = run_one(args, nodes, record=True)
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
