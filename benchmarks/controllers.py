"""Controller micro-benchmark: µs of controller CPU per pod while a Deployment converges (issue 16).

A cluster of ``--nodes`` nodes takes one Deployment of ``--replicas`` replicas (readiness probes)
and a Service over it, and runs until every pod is Ready and the Deployment, its ReplicaSet, the
Endpoints and the EndpointSlices say so. The CPU the Deployment, ReplicaSet, Endpoints and
EndpointSlice controllers spend in their own code is charged to each of them, in process CPU
time (the machine is shared: wall time counts the neighbours):

- their work-queue syncs, one coroutine step at a time (a sync waits for the API server and
  other tasks run meanwhile; only its own steps are charged);
- their informer event handlers (and the indexes registered as handlers), which the API server
  calls inline when it delivers a watch event;
- minus the API requests they make (the server's work is the write path's, not theirs): an
  API call is charged to ``api``, and a handler the call delivers to, to that handler's owner.

Printed as JSON: per controller, µs per pod (and split into syncs and handlers), syncs and
handler calls; the total. Each figure is the least of ``--rounds`` runs. The run is the
same every time (virtual time, fixed seed), so a before/after pair compares like with like.

    python benchmarks/controllers.py
    python benchmarks/controllers.py --replicas 300 --nodes 10 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio

from kubechaos.api.objects import Probe
from kubechaos.client.informer import Informer
from kubechaos.control.apiserver import APIServer
from kubechaos.control.controllers.deployment import DeploymentController
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.sim.clock import run_virtual
from tests.factories import deployment, service
from tests.harness import running, wait_until

CONTROLLERS = {
    DeploymentController: "deployment",
    ReplicaSetController: "replicaset",
    EndpointsController: "endpoints",
    EndpointSliceController: "endpointslice",
}
API_METHODS = ("get", "list", "create", "update", "update_status", "patch", "delete")


class Charges:
    """CPU time charged to whoever runs: a stack of labels, the top one paying."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._stack = ["other"]
        self._last = time.process_time()

    def push(self, label: str) -> None:
        at = time.process_time()
        self.cpu[self._stack[-1]] += at - self._last
        self._last = at
        self._stack.append(label)

    def pop(self) -> None:
        at = time.process_time()
        self.cpu[self._stack.pop()] += at - self._last
        self._last = at


CHARGES = Charges()


class _Timed:
    """Await ``coro``, charging each of its steps to ``label``."""

    def __init__(self, coro: Any, label: str) -> None:
        self.coro, self.label = coro, label

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value, error = self.coro, None, None
        while True:
            CHARGES.push(self.label)
            try:
                yielded = coro.throw(error) if error is not None else coro.send(value)
            except StopIteration as done:
                return done.value
            finally:
                CHARGES.pop()
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # handed to the coroutine, as await does
                value, error = None, exc


def _timed_async(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        CHARGES.calls[label] += 1
        return await _Timed(fn(*args, **kwargs), label)

    return wrapper


def _timed_sync(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        CHARGES.calls[f"{label} handler"] += 1
        CHARGES.push(f"{label} handler")
        try:
            return fn(*args)
        finally:
            CHARGES.pop()

    return wrapper


def _owner_label(fn: Any, manager: Any) -> str | None:
    """Which of the four controllers a handler belongs to: a method of the controller, or of
    one of its attributes (an index registered as a handler of its own)."""
    owner = getattr(fn, "__self__", None)
    for cls, label in CONTROLLERS.items():
        ctrl = getattr(manager, label)
        assert isinstance(ctrl, cls)
        if owner is ctrl or any(owner is value for value in vars(ctrl).values()):
            return label
    return None


def instrument_api() -> None:
    """Charge every API request to ``api`` (before the cluster is built)."""
    for name in API_METHODS:
        setattr(APIServer, name, _timed_async(getattr(APIServer, name), "api"))
    for cls, label in CONTROLLERS.items():
        cls.sync = _timed_async(cls.sync, label)  # type: ignore[method-assign]


def instrument_handlers(manager: Any) -> None:
    """Charge the four controllers' informer handlers to them (the informers are shared)."""
    seen: set[int] = set()
    for label in CONTROLLERS.values():
        for informer in vars(getattr(manager, label)).values():
            if not isinstance(informer, Informer) or id(informer) in seen:
                continue
            seen.add(id(informer))
            # the informer calls the callback lists it built at add_handler, not the Handlers
            for listed in (informer._on_add, informer._on_update, informer._on_delete):
                for i, fn in enumerate(listed):
                    owner = _owner_label(fn, manager)
                    if owner is not None:
                        listed[i] = _timed_sync(fn, owner)


def converge(nodes: int, replicas: int, seed: int) -> dict[str, Any]:
    """One Deployment of ``replicas`` and its Service, from nothing to every pod Ready and every
    object saying so; returns the run's counts."""
    counts: dict[str, Any] = {}

    async def main() -> None:
        async with running(nodes=nodes, seed=seed) as cl:
            await wait_until(lambda: cl.controller_manager.instance is not None, 60, "kcm")
            manager = cl.controller_manager.instance
            instrument_handlers(manager)
            probe = Probe(initial_delay_seconds=5, period_seconds=10)
            d = deployment("web", replicas=replicas, readiness=probe)
            start = trio.current_time()
            await cl.apply([d, service("web")])

            def done() -> bool:
                current = cl.api.cache("deployments").get("/registry/deployments/default/web")
                ep = cl.api.cache("endpoints").get("/registry/endpoints/default/web")
                ready = sum(len(s.addresses) for s in ep.subsets) if ep is not None else 0
                return (
                    current is not None
                    and current.status.available_replicas == replicas
                    and current.status.updated_replicas == replicas
                    and ready == replicas
                )

            counts["converged_s"] = round(await wait_until(done, 900, "converged") - start, 1)
            await trio.sleep(30)  # the last status writes and slice updates settle

    run_virtual(main, seed=seed)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="runs; the least CPU is kept")
    args = parser.parse_args()
    instrument_api()
    best: dict[str, float] = {}
    counts: dict[str, Any] = {}
    for _ in range(args.rounds):
        CHARGES.cpu.clear()
        CHARGES.calls.clear()
        counts = converge(args.nodes, args.replicas, seed=1)
        for label in CONTROLLERS.values():
            for part in (label, f"{label} handler"):
                spent = CHARGES.cpu[part]
                best[part] = min(best.get(part, spent), spent)
    per_pod = {
        label: round((best[label] + best[f"{label} handler"]) / args.replicas * 1e6, 1)
        for label in CONTROLLERS.values()
    }
    split = {
        label: {
            "syncs": round(best[label] / args.replicas * 1e6, 1),
            "handlers": round(best[f"{label} handler"] / args.replicas * 1e6, 1),
        }
        for label in CONTROLLERS.values()
    }
    print(
        json.dumps(
            {
                "replicas": args.replicas,
                "nodes": args.nodes,
                **counts,
                "us_per_pod": per_pod,
                "us_per_pod_total": round(sum(per_pod.values()), 1),
                "us_per_pod_split": split,
                "syncs": {label: CHARGES.calls[label] for label in CONTROLLERS.values()},
                "handler_calls": {
                    label: CHARGES.calls[f"{label} handler"] for label in CONTROLLERS.values()
                },
                "api_requests": CHARGES.calls["api"],
            }
        )
    )


if __name__ == "__main__":
    main()
