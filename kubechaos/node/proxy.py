"""kube-proxy in iptables mode, for every node at once.

Upstream, each node runs a kube-proxy that watches Services and EndpointSlices, keeps a
Service -> endpoints table, and rewrites the node's iptables rules through a
BoundedFrequencyRunner: a change asks for a sync, syncs are spaced by ``minSyncPeriod`` (a token
bucket of ``burstSyncs`` = 2, refilling one token per ``minSyncPeriod``), and a sync also runs
every ``syncPeriod`` without changes. New connections to a Service pick one of its endpoint IPs
(the ready ones, else the serving terminating ones: :mod:`kubechaos.node.proxyslices`) uniformly
at random (``-m statistic --mode random``); a Service without endpoints gets a
REJECT rule, so its clients are refused at once.

5,000 kube-proxies each holding a watch and a table of 5,000 services would cost 5,000 times the
work for what is, in a healthy cluster, the same table. So the model splits the job:

* :class:`ProxyFleet` holds ONE pair of informers and ONE table with its history: per service key
  ``ns/name`` a list of ``(sync_revision, ips)``. Each fleet sync that changes something appends
  entries under a new revision, so the table as any proxy last synced it is a bisect away.
  The fleet runs the minSyncPeriod/syncPeriod cadence once for everyone.
* :class:`KubeProxy` is a node's view: it either *follows* the fleet (the normal case: it costs
  nothing per sync) or is *pinned* to the revision it last synced, because it is frozen (cut off
  from the API server: its routes go stale), stopped (its node crashed) or still doing its first
  full sync after a start. Revision 0 is the empty table: a node that rebooted has no rules.

A sync tick does work proportional to what changed, never to the number of proxies: only proxies
that rejoin (unfrozen, restarted) are touched, and history no proxy can see any more is pruned
through a log of which keys changed at which revision.

Sync duration is modelled as a fixed cost plus a cost per rule written (see ``defaults.py``):
a full sync writes a rule per service and per endpoint; between full syncs (one an hour, as
upstream) only the chains of changed services are rewritten, plus the KUBE-SERVICES chain.

Differences from upstream worth knowing: the periodic ``syncPeriod`` sync is modelled as a
(partial) resync, while v1.32 only checks a canary chain at that period; all following proxies
sync at the same instants, while real ones drift apart by their watch latencies; headless and
ExternalName services have no rules (DNS, not kube-proxy, serves them) and route nowhere.
"""

from __future__ import annotations

import heapq
import itertools
import random
from bisect import bisect_right
from collections import deque

import trio

from kubechaos.api.objects import EndpointSlice, Service, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.node.proxyslices import SliceTable, service_key
from kubechaos.node.routing import ServiceRoutes
from kubechaos.sim import timers
from kubechaos.sim.clock import now

COMPONENT = "kube-proxy"

# What the table holds per service: the ready IPs (an empty tuple is a Service without endpoints,
# which REJECTs), or None for "no Service" (no rules at all).
Ips = tuple[str, ...] | None

# kubeproxy_sync_proxy_rules_duration_seconds buckets (upstream: exponential 1ms x2, 15 buckets)
SYNC_DURATION_BUCKETS = tuple(0.001 * 2**i for i in range(15))


class _History:
    """One service's rules over time: ``ips[i]`` holds from revision ``revs[i]`` on."""

    __slots__ = ("ips", "revs")

    def __init__(self) -> None:
        self.revs: list[int] = []
        self.ips: list[Ips] = []

    def at(self, revision: int) -> Ips:
        if self.revs[-1] <= revision:
            return self.ips[-1]
        i = bisect_right(self.revs, revision) - 1
        return self.ips[i] if i >= 0 else None


class KubeProxy:
    """One node's kube-proxy: a view of the fleet's table at the revision it has synced."""

    __slots__ = (
        "_fleet",
        "_freeze_holds",
        "_generation",
        "_own_sync_duration",
        "_own_sync_time",
        "_stale_since",
        "frozen",
        "node",
        "pinned",
        "running",
    )

    def __init__(self, fleet: ProxyFleet, node: str) -> None:
        self._fleet = fleet
        self.node = node
        self.running = True
        self.frozen = False
        self._freeze_holds = 0  # faults holding it frozen; it thaws when the last lets go
        # None: follows the fleet's syncs (its rules are the fleet's :meth:`ProxyFleet.rules`);
        # an int: the revision its rules are stuck at. Read by the traffic clients; written by
        # the fleet only.
        self.pinned: int | None = None
        self._generation = 0  # bumps cancel a full sync in flight
        self._own_sync_time = 0.0
        self._own_sync_duration = 0.0
        self._stale_since: float | None = None

    # ------------------------------------------------------------------ what it routes
    @property
    def synced_revision(self) -> int:
        """The fleet revision this proxy's rules reflect (0: no rules)."""
        return self._fleet.revision if self.pinned is None else self.pinned

    @property
    def following(self) -> bool:
        return self.pinned is None

    @property
    def last_sync_time(self) -> float:
        """When its last sync finished (``kubeproxy_sync_proxy_rules_last_timestamp_seconds``)."""
        if self.pinned is None:
            return max(self._fleet.last_sync_time, self._own_sync_time)
        return self._own_sync_time

    @property
    def last_sync_duration(self) -> float:
        if self.pinned is None and self._fleet.last_sync_time >= self._own_sync_time:
            return self._fleet.last_sync_duration
        return self._own_sync_duration

    def endpoints(self, service_key: str) -> tuple[str, ...]:
        """The endpoint IPs this proxy balances ``ns/name`` across (empty: REJECT or no rules)."""
        history = self._fleet._table.get(service_key)
        if history is None:
            return ()
        ips = history.ips[-1] if self.pinned is None else history.at(self.pinned)
        return ips or ()

    def route(
        self, service_key: str, rng: random.Random | None = None, client: int = 0
    ) -> str | None:
        """The endpoint IP a new connection to ``ns/name`` from ``client`` is DNATed to; None =
        refused (no endpoints) or dropped (``internalTrafficPolicy: Local``, none on this node).
        A Service's routing policy is applied by :mod:`kubechaos.node.routing`."""
        ips = self.endpoints(service_key)
        if not ips:
            return None
        policy = self._fleet.routes.policies.get(service_key)
        if policy is not None:
            rng = rng or self._fleet.lb_rng
            return self._fleet.routes.pick(policy, self.node, service_key, ips, client, now(), rng)
        if len(ips) == 1:
            return ips[0]
        return ips[int((rng or self._fleet.lb_rng).random() * len(ips))]

    # ------------------------------------------------------------------ faults and lifecycle
    def freeze(self) -> None:
        """Stop receiving updates (its API connection is cut): routes stay as last synced.

        Freezes nest: each call holds the proxy frozen until a matching :meth:`unfreeze`, so two
        overlapping faults that cut it off leave it cut off until both are over.
        """
        self._freeze_holds += 1
        if self.frozen:
            return
        self.frozen = True
        self._generation += 1
        self._fleet._pin(self)
        self._fleet._rejoin.pop(self.node, None)

    def unfreeze(self) -> None:
        """Let go of one :meth:`freeze`; when none is left, updates flow again and the proxy
        resyncs with the fleet's next sync."""
        if self._freeze_holds > 0:
            self._freeze_holds -= 1
        if self._freeze_holds or not self.frozen:
            return
        self.frozen = False
        if self.running and self.pinned is not None:
            self._fleet._request_rejoin(self)

    def stop(self) -> None:
        """The node crashed (or kube-proxy died): no more syncs; kernel rules stay as they are."""
        if not self.running:
            return
        self.running = False
        self._generation += 1
        self._fleet._pin(self)
        self._fleet._rejoin.pop(self.node, None)

    def start(self, kernel_rules_kept: bool = False) -> None:
        """kube-proxy starts: a full sync, then it follows the fleet.

        After a node reboot the kernel's tables are empty until that first sync finishes
        (``kernel_rules_kept=False``); if only the kube-proxy process restarted, the old rules
        keep routing meanwhile.
        """
        if self.running:
            return
        self.running = True
        self._fleet._begin_start(self, kernel_rules_kept)


class ProxyFleet:
    """Every node's kube-proxy, sharing one watch, one table and one sync cadence."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.events = ctx.events
        self.lb_rng = ctx.stream("kube-proxy-lb")
        self._services: Informer[Service] = Informer(
            ctx.api, "services", component=COMPONENT, events=ctx.events
        )
        self._endpoints: Informer[EndpointSlice] = Informer(
            ctx.api, "endpointslices", component=COMPONENT, events=ctx.events
        )
        self._slices = SliceTable()
        self._services.add_handler(Handler(self._on_add, self._on_update, self._on_delete))
        self._endpoints.add_handler(
            Handler(self._on_slice_add, self._on_slice_update, self._on_slice_delete)
        )
        # internalTrafficPolicy and sessionAffinity, for the Services that set them
        self.routes = ServiceRoutes(self._services, self._endpoints, self._slices)

        self._proxies: dict[str, KubeProxy] = {}
        # a node's kube-proxy or None: a bound dict lookup (the traffic clients ask per request)
        self.get = self._proxies.get
        self._node_names: tuple[str, ...] | None = ()
        # the table and its history
        self._table: dict[str, _History] = {}
        self._change_log: deque[tuple[int, str]] = deque()
        self.revision = 0
        self.services_with_rules = 0
        self.total_endpoints = 0
        # what changed since the last sync began: key -> wanted IPs (latest informer state)
        self._pending: dict[str, Ips] = {}
        self._latest: dict[str, Ips] = {}  # what the table will say once pending is synced
        # proxies pinned below the fleet: revision -> how many (for pruning)
        self._pinned_revs: dict[int, int] = {}
        self._rejoin: dict[str, KubeProxy] = {}
        self._starting: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        # the sync runner
        self._wakeup = trio.Event()
        self._tokens = float(self.settings.proxy_burst_syncs)
        self._tokens_at = 0.0
        self._last_sync_start = 0.0
        self._last_full_sync: float | None = None
        self.last_sync_time = 0.0
        self.last_sync_duration = 0.0
        self.syncs_total = 0
        self.sync_duration_buckets = [0] * (len(SYNC_DURATION_BUCKETS) + 1)
        self.sync_duration_sum = 0.0
        self.synced = trio.Event()

    # ------------------------------------------------------------------ proxies
    def register(self, node: str) -> KubeProxy:
        """A node's kube-proxy, started: its first sync is a full one (the fleet's first, if the
        fleet has not synced yet)."""
        proxy = self._proxies.get(node)
        if proxy is not None:
            return proxy
        proxy = KubeProxy(self, node)
        self._proxies[node] = proxy
        self._node_names = None
        self._begin_start(proxy, kernel_rules_kept=False)
        return proxy

    @property
    def node_names(self) -> tuple[str, ...]:
        """Every registered node, in registration order."""
        if self._node_names is None:
            self._node_names = tuple(self._proxies.keys())
        return self._node_names

    def proxy(self, node: str) -> KubeProxy:
        return self._proxies[node]

    def __len__(self) -> int:
        return len(self._proxies)

    def rules(self, service_key: str) -> tuple[str, ...]:
        """The endpoint IPs every proxy that follows the fleet (``pinned`` None) balances
        ``ns/name`` across: what :meth:`KubeProxy.endpoints` says for each of them. The traffic
        clients look it up once per batch, not once per request."""
        history = self._table.get(service_key)
        return (history.ips[-1] or ()) if history is not None else ()

    def history(self, service_key: str) -> list[tuple[int, Ips]]:
        """The retained ``(revision, ips)`` entries of one service (for tests and reports)."""
        history = self._table.get(service_key)
        return [] if history is None else list(zip(history.revs, history.ips, strict=True))

    def sync_duration(self, full: bool = True, changed_endpoints: int = 0) -> float:
        """How long one iptables sync takes with the current table."""
        rules = self.services_with_rules + (self.total_endpoints if full else changed_endpoints)
        return self.settings.proxy_sync_base_seconds + (
            self.settings.proxy_sync_seconds_per_rule * rules
        )

    def _pin(self, proxy: KubeProxy, revision: int | None = None) -> None:
        """Stop ``proxy`` following the fleet: its rules stay at ``revision`` (default: now)."""
        if proxy.pinned is None:
            proxy._own_sync_time = self.last_sync_time
            proxy._own_sync_duration = self.last_sync_duration
            proxy._stale_since = now()
            proxy.pinned = self.revision
            self._pinned_revs[self.revision] = self._pinned_revs.get(self.revision, 0) + 1
        if revision is not None and revision != proxy.pinned:
            self._unpin_count(proxy.pinned)
            proxy.pinned = revision
            self._pinned_revs[revision] = self._pinned_revs.get(revision, 0) + 1

    def _follow(self, proxy: KubeProxy) -> None:
        if proxy.pinned is not None:
            self._unpin_count(proxy.pinned)
            proxy.pinned = None
            proxy._stale_since = None

    def _unpin_count(self, revision: int) -> None:
        left = self._pinned_revs[revision] - 1
        if left:
            self._pinned_revs[revision] = left
        else:
            del self._pinned_revs[revision]

    def _request_rejoin(self, proxy: KubeProxy) -> None:
        self._rejoin[proxy.node] = proxy
        self._wakeup.set()

    def _begin_start(self, proxy: KubeProxy, kernel_rules_kept: bool) -> None:
        proxy._generation += 1
        if not kernel_rules_kept:
            self._pin(proxy, 0)
        self.events.record(COMPONENT, "Node", proxy.node, "Starting", "Starting kube-proxy.")
        if proxy.frozen:
            return  # it cannot list until it is unfrozen; unfreeze() makes it rejoin
        if self.revision == 0:
            self._follow(proxy)  # the fleet's first sync is this proxy's first sync
            return
        ready_at = now() + self.sync_duration(full=True)
        heapq.heappush(self._starting, (ready_at, next(self._seq), proxy.node, proxy._generation))
        self._wakeup.set()

    def _finish_starts(self, at: float) -> None:
        while self._starting and self._starting[0][0] <= at:
            ready_at, _, node, generation = heapq.heappop(self._starting)
            proxy = self._proxies[node]
            if generation != proxy._generation or not proxy.running or proxy.frozen:
                continue
            self._follow(proxy)
            proxy._own_sync_time = ready_at
            proxy._own_sync_duration = self.sync_duration(full=True)
            self._prune()

    # ------------------------------------------------------------------ informer handlers
    def _wanted(self, key: str) -> Ips:
        svc = self._services.store.get(key)
        if svc is None or svc.spec.type == "ExternalName" or svc.spec.cluster_ip in ("", "None"):
            return None
        return self._slices.routable_ips(key)

    def _changed(self, key: str) -> None:
        wanted = self._wanted(key)
        if wanted == self._latest.get(key):
            return
        if wanted is None:
            self._latest.pop(key, None)
        else:
            self._latest[key] = wanted
        was_idle = not self._pending
        self._pending[key] = wanted
        if was_idle:
            self._wakeup.set()

    def _on_add(self, obj: Service) -> None:
        self._changed(key_of(obj))

    def _on_update(self, old: Service, new: Service) -> None:
        self._changed(key_of(new))

    def _on_delete(self, obj: Service) -> None:
        self._changed(key_of(obj))

    def _on_slice_add(self, eps: EndpointSlice) -> None:
        skey = self._slices.put(eps)
        if skey is not None:
            self._changed(skey)

    def _on_slice_update(self, old: EndpointSlice, new: EndpointSlice) -> None:
        was, skey = service_key(old), service_key(new)
        if was != skey:
            self._slices.remove(old)
        # replaces the slice's old version: only the change moves
        skey, moved = self._slices.replace(new, skey)
        if was is not None and was != skey:
            self._changed(was)
        if skey is not None and (moved or was != skey):
            # an update that moved no IP leaves what the rules route to as it was: no
            # re-read of the Service's IPs (what _changed would find equal to _latest)
            self._changed(skey)

    def _on_slice_delete(self, eps: EndpointSlice) -> None:
        skey = self._slices.remove(eps)
        if skey is not None:
            self._changed(skey)

    # ------------------------------------------------------------------ the sync runner
    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._services.run)
            nursery.start_soon(self._endpoints.run)
            await self._services.synced.wait()
            await self._endpoints.synced.wait()
            await self._sync()
            self.synced.set()
            self.events.record(
                COMPONENT,
                "KubeProxy",
                "",
                "Synced",
                f"initial sync of {self.services_with_rules} services, "
                f"{self.total_endpoints} endpoints on {len(self._proxies)} nodes took "
                f"{self.last_sync_duration:.3f}s",
            )
            await self._loop()

    async def _loop(self) -> None:
        while True:
            self._wakeup = trio.Event()
            at = now()
            self._finish_starts(at)
            periodic_due = self._last_sync_start + self.settings.proxy_sync_period
            if self._pending or self._rejoin or at >= periodic_due:
                wait = self._token_wait(at)
                if wait <= 0:
                    await self._sync()
                    continue
                deadline = at + wait
            else:
                deadline = periodic_due
            if self._starting:
                deadline = min(deadline, self._starting[0][0])
            await timers.wait_until(self._wakeup.wait, deadline)

    def _refill(self, at: float) -> None:
        period = self.settings.proxy_min_sync_period
        burst = float(self.settings.proxy_burst_syncs)
        if period <= 0:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (at - self._tokens_at) / period)
        self._tokens_at = at

    def _token_wait(self, at: float) -> float:
        """Seconds until the runner's token bucket allows a sync (0: now)."""
        self._refill(at)
        missing = 1.0 - self._tokens
        if missing <= 1e-9:  # float dust must not leave the runner spinning at one instant
            return 0.0
        return max(missing * self.settings.proxy_min_sync_period, 1e-6)

    async def _sync(self) -> None:
        """One sync of every following proxy: read the informers' state, write rules, publish."""
        start = now()
        self._refill(start)
        self._tokens = max(0.0, self._tokens - 1.0)
        self._last_sync_start = start
        pending, self._pending = self._pending, {}
        rejoin, self._rejoin = self._rejoin, {}
        changes: list[tuple[str, Ips]] = []
        services, endpoints, changed_endpoints = self.services_with_rules, self.total_endpoints, 0
        for key, ips in pending.items():
            history = self._table.get(key)
            old = history.ips[-1] if history is not None else None
            if ips == old:
                continue
            changes.append((key, ips))
            services += (ips is not None) - (old is not None)
            endpoints += len(ips or ()) - len(old or ())
            changed_endpoints += len(ips or ())
        self.services_with_rules, self.total_endpoints = services, endpoints
        full = (
            self._last_full_sync is None
            or start - self._last_full_sync >= self.settings.proxy_full_sync_period
        )
        duration = self.sync_duration(full, changed_endpoints)
        if full:
            self._last_full_sync = start
        await timers.sleep(duration)
        # The rules are in the kernel: publish them.
        revision = self.revision + 1
        for key, ips in changes:
            history = self._table.get(key)
            if history is None:
                history = self._table[key] = _History()
            history.revs.append(revision)
            history.ips.append(ips)
            self._change_log.append((revision, key))
        self.revision = revision
        self.last_sync_time = now()
        self.last_sync_duration = duration
        self.syncs_total += 1
        self._observe(duration)
        for proxy in rejoin.values():
            if proxy.running and not proxy.frozen and proxy.pinned is not None:
                stale_since = proxy._stale_since
                self._follow(proxy)
                if stale_since is not None:
                    self.events.record(
                        COMPONENT,
                        "Node",
                        proxy.node,
                        "Synced",
                        f"resynced after {self.last_sync_time - stale_since:.1f}s of stale rules",
                    )
        self._prune()

    def _observe(self, duration: float) -> None:
        self.sync_duration_sum += duration
        for i, bound in enumerate(SYNC_DURATION_BUCKETS):
            if duration <= bound:
                self.sync_duration_buckets[i] += 1
                return
        self.sync_duration_buckets[-1] += 1

    def _prune(self) -> None:
        """Drop history entries no proxy can see: older than every pinned proxy's revision."""
        floor = self.revision
        for revision in self._pinned_revs:
            if 0 < revision < floor:
                floor = revision
        log = self._change_log
        while log and log[0][0] <= floor:
            _, key = log.popleft()
            history = self._table.get(key)
            if history is None:
                continue
            keep_from = bisect_right(history.revs, floor) - 1
            if keep_from > 0:
                del history.revs[:keep_from]
                del history.ips[:keep_from]
            if len(history.revs) == 1 and history.ips[0] is None and history.revs[0] <= floor:
                del self._table[key]


__all__ = ["KubeProxy", "ProxyFleet"]
