"""The one pattern every controller follows: informers feed keys into a rate-limited work queue,
workers pop keys and reconcile the object's whole desired state (level-triggered), and a failed
reconcile is retried with the queue's rate limiter.

A subclass names itself, registers informer handlers that call :meth:`Controller.enqueue`, and
implements :meth:`Controller.sync`. It never assumes the event that woke it is the only change.
"""

from __future__ import annotations

import trio

from kubechaos.api import errors
from kubechaos.client.context import Context
from kubechaos.client.workqueue import WorkQueue


class Controller:
    name = "controller"  # the component that records its events
    queue_name = ""  # the work queue's name in workqueue_* metrics (upstream's); default: name
    workers = 1

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.api = ctx.api
        self.events = ctx.events
        self.queue = WorkQueue(self.queue_name or self.name, ctx.settings)
        # the queue's dirty set (the same set object for the queue's life), read here so that
        # re-adding a key already waiting (most pod events of a busy owner) is one set lookup
        self._queued = self.queue.dirty

    def enqueue(self, key: str) -> None:
        # Fast path of WorkQueue.add, which it must agree with: a key already dirty is a no-op.
        if key not in self._queued:
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        """Bring the object called ``key`` to its desired state; raise to be retried."""
        raise NotImplementedError

    async def wait_synced(self) -> None:
        """Wait for this controller's informers to have listed once (override)."""

    async def run(self) -> None:
        await self.wait_synced()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.queue.run_delays)
            for _ in range(self.workers):
                nursery.start_soon(self._worker)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.sync(key)
            except errors.APIError as exc:
                # A conflict only means the informer was behind: upstream logs it, no Event.
                if not isinstance(exc, errors.Conflict):
                    self.events.record(self.name, "Controller", key, "SyncError", str(exc))
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)
