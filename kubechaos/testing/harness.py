"""The ``kubechaos`` fixture's object: one cluster per test, and the means to break and measure it.

A :class:`Harness` boots a cluster from code or from a scenario file, applies manifests, starts
traffic, injects and reverts faults, lets virtual time pass, and answers what a test asserts on:
recovery times, metric series, events, SLOs. It measures with exactly what ``kubechaos run``
uses (the run's :class:`~kubechaos.scenario.runner.Run`, its metrics registry, its
:class:`~kubechaos.observe.steady.SteadyStateMonitor`), so a number a test checks is the number a
report would show. It needs a Trio nursery on virtual time and nothing of pytest:
:mod:`kubechaos.testing.plugin` hands one to each test, and any Trio program can make its own.

It plays the part of the Kubernetes e2e framework (``test/e2e/framework``: a per-test
``Framework`` with its clients, and waits such as ``e2epod.WaitForPodCondition``), on a model
cluster instead of a real one.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import trio

from kubechaos.api.objects import APIObject
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.apiserver import APIServer
from kubechaos.defaults import Settings
from kubechaos.faults import Chaos, Fault, Injection
from kubechaos.observe.metrics import FAMILIES, family_of
from kubechaos.observe.slo import SLOResult
from kubechaos.scenario.customworkloads import CustomKinds
from kubechaos.scenario.loader import Scenario, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.clock import seed_trio_scheduler
from kubechaos.sim.events import Event
from kubechaos.testing import HarnessError
from kubechaos.testing.manifests import ManifestSource, objects_of, resolve_file
from kubechaos.testing.processes import ProcessSpec, start_processes
from kubechaos.traffic import TrafficSpec

DEFAULT_SEED = 0
# How many of a failing test's last events its report shows.
REPORT_EVENTS = 30


class Harness:
    """What the ``kubechaos`` fixture gives a test: one cluster, and the means to break it and
    to measure how it copes.

    Boot the cluster first, from code (:meth:`boot`) or from a scenario file
    (:meth:`boot_scenario`); the helpers act on it. Times are virtual seconds since the test
    began. Everything a run measures is here: the same metrics registry, the same steady-state
    and recovery logic, the same event log as ``kubechaos run``.

    Synchronous helpers read or set state (:meth:`traffic`, :meth:`metric`, :meth:`events`,
    :meth:`slos`); the others take virtual time or talk to the API server, so they are awaited.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        seed: int = DEFAULT_SEED,
        *,
        seed_chosen: bool = False,
        base_dir: Path = Path("."),
        name: str = "test",
    ) -> None:
        self.seed = seed
        self._seed_chosen = seed_chosen
        self._nursery = nursery
        self._base_dir = base_dir
        self._name = name
        self._run: Run | None = None
        self._closed_at: float | None = None

    # ------------------------------------------------------------------ booting
    async def boot(
        self,
        nodes: int | None = None,
        *,
        node_groups: Iterable[NodeGroupSpec] = (),
        settings: Settings | None = None,
        processes: Iterable[ProcessSpec] = (),
    ) -> Cluster:
        """Boot a cluster and return it once every component runs (no workloads yet); it runs
        until the test ends.

        ``nodes=N`` gives one node group ``worker`` of N default nodes (``worker-0``, ...; 3 when
        nothing is given); ``node_groups`` gives your own
        (:class:`~kubechaos.cluster.NodeGroupSpec`: name, count, capacity, labels, taints).
        ``settings`` overrides upstream timings (:class:`~kubechaos.defaults.Settings`).
        ``processes`` are real programs started against the cluster's API (see
        :meth:`boot_scenario`).
        """
        __tracebackhide__ = True
        groups = tuple(node_groups)
        if groups and nodes is not None:
            raise HarnessError("give either nodes=N (one group 'worker') or node_groups, not both")
        if not groups:
            count = 3 if nodes is None else nodes
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise HarnessError(f"nodes must be a whole number >= 1, got {nodes!r}")
            groups = (NodeGroupSpec("worker", count),)
        spec = ClusterSpec(groups, settings or Settings())
        scenario = Scenario(self._name, "", self.seed, math.inf, spec, (), ())
        return (await self._start(Run(scenario, self.seed), processes)).cluster

    async def boot_scenario(
        self,
        path: str | os.PathLike[str],
        *,
        faults: bool = True,
        slos: bool = True,
        processes: Iterable[ProcessSpec] = (),
    ) -> Run:
        """Boot a scenario file's cluster, apply its workloads, start its traffic, and (unless
        turned off) its fault schedule and SLO monitors: a :class:`~kubechaos.scenario.runner.Run`
        running in the test. Returns once the workloads are applied.

        A relative ``path`` is read from the test file's directory. The schedule's times count
        from the start of the test and stop at the scenario's ``duration``; the test decides how
        long the cluster runs (:meth:`advance`). The seed is the test's when one was chosen
        (marker, ``--kubechaos-seed``, ini), else the scenario's ``spec.seed``.

        ``processes`` (:class:`~kubechaos.testing.processes.ProcessSpec`: name, argv, env, exit policy),
        with the scenario's ``spec.processes``, start once the API is served on loopback, each
        with a kubeconfig of its own (``KUBECONFIG``) whose requests are made as its name; the
        clock is then paced to the wall clock (1x), and they get SIGTERM when the test ends.
        """
        __tracebackhide__ = True
        scenario = load_scenario(
            resolve_file(self._base_dir, path)
        )  # ScenarioError lists every problem
        if not faults:
            scenario = attrs.evolve(scenario, faults=())
        if not slos:
            scenario = attrs.evolve(scenario, slos=())
        if not self._seed_chosen and scenario.seed is not None:
            self.seed = scenario.seed
        return await self._start(Run(scenario, self.seed), processes)

    async def _start(self, run: Run, processes: Iterable[ProcessSpec] = ()) -> Run:
        __tracebackhide__ = True
        self._check_open()
        if self._run is not None:
            raise HarnessError(
                "this test already has a cluster: one per test (boot it once, then use it)"
            )
        self._run = run
        # Reseeded here, so the cluster's run depends on its seed alone, not on what the test
        # did before booting it: `--kubechaos-seed N` replays it even when N came from a file.
        seed_trio_scheduler(run.seed)
        start_processes(run, processes)
        await run.start(self._nursery)
        return run

    # ------------------------------------------------------------------ what the test sees
    @property
    def run(self) -> Run:
        """The run behind the cluster: ``registry``, ``steady`` (recoveries), ``slo``,
        ``traffic`` (its ``stats``), ``chaos``, ``scenario``."""
        __tracebackhide__ = True
        self._check_open()
        if self._run is None:
            raise HarnessError(
                "no cluster yet: boot one first with `await kubechaos.boot(nodes=3)` or "
                "`await kubechaos.boot_scenario(path)` (did you forget an `await`?)"
            )
        return self._run

    @property
    def cluster(self) -> Cluster:
        __tracebackhide__ = True
        return self.run.cluster

    @property
    def api(self) -> APIServer:
        """The API server: ``get``/``list``/``update``/``delete`` as a client, or
        ``api.cache(resource)`` for the watch cache's current view without a request."""
        __tracebackhide__ = True
        return self.run.cluster.api

    @property
    def chaos(self) -> Chaos:
        __tracebackhide__ = True
        return self.run.chaos

    @property
    def now(self) -> float:
        """Virtual seconds since the test began."""
        return trio.current_time()

    # ------------------------------------------------------------------ acting
    async def apply(self, manifests: ManifestSource) -> list[APIObject]:
        """Create objects, as ``kubectl apply`` does for new ones, and return them as stored.

        ``manifests`` is a path to a YAML file (``str`` or ``Path``; relative to the test file's
        directory), YAML text (a string with a newline; ``---`` between documents), an API object
        (:mod:`kubechaos.api.objects`), a manifest mapping, or a list of objects and mappings.
        Manifests are checked as the API server would; kinds the model does not serve are skipped
        with a warning, as in scenario files. Missing namespaces are created.
        """
        __tracebackhide__ = True
        run = self.run
        known = CustomKinds(run.cluster.api.custom.definitions.values())  # CRDs served so far
        return await run.cluster.apply(objects_of(manifests, self._base_dir, run.events, known))

    async def inject(self, fault: Fault, *, duration: float | None = None) -> Injection:
        """Inject ``fault`` now (see :mod:`kubechaos.faults`) and return the injection.

        With ``duration`` a lasting fault is reverted that many virtual seconds later (as a
        scenario's schedule does); without, it lasts until :meth:`revert` or the end of the test.
        A fault that cannot act fails the test with the reason.
        """
        __tracebackhide__ = True
        run = self.run
        if duration is not None:
            if not fault.lasting:
                raise HarnessError(
                    f"{fault.type} acts once when injected; a duration means nothing for it"
                )
            if duration < 0:
                raise HarnessError(f"duration must be >= 0, got {duration!r}")
        injection = await run.chaos.inject(fault)
        if injection is None:
            failed = run.events.find(reason="FaultFailed", obj=fault.name)
            reason = failed[-1].message if failed else "it could not be injected"
            raise AssertionError(f"fault {fault.name!r}: {reason}")
        if duration is not None:
            self._nursery.start_soon(self._revert_later, injection, duration)
        return injection

    async def _revert_later(self, injection: Injection, duration: float) -> None:
        await trio.sleep_until(injection.injected_at + duration)
        await self.run.chaos.revert(injection)

    async def revert(self, injection: Injection) -> None:
        """Undo ``injection`` (a no-op, still recorded, for an instantaneous fault)."""
        __tracebackhide__ = True
        await self.run.chaos.revert(injection)

    def traffic(
        self,
        service: str,
        rate: float,
        *,
        namespace: str = "default",
        from_nodes: Iterable[str] = (),
    ) -> TrafficSpec:
        """Start clients calling ``namespace/service`` at ``rate`` requests per (virtual) second,
        from ``from_nodes`` in turn (default: every node). Counted in
        ``kubechaos_service_requests_total`` and :attr:`run`.traffic.stats; service errors
        break steady state, so they count in :meth:`recovery`."""
        __tracebackhide__ = True
        run = self.run
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise HarnessError(f"rate must be > 0 requests per second, got {rate!r}")
        nodes = [from_nodes] if isinstance(from_nodes, str) else list(from_nodes)
        unknown = [n for n in nodes if n not in run.cluster.nodes]
        if unknown:
            raise HarnessError(
                f"from_nodes: no node named {unknown[0]!r}; nodes are "
                + ", ".join(run.cluster.nodes)
            )
        spec = TrafficSpec(service, namespace, float(rate), tuple(nodes))
        run.traffic.add(spec)
        return spec

    # ------------------------------------------------------------------ time
    async def advance(self, seconds: float) -> float:
        """Let ``seconds`` of virtual time pass (instantly, in wall time); returns the time."""
        __tracebackhide__ = True
        if not seconds >= 0:
            raise HarnessError(f"advance takes seconds >= 0, got {seconds!r}")
        await trio.sleep(seconds)
        return trio.current_time()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        *,
        timeout: float = 60.0,
        what: str = "",
        step: float = 0.5,
    ) -> float:
        """Wait until ``predicate()`` is true, checking every ``step`` virtual seconds, and
        return the virtual time it first was; fail the test if ``timeout`` virtual seconds pass
        first. ``predicate`` may be ``async``. ``what`` names the condition in the failure.
        """
        __tracebackhide__ = True
        self._check_open()
        if not timeout >= 0 or not step > 0:
            raise HarnessError(f"wait_for needs timeout >= 0 and step > 0, got {timeout}, {step}")
        started = trio.current_time()
        deadline = started + timeout
        while True:
            held = predicate()
            if inspect.isawaitable(held):
                held = await held
            if held:
                return trio.current_time()
            if trio.current_time() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:g}s (virtual) waiting for "
                    f"{what or _describe(predicate)}: still false at {trio.current_time():.1f}s"
                )
            await trio.sleep(min(step, deadline - trio.current_time()))

    async def recovery(self, fault: str | Injection, *, timeout: float = 600.0) -> float:
        """Seconds from a fault's injection until the workloads were back in steady state, by
        the rule runs use (README "Recovery"): every Deployment has its replicas available and
        no Service with traffic answers errors, holding for the stability window (10 s).

        ``fault`` is an :class:`~kubechaos.faults.Injection` or a fault name (its latest
        injection so far). Waits in virtual time until the recovery is known, which is a window
        after it happened; fails the test if it is not known within ``timeout`` seconds.
        """
        __tracebackhide__ = True
        run = self.run
        injection = fault if isinstance(fault, Injection) else self._latest(fault)
        name = injection.fault.name
        deadline = trio.current_time() + timeout
        while True:
            for rec in run.steady.recoveries:
                if rec.fault == name and rec.injected_at == injection.injected_at and rec.known:
                    if rec.seconds is not None:
                        return rec.seconds
                    raise AssertionError(
                        f"fault {name!r} (injected at {rec.injected_at:.1f}s) never recovered"
                    )
            if trio.current_time() >= deadline:
                raise AssertionError(
                    f"fault {name!r} (injected at {injection.injected_at:.1f}s) did not recover "
                    f"within {timeout:g}s: steady state needs {run.steady.window:g}s without "
                    f"a break; now {trio.current_time():.1f}s, {_unsteady(run)}"
                )
            await trio.sleep(min(run.steady.interval, max(deadline - trio.current_time(), 0)))

    def _latest(self, name: str) -> Injection:
        __tracebackhide__ = True
        run = self.run
        found = [i for i in run.chaos.injections if i.fault.name == name]
        if not found:
            injected = sorted({i.fault.name for i in run.chaos.injections})
            raise HarnessError(
                f"no fault named {name!r} was injected so far (at {trio.current_time():.1f}s); "
                + (f"injected: {', '.join(injected)}" if injected else "nothing was injected")
            )
        return found[-1]

    # ------------------------------------------------------------------ measuring
    def metric(self, name: str, **labels: str) -> float:
        """The current value of a metric series, summed over the series whose labels include
        ``labels`` (0 when none does yet), read from the run's registry as ``/metrics`` would
        show it: ``metric("kube_deployment_status_replicas_available", deployment="web")``.

        Counters are read by their sample name (``..._total``), histograms by ``_count``,
        ``_sum`` or ``_bucket`` (with ``le``). README "Metrics" lists every family.
        """
        __tracebackhide__ = True
        run = self.run
        family = family_of(name)
        if family is None:
            near = sorted(FAMILIES, key=lambda f: -_similarity(f, name))[:3]
            raise HarnessError(f"no metric {name!r}; did you mean one of: {', '.join(near)}?")
        total = 0.0
        for metric in run.collector.families_named(name):
            if metric.name != family:
                continue
            if metric.type == "counter" and name == family:
                raise HarnessError(f"{name} is a counter: its samples are named {name}_total")
            if metric.type == "histogram" and name == family:
                raise HarnessError(
                    f"{name} is a histogram: read {name}_count, {name}_sum or {name}_bucket"
                )
            for s in metric.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def events(
        self,
        reason: str | None = None,
        *,
        kind: str | None = None,
        obj: str | None = None,
        component: str | None = None,
    ) -> list[Event]:
        """The cluster's events so far (oldest first), filtered by reason (``Scheduled``,
        ``Killing``, ``FaultInjected``, ``Recovered``, ...), kind, object (``default/web-...``,
        or a fault's name) and component."""
        __tracebackhide__ = True
        found = self.run.events.find(reason=reason, kind=kind, obj=obj)
        return [e for e in found if component is None or e.component == component]

    def slos(self) -> list[SLOResult]:
        """The scenario's SLOs judged on what happened so far (each ``ok``, ``measured``,
        ``threshold``); a recovery still under way fails only once it took longer than
        allowed. Empty for a cluster booted from code."""
        __tracebackhide__ = True
        return self.run.slo.results(final=False)

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        __tracebackhide__ = True
        if self._closed_at is not None:
            raise HarnessError("the test that owned this kubechaos fixture is over")

    def _close(self) -> None:
        """The test is over: helpers refuse from now on (the nursery stops the cluster)."""
        self._closed_at = trio.current_time()

    def describe(self, nodeid: str = "") -> str:
        """For a failing test's report: seed, time, how to replay, the last events."""
        if self._run is None:
            return f"seed {self.seed}; no cluster was booted"
        events = list(self._run.events)
        stopped = self._closed_at if self._closed_at is not None else events[-1].time
        lines = [
            f"seed {self.seed}, stopped at {stopped:.1f}s of virtual time; the same seed "
            f"replays the same test: pytest '{nodeid}' --kubechaos-seed {self.seed}",
            f"last {min(len(events), REPORT_EVENTS)} of {len(events)} events:",
        ]
        for e in events[-REPORT_EVENTS:]:
            lines.append(f"{e.time:10.3f}s {e.component:<24.24} {e.describe()}")
        return "\n".join(lines)


def _unsteady(run: Run) -> str:
    """Why the run's workloads are not in steady state now, for a recovery that timed out."""
    return "; ".join(run.steady.unsteady_reasons(trio.current_time())) or "steady right now"


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _describe(predicate: Callable[[], Any]) -> str:
    """The source of a lambda (``lambda: ...``), else the function's name."""
    name = getattr(predicate, "__name__", repr(predicate))
    if name == "<lambda>":
        try:
            source = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            return "a condition"
        text = " ".join(source[source.find("lambda") :].split())
        # getsource gives whole lines: cut what follows the lambda (", timeout=60)")
        for end in range(len(text), 0, -1):
            try:
                tree = ast.parse(text[:end], mode="eval")
            except SyntaxError:
                continue
            if isinstance(tree.body, ast.Lambda):
                text = text[:end]
                break
        return text if len(text) <= 120 else text[:117] + "..."
    return name


__all__ = ["DEFAULT_SEED", "Harness"]
