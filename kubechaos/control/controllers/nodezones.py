"""Zone disruption for the node lifecycle controller: zone states and rate-limited tainting.

A model of the zone logic of pkg/controller/nodelifecycle/node_lifecycle_controller.go
(``handleDisruption``, ``ComputeZoneState``, ``setLimiterInZone``, ``ReducedQPSFunc``,
``HealthyQPSFunc``) and of its per-zone queues (pkg/controller/nodelifecycle/scheduler/
rate_limited_queue.go). Pure bookkeeping: the controller does the API writes and the events.

- A node's zone is its region and zone labels (``GetZoneKey``, k8s.io/component-helpers/node/
  topology: the beta ``failure-domain`` labels first, then ``topology.kubernetes.io``); a node
  with neither is in the ``""`` zone.
- Each monitor pass computes every zone's state from its nodes' Ready conditions:
  ``FullDisruption`` when none is Ready, ``PartialDisruption`` when more than 2 are not Ready and
  they are at least ``unhealthyZoneThreshold`` of the zone, else ``Normal``.
- NoExecute taints go through one token bucket per zone (burst 1): ``nodeEvictionRate`` in a
  Normal zone and in a fully disrupted one; ``secondaryNodeEvictionRate`` in a partially disrupted
  zone of more than ``largeClusterSizeThreshold`` nodes, 0 (no tainting) in a smaller one.
- When every zone is fully disrupted the controller is in "master disruption mode": all limiters
  at 0, and the NoExecute taints come off every node; when some node is Ready again it leaves the
  mode, resets every node's probe timestamp and sets each zone's limiter for its state.
"""

from __future__ import annotations

import heapq
import itertools

import attrs

from kubechaos.api.objects import Node
from kubechaos.defaults import (
    EVICTION_RATE_LIMITER_BURST,
    LABEL_REGION,
    LABEL_REGION_BETA,
    LABEL_ZONE,
    LABEL_ZONE_BETA,
    Settings,
)

# Float slack of the token arithmetic: a token due at t is there at t.
_EPSILON = 1e-9

INITIAL = "Initial"
NORMAL = "Normal"
FULL_DISRUPTION = "FullDisruption"
PARTIAL_DISRUPTION = "PartialDisruption"


def zone_key(node: Node) -> str:
    """Upstream GetZoneKey: ``region + ":\\x00:" + zone``, or "" for a node with neither."""
    labels = node.metadata.labels
    zone = labels.get(LABEL_ZONE_BETA, labels.get(LABEL_ZONE, ""))
    region = labels.get(LABEL_REGION_BETA, labels.get(LABEL_REGION, ""))
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


def zone_label(key: str) -> str:
    """The zone key as upstream's logs print it (the NUL does not show): ``region::zone``."""
    return key.replace("\x00", "")


def compute_zone_state(ready: int, not_ready: int, threshold: float) -> str:
    """Upstream ComputeZoneState."""
    if ready == 0 and not_ready > 0:
        return FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= threshold:
        return PARTIAL_DISRUPTION
    return NORMAL


@attrs.define
class TokenBucket:
    """client-go flowcontrol's token bucket (golang.org/x/time/rate), full when made; a qps of 0
    is upstream's fake never-limiter."""

    qps: float
    tokens: float = float(EVICTION_RATE_LIMITER_BURST)
    last: float = 0.0

    def _refill(self, at: float) -> None:
        if self.qps > 0 and at > self.last:
            self.tokens = min(
                float(EVICTION_RATE_LIMITER_BURST), self.tokens + (at - self.last) * self.qps
            )
        self.last = max(self.last, at)

    def try_accept(self, at: float) -> bool:
        if self.qps <= 0:
            return False
        self._refill(at)
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def ready_at(self, at: float) -> float | None:
        """When the next token is there (None: never)."""
        if self.qps <= 0:
            return None
        self._refill(at)
        return at if self.tokens >= 1.0 - _EPSILON else at + (1.0 - self.tokens) / self.qps


class ZoneTainter:
    """Upstream RateLimitedTimedQueue: node names in order of when they may be processed, each
    added once until removed; processed ones stay in the set (RemoveFromQueue) until Remove."""

    def __init__(self, qps: float, at: float) -> None:
        self.limiter = TokenBucket(qps, last=at)
        self._heap: list[tuple[float, int, str]] = []
        self._queued: dict[str, tuple[float, int]] = {}  # name -> its live heap entry
        self._set: set[str] = set()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, name: str, at: float) -> bool:
        if name in self._set:
            return False
        self._set.add(name)
        self._push(name, at)
        return True

    def _push(self, name: str, process_at: float) -> None:
        entry = (process_at, next(self._seq))
        self._queued[name] = entry
        heapq.heappush(self._heap, (*entry, name))

    def remove(self, name: str) -> bool:
        """Forget ``name``: it may be added again."""
        if name not in self._set:
            return False
        self._set.discard(name)
        self._queued.pop(name, None)
        return True

    def done(self, name: str) -> None:
        """Processed: out of the queue, but not to be added again until removed."""
        self._queued.pop(name, None)

    def retry(self, name: str, process_at: float) -> None:
        self._push(name, process_at)

    def head(self) -> tuple[float, str] | None:
        while self._heap:
            process_at, seq, name = self._heap[0]
            if self._queued.get(name) == (process_at, seq):
                return process_at, name
            heapq.heappop(self._heap)  # superseded or removed
        return None

    def swap_limiter(self, qps: float, at: float) -> None:
        """Upstream SwapLimiter: a new bucket at ``qps``, drained if the old one was empty."""
        if qps == self.limiter.qps:
            return
        old_had_token = self.limiter.try_accept(at)
        self.limiter = TokenBucket(qps, last=at)
        if qps > 0 and not old_had_token:
            self.limiter.try_accept(at)

    def next_attempt(self, at: float) -> float | None:
        """When a tainting pass could next process this queue's head (None: not until told)."""
        head = self.head()
        if head is None:
            return None
        token = self.limiter.ready_at(at)
        return None if token is None else max(token, head[0])


@attrs.define
class DisruptionDecision:
    """What a monitor pass's zone states call for."""

    enter_master_disruption: bool = False
    exit_master_disruption: bool = False
    transitions: list[tuple[str, str]] = attrs.field(factory=list)  # (zone, new state)


class ZoneDisruption:
    """Zone states, per-zone tainting queues and the zone metrics of one controller instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.states: dict[str, str] = {}
        self.tainters: dict[str, ZoneTainter] = {}
        # Metrics (pkg/controller/nodelifecycle/metrics.go), by zone key.
        self.zone_size: dict[str, int] = {}
        self.zone_health: dict[str, float] = {}
        self.unhealthy_nodes: dict[str, int] = {}
        self.evictions_total: dict[str, int] = {}

    def tainter(self, zone: str, at: float) -> ZoneTainter:
        """The zone's queue, made at the healthy rate when the zone is first seen
        (addPodEvictorForNewZone, which also starts the zone's eviction counter at 0)."""
        tainter = self.tainters.get(zone)
        if tainter is None:
            tainter = self.tainters[zone] = ZoneTainter(self.settings.node_eviction_rate, at)
            self.evictions_total.setdefault(zone, 0)
        return tainter

    def _qps(self, state: str, size: int) -> float | None:
        """setLimiterInZone: the rate for ``state`` (None: leave the limiter as it is)."""
        settings = self.settings
        if state in (NORMAL, FULL_DISRUPTION):  # FullDisruption: HealthyQPSFunc
            return settings.node_eviction_rate
        if state == PARTIAL_DISRUPTION:  # ReducedQPSFunc
            if size > settings.large_cluster_size_threshold:
                return settings.secondary_node_eviction_rate
            return 0.0
        return None

    def _set_limiter(self, zone: str, size: int, state: str, at: float) -> None:
        qps = self._qps(state, size)
        if qps is not None:
            self.tainter(zone, at).swap_limiter(qps, at)

    def handle(self, counts: dict[str, list[int]], at: float) -> DisruptionDecision:
        """Upstream handleDisruption, given each zone's [ready, not ready] node counts."""
        decision = DisruptionDecision()
        new_states: dict[str, str] = {}
        all_are_full = True
        for zone, (ready, not_ready) in counts.items():
            size = ready + not_ready
            self.zone_size[zone] = size
            self.zone_health[zone] = 100.0 * ready / size
            self.unhealthy_nodes[zone] = not_ready
            state = compute_zone_state(ready, not_ready, self.settings.unhealthy_zone_threshold)
            all_are_full = all_are_full and state == FULL_DISRUPTION
            new_states[zone] = state
            self.states.setdefault(zone, INITIAL)
            self.tainter(zone, at)
        all_were_full = True
        for zone, state in list(self.states.items()):
            if zone not in counts:
                self.zone_size[zone], self.zone_health[zone] = 0, 100.0
                self.unhealthy_nodes[zone] = 0
                del self.states[zone]
                continue
            if state != FULL_DISRUPTION:
                all_were_full = False
                break
        if all_are_full and all_were_full:
            return decision  # still in master disruption mode (or no nodes at all)
        if all_are_full:
            decision.enter_master_disruption = True
            for zone in self.states:
                self.tainter(zone, at).swap_limiter(0.0, at)
                self.states[zone] = FULL_DISRUPTION
            return decision
        if all_were_full:
            decision.exit_master_disruption = True
        for zone, old in list(self.states.items()):
            new = new_states.get(zone)
            if new is None or (old == new and not all_were_full):
                continue
            if not all_were_full and not (old == INITIAL and new == NORMAL):
                decision.transitions.append((zone, new))
            self._set_limiter(zone, sum(counts[zone]), new, at)
            self.states[zone] = new
        return decision

    def count_eviction(self, zone: str) -> None:
        self.evictions_total[zone] = self.evictions_total.get(zone, 0) + 1


__all__ = [
    "FULL_DISRUPTION",
    "NORMAL",
    "PARTIAL_DISRUPTION",
    "DisruptionDecision",
    "TokenBucket",
    "ZoneDisruption",
    "ZoneTainter",
    "compute_zone_state",
    "zone_key",
    "zone_label",
]
