"""When the kubelet notices a container's exit and when it retries a pod in back-off.

Two upstream loops the node loop does not run tick by tick, only computes:

* **PLEG relist** (pkg/kubelet/pleg/generic.go ``relist``, run by ``wait.Until`` at the kubelet's start and
  every ``genericPlegRelistPeriod`` = 1 s after, pkg/kubelet/kubelet.go): a container that exits on its own
  or is killed behind the kubelet's back is seen at the next relist, and only then recorded,
  restarted or counted in the pod's status. Its finish time is the runtime's (the exit's own).
  The process is gone at once: nothing answers at its IP meanwhile. Exits the kubelet causes
  itself (``killContainer``) are synchronous and need no relist.
* **Pod worker back-off** (pkg/kubelet/pod_workers.go ``completeWork``): a sync that fails, as
  one whose container is still in CrashLoopBackOff does, is retried after
  ``wait.Jitter(backOffPeriod, workerBackOffPeriodJitterFactor)``: 10 s + up to 50 %, uniform in
  [10 s, 15 s) (kubelet.go ``backOffPeriod``; kubernetes#123602). So a restart lands at the first
  retry after the back-off expired, up to ~15 s late, not on the expiry itself.

Each node draws from its own seeded stream, so a run replays exactly. A period of 0 turns the
effect off (exits seen at once; restarts exactly at the back-off's expiry).
"""

from __future__ import annotations

import math
import random

from kubechaos.defaults import Settings


class KubeletTiming:
    """One kubelet's relist phase and back-off re-sync draws."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.relist_period = settings.pleg_relist_period
        self.backoff_period = settings.pod_worker_backoff_period
        self.jitter = settings.pod_worker_backoff_jitter
        self.rng = rng
        # the relist loop runs from the kubelet's start (set by the kubelet as it starts)
        self.relist_origin = 0.0

    def relist_after(self, t: float) -> float:
        """The first relist at or after ``t``: when PLEG reports a change that happened at t."""
        period = self.relist_period
        if period <= 0:
            return t
        k = math.ceil((t - self.relist_origin) / period - 1e-9)
        return self.relist_origin + max(k, 0) * period

    def resync_delay(self) -> float | None:
        """How long until a pod whose sync failed (back-off) is synced again; None: no pod
        worker re-sync modelled (retry exactly when the back-off expires)."""
        if self.backoff_period <= 0:
            return None
        return self.backoff_period * (1.0 + self.rng.random() * self.jitter)


__all__ = ["KubeletTiming"]
