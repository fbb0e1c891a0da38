"""Every informer handler in the model keeps the contract inline delivery needs (issue 16).

Handlers now run inside the watch cache's delivery, within the writer's request
(kubechaos/client/informer.py, "Delivery"). Upstream a handler runs on the informer's own
goroutine and client-go asks of it that it be quick and only update caches and queue work
(staging/src/k8s.io/client-go/tools/cache/shared_informer.go, ResourceEventHandler: "handlers
... should not modify the objects received", work belongs on a workqueue). Here that is binding:
a handler that wrote etcd would nest a transaction inside the writer's, one that opened or
stopped a watch would change the watcher list the cache is dispatching over, and one whose
delivery led to another delivery to the same informer would see events out of order.

Run over scenarios that exercise every controller with an informer (ReplicaSet, Deployment,
StatefulSet, DaemonSet, Job and TTL, disruption, HPA, node lifecycle and taint eviction, pod GC,
garbage collector, Endpoints and EndpointSlice), the scheduler with preemption, kubelets,
kube-proxy, the observers, and the watch faults (watch-delay, watch-drop, API replica crash,
node partition), each call that would break the contract is recorded while a handler runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from kubechaos.client.informer import Handler, Informer
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.etcd import Etcd, EtcdStore
from kubechaos.control.watchcache import Watch, WatchCache
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run

from .factories import pod

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

COVERING = [
    "hpa-node-loss",  # HPA, node lifecycle, taint eviction, ReplicaSet, Deployment
    "statefulset-node-crash",  # StatefulSet, pod GC
    "job-pods-killed",  # Job, TTL after finished
    "drain-blocked-by-pdb",  # disruption, eviction
    "daemonset-node-reboot",  # DaemonSet
    "preemption-storm",  # scheduler preemption
    "stale-informers",  # watch-delay, watch-drop, controller-manager restart
    "control-plane-node-loss",  # API server replicas: watches broken and re-opened
    "zone-partition",  # node partition: kubelets' watches muted, then re-opened
]


class _Contract:
    def __init__(self) -> None:
        self.depth = 0  # informer handlers running now
        self.handled = 0
        self.broken: list[str] = []

    def handling(self, on_event: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(on_event)
        def wrapped(informer: Informer[Any], event: Any) -> None:
            if self.depth:
                self.broken.append(f"{informer.component} {informer.resource}: nested delivery")
            self.depth += 1
            self.handled += 1
            try:
                on_event(informer, event)
            finally:
                self.depth -= 1

        return wrapped

    def forbidden(self, what: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                self.broken.append(f"{what} called from an informer handler")
            return method(*args, **kwargs)

        return guarded


@pytest.mark.parametrize("name", COVERING)
def test_handlers_only_update_caches_and_enqueue(name: str) -> None:
    contract = _Contract()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Informer, "_on_event", contract.handling(Informer._on_event))
        for cls, method in (
            (EtcdStore, "txn"),
            (EtcdStore, "put"),
            (EtcdStore, "delete"),
            (Etcd, "txn"),
            (WatchCache, "watch"),
            (Watch, "stop"),
        ):
            mp.setattr(
                cls, method, contract.forbidden(f"{cls.__name__}.{method}", getattr(cls, method))
            )
        Run(load_scenario(SCENARIOS / f"{name}.yaml")).run()
    assert contract.handled > 100, "no informer event was handled inline"
    assert contract.broken == [], sorted(set(contract.broken))


async def test_the_guard_notices_a_handler_that_breaks_the_contract() -> None:
    """The guard above can fail: a handler that opens a watch and stops its own is caught. (An
    API request cannot be made from a handler at all: it is a coroutine nobody awaits.)"""
    contract = _Contract()
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    informer: Informer[Any] = Informer(ctx.api, "pods", component="bad", events=ctx.events)

    def misbehave(obj: Any) -> None:
        cache = ctx.api.cache("pods")
        cache.watch(None, None, None, cache.revision, "bad").stop()
        assert informer.watch is not None
        informer.watch.stop()

    informer.add_handler(Handler(on_add=misbehave))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Informer, "_on_event", contract.handling(Informer._on_event))
        mp.setattr(WatchCache, "watch", contract.forbidden("WatchCache.watch", WatchCache.watch))
        mp.setattr(Watch, "stop", contract.forbidden("Watch.stop", Watch.stop))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(informer.run)
            await informer.synced.wait()
            await ctx.api.create(pod("p"))
            nursery.cancel_scope.cancel()
    assert contract.broken == [
        "WatchCache.watch called from an informer handler",
        "Watch.stop called from an informer handler",
        "Watch.stop called from an informer handler",
    ]
