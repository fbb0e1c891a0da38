"""The pytest plugin: resilience tests written in Python, on the model's virtual time.

This module is what pytest loads: its hooks, command-line and ini options, the ``kubechaos``
fixture and the Trio runner that puts a test on virtual time. What a test does with the fixture
is :mod:`kubechaos.testing.harness`, usable without pytest too.

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

The fixture is a :class:`~kubechaos.testing.harness.Harness`; its docstrings are the reference. A
scenario file runs in a test too (``await kubechaos.boot_scenario("pod-kill.yaml")``), with its
schedule and SLOs.

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

import functools
import importlib.util
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import pytest
import trio

from kubechaos.sim.clock import VirtualClock, seed_trio_scheduler
from kubechaos.sim.failures import leaves
from kubechaos.testing.harness import DEFAULT_SEED, Harness

MARKER = "kubechaos"
FIXTURE = "kubechaos"

_HARNESS = pytest.StashKey[Harness]()
_SEED = pytest.StashKey["tuple[int, bool] | str"]()  # (seed, explicit) or what is wrong with it


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


__all__ = ["run_on_virtual_time"]
