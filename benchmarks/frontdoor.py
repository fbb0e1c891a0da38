"""Front door benchmark: what real clients cost a large run (issue 17).

A cluster of N nodes with N Deployments of 30 replicas (the scale benchmark's plain shape)
converges at full speed, serving its API on a loopback port. Then:

- **LIST**: the run is paced to real time and ``GET /api/v1/pods`` (every pod, JSON) and the
  same as a Table (what ``kubectl get pods -A`` asks for) are timed from another process, as a
  client sees them (target: 30,000 pods within 2 s);
- **watchers**: 10 virtual minutes of steady state at full speed, once with no client and once
  with W external processes each watching every pod (reading and discarding the stream); the
  wall times are compared (target: 10 watchers cost at most 15% at 1,000 nodes).

    python benchmarks/frontdoor.py --nodes 1000 --watchers 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import workloads

from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.frontdoor.server import APIEndpoint, APIService
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.sim.clock import run_virtual

STEADY_SECONDS = 600.0

# A client in its own process, as kubectl would be: GET a path, print seconds and bytes.
TIMED_GET = """
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=300)
t = time.perf_counter()
c.request("GET", sys.argv[2], headers={"Accept": sys.argv[3]})
body = c.getresponse().read()
print(time.perf_counter() - t, len(body))
"""
# A watcher in its own process: stream every pod's events, discard them.
WATCHER = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=None)
c.request("GET", "/api/v1/pods?watch=1&resourceVersion=0")
r = c.getresponse()
while r.read(65536):
    pass
"""
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def measure(nodes: int, watchers: int, list_too: bool) -> dict[str, float]:
    cluster = Cluster(ClusterSpec((NodeGroupSpec("node", nodes),)), seed=1)
    convergence = ConvergenceWatch(cluster.ctx)
    service = APIService(APIEndpoint("127.0.0.1", 0), speed=1.0)
    service.bind()
    port = str(service.endpoint.port)
    out: dict[str, float] = {"nodes": nodes, "watchers": watchers}

    async def timed_get(path: str, accept: str) -> tuple[float, int]:
        done = await trio.run_process(
            [sys.executable, "-c", TIMED_GET, port, path, accept], capture_stdout=True
        )
        seconds, size = done.stdout.split()
        return float(seconds), int(size)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            nursery.start_soon(service.run, cluster.api, cluster.ctx.events)
            nursery.start_soon(convergence.run)
            await cluster.apply(workloads(nodes))
            while not convergence.converged:
                await trio.sleep(5)
            out["pods"] = len(cluster.api.cache("pods").list())
            clock = trio.lowlevel.current_clock()
            if list_too:
                clock.pace(1.0)  # type: ignore[attr-defined]
                out["list_json_s"], size = await timed_get("/api/v1/pods", "application/json")
                out["list_json_mib"] = size / 2**20
                out["list_table_s"], _ = await timed_get("/api/v1/pods", TABLE)
                clock.pace(None)  # type: ignore[attr-defined]
            clients = [
                await trio.lowlevel.open_process([sys.executable, "-c", WATCHER, port])
                for _ in range(watchers)
            ]
            clock.pace(1.0)  # type: ignore[attr-defined]
            assert service.app is not None
            while service.app.reads.watching < watchers:  # every watcher streaming
                await trio.sleep(0.1)
            clock.pace(None)  # type: ignore[attr-defined]
            start = time.perf_counter()
            await trio.sleep(STEADY_SECONDS)
            out["steady_wall_s"] = time.perf_counter() - start
            for proc in clients:
                proc.kill()
            nursery.cancel_scope.cancel()

    run_virtual(main, seed=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=10)
    args = parser.parse_args()
    bare = measure(args.nodes, 0, list_too=True)
    watched = measure(args.nodes, args.watchers, list_too=False)
    print(json.dumps({"without": bare, "with": watched}))
    print(
        f"{args.nodes} nodes, {bare['pods']:.0f} pods: LIST json {bare['list_json_s']:.2f}s "
        f"({bare['list_json_mib']:.0f} MiB), as Table {bare['list_table_s']:.2f}s; "
        f"10 virtual min steady: {bare['steady_wall_s']:.1f}s wall without watchers, "
        f"{watched['steady_wall_s']:.1f}s with {args.watchers} "
        f"({watched['steady_wall_s'] / bare['steady_wall_s'] - 1:+.0%})"
    )


if __name__ == "__main__":
    main()
