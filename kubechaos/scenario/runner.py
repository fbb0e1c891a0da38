"""Drive one simulation of a scenario: boot the cluster, apply the workloads, send traffic, inject
the fault schedule, and let virtual time run to the scenario's duration.

A :class:`Run` is built outside Trio and holds everything the run produces (cluster, event log,
traffic counts), so an interrupted run still has its event log to write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from kubechaos.api.errors import APIError
from kubechaos.cluster import Cluster
from kubechaos.faults import Chaos, run_schedule
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.observe.customsteady import CustomWatch
from kubechaos.observe.history import History
from kubechaos.observe.invariants import SURGE_CHECK_INTERVAL, InvariantChecker
from kubechaos.observe.metrics import ClusterCollector, new_registry
from kubechaos.observe.slo import SLOMonitor, SLOResult
from kubechaos.observe.steady import SteadyStateMonitor
from kubechaos.observe.ticker import Ticker
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.procspec import ProcessOutcome
from kubechaos.sim import timers
from kubechaos.sim.clock import run_virtual
from kubechaos.sim.events import Event, EventLog
from kubechaos.traffic import TrafficGenerator


class Run:
    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = (
            seed if seed is not None else (scenario.seed if scenario.seed is not None else 0)
        )
        self.cluster = Cluster(scenario.cluster, self.seed)
        kinds = {
            type(o).__name__
            for o in (*scenario.workloads, *(o for _, objs in scenario.updates for o in objs))
        }
        self.convergence = ConvergenceWatch(self.cluster.ctx, frozenset(kinds))
        self.traffic = TrafficGenerator(
            self.cluster.ctx, self.cluster.proxies, self.cluster.network, list(scenario.traffic)
        )
        self.chaos = Chaos(self.cluster)
        self.collector = ClusterCollector(self.cluster, self.traffic.stats)
        self.registry = new_registry(self.collector)
        self.steady = SteadyStateMonitor(self.collector, self.events, scenario.name)
        self.convergence.listeners.append(self.steady)  # steady state, per event
        self.custom = CustomWatch(self.cluster.ctx)  # custom objects, as their CRDs appear
        self.custom.listeners.append(self.steady)
        self.slo = SLOMonitor(scenario.slos, self.collector, self.steady, custom=self.custom)
        self.history = History(self.collector)
        for scheduled in scenario.faults:
            self.collector.faults.declare(scheduled.fault.name, scheduled.fault.type)
        self.invariants = InvariantChecker(self.cluster)
        # Every observer samples on one ticker (see kubechaos.observe.ticker): the edges attach
        # theirs (a recorder, a live exporter, a progress bar) with ``ticker.every``, so what
        # watches a run never changes it. ``on_finish`` callbacks run after the last sample.
        self.ticker = Ticker()
        self.ticker.every(self.steady.interval, self.steady.sample)
        self.ticker.every(self.slo.interval, self.slo.tick)
        self.ticker.every(self.history.interval, self.history.sample)
        self.ticker.every(SURGE_CHECK_INTERVAL, self.invariants.check_surge)
        self.on_finish: list[Callable[[], None]] = []
        # Servers the edges attach (the HTTP front door): each started once the cluster is up
        # and stopped with the run. A run serving external clients is not replayable: they
        # choose when to ask.
        self.services: list[Callable[[], Awaitable[None]]] = []
        self.served_api: str | None = None  # the URL external clients were served at
        # External processes run against that API (kubechaos.processes fills these in)
        self.processes: list[ProcessOutcome] = []
        self.finished_at: float | None = None
        self.results: list[SLOResult] = []

    @property
    def events(self) -> EventLog:
        return self.cluster.ctx.events

    async def execute(self) -> None:
        """Run the scenario to its end (call inside Trio on virtual time)."""
        async with trio.open_nursery() as nursery:
            await self.start(nursery)
            await timers.sleep_until(self.scenario.duration)
            self.finished_at = trio.current_time()
            self.collector.last_time = self.finished_at
            self.steady.finish(self.finished_at)
            self.history.sample(self.finished_at)
            self.results = self.slo.results(final=True)
            for callback in self.on_finish:
                callback()
            self.events.record(
                "kubechaos",
                "Scenario",
                self.scenario.name,
                "Finished",
                f"ran {self.scenario.duration:g}s of virtual time",
            )
            nursery.cancel_scope.cancel()

    async def start(self, nursery: trio.Nursery) -> None:
        """Boot the cluster and start, in ``nursery``, everything the scenario runs: observers,
        traffic and the fault schedule (its times count from virtual time 0).
        Returns once the workloads are applied; the run then goes on until ``nursery`` is
        cancelled. :meth:`execute` is this plus the end of the run; the pytest plugin calls it
        to run a scenario inside a test.
        """
        await nursery.start(self.cluster.run)
        for service in self.services:
            nursery.start_soon(service, name="service")
        nursery.start_soon(self.convergence.run, name="convergence-watch")
        self.custom.start()  # no task: it follows definitions as etcd commits them
        nursery.start_soon(self.ticker.run, name="observers")
        nursery.start_soon(self.invariants.run, name="invariants")
        if self.slo.conditions is not None:  # only runs with condition SLOs watch for them
            nursery.start_soon(self.slo.conditions.run, name="condition-watch")
        for warning in self.scenario.warnings:
            self.events.record("kubechaos", "Scenario", self.scenario.name, "Warning", warning)
        await self.cluster.apply(self.scenario.workloads)
        self.steady.arm(trio.current_time())
        nursery.start_soon(self.traffic.run, name="traffic")
        if self.scenario.faults:
            nursery.start_soon(
                run_schedule, self.chaos, self.scenario.faults, self.scenario.duration
            )
        if self.scenario.updates:
            nursery.start_soon(self._apply_updates, name="kubectl-apply")

    async def _apply_updates(self) -> None:
        """Workloads with an ``at``: applied on time, as ``kubectl apply`` of a new version."""
        for at, objects in self.scenario.updates:
            await timers.sleep_until(at)
            try:
                await self.cluster.apply(objects)
            except APIError as exc:  # the API server may be down: say so, as kubectl would
                self.events.record(
                    "kubectl", "Scenario", self.scenario.name, "ApplyFailed", str(exc)
                )

    @property
    def slo_ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed_injections(self) -> list[Event]:
        """Faults the schedule could not inject (FaultFailed events): each measured nothing."""
        return self.events.find(reason="FaultFailed")

    @property
    def passed(self) -> bool:
        """The run's verdict: every SLO held and every scheduled fault was injected. A fault
        that could not act (its target matched nothing, the API server refused it) measured
        nothing, so a run with one never passes, SLOs or not."""
        return self.slo_ok and not self.failed_injections

    def run(self, speed: float | None = None) -> Run:
        """Run on a fresh virtual clock with Trio's scheduler seeded from the run's seed; with
        ``speed``, virtual time is paced to that multiple of the wall clock."""
        try:
            run_virtual(self.execute, seed=self.seed, speed=speed)
        except BaseExceptionGroup as group:
            # Trio wraps what escapes its tasks; a Ctrl-C should still read as one.
            interrupted, rest = group.split(KeyboardInterrupt)
            if interrupted is not None and rest is None:
                raise KeyboardInterrupt from None
            raise
        return self


def run_scenario(scenario: Scenario, seed: int | None = None) -> Run:
    return Run(scenario, seed).run()
