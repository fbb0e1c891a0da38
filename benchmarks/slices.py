"""EndpointSlice micro-benchmark: the CPU of one slice update's validation and of kube-proxy's
categorisation of the version it receives (issue 16).

A 100-endpoint slice (the EndpointSlice controller's ``maxEndpointsPerSlice``) takes two kinds
of update, in microseconds of process CPU per update, best of ``--rounds``:

- ``flip``: one endpoint's readiness flips and the controller keeps the other 99 endpoint
  objects as they were (what a readiness change or a pod's deletion does);
- ``rebuilt``: every endpoint is a new object (equal or not): the path that must not get slower.

``validate``: the API server's validation of the update (the EndpointSlice strategy's
``validate_update`` against the stored version, or ``validate`` where there is none).
``categorise``: kube-proxy's fleet (``--nodes`` proxies registered) taking the update from its
informer (``ProxyFleet._on_slice_update``); divided by the nodes it is the cost per kube-proxy.

    python benchmarks/slices.py
    python benchmarks/slices.py --nodes 250 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubechaos.api.objects import EndpointConditions, EndpointSlice, ObjectMeta, SliceEndpoint
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME, EndpointTargetRef
from kubechaos.control.bootstrap import new_control_plane
from kubechaos.control.registry.endpointslice import ENDPOINTSLICES
from kubechaos.node.proxy import ProxyFleet
from kubechaos.sim.clock import run_virtual

Update = Callable[[EndpointSlice, EndpointSlice], Any]


def _slice() -> EndpointSlice:
    meta = ObjectMeta(
        name="web-abcde",
        namespace="default",
        labels={LABEL_SERVICE_NAME: "web"},
        resource_version="7",
    )
    return EndpointSlice(
        meta,
        endpoints=tuple(
            SliceEndpoint(
                (f"10.128.0.{i + 2}",),
                EndpointConditions(),
                node_name=f"node-{i}",
                zone="zone-a",
                target_ref=EndpointTargetRef("Pod", "default", f"web-{i}", f"uid-{i}"),
            )
            for i in range(100)
        ),
    )


def _flips(eps: EndpointSlice) -> list[EndpointSlice]:
    """``eps`` with endpoint i not ready, for each i; the other endpoints the same objects."""
    out = []
    for i, endpoint in enumerate(eps.endpoints):
        flipped = attrs.evolve(endpoint, conditions=EndpointConditions(ready=False))
        endpoints = (*eps.endpoints[:i], flipped, *eps.endpoints[i + 1 :])
        out.append(attrs.evolve(eps, endpoints=endpoints))
    return out


def _rebuilt(eps: EndpointSlice) -> EndpointSlice:
    """``eps`` with every endpoint a new, equal object."""
    return attrs.evolve(eps, endpoints=tuple(attrs.evolve(e) for e in eps.endpoints))


def _timed(update: Update, base: EndpointSlice, rebuilt: bool, rounds: int, n: int) -> float:
    """Best CPU µs per update: base -> changed -> base -> ..."""
    changed = [_rebuilt(base)] * 2 if rebuilt else _flips(base)
    best = math.inf
    for _ in range(rounds):
        start = time.process_time()
        for i in range(n // 2):
            other = changed[i % len(changed)]
            update(base, other)
            update(other, base)
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def _validator() -> Update:
    strategy: Any = ENDPOINTSLICES.strategy(ENDPOINTSLICES, None)  # type: ignore[arg-type]
    by_update = getattr(strategy, "validate_update", None)
    if by_update is not None:
        return lambda old, new: by_update(old, new)
    return lambda old, new: strategy.validate(new)


def run(nodes: int, rounds: int, n: int) -> list[dict[str, Any]]:
    base = _slice()
    rows = []
    validate = _validator()
    for kind in ("flip", "rebuilt"):
        us = _timed(validate, base, kind == "rebuilt", rounds, n)
        rows.append({"path": "validate", "update": kind, "us_per_update": round(us, 3)})

    async def fleet_rows() -> None:
        _, ctx = new_control_plane(4)
        fleet = ProxyFleet(ctx)
        for i in range(nodes):
            fleet.register(f"node-{i}")
        fleet._on_slice_add(base)
        for kind in ("flip", "rebuilt"):
            us = _timed(fleet._on_slice_update, base, kind == "rebuilt", rounds, n)
            rows.append(
                {
                    "path": "categorise",
                    "update": kind,
                    "nodes": nodes,
                    "us_per_update": round(us, 3),
                    "us_per_kube_proxy": round(us / nodes, 5),
                }
            )

    run_virtual(fleet_rows, seed=4)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=20000)
    args = parser.parse_args()
    for row in run(args.nodes, args.rounds, args.updates):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
