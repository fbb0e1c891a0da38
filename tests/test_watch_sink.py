"""Informers fed inside the watch cache's delivery (issue 16): what must hold, as before.

The model's informers attach a synchronous sink to their in-process watch: the store, indexes and
handlers are updated while the watch cache delivers the event (inside the writer's request), and
the informer's task wakes only when the stream ends. The reflector's contract stays upstream's
(staging/src/k8s.io/client-go/tools/cache/reflector.go ListAndWatch / watchHandler): each event is
handled once and in resourceVersion order; a watch that ends is re-opened from the last
resourceVersion handled (no relist unless the server answers 410 Gone, "too old resource
version", staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go); after a 410 the
reflector lists again and the informer reports the difference (client-go DeltaFIFO Replace:
deletions for what vanished, adds for what appeared). Handlers run in the informer's process:
upstream each informer's handlers run on its own goroutine (shared_informer.go
processorListener.run), never on the writer's.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kubechaos.api.watch import ObjectEvent
from kubechaos.client.identity import as_client, current_client, set_client
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.requests import Request

from .factories import pod


async def started() -> Any:
    etcd, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    return etcd, ctx


def recording(informer: Informer[Any]) -> list[tuple[str, str, str]]:
    """(verb, name, resourceVersion) of every handler call, in order."""
    seen: list[tuple[str, str, str]] = []

    def note(verb: str, obj: Any) -> None:
        seen.append((verb, obj.metadata.name, obj.metadata.resource_version))

    informer.add_handler(
        Handler(
            on_add=lambda o: note("add", o),
            on_update=lambda _old, o: note("update", o),
            on_delete=lambda o: note("delete", o),
        )
    )
    return seen


def pods_informer(ctx: Any, component: str = "test") -> Informer[Any]:
    return Informer(ctx.api, "pods", component=component, events=ctx.events)


async def test_attached_sink_gets_the_replayed_window_then_live_events_in_order() -> None:
    """A watch from an older resourceVersion first replays the cache's window (watch_cache.go
    getAllEventsSinceLocked); a sink attached after that gets the replay first, in order, then
    each live event synchronously, within the write that commits it."""
    _, ctx = await started()
    _, rv = await ctx.api.list("pods")
    for i in range(3):
        await ctx.api.create(pod(f"p{i}"))
    watch = await ctx.api.watch("pods", resource_version=rv)
    got: list[ObjectEvent] = []
    watch.attach(got.append)
    assert [(e.type, e.object.metadata.name) for e in got] == [
        ("ADDED", "p0"),
        ("ADDED", "p1"),
        ("ADDED", "p2"),
    ]
    created = await ctx.api.create(pod("p3"))
    # no checkpoint between the write returning and this line: the sink already has it
    assert got[-1].object.metadata.name == "p3"
    assert got[-1].resource_version == int(created.metadata.resource_version)
    revisions = [e.resource_version for e in got]
    assert revisions == sorted(set(revisions))
    watch.stop()


async def test_a_closed_watch_resumes_from_the_last_delivered_version_without_relisting() -> None:
    """reflector.go: when the watch ends the reflector watches again from the last
    resourceVersion it handled; every event in between is handled exactly once, in order."""
    _, ctx = await started()
    informer = pods_informer(ctx)
    seen = recording(informer)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(informer.run)
        await informer.synced.wait()
        await ctx.api.create(pod("a"))
        first = informer.watch
        assert first is not None
        first.stop()  # the server closes it (a timeout, a replica going away)
        await ctx.api.create(pod("b"))  # while the informer has no watch open
        await ctx.api.delete("pods", "default", "a", grace_period_seconds=0)
        await trio.sleep(5)
        assert informer.watch is not first and not informer.watch.closed
        await ctx.api.create(pod("c"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert informer.relists == 0
    assert [(verb, name) for verb, name, _ in seen] == [
        ("add", "a"),
        ("add", "b"),
        ("delete", "a"),
        ("add", "c"),
    ]
    assert len({rv for _, _, rv in seen}) == len(seen)
    assert set(informer.store) == {"default/b", "default/c"}


async def test_after_410_the_informer_relists_and_reports_the_difference() -> None:
    """A re-watch from a compacted resourceVersion gets 410 Gone (watch_cache.go "too old
    resource version"); the reflector relists and the informer's Replace reports a deletion for
    the object that vanished and an add for the one that appeared (client-go DeltaFIFO)."""
    etcd, ctx = await started()
    informer = pods_informer(ctx)
    seen = recording(informer)
    slow_watch = [10.0]

    def slow(request: Request) -> float:  # the re-watch arrives 10 s late
        return slow_watch[0] if request.verb == "watch" else 0.0

    async with trio.open_nursery() as nursery:
        await ctx.api.create(pod("old"))
        nursery.start_soon(informer.run)
        await informer.synced.wait()
        await trio.sleep(1)
        ctx.api.request_hooks.append(slow)
        assert informer.watch is not None
        informer.watch.stop()
        await ctx.api.delete("pods", "default", "old", grace_period_seconds=0)
        await ctx.api.create(pod("new"))
        etcd.store.compact(etcd.store.revision)
        ctx.api.cache("pods").expire_window_before(etcd.store.revision)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert informer.relists == 1
    assert [(verb, name) for verb, name, _ in seen] == [
        ("add", "old"),
        ("delete", "old"),
        ("add", "new"),
    ]


async def test_handlers_run_in_the_informers_process_not_the_writers() -> None:
    """Handlers run on the informer's own goroutine upstream (shared_informer.go
    processorListener.run): here, in the context its task had, so a task a handler starts makes
    its requests as the informer's process, whichever client's write delivered the event."""
    _, ctx = await started()
    informer = pods_informer(ctx)
    clients: list[str] = []
    informer.add_handler(Handler(on_add=lambda _o: clients.append(current_client())))

    async def run_as_scheduler() -> None:
        set_client("kube-scheduler")
        await informer.run()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_as_scheduler)
        await informer.synced.wait()
        with as_client("kubectl"):
            await ctx.api.create(pod("p"))
            assert current_client() == "kubectl"
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert clients == ["kube-scheduler"]


async def test_a_raising_handler_ends_its_watch_not_the_writers_request() -> None:
    """An exception in a handler surfaces in the informer's task (where it always did), not in
    the writer: the write succeeds, the watchers after the failing one still hear the event."""
    _, ctx = await started()
    failing, healthy = pods_informer(ctx, "failing"), pods_informer(ctx, "healthy")

    def explode(obj: Any) -> None:
        if obj.metadata.name == "boom":
            raise RuntimeError("handler bug")

    failing.add_handler(Handler(on_add=explode))
    healthy_seen = recording(healthy)
    caught: list[BaseException] = []

    async def run_failing() -> None:
        try:
            await failing.run()
        except RuntimeError as exc:
            caught.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_failing)
        await failing.synced.wait()
        await trio.sleep(1)
        nursery.start_soon(healthy.run)
        await healthy.synced.wait()
        await trio.sleep(1)
        # the failing watch is dispatched to first, so one stopped mid-dispatch must not make
        # the cache skip the next
        assert [w.name for w in ctx.api.cache("pods").open_watches()] == ["failing", "healthy"]
        created = await ctx.api.create(pod("boom"))
        assert created.metadata.name == "boom"
        assert [name for _, name, _ in healthy_seen] == ["boom"]
        await trio.sleep(1)
        assert [str(exc) for exc in caught] == ["handler bug"]
        await ctx.api.create(pod("after"))
        assert [name for _, name, _ in healthy_seen] == ["boom", "after"]
        nursery.cancel_scope.cancel()


async def test_cancelling_the_informer_stops_its_watch_at_once() -> None:
    """A crashed process hears nothing more: cancelling the informer's task stops its watch in
    the same step, before any other task's write could reach its handlers."""
    _, ctx = await started()
    informer = pods_informer(ctx)
    seen = recording(informer)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await informer.run()

        nursery.start_soon(run)
        await informer.synced.wait()
        await trio.sleep(1)
        watch = informer.watch
        assert watch is not None and not watch.closed
        scope.cancel()
        assert watch.closed  # no checkpoint in between
        await ctx.api.create(pod("late"))
        await trio.sleep(1)
    assert seen == []
    assert ctx.api.cache("pods").open_watches() == []


@pytest.mark.parametrize("withhold_first", [True, False])
async def test_an_interceptor_that_holds_an_event_hands_it_on_later_to_the_sink(
    withhold_first: bool,
) -> None:
    """The fault seam keeps working with sinks: an interceptor may withhold an event and hand
    it on later with Watch.resume (watch-delay); a dropped event never arrives (watch-drop)."""
    _, ctx = await started()
    _, rv = await ctx.api.list("pods")
    watch = await ctx.api.watch("pods", resource_version=rv)
    held: list[ObjectEvent] = []

    def hold(event: ObjectEvent) -> ObjectEvent | None:
        held.append(event)
        return None

    watch.interceptors.append(hold)
    got: list[str] = []
    watch.attach(lambda e: got.append(e.object.metadata.name))
    await ctx.api.create(pod("a"))
    assert got == [] and [e.object.metadata.name for e in held] == ["a"]
    if withhold_first:
        watch.resume(held.pop(), hold)
        assert got == ["a"]
    else:
        held.clear()  # dropped
    watch.interceptors.remove(hold)
    await ctx.api.create(pod("b"))
    assert got == (["a", "b"] if withhold_first else ["b"])
    watch.stop()
