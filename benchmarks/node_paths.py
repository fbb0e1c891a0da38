"""Node-side micro-benchmark: the CPU one kubelet and the traffic clients cost (issue 16).

Two paths, each timed in process CPU seconds (the machine is shared: wall time counts the
neighbours), with the work they did printed beside it so a before/after pair compares like
with like:

- **kubelet**: one kubelet runs ``--pods`` pods (readiness and liveness probes) from creation
  to Ready, then 10 virtual minutes of steady state, then their deletion, ``--rounds`` times:
  pod workers, status manager, heartbeats and the API requests they make. Beside the total,
  ``kubelet_us_per_pod_to_ready``: the CPU of the kubelet's pod tasks (pod workers, status
  manager with its requests, pod informer) from a round's creation to all Ready, per pod (the
  best round: the machine is shared);
- **idle**: a cluster of ``--idle-nodes`` nodes with no workload for 10 virtual minutes: the
  heartbeats (Lease renewals, node status checks) and what answers them, per node; and
  ``heartbeat_us_per_node_10s``: the CPU of the heartbeat tasks' own steps (their requests
  included) per node and 10 virtual seconds (a Lease renewal and a node status check);
- **traffic**: a cluster of ``--nodes`` nodes with two Ready pods per node behind a Service,
  called at ``--rate`` requests/s from every node for 60 virtual seconds; only the traffic
  generator's ticks are timed;
- **probe**: the computation of one probe's next verdict (``probes.next_flip``, what a
  container's start or a flip costs), for a container that always answers and for one whose
  readiness fails for a while, in microseconds per call.

CPU per task is measured by an instrument reading the process clock around each task step of
the tasks it attributes, so those figures include the instrument's own reads (about 1 us per
step, the same before and after a change).

    python benchmarks/node_paths.py
    python benchmarks/node_paths.py --pods 110 --rounds 5 --nodes 16 --rate 5000
    python benchmarks/node_paths.py --paths idle --idle-nodes 200   # the heartbeats only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubechaos.api.objects import Probe
from kubechaos.node.behaviour import parse_behaviour
from kubechaos.node.probes import next_flip
from kubechaos.sim.clock import run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec
from tests.factories import deployment, pod, service
from tests.harness import ready_pods, running, wait_until
from tests.test_kubelet import plane, ready, start, stored

READINESS = Probe(initial_delay_seconds=5, period_seconds=10)
LIVENESS = Probe(initial_delay_seconds=15, period_seconds=10)


class TaskCPU(trio.abc.Instrument):
    """Counts every task step, and adds the CPU of the steps of tasks whose name contains one of
    ``names`` (e.g. ``"PodWorkers."``) to ``cpu`` while ``on``."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.steps = 0
        self.cpu = 0.0
        self.on = True
        self._started = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1
        if self.on and any(n in task.name for n in self.names):
            self._started = time.process_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._started:
            self.cpu += time.process_time() - self._started
            self._started = 0.0


POD_TASKS = ("PodWorkers.", "PodStatusManager.", "Informer.")


def kubelet_path(pods: int, rounds: int) -> dict[str, Any]:
    cpu_to_ready = TaskCPU(*POD_TASKS)
    rounds_cpu: list[float] = []  # per round (the best one is reported: the machine is shared)

    async def main() -> int:
        ctx, net = await plane()
        trio.lowlevel.add_instrument(cpu_to_ready)
        async with trio.open_nursery() as nursery:
            kubelet, _ = start(nursery, ctx, net)
            for r in range(rounds):
                names = [f"web-{r}-{i}" for i in range(pods)]
                cpu_to_ready.cpu, cpu_to_ready.on = 0.0, True
                for name in names:
                    await ctx.api.create(
                        pod(name, node_name="n1", readiness=READINESS, liveness=LIVENESS)
                    )
                await wait_until(
                    lambda names=names: all(ready(ctx, n) for n in names), 600, "ready", 1.0
                )
                cpu_to_ready.on = False
                rounds_cpu.append(cpu_to_ready.cpu)
                await trio.sleep(600)
                for name in names:
                    await ctx.api.delete("pods", "default", name)
                await wait_until(
                    lambda names=names: all(stored(ctx, n) is None for n in names), 600, "gone"
                )
            nursery.cancel_scope.cancel()
        return kubelet.status_writes

    cpu = time.process_time()
    writes = run_virtual(main, seed=0)
    return {
        "path": "kubelet",
        "pods": pods * rounds,
        "status_writes": writes,
        "task_steps": cpu_to_ready.steps,
        "cpu_s": round(time.process_time() - cpu, 3),
        "kubelet_us_per_pod_to_ready": round(min(rounds_cpu) / pods * 1e6, 1),
    }


def traffic_path(nodes: int, rate: float, seconds: float = 60.0) -> dict[str, Any]:
    spent = 0.0

    async def main() -> int:
        nonlocal spent
        async with running(nodes=nodes, seed=4) as cluster:
            await cluster.apply([deployment("web", replicas=2 * nodes), service("web")])
            await wait_until(lambda: len(ready_pods(cluster)) == 2 * nodes, 600, "web ready")
            await trio.sleep(15)
            traffic = TrafficGenerator(
                cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=rate)]
            )
            tick = traffic._tick

            def timed(flows: Any) -> None:
                nonlocal spent
                start_cpu = time.process_time()
                tick(flows)
                spent += time.process_time() - start_cpu

            traffic._tick = timed  # type: ignore[method-assign]
            with trio.move_on_after(seconds):
                await traffic.run()
            return sum(traffic.stats.latency_count.values())

    sent = run_virtual(main, seed=4)
    return {
        "path": "traffic",
        "nodes": nodes,
        "requests": sent,
        "cpu_s": round(spent, 3),
        "us_per_request": round(spent / max(sent, 1) * 1e6, 3),
    }


def idle_path(nodes: int, minutes: float = 10.0) -> dict[str, Any]:
    """An idle cluster of ``nodes`` nodes (heartbeats only) for ``minutes`` virtual minutes."""
    steps: Counter[str] = Counter()
    heartbeat = TaskCPU("NodeHeartbeat.")

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            steps[task.name.rsplit(".", 2)[-2] if "." in task.name else task.name] += 1

    async def main() -> None:
        async with running(nodes=nodes, seed=4):
            await trio.sleep(60)
            start_cpu = time.process_time()
            counting = Steps()
            trio.lowlevel.add_instrument(counting)
            await trio.sleep(minutes * 60)
            steps["cpu"] = int((time.process_time() - start_cpu) * 1e6)
            trio.lowlevel.remove_instrument(counting)
            print(steps.most_common(8), file=sys.stderr)
            trio.lowlevel.add_instrument(heartbeat)  # a second window: its reads cost CPU
            await trio.sleep(minutes * 60)
            trio.lowlevel.remove_instrument(heartbeat)

    run_virtual(main, seed=4)
    cpu = steps.pop("cpu") / 1e6
    return {
        "path": "idle",
        "nodes": nodes,
        "cpu_s": round(cpu, 3),
        "us_per_node_virtual_s": round(cpu / nodes / (minutes * 60) * 1e6, 3),
        "heartbeat_steps_per_node_virtual_s": round(
            steps["NodeHeartbeat"] / nodes / (minutes * 60), 3
        ),
        "all_steps_per_node_virtual_s": round(sum(steps.values()) / nodes / (minutes * 60), 3),
        "heartbeat_us_per_node_10s": round(heartbeat.cpu / nodes / (minutes * 6) * 1e6, 1),
    }


def probe_path(calls: int = 20000) -> dict[str, Any]:
    """CPU of one probe verdict computation (``next_flip``), best of five rounds."""
    always = parse_behaviour("serve")
    flaky = parse_behaviour("readiness-fail-after=30s,readiness-fail-for=20s")
    out: dict[str, Any] = {"path": "probe"}
    for name, behaviour in (("always_passes", always), ("fails_for_a_while", flaky)):
        best = float("inf")
        for _ in range(5):
            start_cpu = time.process_time()
            for _ in range(calls):
                next_flip(READINESS, behaviour, "readiness", False, 0.0)
            best = min(best, time.process_time() - start_cpu)
        out[f"{name}_us"] = round(best / calls * 1e6, 3)
    return out


PATHS = ("kubelet", "traffic", "idle", "probe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--idle-nodes", type=int, default=50)
    parser.add_argument(
        "--paths", nargs="+", choices=PATHS, default=list(PATHS), help="which paths to run"
    )
    args = parser.parse_args()
    runs = {
        "kubelet": lambda: kubelet_path(args.pods, args.rounds),
        "traffic": lambda: traffic_path(args.nodes, args.rate),
        "idle": lambda: idle_path(args.idle_nodes),
        "probe": probe_path,
    }
    for path in args.paths:
        print(json.dumps(runs[path]()))


if __name__ == "__main__":
    main()
