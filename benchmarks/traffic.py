"""Traffic micro-benchmark: the CPU of the traffic clients per request and per batch (issue 16).

A rig wired by hand (a control plane, one kube-proxy fleet with ``--nodes`` registered proxies,
the pod network; no kubelets, no scheduler): ``--services`` Services with endpoints spread over
the nodes (sizes as ``mixed``'s largest Deployments, 50..500), each called at ``--rate``
requests/s in all from every node in turn, for ``--seconds`` virtual seconds. Every endpoint
answers through an answerer that holds its answer for ever, as a Ready pod's processes do. Only
the traffic generator's ticks are timed, in process CPU seconds (the machine is shared: wall
time counts the neighbours), best of ``--rounds`` runs.

Two runs per invocation:

- ``mixed``: mixed's traffic, 100 requests/s per Service from 1,000 nodes: batches of 10
  requests, each from another node (the per-batch cost dominates);
- ``dense``: 10,000 requests/s per Service for a tenth of the time: batches of 1,000 (the
  per-request cost dominates);

and a third, ``faulted``, as ``mixed`` with 1 % of the nodes down and 1 % of the proxies frozen
(stale rules) part-way: the slow paths. Then ``slice``: kube-proxy's table taking an update of
a 100-endpoint EndpointSlice that flips one endpoint's readiness in place (the controller keeps
the other endpoints), in microseconds per update, best of ``--rounds``.

    python benchmarks/traffic.py
    python benchmarks/traffic.py --nodes 250 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubechaos.api.objects import (
    EndpointConditions,
    EndpointSlice,
    ObjectMeta,
    Service,
    ServicePort,
    ServiceSpec,
    SliceEndpoint,
)
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.node.network import ANSWERED, PodNetwork
from kubechaos.node.proxy import ProxyFleet
from kubechaos.node.proxyslices import SliceTable
from kubechaos.sim.clock import run_virtual
from kubechaos.traffic import TrafficGenerator, TrafficSpec

SIZES = (500, 400, 300, 250, 200, 150, 100, 80, 60, 50)


class _Serves:
    """A pod's processes that always answer (the answer holds for ever)."""

    def answer(self, t: float) -> tuple[str, float]:
        return ANSWERED, math.inf


def _objects(index: int, size: int, nodes: int) -> tuple[Service, EndpointSlice, list[str]]:
    name = f"app-{index}"
    ips = [f"10.{128 + index}.{i // 250}.{i % 250 + 2}" for i in range(size)]
    svc = Service(
        ObjectMeta(name=name, namespace="default"),
        ServiceSpec(selector={"app": name}, ports=(ServicePort(80, 8080),)),
    )
    eps = EndpointSlice(
        ObjectMeta(name=f"{name}-abcde", namespace="default", labels={LABEL_SERVICE_NAME: name}),
        endpoints=tuple(
            SliceEndpoint((ip,), node_name=f"node-{i % nodes}") for i, ip in enumerate(ips)
        ),
    )
    return svc, eps, ips


def run(nodes: int, services: int, rate: float, seconds: float, faulted: bool) -> dict[str, Any]:
    spent = 0.0
    batches = 0

    async def main() -> int:
        nonlocal spent, batches
        _, ctx = new_control_plane(4)
        await bootstrap(ctx)
        fleet, network = ProxyFleet(ctx), PodNetwork()
        names = [f"node-{i}" for i in range(nodes)]
        for name in names:
            fleet.register(name)
            network.set_node_up(name, True)
        specs = []
        for index in range(services):
            svc, eps, ips = _objects(index, SIZES[index % len(SIZES)], nodes)
            for i, ip in enumerate(ips):
                network.attach(
                    ip, names[i % nodes], f"default/{svc.metadata.name}-{i}"
                ).answerer = _Serves()
            await ctx.api.create(svc)
            await ctx.api.create(eps)
            specs.append(TrafficSpec(svc.metadata.name, rate=rate))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fleet.run)
            await fleet.synced.wait()
            await trio.sleep(5)
            traffic = TrafficGenerator(ctx, fleet, network, specs)
            tick = traffic._tick

            def timed(flows: Any) -> None:
                nonlocal spent, batches
                start_cpu = time.process_time()
                tick(flows)
                spent += time.process_time() - start_cpu
                batches += len(flows)

            traffic._tick = timed  # type: ignore[method-assign]
            nursery.start_soon(traffic.run)
            if faulted:
                await trio.sleep(seconds / 2)
                for i in range(0, nodes, 100):
                    network.set_node_up(names[i], False)
                    fleet.proxy(names[i + 1]).freeze()
                await trio.sleep(seconds / 2)
            else:
                await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
        return sum(traffic.stats.latency_count.values())

    sent = run_virtual(main, seed=4)
    return {
        "requests": sent,
        "batches": batches,
        "cpu_s": round(spent, 3),
        "us_per_request": round(spent / max(sent, 1) * 1e6, 3),
        "us_per_batch": round(spent / max(batches, 1) * 1e6, 2),
    }


def slice_path(rounds: int, updates: int = 20000) -> dict[str, Any]:
    """CPU of one slice update flipping one endpoint of 100 (ready <-> not ready)."""
    _, eps, _ = _objects(0, 100, 100)
    flipped = [
        attrs.evolve(
            eps,
            endpoints=(
                *eps.endpoints[:i],
                attrs.evolve(eps.endpoints[i], conditions=EndpointConditions(ready=False)),
                *eps.endpoints[i + 1 :],
            ),
        )
        for i in range(100)
    ]
    best = math.inf
    for _ in range(rounds):
        table = SliceTable()
        table.put(eps)
        start_cpu = time.process_time()
        for i in range(updates // 2):
            table.put(flipped[i % 100])
            table.put(eps)
        best = min(best, time.process_time() - start_cpu)
    return {"path": "slice", "us_per_update": round(best / updates * 1e6, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs = (("mixed", 100.0, 1.0, False), ("dense", 10000.0, 0.1, False))
    for label, rate, share, faulted in (*runs, ("faulted", 100.0, 1.0, True)):
        seconds = args.seconds * share  # dense sends 10x the requests in a tenth of the time
        rounds = [
            run(args.nodes, args.services, rate, seconds, faulted) for _ in range(args.rounds)
        ]
        best = min(rounds, key=lambda r: r["cpu_s"])
        print(json.dumps({"path": label, "nodes": args.nodes, "rate": rate} | best))
    print(json.dumps(slice_path(args.rounds)))


if __name__ == "__main__":
    main()
