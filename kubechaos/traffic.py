"""Service traffic: clients on chosen nodes call a Service at a steady rate, and every request is
counted with its outcome and latency.

A request follows the packet's path. The client's node must be up to send it at all; the node's
kube-proxy picks an endpoint IP from the rules it has synced (which may be stale); the pod
network then decides what answers at that IP. So a request can fail even when the API says all
is well (a frozen proxy still routing to a deleted pod), and succeed only when it reaches a
running, ready container on an up node.

A request that succeeds bumps the ``served`` counter of the pod that answered (the load model:
:mod:`kubechaos.node.metricsserver` turns it into the pod's CPU usage): one attribute increment
per request, nothing else.

Outcomes (the ``outcome`` label of ``kubechaos_service_requests_total``). What a request that
reaches a pod meets is decided by the pod's processes, not by the kubelet's verdict about them
(:mod:`kubechaos.node.serving`): a hung process times out from the moment it hangs, long before
its probes fail and kube-proxy drops it.

``success``
    routed to an IP whose processes serve (running, started, not hung, not failing readiness
    unless their behaviour has ``serves-while-unready``; after SIGTERM until they exit, unless
    ``closes-on-term``), on an up node.
``no_endpoints``
    the source node's kube-proxy has no endpoint for the Service: the Service has no ready
    endpoints (upstream's REJECT rule), does not exist, or the proxy has no rules yet (a node
    that just rebooted). The client is refused at once.
``connection_refused``
    routed to an IP no pod holds any more (a stale route to a deleted pod), to a pod whose
    containers are not all running, to a process still starting (``startup``), or to one that
    closed its listener on SIGTERM (``closes-on-term``): nothing listens, the client gets a RST.
``timeout``
    routed to a hung process (``liveness-fail-after``: it accepts and never answers), to a pod
    on a node that is down, dropped by kube-proxy (``internalTrafficPolicy: Local`` with no
    endpoint on the client's node: upstream's DROP rule), or lost on the way (a network fault
    dropped it or delayed it past the timeout): the client gives up after
    ``request_timeout_seconds``.
``not_ready``
    routed to a running process whose readiness fails (its behaviour's
    ``readiness-fail-after``): it answers with an error. Kubernetes counts on such a pod being
    out of the Service; until kube-proxy drops it, requests reaching it fail.

Routing: kube-proxy's uniform pick, or a Service's ``internalTrafficPolicy: Local`` and
``sessionAffinity: ClientIP`` (:mod:`kubechaos.node.routing`; a client is one flow's client on
one source node).

A request whose source node is down (or has no kube-proxy) is never sent: a dead node's clients
send nothing. It is not an outcome; it is counted in :attr:`TrafficStats.unsent` so the load a
scenario asked for is still accounted for. A dead node's share of the rate is not moved to
other nodes.

Requests are generated in batches every ``traffic_tick_seconds`` (virtual), each batch at the
start of its tick; the fraction of a request a tick does not send carries over, so the long-run
rate is exact. A batch is judged at the instant it is sent, and a request is counted in the
second it was sent, whatever its latency. Latency: one network round trip with jitter (``request_latency_seconds``) for every
outcome but ``timeout``, which costs the client ``request_timeout_seconds``.

Network faults act through the pod network's ``path_hooks`` (see :mod:`kubechaos.node.network`):
while any is attached, each request that leaves its node is shown to them with its source node
and the node of the pod it reached; their delays add to its latency and a drop makes it a
timeout. With none attached the batch loop pays one truth test per request.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable

import attrs

from kubechaos.client.context import Context
from kubechaos.node.network import (
    ANSWERED,
    ERRORED,
    HUNG_UP,
    REFUSED,
    Endpoint,
    PathHook,
    PodNetwork,
)
from kubechaos.node.proxy import ProxyFleet
from kubechaos.sim import timers
from kubechaos.sim.clock import now

SUCCESS = ANSWERED
NO_ENDPOINTS = "no_endpoints"
CONNECTION_REFUSED = REFUSED
TIMEOUT = HUNG_UP
NOT_READY = ERRORED
OUTCOMES = (SUCCESS, NO_ENDPOINTS, CONNECTION_REFUSED, TIMEOUT, NOT_READY)

# kubechaos_service_request_duration_seconds buckets: Prometheus' defaults plus two below 5 ms,
# where healthy in-cluster requests land.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ServiceId = tuple[str, str]  # (namespace, service)


def _node_tuple(nodes: Iterable[str]) -> tuple[str, ...]:
    return tuple(nodes)


@attrs.frozen
class TrafficSpec:
    """Clients calling ``namespace/service`` at ``rate`` requests per second in all, from
    ``source_nodes`` in turn (empty: every node with a kube-proxy), from ``start`` seconds
    after the traffic began on (a scenario's ``at``: a surge joining the steady traffic)."""

    service: str
    namespace: str = "default"
    rate: float = 1.0
    source_nodes: tuple[str, ...] = attrs.field(default=(), converter=_node_tuple)
    start: float = 0.0


class TrafficStats:
    """Counters of every request, as plain dicts of ints for the Prometheus exporter.

    ``requests[(namespace, service, source_node, outcome)]`` counts requests sent;
    ``unsent[(namespace, service, source_node)]`` counts requests a down node did not send;
    ``latency_buckets[(namespace, service)]`` counts sent requests per latency bucket
    (non-cumulative; the last entry is above the largest bound), with ``latency_sum`` and
    ``latency_count``. A per-second timeline of successes and failures per service tells when
    traffic broke and recovered.
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str, str], int] = {}
        # each flow's successes not yet added to _requests (added whenever requests is read)
        self._tallies: list[_SuccessTally] = []
        self.unsent: dict[tuple[str, str, str], int] = {}
        self.latency_buckets: dict[ServiceId, list[int]] = {}
        self.latency_sum: dict[ServiceId, float] = {}
        self.latency_count: dict[ServiceId, int] = {}
        # successful requests per Service: with latency_count (all requests sent) the sum of
        # kubechaos_service_requests_total over source nodes, kept as the requests are counted
        self.success_count: dict[ServiceId, int] = {}
        # failed requests per destination pod IP (those that reached one: not no_endpoints),
        # so a failure can be traced to the pod it was routed to
        self.failed_by_ip: dict[str, int] = {}
        self._ok: dict[ServiceId, array[int]] = {}
        self._failed: dict[ServiceId, array[int]] = {}
        # told the virtual time of each batch of requests with a failure (steady state's
        # event-resolution record, kubechaos.observe.resolution)
        self.on_failure: list[Callable[[float], None]] = []

    @property
    def requests(self) -> dict[tuple[str, str, str, str], int]:
        """Requests sent per (namespace, service, source node, outcome), every success in."""
        for tally in self._tallies:
            tally.settle(self._requests)
        return self._requests

    def count(
        self,
        namespace: str,
        service: str,
        outcome: str | None = None,
        source: str | None = None,
    ) -> int:
        """Requests sent to one Service, optionally of one outcome and/or from one node."""
        return sum(
            n
            for (ns, svc, src, out), n in self.requests.items()
            if ns == namespace
            and svc == service
            and (outcome is None or out == outcome)
            and (source is None or src == source)
        )

    def count_unsent(self, namespace: str, service: str, source: str | None = None) -> int:
        return sum(
            n
            for (ns, svc, src), n in self.unsent.items()
            if ns == namespace and svc == service and (source is None or src == source)
        )

    def totals_by_service(self) -> dict[str, tuple[int, int]]:
        """``namespace/service`` -> (requests sent, successes), sorted by name."""
        totals: dict[str, tuple[int, int]] = {}
        for (ns, svc, _, outcome), n in self.requests.items():
            key = f"{ns}/{svc}"
            total, ok = totals.get(key, (0, 0))
            totals[key] = (total + n, ok + (n if outcome == SUCCESS else 0))
        return dict(sorted(totals.items()))

    def timeline(self, namespace: str, service: str) -> list[tuple[int, int, int]]:
        """``(second, successes, failures)`` for every second (of virtual time since the run
        began) in which requests were sent."""
        ok = self._ok.get((namespace, service))
        failed = self._failed.get((namespace, service))
        if ok is None or failed is None:
            return []
        return [(s, ok[s], failed[s]) for s in range(len(ok)) if ok[s] or failed[s]]

    def last_failure(self, namespace: str, service: str) -> int | None:
        """The last second with a failed request (traffic had recovered by the next)."""
        failed = self._failed.get((namespace, service))
        if failed is not None:
            for second in range(len(failed) - 1, -1, -1):
                if failed[second]:
                    return second
        return None

    def first_failure(self, namespace: str, service: str) -> int | None:
        failed = self._failed.get((namespace, service))
        if failed is not None:
            for second, n in enumerate(failed):
                if n:
                    return second
        return None

    def _timeline_arrays(self, sid: ServiceId, second: int) -> tuple[array[int], array[int]]:
        ok = self._ok.get(sid)
        if ok is None:
            ok = self._ok[sid] = array("I")
            self._failed[sid] = array("I")
        failed = self._failed[sid]
        if len(ok) <= second:
            grow = max(second + 1 - len(ok), 64)  # a minute at a time, not a second
            ok.extend([0] * grow)
            failed.extend([0] * grow)
        return ok, failed


class _SuccessTally:
    """One flow's successes per source node, by the node's position in the source list its
    batches send from: a success is one list increment where counting it in
    :attr:`TrafficStats.requests` builds, hashes and looks up a four-name key twice (100
    requests/s per Service from every node, nearly all successes).

    A position's count is 0 until its first success since the tally began, which is counted in
    ``requests`` itself (so keys enter it in the order they always did), then 1 plus the
    successes not yet added; :meth:`settle` adds those."""

    __slots__ = ("counts", "namespace", "service", "sources")

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace, self.service = namespace, service
        self.sources: tuple[str, ...] = ()
        self.counts: list[int] = []

    def settle(self, requests: dict[tuple[str, str, str, str], int]) -> None:
        counts = self.counts
        for position, n in enumerate(counts):
            if n > 1:
                requests[(self.namespace, self.service, self.sources[position], SUCCESS)] += n - 1
                counts[position] = 1

    def rebase(
        self, sources: tuple[str, ...], requests: dict[tuple[str, str, str, str], int]
    ) -> None:
        """Count by ``sources`` from now on (a node registered: a new list of every node)."""
        self.settle(requests)
        self.sources, self.counts = sources, [0] * len(sources)


@attrs.define
class _Flow:
    spec: TrafficSpec
    key: str  # "namespace/service", as kube-proxy keys its table
    first_tick: int  # the generator tick this flow started counting from
    per_tick: float  # requests per tick
    due_sent: int = 0  # requests generated so far
    cursor: int = 0  # round-robin position over the source nodes
    client: int = 0  # which client it is on each source node (session affinity's client IP)
    # the Service's counters in TrafficStats, looked up once
    sid: ServiceId = ("", "")
    buckets: list[int] = attrs.field(factory=list)
    ok_line: array[int] = attrs.field(factory=lambda: array("I"))
    failed_line: array[int] = attrs.field(factory=lambda: array("I"))
    successes: _SuccessTally = attrs.field(kw_only=True)

    def due(self, tick: int) -> int:
        """Requests due by the end of ``tick``; computed from the start, so nothing drifts."""
        return math.floor(self.per_tick * (tick - self.first_tick) + 1e-9)

    def next_tick(self, after: int) -> int:
        """The first tick after ``after`` at which at least one more request is due."""
        wanted = (self.due_sent + 1) / self.per_tick - 1e-9
        return max(after + 1, self.first_tick + math.ceil(wanted))


class TrafficGenerator:
    """Sends every spec's requests in one batch per tick (one task for all traffic).

    Flows wait in a calendar keyed by the next tick at which they owe a request, so a tick costs
    work only for the flows that send in it (5,000 services at 1 request/s each cost 500 flow
    visits a tick, not 5,000).

    The batch loop runs once per request (100 requests/s from every node in the realistic
    shapes), so it is the one place a request is judged, calling no Python function in the
    common case: the Service's rules are looked up once per batch (:meth:`ProxyFleet.rules`,
    what every proxy that follows the fleet routes by; only a pinned proxy, frozen or
    restarting, is asked per request), and the source's proxy, its node, the endpoint at the
    IP and its node are bound dict lookups. A routing policy or a network fault is a branch,
    fixed for the batch (nothing can change during it: it runs without a checkpoint).
    """

    def __init__(
        self,
        ctx: Context,
        fleet: ProxyFleet,
        network: PodNetwork,
        specs: Iterable[TrafficSpec] = (),
    ) -> None:
        self.ctx = ctx
        self.fleet = fleet
        self.network = network
        self.stats = TrafficStats()
        self._rng = ctx.stream("traffic")
        self._lb_rng = ctx.stream("kube-proxy-lb")
        self._tick_seconds = ctx.settings.traffic_tick_seconds
        # What every batch reads, resolved once (all fixed for the run; the lookups are bound
        # dict lookups and the draws bound methods, so a request calls no Python function)
        self._proxy_of, self._routes = fleet.get, fleet.routes
        self._is_up, self._endpoint_at = network.is_up, network.lookup
        self._lb_draw, self._jitter_draw = self._lb_rng.random, self._rng.random
        self._rtt = ctx.settings.request_latency_seconds
        self._half_rtt = self._rtt * 0.5  # the same float as rtt * 0.5 computed per request
        self._timeout = ctx.settings.request_timeout_seconds
        self._ticks = 0  # ticks done
        self._calendar: dict[int, list[_Flow]] = {}
        self._clients = 0  # flows added so far
        for spec in specs:
            self.add(spec)

    def add(self, spec: TrafficSpec) -> None:
        """Start sending ``spec``'s traffic from the next tick on."""
        if spec.rate <= 0:
            return
        first_tick = max(self._ticks, math.ceil(spec.start / self._tick_seconds - 1e-9))
        flow = _Flow(
            spec,
            f"{spec.namespace}/{spec.service}",
            first_tick,
            spec.rate * self._tick_seconds,
            client=self._clients,
            successes=_SuccessTally(spec.namespace, spec.service),
        )
        self._clients += 1
        sid = flow.sid = (spec.namespace, spec.service)
        stats = self.stats
        buckets = stats.latency_buckets.get(sid)
        if buckets is None:
            buckets = stats.latency_buckets[sid] = [0] * (len(LATENCY_BUCKETS) + 1)
            stats.latency_sum[sid] = 0.0
            stats.latency_count[sid] = 0
            stats.success_count[sid] = 0
        flow.buckets = buckets
        flow.ok_line, flow.failed_line = stats._timeline_arrays(sid, 0)
        stats._tallies.append(flow.successes)
        self._calendar.setdefault(flow.next_tick(first_tick), []).append(flow)

    async def run(self) -> None:
        """Send a batch at once, then one every tick: tick ``k`` sends the requests due in
        ``[k - 1, k)`` ticks after the start, at its beginning, so running for ``T`` seconds
        sends ``rate * T`` requests."""
        start = now()
        while True:
            self._ticks += 1
            flows = self._calendar.pop(self._ticks, None)
            if flows:
                self._tick(flows)
            # rounded, so that ticks land on whole tenths: 600 * 0.1 is 60.00000000000001
            await timers.sleep_until(start + round(self._ticks * self._tick_seconds, 9))

    def _tick(self, flows: list[_Flow]) -> None:
        """Send every request ``flows`` owe by this tick, and put each flow back in the calendar
        at the next tick it owes one."""
        tick = self._ticks
        t = now()
        calendar = self._calendar
        floor, ceil = math.floor, math.ceil
        for flow in flows:
            # _Flow.due and _Flow.next_tick, inlined (the same arithmetic: a batch's only calls
            # are the batch itself)
            per_tick, first = flow.per_tick, flow.first_tick
            due = floor(per_tick * (tick - first) + 1e-9)
            n, flow.due_sent = due - flow.due_sent, due
            later = first + ceil((due + 1) / per_tick - 1e-9)
            calendar.setdefault(later if later > tick else tick + 1, []).append(flow)
            self._send_batch(flow, n, t)

    # whole: one frame per batch, none per request (tests/test_cost_traffic_batch.py)
    def _send_batch(self, flow: _Flow, n: int, t: float) -> None:
        """Send ``n`` of ``flow``'s requests at ``t`` (now) from its source nodes in turn, each
        routed by its node's kube-proxy, judged by what answers at the endpoint picked, and
        counted. Random draws per request: the load-balancing pick (among two or more endpoints,
        unless session affinity keeps the client's), then the jitter (not for a timeout)."""
        spec = flow.spec
        ns, svc, key = spec.namespace, spec.service, flow.key
        stats = self.stats
        unsent, requests, failed = stats.unsent, stats._requests, stats.failed_by_ip
        sources = spec.source_nodes or self.fleet.node_names
        if not sources:
            lost = (ns, svc, "")
            unsent[lost] = unsent.get(lost, 0) + n
            return
        routes = self._routes
        policy = routes.policies.get(key) if routes.policies else None
        hooks = self.network.path_hooks
        proxy_of, is_up, endpoint_at = self._proxy_of, self._is_up, self._endpoint_at
        lb_draw, jitter_draw = self._lb_draw, self._jitter_draw
        rtt, half_rtt, timeout = self._rtt, self._half_rtt, self._timeout
        rules = self.fleet.rules(key)  # what every following proxy routes ``key`` by
        width = len(rules)
        buckets, client = flow.buckets, flow.client
        if flow.successes.sources is not sources:
            flow.successes.rebase(sources, requests)
        successes = flow.successes.counts
        spent, sent, ok, cursor, count = 0.0, 0, 0, flow.cursor, len(sources)
        for _ in range(n):
            position = cursor % count
            source = sources[position]  # the next node in turn
            cursor += 1
            proxy = proxy_of(source)
            if proxy is None or not is_up(source):  # a down node's clients send nothing
                lost = (ns, svc, source)
                unsent[lost] = unsent.get(lost, 0) + 1
                continue
            endpoint: Endpoint | None = None
            ip: str | None = ""
            if proxy.pinned is None:  # it follows the fleet: proxy.endpoints(key) is ``rules``
                ips, k = rules, width
            else:
                ips = proxy.endpoints(key)
                k = len(ips)
            if not k:
                outcome = NO_ENDPOINTS  # kube-proxy's REJECT rule: refused on the node itself
            else:
                if policy is not None:
                    ip = routes.pick(policy, source, key, ips, client, t, self._lb_rng)
                else:
                    ip = ips[int(lb_draw() * k)] if k > 1 else ips[0]
                if ip is None:
                    outcome = TIMEOUT  # kube-proxy's DROP rule
                elif (endpoint := endpoint_at(ip)) is None:
                    outcome = CONNECTION_REFUSED
                elif not is_up(endpoint.node):
                    outcome = TIMEOUT
                elif t < endpoint.answer_until:
                    outcome = endpoint.answer
                else:
                    outcome = endpoint.answer_at(t)
            if outcome == TIMEOUT:
                latency = timeout
            else:
                latency = half_rtt + rtt * jitter_draw()  # uniform in rtt * [0.5, 1.5]
                if hooks and k:  # only under a network fault; REJECT stays local
                    outcome, latency = self._cross(hooks, source, endpoint, outcome, latency)
            buckets[bisect_left(LATENCY_BUCKETS, latency)] += 1
            spent += latency
            sent += 1
            if outcome == SUCCESS:
                ok += 1
                if endpoint is not None:
                    endpoint.served += 1  # the load model: the pod spends CPU on it
                if successes[position]:  # its key is in requests: tallied until read
                    successes[position] += 1
                    continue
                successes[position] = 1
            elif ip:  # kept per IP: recovery traces a failure to its pod
                failed[ip] = failed.get(ip, 0) + 1
            counted = (ns, svc, source, outcome)
            requests[counted] = requests.get(counted, 0) + 1
        flow.cursor = cursor
        if sent:
            self._count_batch(flow, sent, ok, spent, int(t))

    def _count_batch(self, flow: _Flow, sent: int, ok: int, spent: float, second: int) -> None:
        """Add a batch's totals to its Service's counters and to the second it was sent in."""
        sid = flow.sid
        stats = self.stats
        stats.latency_sum[sid] += spent
        stats.latency_count[sid] += sent
        stats.success_count[sid] += ok
        ok_line, failed_line = flow.ok_line, flow.failed_line
        if len(ok_line) <= second:
            stats._timeline_arrays(sid, second)
        ok_line[second] += ok
        failed_line[second] += sent - ok
        if ok < sent and stats.on_failure:
            at = now()
            for listener in stats.on_failure:
                listener(at)

    def _cross(
        self,
        hooks: list[PathHook],
        source: str,
        endpoint: Endpoint | None,
        outcome: str,
        latency: float,
    ) -> tuple[str, float]:
        """The way across a faulted network: every path hook adds its delay (or drops the
        request), and a request slower than the client's timeout is a timeout."""
        destination = endpoint.node if endpoint is not None else None
        for hook in hooks:
            latency += hook(source, destination)
        timeout = self.ctx.settings.request_timeout_seconds
        if latency > timeout:
            return TIMEOUT, timeout
        return outcome, latency


__all__ = [
    "LATENCY_BUCKETS",
    "OUTCOMES",
    "TrafficGenerator",
    "TrafficSpec",
    "TrafficStats",
]
