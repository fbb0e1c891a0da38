"""The pytest plugin: what a user's resilience test file does under it, and each helper.

Plugin mechanics (pass and fail, seeds, clocks, reports) are checked by running generated test
files with ``pytester`` in this process; the helpers by using the ``kubechaos`` fixture here,
as a user would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from kubechaos.cluster import NodeGroupSpec
from kubechaos.faults import ContainerKill, PodFailure, PodKill, SchedulerCrash, Target
from kubechaos.sim.clock import VirtualClock
from kubechaos.testing import HarnessError
from kubechaos.testing.harness import Harness

from .factories import deployment, service

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# The README's example, verbatim: it runs here so it cannot rot.
README_EXAMPLE = '''\
"""Our web service survives losing a pod. Run with `pytest`: kubechaos installs the plugin."""

import pytest

from kubechaos.faults import PodKill, Target

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubechaos.io/behaviour: "startup=5s"}  # serves 5s after it starts
    spec:
      containers:
        - name: web
          image: nginx:1.27
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.mark.kubechaos(seed=7)  # same seed, same run: a failure replays exactly
async def test_web_survives_losing_a_pod(kubechaos):
    await kubechaos.boot(nodes=3)
    await kubechaos.apply(WEB)  # YAML text, a file path, or API objects

    def available():
        return kubechaos.metric("kube_deployment_status_replicas_available", deployment="web")

    await kubechaos.wait_for(lambda: available() == 3, timeout=60, what="3 web replicas")
    kubechaos.traffic("web", rate=20)
    await kubechaos.advance(30)  # virtual seconds: no wall-clock wait

    await kubechaos.inject(
        PodKill(name="kill-web", target=Target(label_selector={"app": "web"}, mode="one"))
    )

    assert await kubechaos.recovery("kill-web") < 30  # back to steady state within 30s
    sent = kubechaos.metric("kubechaos_service_requests_total", service="web")
    ok = kubechaos.metric("kubechaos_service_requests_total", service="web", outcome="success")
    assert ok / sent >= 0.99
    assert len(kubechaos.events(reason="SuccessfulCreate")) == 4  # 3 pods, then a replacement
'''


def run_user_tests(
    pytester: pytest.Pytester, source: str, *args: str, ini: str = ""
) -> pytest.RunResult:
    """Run ``source`` as a user's ``test_resilience.py`` in a fresh pytest session."""
    if ini:
        pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(test_resilience=source)
    # kubechaos is imported already in this process, too late for pytest to rewrite its asserts
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
    return pytester.runpytest("-p", "no:cacheprovider", *quiet, *args)


def said(result: pytest.RunResult, tag: str) -> list[str]:
    """What the user's tests printed (``-s``) from ``tag`` to the end of the line."""
    return re.findall(rf"{tag} .*", result.stdout.str())


# ------------------------------------------------------------------ a user's test file
def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, README_EXAMPLE)
    result.assert_outcomes(passed=1)


def test_an_impossible_bound_fails_with_the_measured_value_and_how_to_replay(
    pytester: pytest.Pytester,
) -> None:
    # a pod that needs 5s to start serving cannot bring steady state back sooner
    source = README_EXAMPLE.replace('recovery("kill-web") < 30', 'recovery("kill-web") < 5')
    result = run_user_tests(pytester, source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       assert await kubechaos.recovery("kill-web") < 5*',
            "E       assert 5.* < 5",
            "*- kubechaos -*",
            "seed 7, stopped at *s of virtual time; the same seed replays the same test: "
            "pytest 'test_resilience.py::test_web_survives_losing_a_pod' --kubechaos-seed 7",
            "*FaultInjected*Fault/kill-web*pod-kill*",
            "*Recovered*Fault/kill-web*steady state again *s after injection*",
        ]
    )
    # the assertion is the failure, not a Trio exception group around it
    assert "ExceptionGroup" not in result.stdout.str()


SEEDED = """
import hashlib

import pytest

from kubechaos.faults import PodKill, Target
from tests_support import WEB


@pytest.mark.parametrize(
    "seed", [pytest.param(s, marks=pytest.mark.kubechaos(seed=s)) for s in (3, 3, 4)]
)
async def test_kill(kubechaos, seed):
    assert kubechaos.seed == seed
    await kubechaos.boot(nodes=3)
    await kubechaos.apply(WEB)
    kubechaos.traffic("web", rate=20)
    await kubechaos.advance(30)
    await kubechaos.inject(
        PodKill(name="kill", target=Target(label_selector={"app": "web"}), grace_period=0)
    )
    seconds = await kubechaos.recovery("kill")
    assert seconds > 0
    log = "\\n".join(e.to_json() for e in kubechaos.cluster.events)
    print(f"RESULT {seed} {seconds!r} {hashlib.sha256(log.encode()).hexdigest()}")
"""


def web_module(pytester: pytest.Pytester) -> None:
    web = README_EXAMPLE[README_EXAMPLE.index("WEB = ") : README_EXAMPLE.index("\n\n\n@")]
    pytester.makepyfile(tests_support=web)
    pytester.syspathinsert()


def test_the_same_seed_gives_the_same_recovery_and_event_log(pytester: pytest.Pytester) -> None:
    web_module(pytester)
    result = run_user_tests(pytester, SEEDED, "-s")
    result.assert_outcomes(passed=3)
    runs = [line.split()[1:] for line in said(result, "RESULT")]
    assert [seed for seed, _, _ in runs] == ["3", "3", "4"]
    assert runs[0] == runs[1], "same seed, same recovery and the same events, byte for byte"
    assert runs[0][2] != runs[2][2], "another seed is another run"


REPLAYED = f"""
import hashlib


async def test_scenario(kubechaos):
    await kubechaos.boot_scenario({str(ROOT / "scenarios" / "pod-kill.yaml")!r})
    await kubechaos.advance(150)
    log = "\\n".join(e.to_json() for e in kubechaos.cluster.events)
    print("RUN", kubechaos.seed, hashlib.sha256(log.encode()).hexdigest())
"""


def test_the_replay_command_replays_a_run_whose_seed_came_from_its_scenario(
    pytester: pytest.Pytester,
) -> None:
    first = said(run_user_tests(pytester, REPLAYED, "-s"), "RUN")
    replay = said(run_user_tests(pytester, REPLAYED, "-s", "--kubechaos-seed", "42"), "RUN")
    assert first == replay and first[0].startswith("RUN 42 ")


# ------------------------------------------------------------------ seeds and clocks
SEEDS = """
import pytest


async def test_default(kubechaos):
    print("SEED default", kubechaos.seed)


@pytest.mark.kubechaos(seed=11)
async def test_marked(kubechaos):
    print("SEED marked", kubechaos.seed)
"""


@pytest.mark.parametrize(
    ("args", "ini", "default"),
    [((), "", "0"), (("--kubechaos-seed", "5"), "", "5"), ((), "kubechaos_seed = 9", "9")],
)
def test_a_seed_comes_from_the_marker_else_the_option_else_the_ini_else_0(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, default: str
) -> None:
    result = run_user_tests(pytester, SEEDS, "-s", *args, ini=ini)
    result.assert_outcomes(passed=2)
    assert said(result, "SEED") == [f"SEED default {default}", "SEED marked 11"]


CLOCKS = """
import pytest
import trio


async def test_plain():
    print("CLOCK plain", type(trio.lowlevel.current_clock()).__name__)


@pytest.mark.kubechaos
async def test_marked():
    print("CLOCK marked", type(trio.lowlevel.current_clock()).__name__)


async def test_fixture(kubechaos):
    print("CLOCK fixture", type(trio.lowlevel.current_clock()).__name__)
"""


def test_only_the_tests_that_ask_run_on_virtual_time_unless_the_ini_says_all(
    pytester: pytest.Pytester,
) -> None:
    # without trio_mode too: the plugin marks its own tests for pytest-trio
    result = run_user_tests(pytester, CLOCKS.replace("async def test_plain", "def _plain"), "-s")
    result.assert_outcomes(passed=2)
    assert "CLOCK marked VirtualClock" in said(result, "CLOCK")
    assert "CLOCK fixture VirtualClock" in said(result, "CLOCK")

    result = run_user_tests(pytester, CLOCKS, "-s", ini="trio_mode = true")
    result.assert_outcomes(passed=3)
    assert "CLOCK plain SystemClock" in said(result, "CLOCK"), (
        "installing kubechaos changes no one else"
    )

    result = run_user_tests(
        pytester, CLOCKS, "-s", ini="trio_mode = true\nkubechaos_all_async_tests = true"
    )
    result.assert_outcomes(passed=3)
    assert "CLOCK plain VirtualClock" in said(result, "CLOCK")


# ------------------------------------------------------------------ bad use
BAD_USE = """
import pytest


async def test_helper_before_boot(kubechaos):
    kubechaos.traffic("web", rate=1)


async def test_boot_twice(kubechaos):
    await kubechaos.boot(nodes=1)
    await kubechaos.boot(nodes=1)


def test_sync(kubechaos):
    pass


@pytest.mark.kubechaos(seed=-1)
async def test_bad_seed(kubechaos):
    pass


@pytest.mark.kubechaos(sed=1)
async def test_bad_marker(kubechaos):
    pass
"""


def test_bad_use_fails_with_a_message_that_says_what_to_do(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, BAD_USE)
    result.assert_outcomes(failed=2, errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "E   *HarnessError: no cluster yet: boot one first with `await kubechaos.boot(nodes=3)`"
            " or `await kubechaos.boot_scenario(path)` (did you forget an `await`?)",
            "E   *HarnessError: this test already has a cluster: one per test*",
            "the kubechaos fixture runs the cluster on Trio: write the test as `async def`",
            "@pytest.mark.kubechaos(seed=...) must be a whole number >= 0, got -1",
            "@pytest.mark.kubechaos takes one argument, seed=N; got kubechaos(sed=1)",
        ]
    )


async def test_wait_for_fails_after_its_virtual_timeout_naming_the_condition(
    kubechaos: Harness,
) -> None:
    await kubechaos.boot(nodes=1)
    start = kubechaos.now
    with pytest.raises(AssertionError, match=r"timed out after 5s \(virtual\) waiting for never"):
        await kubechaos.wait_for(lambda: False, timeout=5, what="never")
    assert kubechaos.now == pytest.approx(start + 5)
    with pytest.raises(AssertionError, match=r"waiting for lambda: kubechaos.now < 0: still"):
        await kubechaos.wait_for(lambda: kubechaos.now < 0, timeout=1)

    async def later() -> bool:
        await trio.sleep(0)
        return kubechaos.now > start + 7.5

    assert await kubechaos.wait_for(later, timeout=10, step=1) == pytest.approx(start + 8)


async def test_helpers_refuse_what_cannot_work(kubechaos: Harness) -> None:
    with pytest.raises(HarnessError, match="no cluster yet"):
        kubechaos.metric("kube_pod_info")
    with pytest.raises(HarnessError, match="either nodes=N"):
        await kubechaos.boot(nodes=2, node_groups=[NodeGroupSpec("big", 1)])
    with pytest.raises(HarnessError, match="nodes must be a whole number >= 1, got 0"):
        await kubechaos.boot(nodes=0)
    await kubechaos.boot(node_groups=[NodeGroupSpec("big", 1), NodeGroupSpec("small", 2)])
    assert list(kubechaos.cluster.nodes) == ["big-0", "small-0", "small-1"]
    with pytest.raises(HarnessError, match="rate must be > 0"):
        kubechaos.traffic("web", rate=0)
    with pytest.raises(HarnessError, match="from_nodes: no node named 'worker-9'"):
        kubechaos.traffic("web", rate=1, from_nodes=["worker-9"])
    with pytest.raises(HarnessError, match="pod-kill acts once when injected"):
        await kubechaos.inject(PodKill(), duration=5)
    with pytest.raises(HarnessError, match="no fault named 'nope' was injected so far"):
        await kubechaos.recovery("nope")
    with pytest.raises(HarnessError, match=r"no file .*missing.yaml \(relative paths are read"):
        await kubechaos.apply("missing.yaml")
    with pytest.raises(AssertionError, match="fault 'k': container-kill could not be injected"):
        await kubechaos.inject(ContainerKill(name="k", exit_code=300))


# ------------------------------------------------------------------ the helpers
async def test_apply_reads_files_text_objects_and_mappings(kubechaos: Harness) -> None:
    await kubechaos.boot(nodes=2)
    created = await kubechaos.apply("../scenarios/manifests/web.yaml")  # from the test's dir
    assert [type(o).__name__ for o in created] == ["Deployment", "Service"]
    await kubechaos.apply([deployment("api", 1), {"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}])  # fmt: skip
    await kubechaos.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    with pytest.warns(UserWarning, match="PersistentVolumeClaim 'data' is not modelled"):
        await kubechaos.apply(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n"
            "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n"
        )
    assert kubechaos.api.cache("namespaces").get("/registry/namespaces/shop") is not None
    # a field the model does not read warns as in a scenario (it used to be dropped silently)
    with pytest.warns(UserWarning, match=r"<manifest text>:5: spec.activeDeadlineSeconds: not mod"):
        await kubechaos.apply(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: solo}\nspec:\n"
            "  activeDeadlineSeconds: 60\n  containers: [{name: c, image: busybox}]\n"
        )
    with pytest.raises(
        HarnessError, match=r"invalid manifest:\n<manifest text>:4:1: spec.selector: Required value"
    ):
        await kubechaos.apply(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: -1\n"
        )


async def test_metric_sums_matching_series_and_names_mistakes(kubechaos: Harness) -> None:
    await kubechaos.boot(nodes=3)
    await kubechaos.apply([deployment("web", 3), service("web")])
    await kubechaos.wait_for(
        lambda: kubechaos.metric("kube_deployment_status_replicas_available", deployment="web") == 3
    )
    assert kubechaos.metric("kubelet_running_pods") == 3  # summed over the three nodes
    assert kubechaos.metric("kubelet_running_pods", node="worker-0") <= 3
    assert kubechaos.metric("kubechaos_service_requests_total", service="web") == 0
    kubechaos.traffic("web", rate=10, from_nodes=["worker-1"])
    await kubechaos.advance(10)
    assert kubechaos.metric("kubechaos_service_requests_total", source_node="worker-1") == 100
    assert kubechaos.metric("kubechaos_service_request_duration_seconds_count") == 100
    with pytest.raises(HarnessError, match="did you mean one of: kubelet_running_pods"):
        kubechaos.metric("kubelet_runing_pods")
    with pytest.raises(HarnessError, match=r"is a counter: its samples are named .*_total"):
        kubechaos.metric("kubechaos_service_requests")
    with pytest.raises(HarnessError, match=r"is a histogram: read .*_count"):
        kubechaos.metric("kubechaos_service_request_duration_seconds")


async def test_inject_with_a_duration_reverts_it_and_events_filter(kubechaos: Harness) -> None:
    await kubechaos.boot(nodes=1)
    injection = await kubechaos.inject(SchedulerCrash(name="sched"), duration=20)
    assert not kubechaos.cluster.scheduler.running
    await kubechaos.advance(25)
    assert kubechaos.cluster.scheduler.running and injection.reverted_at == pytest.approx(
        injection.injected_at + 20
    )
    assert [e.reason for e in kubechaos.events(obj="sched", component="kubechaos")] == [
        "FaultInjected",
        "FaultReverted",
    ]
    again = await kubechaos.inject(SchedulerCrash(name="sched"))
    await kubechaos.revert(again)
    assert len(kubechaos.events("FaultReverted", kind="Fault")) == 2


async def test_recovery_waits_for_the_window_and_explains_a_fault_that_never_recovers(
    kubechaos: Harness,
) -> None:
    await kubechaos.boot(nodes=3)
    await kubechaos.apply([deployment("web", 3), service("web")])
    await kubechaos.advance(30)
    failure = await kubechaos.inject(
        PodFailure(name="crash-web", target=Target(label_selector={"app": "web"})), duration=60
    )
    message = (
        r"fault 'crash-web' \(injected at 30.0s\) did not recover within 20s: .*"
        r"Deployment default/web has [0-2]/3 available"
    )
    with pytest.raises(AssertionError, match=message):
        await kubechaos.recovery("crash-web", timeout=20)
    seconds = await kubechaos.recovery(failure)  # reverted at 90s: back after the backoff
    assert 60 <= seconds < 400
    recovered = kubechaos.events("Recovered", obj="crash-web")
    assert len(recovered) == 1 and kubechaos.now >= recovered[0].time


async def test_boot_scenario_runs_its_workloads_traffic_schedule_and_slos(
    kubechaos: Harness,
) -> None:
    run = await kubechaos.boot_scenario(ROOT / "scenarios" / "pod-kill.yaml")
    assert kubechaos.seed == 42, "no seed chosen for the test: the scenario's"
    assert run.scenario.name == "pod-kill" and kubechaos.run is run
    await kubechaos.advance(150)  # the schedule kills a pod at 2m
    assert await kubechaos.recovery("kill-one-web-pod") < 30
    assert kubechaos.metric("kubechaos_service_requests_total", service="web") > 2000
    assert [r.slo.name for r in kubechaos.slos() if not r.ok] == []
    assert kubechaos.metric("kubechaos_slo_ok") == 3


@pytest.mark.kubechaos(seed=5)
async def test_boot_scenario_without_faults_keeps_the_tests_seed(kubechaos: Harness) -> None:
    await kubechaos.boot_scenario(ROOT / "scenarios" / "pod-kill.yaml", faults=False, slos=False)
    assert kubechaos.seed == 5 and kubechaos.run.seed == 5
    await kubechaos.advance(150)
    assert kubechaos.events("FaultInjected") == []
    assert kubechaos.slos() == []


def test_the_harness_works_outside_pytest_in_any_nursery_on_virtual_time() -> None:
    async def main() -> tuple[float, int]:
        async with trio.open_nursery() as nursery:
            harness = Harness(nursery, seed=1)
            cluster = await harness.boot(nodes=2)
            await harness.advance(12.5)
            nursery.cancel_scope.cancel()
            return harness.now, len(cluster.nodes)

    now, nodes = trio.run(main, clock=VirtualClock())
    assert nodes == 2 and 12.5 <= now < 12.6  # booting took a few virtual milliseconds
