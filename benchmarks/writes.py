"""Write-path micro-benchmark: the cost of one write through the in-process API server (issue 16).

A fresh control plane (etcd, the API server and its watch caches, the system namespaces) takes
N writes of each of the kinds a big cluster writes all the time, in this order:

- ``lease``: N node Lease renewals (``update`` of ``spec.renewTime``, as the kubelet's
  nodelease does every 10 s per node);
- ``pod-create``: N pod creates (defaulting, admission, validation, the write);
- ``binding``: N bindings of pods created unbound (``pods/binding``, the scheduler's write);
- ``pod-status``: N pod status updates (``update_status``, the kubelet's status manager);
- ``slice``: N updates of one 100-endpoint EndpointSlice, one endpoint's readiness flipped
  (the EndpointSlice controller's write).

Each kind is timed on its own in CPU time (the machine is shared; wall time lies) and printed in
µs per write, twice: end to end, and for the server's own work alone (``server``: the request's
one latency sleep in ``APIServer._call`` skipped, so what remains is the write path proper, not
Trio's sleep, wakeup and run loop, nor the watchers' wakeups); a second pass under cProfile counts, per write, the calls that make a write dear:
``attrs.evolve`` and the cheaper copy that replaces it where hot (``objects.replace``), the API
objects built (``objects``: every ``__init__`` of a class of kubechaos.api.objects, copies and
the request's own alike), the decodes (``decode``: calls; ``decode copy``: those that copied,
``with_meta``), validations and etcd transactions (``etcd txn`` counts the server's
``Etcd.txn`` or ``put_if_mod`` and the store's under it: 2 per write). The requests are built the way a component
builds them, and that is counted too: 2 ``attrs.evolve`` (and 2 objects) per Lease renewal, 1
per pod status and per slice update are the benchmark's own, not the server's. Both passes run the same
writes; virtual time never depends on the host. One watch per written resource is open and
drained, so every write also pays its watch-cache dispatch, as in a cluster.

    python benchmarks/writes.py --writes 2000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from kubechaos.api.objects import (
    Container,
    EndpointSlice,
    Lease,
    LeaseSpec,
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
)
from kubechaos.api.objects.endpointslice import EndpointConditions, SliceEndpoint
from kubechaos.control import apiserver as apiserver_module
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.sim.clock import now, run_virtual

KINDS = ("lease", "pod-create", "binding", "pod-status", "slice")

# What the counting pass reports per write: a label and the profile entries it sums, by
# (file suffix, function name).
COUNTED = {
    "evolve": [("attr/_make.py", "evolve")],
    "replace": [("api/objects/copying.py", "replace")],
    "objects": [("<attrs generated methods kubechaos.api.objects", "__init__")],
    "decode": [("control/apiserver.py", "_decode"), ("control/registry/stamp.py", "decode")],
    "decode copy": [("api/objects/__init__.py", "with_meta")],
    "validate": [
        ("api/validation.py", "validate_pod"),
        ("api/validation.py", "validate_lease"),
        ("api/validation_endpointslice.py", "validate_endpointslice"),
        ("api/validation_endpointslice.py", "validate_endpointslice_update"),
    ],
    "etcd txn": [("control/etcd.py", "txn"), ("control/etcd.py", "put_if_mod")],
}


def _pod(i: int) -> Pod:
    container = Container("app", "nginx:1.27")
    return Pod(ObjectMeta(name=f"p-{i}", namespace="default", labels={"app": "bench"}),
               PodSpec(containers=(container,), node_name=f"node-{i % 50}"))  # fmt: skip


def _slice(ready: int) -> EndpointSlice:
    endpoints = tuple(
        SliceEndpoint((f"10.0.{i // 250}.{i % 250}",), EndpointConditions(ready=i != ready))
        for i in range(100)
    )
    meta = ObjectMeta(name="web-abcde", namespace="default", labels={"app": "web"})
    return EndpointSlice(meta, "IPv4", endpoints)


class Bench:
    """The writes of each kind, against one API server, with watches open and drained."""

    def __init__(self, api: APIServer, n: int) -> None:
        self.api = api
        self.n = n
        self.leases: list[Lease] = []
        self.pods: list[Pod] = []
        self.unbound: list[Pod] = []
        self.slice: EndpointSlice | None = None
        # the client's side of a slice write, built beforehand: only the server's cost is timed
        self.endpoints = [_slice(i).endpoints for i in range(100)]

    async def setup(self) -> None:
        for i in range(self.n):
            meta = ObjectMeta(name=f"node-{i}", namespace=NODE_LEASE_NAMESPACE)
            self.leases.append(await self.api.create(Lease(meta, LeaseSpec(renew_time=now()))))
        self.slice = await self.api.create(_slice(-1))
        for i in range(self.n):
            unbound = attrs.evolve(_pod(i), spec=attrs.evolve(_pod(i).spec, node_name=""))
            meta = attrs.evolve(unbound.metadata, name=f"b-{i}")
            self.unbound.append(await self.api.create(attrs.evolve(unbound, metadata=meta)))

    async def lease(self) -> None:
        for i, lease in enumerate(self.leases):
            # 10 s on: a write even when no virtual time passes (--server-only)
            renew_time = (lease.spec.renew_time or 0.0) + 10.0
            renewed = attrs.evolve(lease, spec=attrs.evolve(lease.spec, renew_time=renew_time))
            self.leases[i] = await self.api.update(renewed)

    async def pod_create(self) -> None:
        for i in range(self.n):
            self.pods.append(await self.api.create(_pod(i)))

    async def binding(self) -> None:
        for i, pod in enumerate(self.unbound):
            await self.api.bind("default", pod.metadata.name, f"node-{i % 50}")

    async def pod_status(self) -> None:
        for i, pod in enumerate(self.pods):
            ready = PodCondition("Ready", "True", float(i))
            status = PodStatus("Running", (ready,), pod_ip=f"10.1.{i // 250}.{i % 250}")
            self.pods[i] = await self.api.update_status(attrs.evolve(pod, status=status))

    async def slice_updates(self) -> None:
        for i in range(self.n):
            assert self.slice is not None
            flipped = attrs.evolve(self.slice, endpoints=self.endpoints[i % 100])
            self.slice = await self.api.update(flipped)


def _steps(bench: Bench) -> dict[str, Callable[[], Awaitable[None]]]:
    return {
        "lease": bench.lease,
        "pod-create": bench.pod_create,
        "binding": bench.binding,
        "pod-status": bench.pod_status,
        "slice": bench.slice_updates,
    }


async def _drain(watch: Any) -> None:
    while True:
        await watch.next_batch()


async def _run(n: int, profile: bool) -> dict[str, Any]:
    _, api, ctx = control_plane(1, Settings())
    await bootstrap(ctx)
    bench = Bench(api, n)
    await bench.setup()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        for resource in ("leases", "pods", "endpointslices"):
            revision = api.cache(resource).revision
            nursery.start_soon(_drain, await api.watch(resource, resource_version=revision))
        for kind, step in _steps(bench).items():
            profiler = cProfile.Profile() if profile else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            await step()
            if profiler is not None:
                profiler.disable()
                results[kind] = _counts(profiler, n)
            else:
                results[kind] = (time.process_time() - started) / n * 1e6
        nursery.cancel_scope.cancel()
    return results


def _counts(profiler: cProfile.Profile, n: int) -> dict[str, float]:
    stats: Any = pstats.Stats(profiler).stats
    counts = dict.fromkeys(COUNTED, 0)
    counts["calls"] = 0  # every Python and builtin call: the write's work, host-independent
    for (filename, _, function), (calls, *_rest) in stats.items():
        counts["calls"] += calls
        for label, entries in COUNTED.items():
            if any(f in filename and function == fn for f, fn in entries):
                counts[label] += calls
    return {label: round(count / n, 2) for label, count in counts.items()}


class _NoSleep:
    """Stands in for the ``timers`` module inside the API server (``--server-only``): a request's
    latency sleep returns at once, without a checkpoint."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        return None


def _best(writes: int, repeat: int, server_only: bool) -> dict[str, float]:
    real_timers = apiserver_module.timers
    if server_only:
        apiserver_module.timers = _NoSleep  # type: ignore[assignment]
    try:
        timings: dict[str, float] = {}
        for _ in range(repeat):
            for kind, us in run_virtual(_run, writes, False).items():
                timings[kind] = min(us, timings.get(kind, us))
        return timings
    finally:
        apiserver_module.timers = real_timers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=2000, help="writes of each kind")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best is kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    timings = _best(args.writes, args.repeat, server_only=False)
    server = _best(args.writes, args.repeat, server_only=True)
    counts = run_virtual(_run, args.writes, True)
    if args.json:
        out = {"writes": args.writes, "us": timings, "server_us": server, "per_write": counts}
        print(json.dumps(out))
        return
    print(f"{args.writes} writes of each kind, CPU µs per write (best of {args.repeat}):")
    for kind in KINDS:
        per = "  ".join(f"{label} {count:g}" for label, count in counts[kind].items())
        print(
            f"  {kind:<11} {timings[kind]:6.1f} µs  server {server[kind]:5.1f} µs  per write: {per}"
        )


if __name__ == "__main__":
    main()
