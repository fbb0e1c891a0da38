"""How many Python frames a committed write passes through on its way to a watcher (issue 16).

Every write's commit reaches the watchers that can see it through the API server's watch cache
(staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go: the cacher's single etcd watch feeds
``dispatchEvent``, which hands the one ``watchCacheEvent`` of the commit to each interested
``cacheWatcher``). In the model that delivery is synchronous, inside the writer's etcd transaction,
and an informer's handlers run inside it (client/informer.py, "Delivery"), so each frame on that
path is paid once per delivered event: ~580 k deliveries over a 1,000-node mixed run, where seven
frames of plumbing (etcd notify, watch cache dispatch / offer / deliver, informer on_event / apply
/ notify) cost ~10 CPU s excluding the handlers themselves.

Counted with :func:`sys.setprofile` (Python calls, never time), from the etcd commit
(``EtcdStore.txn`` or ``EtcdStore.put_if_mod``) to the handler for an in-process informer (a sink watch), and to the watch's
buffer for a watch without a sink (the HTTP front door's watches read ``next_batch``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import attrs
import trio

from kubechaos.api.objects import Container, ObjectMeta, Pod, PodSpec
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.etcd import EtcdStore
from kubechaos.sim.clock import run_virtual

# an etcd commit: a transaction, or the store's compare-and-swap of one key (the same commit)
TXN = (EtcdStore.txn.__code__, EtcdStore.put_if_mod.__code__)


def _chain(frame: FrameType | None) -> list[str] | None:
    """The functions between the etcd commit and ``frame`` (exclusive), outermost first; None
    when ``frame`` is not inside a commit."""
    names: list[str] = []
    while frame is not None:
        if frame.f_code in TXN:
            names.reverse()
            return names
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return None


@attrs.define
class Seen:
    chains: list[list[str]] = attrs.field(factory=list)  # commit -> handler / buffer, per event
    calls_per_commit: list[int] = attrs.field(factory=list)  # Python calls inside each commit


def _profiler(seen: Seen, at_target: Callable[[FrameType, str, Any], bool]) -> Any:
    """A profile function counting Python calls within each commit and recording the frame
    chain wherever ``at_target`` says the event has arrived."""
    depth = [0]  # > 0 while inside a commit

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            if frame.f_code in TXN:
                depth[0] += 1
                if depth[0] == 1:
                    seen.calls_per_commit.append(0)
                return
            if depth[0]:
                seen.calls_per_commit[-1] += 1
        elif event == "return" and frame.f_code in TXN:
            depth[0] -= 1
        if depth[0] and at_target(frame, event, arg):
            # the handler's caller (a call event), or the function calling list.append
            chain = _chain(frame.f_back if event == "call" else frame)
            assert chain is not None
            seen.chains.append(chain)

    return profile


def _run(informers: int, sink: bool, writes: int = 3) -> Seen:
    """``writes`` updates of one pod watched by ``informers`` informers (each with one update
    handler) or, with ``sink`` False, by that many watches without a sink."""
    seen = Seen()
    heard = [0]

    def on_update(_old: Any, _new: Any) -> None:
        heard[0] += 1

    async def main() -> None:
        _, ctx = new_control_plane(seed=1)
        await bootstrap(ctx)
        pod = await ctx.api.create(
            Pod(ObjectMeta(name="p", namespace="default"), PodSpec((Container("c", "img"),)))
        )
        buffers: list[list[Any]] = []
        async with trio.open_nursery() as nursery:
            for i in range(informers):
                if sink:
                    informer: Informer[Any] = Informer(
                        ctx.api, "pods", component=f"c{i}", events=ctx.events
                    )
                    informer.add_handler(Handler(on_update=on_update))
                    nursery.start_soon(informer.run)
                    await informer.synced.wait()
                else:
                    watch = await ctx.api.watch(
                        "pods", resource_version=int(pod.metadata.resource_version), client="h"
                    )
                    buffers.append(watch._pending)
            await trio.sleep(1)

            def at_target(frame: FrameType, event: str, arg: Any) -> bool:
                if sink:
                    return event == "call" and frame.f_code is on_update.__code__
                return event == "c_call" and any(arg.__self__ is b for b in buffers)

            sys.setprofile(_profiler(seen, at_target))
            try:
                for n in range(writes):
                    meta = attrs.evolve(pod.metadata, labels={"n": str(n)})
                    pod = await ctx.api.update(attrs.evolve(pod, metadata=meta))
            finally:
                sys.setprofile(None)
            nursery.cancel_scope.cancel()
        if sink:
            assert heard[0] == informers * writes
        else:
            assert [len(b) for b in buffers] == [writes] * informers

    run_virtual(main, seed=1)
    assert len(seen.chains) == informers * writes
    return seen


def test_a_sink_watchers_handler_is_three_frames_below_the_commit() -> None:
    """etcd notifies its one watcher of a one-event commit (the watch cache) directly (from the
    compare-and-swap itself, EtcdStore.put_if_mod, no _notify_one frame of its own), the cache
    dispatches the commit's one event (cacher.go dispatchEvent) straight into each unfiltered
    sink (the informer's apply: store, indexes, handlers in one frame). Before: nine frames
    (_notify, _notify_one, on_etcd_events, _dispatch, _offer, deliver, _on_event, _apply,
    _notify_update); then four (_notify_one)."""
    seen = _run(informers=2, sink=True)
    for chain in seen.chains:
        assert chain == ["on_etcd_events", "_dispatch", "_on_event"]


def test_each_more_sink_watcher_costs_two_python_calls_per_event() -> None:
    """Per delivered event a sink watcher costs its informer's apply and the handler, nothing
    else (no per-watcher as_kind, offer or deliver frame): the ObjectEvent is made once per
    commit (cacher.go's watchCacheEvent is shared by every watcher). Before: eight (with
    as_kind, key_of and _notify_update)."""
    one, six = _run(informers=1, sink=True), _run(informers=6, sink=True)
    extra = [b - a for a, b in zip(one.calls_per_commit, six.calls_per_commit, strict=True)]
    assert extra == [5 * 2] * len(extra)


def test_a_watch_without_sink_buffers_the_event_three_frames_below_the_commit() -> None:
    """A watch without a sink (an HTTP watch, read by next_batch) gets the event through the
    general path (the one faults' interceptors sit on) and buffers it there. Before: six frames
    (_notify, _notify_one, on_etcd_events, _dispatch, _offer, deliver); then four (_notify_one)."""
    seen = _run(informers=2, sink=False)
    for chain in seen.chains:
        assert chain == ["on_etcd_events", "_dispatch", "_offer"]
    one, three = _run(informers=1, sink=False), _run(informers=3, sink=False)
    extra = [b - a for a, b in zip(one.calls_per_commit, three.calls_per_commit, strict=True)]
    assert extra == [2 * 1] * len(extra)  # one _offer per watcher


async def test_a_fault_armed_on_an_attached_watch_takes_the_next_event_off_the_fast_path() -> None:
    """The fast path is checked per event: an interceptor appended to an informer's watch after
    it attached (watch-drop arms on open watches, faults/network.py) withholds the next event;
    disarmed, events reach the handler again. Upstream a dropped watch event is simply never
    seen by the watcher (cacher.go's cacheWatcher.add drops on a blocked watcher)."""
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    informer: Informer[Any] = Informer(ctx.api, "pods", component="t", events=ctx.events)
    heard: list[str] = []
    informer.add_handler(Handler(on_add=lambda o: heard.append(o.metadata.name)))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(informer.run)
        await informer.synced.wait()
        await trio.sleep(1)
        spec = PodSpec((Container("c", "img"),))
        await ctx.api.create(Pod(ObjectMeta(name="a", namespace="default"), spec))
        watch: Any = informer.watch
        dropped: list[str] = []

        def drop(event: Any) -> None:
            dropped.append(event.object.metadata.name)

        watch.interceptors.append(drop)
        await ctx.api.create(Pod(ObjectMeta(name="b", namespace="default"), spec))
        watch.interceptors.remove(drop)
        await ctx.api.create(Pod(ObjectMeta(name="c", namespace="default"), spec))
        nursery.cancel_scope.cancel()
    assert heard == ["a", "c"] and dropped == ["b"]


async def test_a_label_filtered_informer_hears_a_pod_leave_its_selector_as_deleted() -> None:
    """A watch with a label selector (filtered, so off the fast path, in the same bucket as the
    unfiltered ones) sees an object that stops matching as DELETED and one that starts matching
    as ADDED (cacher.go: the cacheWatcher converts by comparing the old and new object against
    its filter), while an unfiltered informer sees both changes as updates."""
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    web: Informer[Any] = Informer(
        ctx.api,
        "pods",
        component="w",
        events=ctx.events,
        label_selector=LabelSelector({"app": "web"}),
    )
    every: Informer[Any] = Informer(ctx.api, "pods", component="e", events=ctx.events)
    seen: list[tuple[str, str]] = []
    for name, informer in (("web", web), ("all", every)):
        informer.add_handler(
            Handler(
                on_add=lambda o, n=name: seen.append((n, "add")),
                on_update=lambda _o, _n, n=name: seen.append((n, "update")),
                on_delete=lambda o, n=name: seen.append((n, "delete")),
            )
        )
    async with trio.open_nursery() as nursery:
        for informer in (web, every):
            nursery.start_soon(informer.run)
            await informer.synced.wait()
        await trio.sleep(1)
        meta = ObjectMeta(name="p", namespace="default", labels={"app": "web"})
        pod = await ctx.api.create(Pod(meta, PodSpec((Container("c", "img"),))))
        for labels in ({"app": "db"}, {"app": "web"}):
            meta = attrs.evolve(pod.metadata, labels=labels)
            pod = await ctx.api.update(attrs.evolve(pod, metadata=meta))
        nursery.cancel_scope.cancel()
    assert [verb for who, verb in seen if who == "web"] == ["add", "delete", "add"]
    assert [verb for who, verb in seen if who == "all"] == ["add", "update", "update"]
