"""Leader election of kube-scheduler and kube-controller-manager on a coordination.k8s.io Lease.

Upstream both run their work only while they hold a Lease in ``kube-system`` named after the
component (``--leader-elect`` defaults to true, component-base/config/v1alpha1 defaults.go), with
client-go's ``tools/leaderelection`` (leaderelection.go):

* **acquire**: try at once, then every ``retryPeriod`` plus up to ``JitterFactor`` 1.2 times it.
  A candidate takes a Lease held by someone else only once that Lease has gone unchanged for its
  ``leaseDurationSeconds`` *as the candidate observed it*: the clock starts when the candidate
  first read that record (``observedTime``), not at the record's ``renewTime``. A restarted
  process has a new identity (hostname + "_" + a fresh UUID), so it waits a full
  ``leaseDuration`` after it can first read the Lease of its previous life.
* **renew**: right after acquiring and then every ``retryPeriod``, a round of tries (one every
  ``retryPeriod``) that must succeed within ``renewDeadline``; a round that does not loses the
  lease. Every request of the leader-election client is bounded by ``renewDeadline`` (the
  client timeout client-go's resourcelock.NewFromKubeconfig is given,
  cmd/kube-controller-manager/app/controllermanager.go).
* **lost**: ``OnStoppedLeading`` makes the process exit ("leaderelection lost",
  cmd/kube-controller-manager/app/controllermanager.go and cmd/kube-scheduler/app/server.go).
  Both run as static pods, so the kubelet restarts them (:class:`ElectedComponent`): the new
  process relists everything and rebuilds its state from scratch (the node lifecycle controller
  takes every node's heartbeat as "now").

Events as upstream's LeaseLock.RecordEvent: reason ``LeaderElection``, "<identity> became leader"
and "<identity> stopped leading", on the Lease. The ``leader_election_master_status{name}`` gauge
(component-base/metrics/prometheus/clientgo/leaderelection) is :attr:`ElectedComponent.leading`.

The model runs one candidate per component on each control-plane node (``controlPlane.nodes``,
:mod:`kubechaos.control.controlplane`): one :class:`ElectedComponent` per ``host``; with one node,
as by default, that is the only candidate.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Lease, LeaseSpec, ObjectMeta
from kubechaos.client.interface import APIClient
from kubechaos.defaults import Settings
from kubechaos.sim import timers
from kubechaos.sim.clock import now
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import uuid4_text

LEADER_ELECTION_NAMESPACE = "kube-system"
JITTER_FACTOR = 1.2  # client-go tools/leaderelection/leaderelection.go JitterFactor
CONTROL_PLANE_HOST = "control-plane-0"  # the hostname part of the candidates' identities


@attrs.frozen
class ElectionTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @classmethod
    def of(cls, settings: Settings) -> ElectionTiming:
        return cls(
            settings.leader_election_lease_duration,
            settings.leader_election_renew_deadline,
            settings.leader_election_retry_period,
        )


def election_timing_problem(settings: Settings) -> str:
    """What client-go's NewLeaderElector would refuse in these settings ("" if nothing)."""
    if not settings.leader_elect:
        return ""
    t = ElectionTiming.of(settings)
    if t.lease_duration <= t.renew_deadline:
        return "leaderElectionLeaseDuration must be greater than leaderElectionRenewDeadline"
    if t.renew_deadline <= JITTER_FACTOR * t.retry_period:
        return "leaderElectionRenewDeadline must be greater than leaderElectionRetryPeriod*1.2"
    return ""


def new_identity(host: str, rng: random.Random) -> str:
    """``<hostname>_<uuid>``, as kube-scheduler and kube-controller-manager name themselves."""
    return f"{host}_{uuid4_text(rng)}"


class LeaderElector:
    """One candidate for the Lease ``kube-system/<name>`` (client-go's LeaderElector)."""

    def __init__(
        self,
        api: APIClient,
        events: EventLog,
        name: str,
        identity: str,
        timing: ElectionTiming,
        rng: random.Random,
    ) -> None:
        self.api = api
        self.events = events
        self.name = name
        self.identity = identity
        self.timing = timing
        self.rng = rng
        self.lease: Lease | None = None  # as last read or written (its resourceVersion)
        self.observed: LeaseSpec | None = None  # the record as last seen
        self.observed_time = 0.0  # when this candidate saw that record change (its clock)

    @property
    def key(self) -> str:
        return f"{LEADER_ELECTION_NAMESPACE}/{self.name}"

    def is_leader(self) -> bool:
        return self.observed is not None and self.observed.holder_identity == self.identity

    def _valid(self, t: float) -> bool:
        """The observed record has not expired as this candidate observed it."""
        if self.observed is None:
            return False
        return self.observed_time + self.observed.lease_duration_seconds > t

    def _observe(self, lease: Lease) -> None:
        self.lease, self.observed, self.observed_time = lease, lease.spec, now()

    def _record(self, t: float, acquired: float, transitions: int) -> LeaseSpec:
        return LeaseSpec(self.identity, int(self.timing.lease_duration), acquired, t, transitions)

    async def try_acquire_or_renew(self) -> bool:
        """One try: renew optimistically if leading, else read the Lease (create it if missing)
        and take it if it is free or expired as observed."""
        t = now()
        if self.is_leader() and self._valid(t) and self.lease is not None and self.observed:
            spec = self._record(t, self.observed.acquire_time or t, self._transitions())
            try:
                self._observe(await self.api.update(attrs.evolve(self.lease, spec=spec)))
                return True
            except errors.APIError:
                pass  # upstream falls back to the slow path
        try:
            current: Lease = await self.api.get("leases", LEADER_ELECTION_NAMESPACE, self.name)
        except errors.NotFound:
            return await self._create(t)
        except errors.APIError:
            return False
        if current.spec != self.observed:
            self._observe(current)
        self.lease = current
        if current.spec.holder_identity and self._valid(t) and not self.is_leader():
            return False  # held by another and not yet expired as we observed it
        if self.is_leader():
            spec = self._record(t, current.spec.acquire_time or t, self._transitions())
        else:
            spec = self._record(t, t, self._transitions() + 1)
        try:
            self._observe(await self.api.update(attrs.evolve(current, spec=spec)))
        except errors.APIError:
            return False
        return True

    def _transitions(self) -> int:
        return (self.observed.lease_transitions or 0) if self.observed else 0

    async def _create(self, t: float) -> bool:
        meta = ObjectMeta(name=self.name, namespace=LEADER_ELECTION_NAMESPACE)
        try:
            self._observe(await self.api.create(Lease(meta, self._record(t, t, 0))))
        except errors.APIError:
            return False
        return True

    async def _try(self, timeout: float) -> bool:
        """One try, its requests bounded by ``timeout`` (the client's request timeout)."""
        with trio.move_on_after(timeout):
            return await self.try_acquire_or_renew()
        return False

    async def acquire(self) -> None:
        """Try until this candidate holds the Lease (client-go's acquire, a sliding
        JitterUntil); records "<identity> became leader"."""
        retry = self.timing.retry_period
        while not await self._try(self.timing.renew_deadline):
            await timers.sleep(retry + self.rng.random() * JITTER_FACTOR * retry)
        self.events.record(
            self.name, "Lease", self.key, "LeaderElection", f"{self.identity} became leader"
        )

    async def renew(self) -> None:
        """Keep the Lease; return once a round of tries fails to renew it within
        ``renewDeadline`` (records "<identity> stopped leading")."""
        timing = self.timing
        while await self._renew_round(now() + timing.renew_deadline):
            await timers.sleep(timing.retry_period)
        self.events.record(
            self.name, "Lease", self.key, "LeaderElection", f"{self.identity} stopped leading"
        )

    async def _renew_round(self, deadline: float) -> bool:
        """Tries every ``retryPeriod`` until one renews or ``deadline`` passes
        (PollImmediateUntil under a renewDeadline timeout)."""
        with trio.move_on_at(deadline):
            while not await self.try_acquire_or_renew():
                await timers.sleep(self.timing.retry_period)
            return True
        return False


@attrs.define
class _RestartBackoff:
    """The kubelet's restart back-off for the component's static pod."""

    restarts: int = 0
    last_exit: float | None = None

    def delay(self, settings: Settings, at: float) -> float:
        if self.last_exit is not None and at - self.last_exit >= settings.crash_loop_backoff_reset:
            self.restarts = 0
        self.last_exit = at
        self.restarts += 1
        if self.restarts == 1:
            return settings.control_plane_restart_delay
        backoff = settings.crash_loop_backoff_initial * 2 ** (self.restarts - 2)
        return settings.control_plane_restart_delay + min(backoff, settings.crash_loop_backoff_max)


class ElectedComponent:
    """A control-plane process that does its work only while it leads: each life elects, runs
    the component (made fresh by ``make``: informers relist, state starts empty) while renewing,
    and on losing the lease exits; the kubelet starts the next life after a restart delay."""

    def __init__(
        self,
        api: APIClient,
        events: EventLog,
        settings: Settings,
        name: str,
        rng: random.Random,
        host: str = CONTROL_PLANE_HOST,
    ) -> None:
        self.api, self.events, self.settings = api, events, settings
        self.name = name
        self.rng = rng
        self.host = host
        self.leading = False  # leader_election_master_status{name}
        self.elector: LeaderElector | None = None
        self._backoff = _RestartBackoff()

    def _elector(self) -> LeaderElector:
        identity = new_identity(self.host, self.rng)
        timing = ElectionTiming.of(self.settings)
        return LeaderElector(self.api, self.events, self.name, identity, timing, self.rng)

    async def run(self, make: Callable[[], Callable[[], Awaitable[None]]]) -> None:
        """Lives of the process, one after another, until cancelled (the process killed; what it
        was doing then stays readable, as a stopped process's last state)."""
        self.leading = False
        while True:
            await self._life(make)
            delay = self._backoff.delay(self.settings, now())
            self.events.record(
                self.name,
                "Lease",
                f"{LEADER_ELECTION_NAMESPACE}/{self.name}",
                "LeaderElectionLost",
                f"leaderelection lost; the process exits, restarted in {delay:g}s",
            )
            await timers.sleep(delay)

    async def _life(self, make: Callable[[], Callable[[], Awaitable[None]]]) -> None:
        self.elector = elector = self._elector()
        await elector.acquire()
        self.leading = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(make())
            await elector.renew()
            self.leading = False  # OnStoppedLeading: the process exits
            nursery.cancel_scope.cancel()
