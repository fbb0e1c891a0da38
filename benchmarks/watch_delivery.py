"""Micro-benchmark: what one watch event costs its informers, inline versus one wakeup per batch.

``INFORMERS`` informers (a handler each that counts) watch pods; one writer updates a pod
``WRITES`` times through the in-process API. Run twice in one process: with the informers' sinks
attached (the model's path: handlers run inside the watch cache's delivery), and with each watch
wrapped so it offers no sink (the informer's task reads ``next_batch``, woken once per write).
Prints CPU time and Trio task steps of each, and for the inline path the Python frames from the
etcd commit (``EtcdStore.txn`` or ``put_if_mod``) down to the handler, the handler's own
excluded; nothing is asserted (tests count work instead: tests/test_cost_watch_delivery.py,
tests/test_cost_watch_frames.py).

    python benchmarks/watch_delivery.py [--informers 50] [--writes 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import attrs
import trio

from kubechaos.api.objects import Container, ObjectMeta, Pod, PodSpec
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.sim.clock import run_virtual


class _Steps(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


class _NoSink:
    """A watch that hides ``attach``: the informer falls back to ``next_batch``."""

    def __init__(self, watch: Any) -> None:
        self._watch = watch
        self.closed = False

    async def next_batch(self) -> Any:
        return await self._watch.next_batch()

    def stop(self) -> None:
        self._watch.stop()

    def __enter__(self) -> _NoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _BatchAPI:
    """The API server, but each watch it opens is wrapped in :class:`_NoSink`."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def watch(self, *args: Any, **kwargs: Any) -> _NoSink:
        return _NoSink(await self._api.watch(*args, **kwargs))


_COMMITS = ("txn", "put_if_mod")


def _frames_below_commit() -> int | None:
    """Frames between the etcd commit and the caller's caller (the handler's caller), or None
    outside a commit."""
    frame = sys._getframe(2)
    frames = 0
    while frame is not None:
        code = frame.f_code
        if code.co_name in _COMMITS and code.co_filename.endswith("control/etcd.py"):
            return frames
        frames += 1
        frame = frame.f_back  # type: ignore[assignment]
    return None


def measure(informers: int, writes: int, inline: bool) -> tuple[float, int, int, int | None]:
    """CPU seconds, task steps, handler calls for ``writes`` pod updates, and the frames from
    the commit to a handler."""
    steps = _Steps()
    heard = [0]
    depth: list[int | None] = []

    async def main() -> None:
        _, ctx = new_control_plane(seed=1)
        await bootstrap(ctx)
        api = ctx.api if inline else _BatchAPI(ctx.api)
        pod = await ctx.api.create(
            Pod(ObjectMeta(name="p", namespace="default"), PodSpec((Container("c", "img"),)))
        )

        def hear(_old: Any, _new: Any) -> None:
            if not depth:
                depth.append(_frames_below_commit())
            heard[0] += 1

        async with trio.open_nursery() as nursery:
            for i in range(informers):
                informer: Informer[Any] = Informer(
                    api, "pods", component=f"c{i}", events=ctx.events
                )
                informer.add_handler(Handler(on_update=hear))
                nursery.start_soon(informer.run)
                await informer.synced.wait()
            await trio.sleep(1)
            trio.lowlevel.add_instrument(steps)
            for n in range(writes):
                labels = {"n": str(n)}
                pod = await ctx.api.update(
                    attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, labels=labels))
                )
            await trio.sleep(1)
            trio.lowlevel.remove_instrument(steps)
            nursery.cancel_scope.cancel()

    start = time.process_time()
    run_virtual(main, seed=1)
    return time.process_time() - start, steps.steps, heard[0], depth[0] if depth else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--informers", type=int, default=50)
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    for inline in (False, True):
        cpu, steps, heard, frames = measure(args.informers, args.writes, inline)
        name = "inline (sinks)" if inline else "one wakeup per batch"
        below = f"  {frames} frames commit->handler" if frames is not None else ""
        print(
            f"{name:<22} {cpu:6.2f} s CPU  {steps:>8} task steps  {heard:>8} handler calls"
            f"  {cpu / heard * 1e6:6.1f} us per handler call{below}"
        )


if __name__ == "__main__":
    main()
