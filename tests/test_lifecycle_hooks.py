"""Container lifecycle hooks and probe-level grace periods, as the v1.32 kubelet runs them.

Upstream: pkg/kubelet/kuberuntime/kuberuntime_container.go (``startContainer`` step 4 runs
postStart; ``killContainer`` runs preStop, then ``StopContainer`` with what is left of the grace
period, at least ``minimumGracePeriodInSeconds``), pkg/kubelet/lifecycle/handlers.go (the hook
runner), pkg/kubelet/pod_workers.go (``UpdatePod`` passes a deleted pod's grace period as the
kill's override) and the "Container Lifecycle Hooks" docs.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from kubechaos.api.objects import Lifecycle, LifecycleHandler, Pod, Probe
from kubechaos.api.validation import validate_pod_spec
from kubechaos.node.kubelet.hooks import command_seconds
from kubechaos.scenario.check import ScenarioError
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import run_scenario
from kubechaos.sim.clock import now
from tests.golden import run_of

from .harness import wait_until
from .test_kubelet import (
    WAIT_STEP,
    WAIT_TIMEOUT,
    behaving,
    events,
    must,
    plane,
    ready,
    start,
    stored,
    times,
)

ROOT = Path(__file__).resolve().parent.parent
SLEEP_15 = LifecycleHandler("exec", command=("sleep", "15"))


def hooked(
    name: str,
    behaviour: str = "serve",
    pre_stop: LifecycleHandler | None = None,
    post_start: LifecycleHandler | None = None,
    grace: int = 30,
    **kwargs: object,
) -> Pod:
    p = behaving(name, behaviour, termination_grace_period_seconds=grace, **kwargs)
    (container,) = p.spec.containers
    container = attrs.evolve(container, lifecycle=Lifecycle(post_start, pre_stop))
    return attrs.evolve(p, spec=attrs.evolve(p.spec, containers=(container,)))


async def started(ctx: object, name: str) -> float:
    await wait_until(
        lambda: bool(times(ctx, "Started", name)),  # type: ignore[arg-type]
        WAIT_TIMEOUT,
        f"{name} started",
        WAIT_STEP,
    )
    return times(ctx, "Started", name)[0]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- preStop


def test_exec_hook_durations_are_read_from_sleep_commands() -> None:
    """An exec hook of ``sleep N`` (directly or through a shell) takes N seconds (coreutils
    sleep, suffixes s/m/h/d); any other command is a CRI exec round trip, taken as 0 s."""
    assert command_seconds(("sleep", "15")) == 15
    assert command_seconds(("/bin/sh", "-c", "sleep 5 && nginx -s quit")) == 5
    assert command_seconds(("sh", "-c", "sleep 1m")) == 60
    assert command_seconds(("/usr/bin/sleep", "2.5")) == 2.5
    assert command_seconds(("nginx", "-s", "quit")) == 0
    assert command_seconds(("sh", "-c", "echo bye")) == 0


async def test_pre_stop_runs_before_sigterm_while_the_container_keeps_serving() -> None:
    """killContainer runs preStop first; StopContainer (SIGTERM) only after it returns, so the
    process serves through the hook and exits after hook + its own shutdown time."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(hooked("web", "shutdown=5s", pre_stop=SLEEP_15))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        ip = must(ctx, "web").status.pod_ip
        t = now()
        await ctx.api.delete("pods", "default", "web")
        await trio.sleep(t + 19.5 - now())
        assert net.lookup(ip) is not None and net.lookup(ip).running  # hook 15 s + shutdown 5 s
        assert times(ctx, "Killing", "web") == [pytest.approx(t, abs=0.1)]
        await trio.sleep(t + 20.5 - now())
        assert stored(ctx, "web") is None
        (died,) = events(ctx, "ContainerDied", "web")
        assert died.time == pytest.approx(t + 20, abs=0.1) and died.message.endswith("code 0")
        nursery.cancel_scope.cancel()


async def test_sleep_action_waits_its_seconds() -> None:
    """PodLifecycleSleepAction (beta, on by default since v1.30): the kubelet sleeps."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(hooked("web", pre_stop=LifecycleHandler("sleep", seconds=7)))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        t = now()
        await ctx.api.delete("pods", "default", "web")
        await trio.sleep(t + 8 - now())
        assert times(ctx, "ContainerDied", "web") == [pytest.approx(t + 7, abs=0.1)]
        nursery.cancel_scope.cancel()


async def test_hook_outlasting_the_grace_period_of_a_deleted_pod() -> None:
    """executePreStopHook gives up at the grace period ("PreStop hook not completed in grace
    period"). For a deleted pod the pod workers pass the grace period as
    ``gracePeriodOverride`` (pod_workers.go UpdatePod: "always set the grace period for
    syncTerminatingPod"), which killContainer applies after subtracting the hook's time: the
    container gets the whole grace period again after SIGTERM (here: 30 s hook + 10 s shutdown).
    """
    ctx, net = await plane()
    long_hook = LifecycleHandler("exec", command=("sleep", "60"))
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(hooked("web", "shutdown=10s", pre_stop=long_hook))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        t = now()
        await ctx.api.delete("pods", "default", "web")
        await trio.sleep(t + 41 - now())
        (died,) = events(ctx, "ContainerDied", "web")
        assert died.time == pytest.approx(t + 40, abs=0.1) and died.message.endswith("code 0")
        nursery.cancel_scope.cancel()


async def test_probe_kill_after_a_long_hook_gets_the_two_second_minimum() -> None:
    """A liveness kill has no override: the SIGTERM window is the grace period less the hook's
    whole seconds, at least minimumGracePeriodInSeconds = 2 (kuberuntime_manager.go). A 60 s
    hook with a 30 s grace period is abandoned at 30 s; a process needing 10 s is SIGKILLed 2 s
    after its SIGTERM (137)."""
    ctx, net = await plane()
    probe = Probe(period_seconds=10, failure_threshold=1)
    long_hook = LifecycleHandler("exec", command=("sleep", "60"))
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        behaviour = "shutdown=10s,liveness-fail-after=5s"
        await ctx.api.create(hooked("web", behaviour, pre_stop=long_hook, liveness=probe))
        s = await started(ctx, "web")
        await trio.sleep(s + 45 - now())
        assert times(ctx, "Killing", "web")[0] == pytest.approx(s + 10)
        died = events(ctx, "ContainerDied", "web")[0]
        assert died.time == pytest.approx(s + 10 + 30 + 2) and died.message.endswith("code 137")
        nursery.cancel_scope.cancel()


async def test_a_failed_pre_stop_hook_is_an_event_and_the_container_still_stops() -> None:
    """executePreStopHook records FailedPreStopHook with the runner's message; killContainer
    goes on to StopContainer regardless."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        hook = LifecycleHandler("exec", command=("sh", "-c", "sleep 3; exit 1"))
        await ctx.api.create(hooked("web", "prestop-fail", pre_stop=hook))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        t = now()
        await ctx.api.delete("pods", "default", "web")
        await trio.sleep(t + 4 - now())
        (failed,) = events(ctx, "FailedPreStopHook", "web")
        assert failed.time == pytest.approx(t + 3, abs=0.1)
        assert failed.message.startswith("Exec lifecycle hook ([sh -c sleep 3; exit 1])")
        assert stored(ctx, "web") is None
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- postStart


async def test_post_start_holds_running_probes_and_ready_until_it_returns() -> None:
    """startContainer runs postStart after StartContainer and the sync waits for it: the
    container is not Running, not probed and not Ready until the hook returns."""
    ctx, net = await plane()
    probe = Probe(period_seconds=5)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        hook = LifecycleHandler("sleep", seconds=10)
        await ctx.api.create(hooked("web", post_start=hook, readiness=probe))
        s = await started(ctx, "web")
        await trio.sleep(s + 9.5 - now())
        p = must(ctx, "web")
        (cs,) = p.status.container_statuses
        assert cs.state == "waiting" and not p.is_ready()
        assert not net.serving(p.status.pod_ip)
        await trio.sleep(s + 10.5 - now())
        p = must(ctx, "web")
        (cs,) = p.status.container_statuses
        assert cs.state == "running" and p.is_ready()  # the first readiness tick at +10
        nursery.cancel_scope.cancel()


async def test_failed_post_start_kills_the_container_and_the_policy_restarts_it() -> None:
    """A failed postStart records FailedPostStartHook, kills the container (Killing
    "FailedPostStartHook") and the restart policy restarts it: CrashLoopBackOff."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        hook = LifecycleHandler("httpGet")
        await ctx.api.create(hooked("web", "poststart-fail", post_start=hook))
        s = await started(ctx, "web")
        await trio.sleep(s + 30 - now())
        assert events(ctx, "FailedPostStartHook", "web")[0].time == pytest.approx(s)
        assert events(ctx, "Killing", "web")[0].message == "FailedPostStartHook"
        assert len(times(ctx, "Started", "web")) >= 2
        (cs,) = must(ctx, "web").status.container_statuses
        assert cs.restart_count >= 1 and not must(ctx, "web").is_ready()
        nursery.cancel_scope.cancel()


async def test_tcp_socket_hook_fails_at_run_time() -> None:
    """LifecycleHandler.tcpSocket is deprecated and "NOT supported as a LifecycleHandler": the
    runner fails it ("Cannot run handler: invalid handler"), so a postStart of it kills."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(hooked("web", post_start=LifecycleHandler("tcpSocket")))
        s = await started(ctx, "web")
        await trio.sleep(s + 1 - now())
        failed = events(ctx, "FailedPostStartHook", "web")[0]
        assert failed.message.startswith("Cannot run handler: invalid handler")
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- probe grace


async def test_liveness_probe_grace_period_applies_to_the_kill_it_causes() -> None:
    """setTerminationGracePeriod: a liveness (or startup) probe's terminationGracePeriodSeconds
    (ProbeTerminationGracePeriod, GA in v1.28) replaces the pod's for the kill it causes."""
    ctx, net = await plane()
    probe = Probe(period_seconds=10, failure_threshold=1, termination_grace_period_seconds=5)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        behaviour = "shutdown=30s,liveness-fail-after=5s"
        await ctx.api.create(hooked("web", behaviour, grace=60, liveness=probe))
        s = await started(ctx, "web")
        await trio.sleep(s + 16 - now())
        died = events(ctx, "ContainerDied", "web")[0]
        assert died.time == pytest.approx(s + 15) and died.message.endswith("code 137")
        nursery.cancel_scope.cancel()


def test_validation_as_upstream() -> None:
    """pkg/apis/core/validation/validation.go: one handler per hook, an exec command, a sleep
    of 1..terminationGracePeriodSeconds (PodLifecycleSleepActionAllowZero is off in v1.32),
    a probe grace period > 0 and none on a readiness probe."""
    p = hooked(
        "web",
        post_start=LifecycleHandler("sleep", seconds=0),
        pre_stop=LifecycleHandler("exec", actions=2),
        readiness=Probe(termination_grace_period_seconds=3),
        liveness=Probe(termination_grace_period_seconds=0),
    )
    causes = validate_pod_spec("spec", p.spec)
    c = "spec.containers[0]"
    assert causes == [
        f"{c}.lifecycle.postStart.sleep.seconds: Invalid value: 0: must be greater than 0 and "
        "less than terminationGracePeriodSeconds (30)",
        f"{c}.lifecycle.preStop: Forbidden: may not specify more than 1 handler type",
        f"{c}.livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be > 0",
        f"{c}.readinessProbe.terminationGracePeriodSeconds: Invalid value: 3: must not be set "
        "for readinessProbes",
    ]


# ---------------------------------------------------------------------------- end to end

SCENARIO = """
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: prestop-measured}}
spec:
  seed: 7
  duration: 7m
  cluster:
    nodeGroups:
      - {{name: worker, count: 3, capacity: {{cpu: "4", memory: 16Gi, pods: 110}}}}
  workloads:
    - manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web, namespace: default}}
        spec:
          replicas: 3
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: 5}}{hook}
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {{name: web, namespace: default}}
        spec:
          selector: {{app: web}}
          ports: [{{port: 80, targetPort: 80}}]
  traffic:
    - {{service: web, rate: 200}}
  faults:
    - name: kill
      type: pod-kill
      at: 1m
      every: 1m
      target: {{namespace: default, labelSelector: {{app: web}}, mode: one}}
      params: {{gracePeriod: 30s}}
"""
PRE_STOP = """
                  lifecycle:
                    preStop:
                      exec: {command: ["sleep", "15"]}"""


def refused(hook: str) -> int:
    run = run_scenario(parse_scenario(SCENARIO.format(hook=hook)))
    kills = [e for e in run.cluster.ctx.events if e.reason == "FaultInjected"]
    assert len(kills) == 6
    return sum(
        n
        for (_, _, _, outcome), n in run.traffic.stats.requests.items()
        if outcome == "connection_refused"
    )


def test_pre_stop_sleep_drains_a_graceful_pod_kill_at_200_rps() -> None:
    """The measured case: six graceful pod kills at 200 requests/s. Without a hook the process
    exits at SIGTERM while kube-proxy still routes to it (refused connections); with
    ``preStop: sleep 15`` ("Container Lifecycle Hooks" docs; killContainer) it serves until the
    endpoint is gone from every proxy: nothing is refused."""
    assert refused("") > 0
    assert refused(PRE_STOP) == 0


def test_prestop_rollout_scenario_refuses_nothing() -> None:
    """scenarios/prestop-rollout.yaml: a rolling update at 200 requests/s whose old pods run a
    10 s preStop hook before SIGTERM (killContainer): every Killing is followed 10 s later by
    the exit, and no request is refused."""
    run = run_of("prestop-rollout")
    assert run.slo_ok
    refusals = sum(
        n
        for (_, _, _, outcome), n in run.traffic.stats.requests.items()
        if outcome == "connection_refused"
    )
    assert refusals == 0
    kills = {e.object: e.time for e in run.events.find(reason="Killing")}
    died = {e.object: e.time for e in run.events.find(reason="ContainerDied")}
    assert len(kills) == 4
    for pod, at in kills.items():
        assert died[pod] == pytest.approx(at + 10, abs=0.01)


def test_manifest_hooks_are_read_and_bad_ones_are_one_located_line_each() -> None:
    """The reader takes lifecycle hooks and probe grace periods from a manifest; what upstream's
    validation refuses is one ``file:line:col: field: message`` line each, never a traceback."""
    hooks = SCENARIO.format(hook=PRE_STOP).replace(
        "periodSeconds: 5}",
        "periodSeconds: 5}\n                  livenessProbe: {httpGet: {path: /, port: 80}, "
        "terminationGracePeriodSeconds: 5}",
    )
    scenario = parse_scenario(hooks)
    (deployment,) = [o for o in scenario.workloads if type(o).__name__ == "Deployment"]
    (container,) = deployment.spec.template.spec.containers  # type: ignore[attr-defined]
    assert container.lifecycle.pre_stop == LifecycleHandler("exec", command=("sleep", "15"))
    assert container.liveness_probe.termination_grace_period_seconds == 5
    bad = SCENARIO.format(
        hook=PRE_STOP.replace('exec: {command: ["sleep", "15"]}', "sleep: {seconds: 0}")
    )
    bad = bad.replace("periodSeconds: 5}", "periodSeconds: 5, terminationGracePeriodSeconds: 3}")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(bad, "s.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("s.yaml:") for line in lines)
    assert "lifecycle.preStop.sleep.seconds: Invalid value: 0" in lines[0] + lines[1]
    assert "must not be set for readinessProbes" in lines[0] + lines[1]
