"""client-go's rate-limited work queue, with its defaults.

The guarantees controllers rely on: a key is never processed by two workers at once; a key added
while it is being processed is processed again afterwards; a key added many times before a worker
gets to it is processed once (level-triggered reconcile). Failures are retried through the default
controller rate limiter: the larger of a per-item exponential backoff (5 ms doubling to 1000 s)
and an overall token bucket (10 qps, burst 100).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque

import attrs
import trio

from kubechaos.defaults import Settings
from kubechaos.sim import park, timers
from kubechaos.sim.clock import now


@attrs.define
class TokenBucket:
    """golang.org/x/time/rate's limiter, as a reservation: the delay before the next token."""

    qps: float
    burst: int
    tokens: float = attrs.field(init=False)
    last: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)

    def reserve(self, at: float) -> float:
        self.tokens = min(float(self.burst), self.tokens + (at - self.last) * self.qps)
        self.last = at
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.qps


@attrs.define
class ControllerRateLimiter:
    """workqueue.DefaultControllerRateLimiter: max(per-item exponential, overall bucket)."""

    base: float
    cap: float
    bucket: TokenBucket
    failures: dict[str, int] = attrs.field(factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ControllerRateLimiter:
        return cls(
            settings.workqueue_base_delay,
            settings.workqueue_max_delay,
            TokenBucket(settings.workqueue_qps, settings.workqueue_burst),
        )

    def when(self, key: str, at: float) -> float:
        exp = self.failures.get(key, 0)
        self.failures[key] = exp + 1
        per_item = min(self.cap, self.base * (2**exp))
        return max(per_item, self.bucket.reserve(at))

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)


class WorkQueue:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.rate_limiter = ControllerRateLimiter.from_settings(settings)
        self._queue: deque[str] = deque()
        # keys waiting to be processed (again): adding one of them is a no-op; Controller.enqueue
        # reads this set directly, so it is never replaced, only mutated
        self.dirty: set[str] = set()
        self._processing: set[str] = set()
        # ParkingLot's park/unpark() for the queue's workers, without its per-park closure
        self._waiters = park.Waiters()
        self._delayed: list[tuple[float, int, str]] = []
        self._delayed_at: dict[str, float] = {}
        self._seq = itertools.count()
        self._delay_wakeup = trio.Event()
        self.adds_total = 0
        self.retries_total = 0
        self.shutting_down = False

    @property
    def depth(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self.shutting_down or key in self.dirty:
            return
        self.adds_total += 1
        self.dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        if self._waiters:  # a worker waits (unpark of nobody costs trio's KI-protection frames)
            self._waiters.unpark()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        ready_at = now() + delay
        known = self._delayed_at.get(key)
        if known is not None and known <= ready_at:
            return
        self._delayed_at[key] = ready_at
        heapq.heappush(self._delayed, (ready_at, next(self._seq), key))
        self._delay_wakeup.set()

    def add_rate_limited(self, key: str) -> None:
        self.retries_total += 1
        self.add_after(key, self.rate_limiter.when(key, now()))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    async def get(self) -> str:
        while not self._queue:
            await self._waiters.park()
        key = self._queue.popleft()
        self._processing.add(key)
        self.dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self.dirty:
            self._queue.append(key)
            if self._waiters:
                self._waiters.unpark()

    async def run_delays(self) -> None:
        """Move delayed keys into the queue when their time comes (one task per queue)."""
        while True:
            self._delay_wakeup = trio.Event()
            while self._delayed and self._delayed[0][0] <= now():
                ready_at, _, key = heapq.heappop(self._delayed)
                if self._delayed_at.get(key) == ready_at:
                    del self._delayed_at[key]
                    self.add(key)
            if self._delayed:
                await timers.wait_until(self._delay_wakeup.wait, self._delayed[0][0])
            else:
                await self._delay_wakeup.wait()
