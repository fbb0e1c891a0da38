"""The pytest plugin: resilience tests written in Python, on the model's virtual time.

Installed with the package (entry point ``pytest11``) and built on pytest-trio. A test that asks
for the ``kubechaos`` fixture is an ``async def`` that runs under kubechaos'
:class:`~kubechaos.sim.clock.VirtualClock` with Trio's scheduler seeded, exactly as
``kubechaos run`` runs a scenario: ``await kubechaos.advance(600)`` passes ten minutes of cluster
time in however long the work in them takes, and the same seed gives the same test, event for
event::

    @pytest.mark.kubechaos(seed=7)
    async def test_web_survives_a_pod_kill(kubechaos):
        await kubechaos.boot(nodes=3)
        await kubechaos.apply("manifests/web.yaml")  # relative to the test file
        kubechaos.traffic("web", rate=20)
        await kubechaos.advance(60)
        await kubechaos.inject(
            PodKill(name="kill-web", target=Target(label_selector={"app": "web"}, mode="one"))
        )
        assert await kubechaos.recovery("kill-web") < 30

The fixture is a :class:`Harness`; its docstrings are the reference. A scenario file runs in a
test too (``await kubechaos.boot_scenario("pod-kill.yaml")``), with its schedule and SLOs.

The seed comes from the test's ``@pytest.mark.kubechaos(seed=N)``, else ``--kubechaos-seed N``,
else the ``kubechaos_seed`` ini setting, else 0. It seeds both the cluster's random streams and
Trio's tie-breaking among tasks woken at the same instant. A failing test's report gets a
``kubechaos`` section: its seed, how to replay it, and the last events of its cluster.

Only tests that use the fixture or the ``kubechaos`` marker run on virtual time: installing
kubechaos must not change anyone's other async tests (a test doing real network I/O would see its
timeouts jump). A suite made only of model tests sets the ini setting
``kubechaos_all_async_tests = true`` to run every async test that way (kubechaos' own suite does).
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import inspect
import math
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
import trio

from kubechaos.api.manifest import ManifestError, UnsupportedKind, read_manifest
from kubechaos.api.objects import APIObject
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.apiserver import APIServer
from kubechaos.defaults import Settings
from kubechaos.faults import Chaos, Fault, Injection
from kubechaos.observe.metrics import FAMILIES, family_of
from kubechaos.observe.slo import SLOResult
from kubechaos.scenario.loader import Scenario, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.scenario.yamlfile import YAMLSyntaxError, load_all, locate
from kubechaos.sim.clock import VirtualClock, seed_trio_scheduler
from kubechaos.sim.events import Event
from kubechaos.sim.failures import leaves
from kubechaos.traffic import TrafficSpec

MARKER = "kubechaos"
FIXTURE = "kubechaos"
DEFAULT_SEED = 0
# How many of a failing test's last events its report shows.
REPORT_EVENTS = 30

_HARNESS = pytest.StashKey["Harness"]()
_SEED = pytest.StashKey["tuple[int, bool] | str"]()  # (seed, explicit) or what is wrong with it


class HarnessError(RuntimeError):
    """The ``kubechaos`` fixture was used in a way that cannot work; the message says how to."""


# ---------------------------------------------------------------------------------- hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubechaos", "kubechaos resilience tests")
    group.addoption(
        "--kubechaos-seed",
        type=int,
        default=None,
        dest="kubechaos_seed",
        metavar="N",
        help="seed for kubechaos tests without @pytest.mark.kubechaos(seed=...) (default: the "
        "kubechaos_seed ini setting, else 0)",
    )
    parser.addini(
        "kubechaos_seed", "seed for kubechaos tests without a marker seed (default 0)", default=""
    )
    parser.addini(
        "kubechaos_all_async_tests",
        "run every async test on kubechaos' virtual clock with a seeded scheduler, not only "
        "those that use the kubechaos fixture or marker",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kubechaos(seed=N): run this async test on kubechaos' virtual clock; N seeds its cluster "
        "and Trio's scheduler (default: --kubechaos-seed, the kubechaos_seed ini setting, else 0)",
    )


def _seed_of(item: pytest.Item) -> tuple[int, bool] | str:
    """The test's seed and whether it was chosen (not the default), or what is wrong with it."""
    marker = item.get_closest_marker(MARKER)
    if marker is not None and (marker.args or marker.kwargs):
        unknown = [k for k in marker.kwargs if k != "seed"]
        if unknown or len(marker.args) > 1 or (marker.args and "seed" in marker.kwargs):
            return f"@pytest.mark.kubechaos takes one argument, seed=N; got {_call(marker)}"
        seed = marker.kwargs["seed"] if "seed" in marker.kwargs else marker.args[0]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            return f"@pytest.mark.kubechaos(seed=...) must be a whole number >= 0, got {seed!r}"
        return seed, True
    option = item.config.getoption("kubechaos_seed")
    if option is not None:
        return (option, True) if option >= 0 else f"--kubechaos-seed must be >= 0, got {option}"
    ini = str(item.config.getini("kubechaos_seed")).strip()
    if ini:
        if not ini.isdigit():
            return f"the kubechaos_seed ini setting must be a whole number >= 0, got {ini!r}"
        return int(ini), True
    return DEFAULT_SEED, False


def _call(marker: pytest.Mark) -> str:
    args = [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
    return f"kubechaos({', '.join(args)})"


def _test_function(item: pytest.Item) -> Any:
    obj = getattr(item, "obj", None)
    hypothesis = getattr(obj, "hypothesis", None)
    return hypothesis.inner_test if hypothesis is not None else obj


def _wants_virtual_time(item: pytest.Item, everything: bool) -> bool:
    return (
        everything
        or FIXTURE in getattr(item, "fixturenames", ())
        or item.get_closest_marker(MARKER) is not None
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-trio's trio_mode marks tests to run on trio.run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    everything = bool(config.getini("kubechaos_all_async_tests"))
    for item in items:
        if not _wants_virtual_time(item, everything):
            continue
        seed = _seed_of(item)
        item.stash[_SEED] = seed
        if isinstance(seed, str) or not inspect.iscoroutinefunction(_test_function(item)):
            continue  # pytest_runtest_setup fails it with the reason
        if any(m.kwargs.get("run") is not None for m in item.iter_markers("trio")):
            continue  # the test chose its own Trio runner
        item.add_marker(pytest.mark.trio(run=functools.partial(run_on_virtual_time, seed[0])))


@pytest.hookimpl(tryfirst=True)  # before the fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    seed = item.stash.get(_SEED, None)
    if seed is None:
        return
    if isinstance(seed, str):
        pytest.fail(seed, pytrace=False)
    uses_fixture = FIXTURE in getattr(item, "fixturenames", ())
    if uses_fixture and not inspect.iscoroutinefunction(_test_function(item)):
        pytest.fail(
            "the kubechaos fixture runs the cluster on Trio: write the test as `async def`",
            pytrace=False,
        )
    if uses_fixture and importlib.util.find_spec("pytest_trio") is None:
        pytest.fail(
            "the kubechaos fixture runs async tests through pytest-trio, which is not "
            "installed: pip install pytest-trio",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if call.when == "call":
        harness = item.stash.get(_HARNESS, None)
        if harness is not None:
            del item.stash[_HARNESS]  # a finished test's cluster is garbage from here on
            if report.failed:
                report.sections.append(("kubechaos", harness.describe(item.nodeid)))
    return report


def run_on_virtual_time(
    seed: int, fn: Callable[..., Awaitable[Any]], *args: Any, clock: Any = None, **kwargs: Any
) -> Any:
    """``trio.run`` for pytest-trio: the model's virtual clock (unless the test asked for a clock
    fixture of its own) and Trio's scheduler seeded, as ``kubechaos run`` does."""
    __tracebackhide__ = True
    seed_trio_scheduler(seed)
    try:
        return trio.run(fn, *args, clock=clock or VirtualClock(), **kwargs)
    except BaseExceptionGroup as group:
        # Trio wraps what escapes its tasks in groups; a lone failure is raised as itself, so
        # pytest reports a failed assertion as it reports any other.
        failures = leaves(group)
        if len(failures) != 1:
            raise
        raise failures[0] from None


@pytest.fixture
async def kubechaos(
    request: pytest.FixtureRequest, nursery: trio.Nursery
) -> AsyncIterator[Harness]:
    """A :class:`Harness`: boot a cluster (from code or a scenario file), break it, measure it.

    The cluster runs in the test's nursery and stops when the test ends.
    """
    seed = request.node.stash.get(_SEED, (DEFAULT_SEED, False))
    assert not isinstance(seed, str)  # pytest_runtest_setup failed the test
    harness = Harness(
        nursery,
        seed=seed[0],
        seed_chosen=seed[1],
        base_dir=Path(request.path).parent,
        name=request.node.name,
    )
    request.node.stash[_HARNESS] = harness
    try:
        yield harness
    finally:
        harness._close()


# ---------------------------------------------------------------------------------- harness
ManifestSource = str | os.PathLike[str] | APIObject | Mapping[str, Any] | Iterable[Any]


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
    ) -> Cluster:
        """Boot a cluster and return it once every component runs (no workloads yet); it runs
        until the test ends.

        ``nodes=N`` gives one node group ``worker`` of N default nodes (``worker-0``, ...; 3 when
        nothing is given); ``node_groups`` gives your own
        (:class:`~kubechaos.cluster.NodeGroupSpec`: name, count, capacity, labels, taints).
        ``settings`` overrides upstream timings (:class:`~kubechaos.defaults.Settings`).
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
        return (await self._start(Run(scenario, self.seed))).cluster

    async def boot_scenario(
        self, path: str | os.PathLike[str], *, faults: bool = True, slos: bool = True
    ) -> Run:
        """Boot a scenario file's cluster, apply its workloads, start its traffic, and (unless
        turned off) its fault schedule and SLO monitors: a :class:`~kubechaos.scenario.runner.Run`
        running in the test. Returns once the workloads are applied.

        A relative ``path`` is read from the test file's directory. The schedule's times count
        from the start of the test and stop at the scenario's ``duration``; the test decides how
        long the cluster runs (:meth:`advance`). The seed is the test's when one was chosen
        (marker, ``--kubechaos-seed``, ini), else the scenario's ``spec.seed``.
        """
        __tracebackhide__ = True
        scenario = load_scenario(self._file(path))  # ScenarioError lists every problem
        if not faults:
            scenario = attrs.evolve(scenario, faults=())
        if not slos:
            scenario = attrs.evolve(scenario, slos=())
        if not self._seed_chosen and scenario.seed is not None:
            self.seed = scenario.seed
        return await self._start(Run(scenario, self.seed))

    async def _start(self, run: Run) -> Run:
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
        cluster = self.run.cluster
        return await cluster.apply(self._objects(manifests))

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
                    f"a break; now {trio.current_time():.1f}s, {self._unsteady()}"
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

    def _unsteady(self) -> str:
        run = self.run
        desired: dict[str, float] = {}
        available: dict[str, float] = {}
        for family in run.collector.deployment_families():
            target = {
                "kube_deployment_spec_replicas": desired,
                "kube_deployment_status_replicas_available": available,
            }.get(family.name)
            if target is not None:
                for s in family.samples:
                    target[f"{s.labels['namespace']}/{s.labels['deployment']}"] = s.value
        short = [
            f"Deployment {key} has {available.get(key, 0):g}/{want:g} available"
            for key, want in desired.items()
            if available.get(key, 0) < want
        ]
        stats = run.traffic.stats
        for key in stats.totals_by_service():
            namespace, service = key.split("/", 1)
            last = stats.last_failure(namespace, service)
            if last is not None and last >= trio.current_time() - run.steady.window:
                short.append(f"Service {key} failed requests in second {last}")
        return "; ".join(short) if short else "steady right now"

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

    def _file(self, path: str | os.PathLike[str]) -> Path:
        __tracebackhide__ = True
        file = Path(path)
        if not file.is_absolute():
            file = self._base_dir / file
        if not file.is_file():
            raise HarnessError(
                f"no file {file} (relative paths are read from the test's directory)"
            )
        return file

    def _objects(self, manifests: ManifestSource) -> list[APIObject]:
        __tracebackhide__ = True
        if isinstance(manifests, os.PathLike) or (
            isinstance(manifests, str) and "\n" not in manifests
        ):
            file = self._file(manifests)
            return self._parse(file.read_text(encoding="utf-8"), str(file))
        if isinstance(manifests, str):
            return self._parse(manifests, "<manifest text>")
        items: Iterable[Any] = (
            [manifests]
            if isinstance(manifests, Mapping) or _is_api_object(manifests)
            else cast(Iterable[Any], manifests)
        )
        objects: list[APIObject] = []
        for i, item in enumerate(items):
            if _is_api_object(item):
                objects.append(item)
            elif isinstance(item, Mapping):
                objects += self._read([item], f"<manifest {i}>")
            else:
                raise HarnessError(
                    f"apply takes API objects or manifest mappings in a list, got {item!r}"
                )
        return objects

    def _parse(self, text: str, source: str) -> list[APIObject]:
        __tracebackhide__ = True
        try:
            docs = load_all(text)
        except YAMLSyntaxError as exc:
            raise HarnessError(f"{source}:{exc.line}:{exc.column}: invalid YAML: {exc}") from None
        return self._read(docs, source)

    def _read(self, docs: list[Any], source: str) -> list[APIObject]:
        __tracebackhide__ = True
        objects: list[APIObject] = []
        problems: list[str] = []
        for index, doc in enumerate(docs):
            try:
                objects.append(read_manifest(doc))
            except UnsupportedKind as exc:
                line = getattr(doc, "mark", (1, 1))[0]
                message = f"{source}:{line}: {exc}"
                warnings.warn(message, stacklevel=4)
                self.run.events.record("kubechaos", "Manifest", source, "Warning", message)
            except ManifestError as exc:
                where = f"document {index + 1}: " if len(docs) > 1 else ""
                for err in exc.errors:
                    line, column = locate(doc, err.path)
                    problems.append(
                        f"{source}:{line}:{column}: {where}{err.dotted()}: {err.message}"
                    )
        if problems:
            raise HarnessError("invalid manifest:\n" + "\n".join(problems))
        return objects

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


def _is_api_object(value: object) -> bool:
    return attrs.has(type(value)) and hasattr(value, "metadata")


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


__all__ = ["Harness", "HarnessError", "run_on_virtual_time"]
