"""What a watch event costs its informers: no task wakeup per watcher per batch (issue 16).

Every commit reaches the informers whose watches can see it (the API server's watch cache,
staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go dispatchEvent, one event to each
interested watcher). Upstream each informer then handles it on its own goroutine; the model runs
the informer's handlers inside the watch cache's delivery instead (client/informer.py, "Delivery"),
and an informer's task wakes only to list, to open a watch, or when its stream ends. Before, each
delivery woke the informer's task: in a 250-node mixed run those wakeups were 40 % of all task
steps.

Counted deterministically at a fixed seed on a small cluster (task steps through a Trio instrument;
a step is "in an informer" when Informer._list_and_watch is on the task's await chain), never
timed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from types import CodeType
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.watch import ObjectEvent
from kubechaos.client.informer import Informer
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.watchcache import Watch
from kubechaos.sim.clock import run_virtual

from .factories import deployment, service

LIST_AND_WATCH = Informer._list_and_watch.__code__


def _awaits(coro: Any, code: CodeType) -> bool:
    """Whether ``code`` is on the await chain of the suspended coroutine ``coro``."""
    while coro is not None:
        if getattr(coro, "cr_code", None) is code:
            return True
        coro = getattr(coro, "cr_await", None)
    return False


@attrs.define
class Cost:
    steps: int = 0  # every task step of the run
    informer_steps: int = 0  # of those, the steps of informer tasks
    delivered: int = 0  # events handed to informers
    attached: int = 0  # watches informers attached a sink to (one per watch they opened)
    events: int = 0  # the model's event log


class _Steps(trio.abc.Instrument):
    def __init__(self, cost: Cost) -> None:
        self.cost = cost

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.cost.steps += 1
        if _awaits(task.coro, LIST_AND_WATCH):
            self.cost.informer_steps += 1


def run_small_cluster() -> Cost:
    """4 nodes, a Deployment of 12 behind a Service, scaled to 20 at 60 s, 180 s in all."""
    cost = Cost()
    cluster = Cluster(ClusterSpec((NodeGroupSpec("pool", 4),)), seed=11)

    async def main() -> None:
        trio.lowlevel.add_instrument(_Steps(cost))
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.run)
            await cluster.apply([deployment("web", replicas=12), service("web")])
            await trio.sleep(60)
            await cluster.api.patch(
                "deployments",
                "default",
                "web",
                lambda d: attrs.evolve(d, spec=attrs.evolve(d.spec, replicas=20)),
            )
            await trio.sleep(120)
            nursery.cancel_scope.cancel()

    original_on_event, original_attach = Informer._on_event, Watch.attach

    @functools.wraps(original_on_event)
    def on_event(self: Informer[Any], event: ObjectEvent) -> None:
        cost.delivered += 1
        original_on_event(self, event)

    @functools.wraps(original_attach)
    def attach(self: Watch, sink: Any) -> None:
        cost.attached += 1
        original_attach(self, sink)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Informer, "_on_event", on_event)
        mp.setattr(Watch, "attach", attach)
        run_virtual(main, seed=11)
    cost.events = len(cluster.ctx.events)
    return cost


@pytest.fixture(scope="module")
def cost() -> Iterator[Cost]:
    yield run_small_cluster()


def test_the_run_delivers_many_events_to_informers(cost: Cost) -> None:
    """The comparison below is meaningful: informers hear far more events than watches open."""
    assert cost.attached > 0, "no informer attached a sink to its watch"
    assert cost.delivered >= 10 * cost.attached, (cost.delivered, cost.attached)


def test_informer_tasks_wake_per_watch_not_per_batch(cost: Cost) -> None:
    """An informer's task steps: its start, its list, opening each watch and each stream's end
    (reflector.go ListAndWatch's own round trips), so a bounded number per watch it opened,
    however many events the watch delivered. One wakeup per delivered batch (the old path,
    Watch.next_batch in the informer's task) would be hundreds of times more."""
    assert cost.informer_steps <= 4 * cost.attached, (
        f"{cost.informer_steps} informer task steps for {cost.attached} watches"
        f" ({cost.delivered} events delivered): informers wake per batch again?"
    )


def test_task_steps_per_model_event_stay_low(cost: Cost) -> None:
    """All task steps of the run per event-log event. Measured on this shape at seed 11: 16.1
    with one informer wakeup per batch (2,123 steps, 500 of them in informers), 12.6 with
    delivery into the informers' sinks (1,658 steps, 57 in informers); the bound sits between
    them, so the old path coming back fails here."""
    per_event = cost.steps / cost.events
    assert per_event <= 14.5, f"{per_event:.1f} task steps per model event"
