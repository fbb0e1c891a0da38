"""The node lifecycle controller's NoExecute tainting pass (upstream doNoExecuteTaintingPass).

Upstream runs it every ``NodeEvictionPeriod`` (100 ms): for each zone's rate-limited queue it
takes a token, then the head node, and gives it the NoExecute taint its Ready condition calls for
(``node.kubernetes.io/not-ready`` for False, ``unreachable`` for Unknown, removing the other);
a node that is Ready again or gone is dropped, one without a Ready condition retried after 50 ms.
Each taint counts in ``node_collector_evictions_total{zone}``. The model runs the pass when there
is something to do: when a node is queued and when the next token or retry comes due, so a
queued node is tainted up to 100 ms sooner than upstream's polling would, never later.
"""

from __future__ import annotations

import functools

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import NO_EXECUTE, Node, Taint
from kubechaos.client.context import Context
from kubechaos.client.informer import Informer
from kubechaos.control.controllers.nodezones import ZoneDisruption, ZoneTainter, zone_key
from kubechaos.defaults import NODE_TAINT_RETRY, TAINT_NOT_READY, TAINT_UNREACHABLE
from kubechaos.sim import timers
from kubechaos.sim.clock import now

NO_EXECUTE_KEYS = (TAINT_NOT_READY, TAINT_UNREACHABLE)
# A retried item waits its delay plus a nanosecond (rate_limited_queue.go Try: wait + 1).
_NANOSECOND = 1e-9


def no_execute_key(node: Node) -> str | None:
    """Which of the controller's NoExecute taints the node carries (they are exclusive)."""
    for taint in node.spec.taints:
        if taint.effect == NO_EXECUTE and taint.key in NO_EXECUTE_KEYS:
            return taint.key
    return None


def has_no_execute(node: Node, key: str) -> bool:
    return any(t.effect == NO_EXECUTE and t.key == key for t in node.spec.taints)


def with_no_execute(key: str | None, node: Node) -> Node:
    """The server-side half of SwapNodeControllerTaint / RemoveTaintOffNode: the node with
    ``key`` as its only controller NoExecute taint (None: none). A taint it already has keeps its
    ``timeAdded``; a new one gets now."""
    kept = tuple(
        t
        for t in node.spec.taints
        if not (t.effect == NO_EXECUTE and t.key in NO_EXECUTE_KEYS and t.key != key)
    )
    if key is not None and not has_no_execute(node, key):
        kept = (*kept, Taint(key, NO_EXECUTE, time_added=now()))
    if kept == node.spec.taints:
        return node
    return attrs.evolve(node, spec=attrs.evolve(node.spec, taints=kept))


class NoExecuteTainting:
    """Serves the zones' tainting queues for the node lifecycle controller."""

    def __init__(self, ctx: Context, nodes: Informer[Node], zones: ZoneDisruption) -> None:
        self.api = ctx.api
        self.nodes = nodes
        self.zones = zones
        self._wakeup = trio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup = trio.Event()
            next_at: float | None = None
            for zone, tainter in list(self.zones.tainters.items()):
                await self._try(zone, tainter)
                due = tainter.next_attempt(now())
                if due is not None:
                    next_at = due if next_at is None else min(next_at, due)
            if next_at is None:
                await self._wakeup.wait()
            else:
                # Never the same instant again: a pass that could do nothing now cannot later.
                await timers.wait_until(self._wakeup.wait, max(next_at, now() + _NANOSECOND))

    async def _try(self, zone: str, tainter: ZoneTainter) -> None:
        """Upstream RateLimitedTimedQueue.Try: a token per item, stop at the first refusal."""
        while (head := tainter.head()) is not None:
            if not tainter.limiter.try_accept(now()):
                return
            process_at, name = head
            if now() < process_at:
                return
            done, wait = await self._taint(name)
            if done:
                tainter.done(name)
            else:
                tainter.retry(name, now() + wait + _NANOSECOND)

    async def _taint(self, name: str) -> tuple[bool, float]:
        node = self.nodes.get(name)
        if node is None:
            return True, 0.0
        ready = node.status.condition("Ready")
        if ready is None:
            return False, NODE_TAINT_RETRY
        if ready.status == "True":
            return True, 0.0  # Ready again: nothing to taint
        key = TAINT_NOT_READY if ready.status == "False" else TAINT_UNREACHABLE
        try:
            await self.api.patch("nodes", "", name, functools.partial(with_no_execute, key))
        except errors.NotFound:
            return True, 0.0
        except errors.APIError:
            return False, 0.0
        self.zones.count_eviction(zone_key(node))
        return True, 0.0


__all__ = ["NoExecuteTainting", "has_no_execute", "no_execute_key", "with_no_execute"]
